//! Per-request log records (human or JSON lines) and the shutdown summary. Signature and
//! token values never appear whole (at most their first 8 characters), and human lines show
//! what clients and upstreams sent escaped (see [`crate::redact`]).

use crate::findings::Finding;
use crate::policy::Action;
use crate::redact::{escape_into, redacted_hiding, shown_into, Form};
pub use crate::redact::{redact, redact_into, redact_tokens, request_tokens};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// One request's record.
#[derive(Clone, Debug, Default)]
pub struct Record {
    pub id: u64,
    pub time: String,
    pub method: String,
    /// The host as the client wrote it: the absolute-form authority, else `Host` (a port only
    /// when the client wrote one).
    pub host: Option<String>,
    pub target: String,
    pub scheme: String,
    pub carrier: String,
    pub access_key: Option<String>,
    pub verdict: String,
    pub findings: Vec<Finding>,
    pub action: Action,
    pub resigned_as: Option<String>,
    pub note: Option<String>,
    pub upstream_status: Option<u16>,
    pub upstream_error_code: Option<String>,
    pub upstream_error_message: Option<String>,
    pub upstream_request_id: Option<String>,
    pub clock_offset_s: Option<i64>,
    pub duration_ms: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub status: u16,
    /// For recordings: the request headers as received (redacted when written).
    pub req_headers: Vec<(String, String)>,
    /// For recordings: the request body, captured while it streamed.
    pub req_body: Option<crate::record::Shared>,
    /// Session tokens the request carried: never written whole.
    pub tokens: Vec<String>,
}

impl Record {
    pub fn to_json(&self) -> Value {
        let findings: Vec<Value> = self
            .findings
            .iter()
            .map(|f| {
                let mut o = json!({"code": f.code, "severity": f.severity.as_str(),
                                   "message": self.clean(&f.message, named_signatures(f))});
                if let Some(c) = f.cause {
                    o["cause"] = json!(c);
                }
                o
            })
            .collect();
        json!({
            "id": self.id,
            "time": self.time,
            "method": self.method,
            "host": self.host,
            "target": self.clean(&self.target, NONE),
            "client": {
                "scheme": self.scheme, "carrier": self.carrier, "access_key": self.access_key,
                "verdict": self.verdict, "findings": findings,
            },
            "action": self.action,
            "resigned_as": self.resigned_as,
            "note": self.note.as_deref().map(|n| self.clean(n, NONE)),
            "status": self.status,
            "upstream": {
                "status": self.upstream_status, "error_code": self.upstream_error_code,
                "error_message": self.upstream_error_message.as_deref().map(|m| self.clean(m, NONE)),
                "request_id": self.upstream_request_id,
                "clock_offset_s": self.clock_offset_s,
            },
            "duration_ms": (self.duration_ms * 1000.0).round() / 1000.0,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
        })
    }

    pub fn to_human(&self, color: bool) -> String {
        let mut out = String::with_capacity(512);
        self.write_human(&mut out, color);
        out
    }

    /// The human record, appended to `out` (written in place: the log runs once per request).
    /// Every field is escaped: the target and host as the bytes received, the rest as text, and
    /// a line break inside a message or note continues it on an indented line.
    pub fn write_human(&self, out: &mut String, color: bool) {
        use std::fmt::Write;
        let paint = |out: &mut String, c: &str, s: &str| {
            if color {
                let _ = write!(out, "\x1b[{c}m{s}\x1b[0m");
            } else {
                out.push_str(s);
            }
        };
        let text = |out: &mut String, s: &str| escape_into(out, s, Form::Text);
        match (self.action, self.status) {
            (Action::Rejected, _) => paint(out, "31", "✗"),
            (_, s) if s >= 400 => paint(out, "33", "!"),
            _ => paint(out, "32", "✓"),
        }
        let _ = write!(out, " #{} ", self.id);
        text(out, &self.method);
        out.push(' ');
        if let Some(h) = &self.host {
            escape_into(out, h, Form::Bytes);
        }
        shown_into(out, &self.target, self.hidden(NONE), Form::Bytes);
        out.push_str(" → ");
        text(out, self.action.as_str());
        if let Some(s) = &self.resigned_as {
            out.push_str(" as ");
            text(out, s);
        }
        let _ = write!(out, " {} {:.1}ms [", self.status, self.duration_ms);
        text(out, &self.scheme);
        out.push(' ');
        text(out, &self.carrier);
        out.push(' ');
        text(out, &self.verdict);
        out.push(']');
        if let Some(c) = &self.upstream_error_code {
            out.push_str(" upstream ");
            text(out, c);
        }
        out.push('\n');
        for f in self.findings.iter().filter(|f| {
            f.severity != crate::findings::Severity::Info || self.action == Action::Rejected
        }) {
            out.push_str("    ");
            text(out, f.severity.as_str());
            out.push(' ');
            text(out, f.code.as_str());
            if let Some(c) = f.cause {
                out.push_str(" [");
                text(out, c);
                out.push(']');
            }
            out.push_str(": ");
            let named = named_signatures(f);
            self.lines_into(out, &f.message, named);
            out.push('\n');
            if let Some(serde_json::Value::Array(lines)) = f.evidence.get("diff") {
                let mut shown = String::new();
                for l in lines.iter().filter_map(|l| l.as_str()) {
                    shown.clear();
                    shown_into(&mut shown, l, self.hidden(named), Form::Text);
                    out.push_str("        ");
                    paint(out, if l.starts_with('+') { "32" } else { "31" }, &shown);
                    out.push('\n');
                }
            }
        }
        if let Some(n) = &self.note {
            out.push_str("    note: ");
            self.lines_into(out, n, NONE);
            out.push('\n');
        }
    }

    /// `text` redacted and escaped, each line after the first on its own indented line.
    fn lines_into(&self, out: &mut String, text: &str, named: [&str; 2]) {
        for (n, line) in text.split('\n').enumerate() {
            if n > 0 {
                out.push_str("\n        ");
            }
            shown_into(out, line, self.hidden(named), Form::Text);
        }
    }

    /// `text` with signature and token values shortened: those `redact` finds by name, the
    /// request's session tokens, and the `named` signature values of a finding.
    fn clean<'a>(&self, text: &'a str, named: [&str; 2]) -> Cow<'a, str> {
        redacted_hiding(text, self.hidden(named))
    }

    /// Values never shown whole besides those found by name: the request's session tokens and
    /// the signatures a finding names.
    fn hidden<'a>(&'a self, named: [&'a str; 2]) -> impl Iterator<Item = &'a str> {
        self.tokens.iter().map(String::as_str).chain(named)
    }
}

const NONE: [&str; 2] = ["", ""];

/// The signature values a finding's evidence names (`provided`, `expected`): never shown whole,
/// whatever its message says around them.
fn named_signatures(f: &Finding) -> [&str; 2] {
    let get = |k: &str| f.evidence.get(k).and_then(Value::as_str).unwrap_or("");
    [get("provided"), get("expected")]
}

/// Where records go, plus the counters for the summary.
#[derive(Clone)]
pub struct Sink {
    out: Arc<Mutex<Out>>,
    json: bool,
    color: bool,
    stats: Arc<Mutex<Stats>>,
}

/// The log destination: written through at once, or buffered and flushed by a small
/// background thread at most `FLUSH_EVERY` after a line (one write per batch instead of one per
/// request under load).
struct Out {
    w: std::io::BufWriter<Box<dyn Write + Send>>,
    immediate: bool,
    dirty: bool,
    last_flush: std::time::Instant,
}

const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

#[derive(Debug, Default)]
struct Stats {
    requests: u64,
    rejected: u64,
    resigned: u64,
    by_cause: BTreeMap<String, u64>,
    skews: Vec<i64>,
    upstream_offset: Option<i64>,
}

impl Sink {
    /// A sink that writes each line through at once.
    pub fn new(out: Box<dyn Write + Send>, json: bool, color: bool) -> Self {
        Sink {
            out: Arc::new(Mutex::new(Out {
                w: std::io::BufWriter::with_capacity(64 * 1024, out),
                immediate: true,
                dirty: false,
                last_flush: std::time::Instant::now(),
            })),
            json,
            color,
            stats: Arc::new(Mutex::new(Stats::default())),
        }
    }

    /// Buffers lines under load: a line is written at once when the last flush is older than
    /// 50 ms (a quiet proxy logs immediately), else within 50 ms by a background flusher.
    pub fn buffered(self) -> Self {
        if let Ok(mut o) = self.out.lock() {
            o.immediate = false;
        }
        let weak = Arc::downgrade(&self.out);
        let _ = std::thread::Builder::new()
            .name("sigtap-log-flush".into())
            .spawn(move || {
                while let Some(out) = weak.upgrade() {
                    if let Ok(mut o) = out.lock() {
                        if o.dirty {
                            let _ = o.w.flush();
                            o.dirty = false;
                            o.last_flush = std::time::Instant::now();
                        }
                    }
                    drop(out);
                    std::thread::sleep(FLUSH_EVERY);
                }
            });
        self
    }

    /// Writes one line (or block); flushed at once, or within 50 ms when buffered.
    pub fn write_line(&self, line: &str) {
        if let Ok(mut o) = self.out.lock() {
            let _ = o.w.write_all(line.as_bytes());
            if !line.ends_with('\n') {
                let _ = o.w.write_all(b"\n");
            }
            if o.immediate || o.last_flush.elapsed() >= FLUSH_EVERY {
                let _ = o.w.flush();
                o.last_flush = std::time::Instant::now();
                o.dirty = false;
            } else {
                o.dirty = true;
            }
        }
    }

    /// Writes out whatever is buffered.
    pub fn flush(&self) {
        if let Ok(mut o) = self.out.lock() {
            let _ = o.w.flush();
            o.dirty = false;
        }
    }

    pub fn record(&self, r: &Record) {
        if let Ok(mut s) = self.stats.lock() {
            s.requests += 1;
            match r.action {
                Action::Rejected => s.rejected += 1,
                Action::Resigned => s.resigned += 1,
                _ => {}
            }
            for f in &r.findings {
                if f.severity == crate::findings::Severity::Error {
                    *s.by_cause
                        .entry(format!(
                            "{}{}",
                            f.code,
                            f.cause.map(|c| format!("/{c}")).unwrap_or_default()
                        ))
                        .or_default() += 1;
                }
                if let Some(o) = f
                    .evidence
                    .get("client_offset_seconds")
                    .and_then(Value::as_i64)
                {
                    s.skews.push(o);
                }
            }
            if r.clock_offset_s.is_some() {
                s.upstream_offset = r.clock_offset_s;
            }
        }
        if self.json {
            self.write_line(&r.to_json().to_string());
            return;
        }
        // one line buffer per thread, reused
        thread_local! {
            static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        LINE.with(|line| match line.try_borrow_mut() {
            Ok(mut text) => {
                text.clear();
                r.write_human(&mut text, self.color);
                self.write_line(&text);
            }
            Err(_) => self.write_line(&r.to_human(self.color)),
        });
    }

    /// The shutdown summary.
    pub fn summary(&self) -> String {
        let s = match self.stats.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let causes = if s.by_cause.is_empty() {
            "none".to_string()
        } else {
            s.by_cause
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let skew = match (s.skews.iter().min(), s.skews.iter().max()) {
            (Some(a), Some(b)) => format!("client clock offsets {a}s … {b}s"),
            _ => "no client clock offset observed".into(),
        };
        let up = s
            .upstream_offset
            .map(|o| format!("upstream clock offset {o}s"))
            .unwrap_or_else(|| "upstream clock not learned".into());
        if self.json {
            json!({"summary": {"requests": s.requests, "resigned": s.resigned, "rejected": s.rejected,
                   "failures": s.by_cause, "client_offsets_s": s.skews, "upstream_clock_offset_s": s.upstream_offset}})
            .to_string()
        } else {
            format!(
                "summary: {} requests, {} re-signed, {} rejected; failures: {causes}; {skew}; {up}",
                s.requests, s.resigned, s.rejected
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_records_keep_their_layout() {
        let mut f = Finding::error(
            crate::findings::code::SIGNATURE_MISMATCH,
            "Signature 0a64ae62da0fdde29f179d3f674ee45e4c879572d844163340384ec2810602ea differs",
        );
        f.cause = Some("host-changed");
        // a signature the finding names is cut wherever its message shows it
        f.evidence.insert(
            "provided".into(),
            "0a64ae62da0fdde29f179d3f674ee45e4c879572d844163340384ec2810602ea".into(),
        );
        f.evidence
            .insert("diff".into(), serde_json::json!(["-host:a", "+host:b"]));
        let r = Record {
            id: 7,
            method: "GET".into(),
            target: "/b/k?X-Amz-Signature=0a64ae62da0fdde29f179d3f674ee45e4c879572d844163340384ec2810602ea&x=1".into(),
            scheme: "sigv4".into(),
            carrier: "query".into(),
            verdict: "invalid".into(),
            action: Action::Rejected,
            status: 403,
            duration_ms: 0.25,
            findings: vec![f, Finding::info(crate::findings::code::SIGNATURE_READING, "info shown for rejections")],
            note: Some("answered locally: SignatureDoesNotMatch".into()),
            upstream_error_code: Some("NoSuchKey".into()),
            ..Default::default()
        };
        assert_eq!(
            r.to_human(false),
            "✗ #7 GET /b/k?X-Amz-Signature=0a64ae62…&x=1 → rejected 403 0.2ms [sigv4 query invalid] upstream NoSuchKey\n\
             \x20   error signature-mismatch [host-changed]: Signature 0a64ae62… differs\n\
             \x20       -host:a\n\
             \x20       +host:b\n\
             \x20   info signature-reading: info shown for rejections\n\
             \x20   note: answered locally: SignatureDoesNotMatch\n"
        );
        let ok = Record {
            action: Action::Resigned,
            resigned_as: Some("cos".into()),
            status: 200,
            findings: vec![],
            note: None,
            upstream_error_code: None,
            ..r
        };
        assert_eq!(
            ok.to_human(true),
            "\x1b[32m✓\x1b[0m #7 GET /b/k?X-Amz-Signature=0a64ae62…&x=1 → resigned as cos 200 0.2ms [sigv4 query invalid]\n"
        );
    }

    #[test]
    fn signatures_are_cut_to_8_characters() {
        let t = "Signature=0a64ae62da0fdde29f179d3f674ee45e4c879572d844163340384ec2810602ea&x=1";
        assert_eq!(redact(t), "Signature=0a64ae62…&x=1");
        assert_eq!(
            redact("q-signature=3b8851a11a569213c17ba8fa7dcf2abec6935172"),
            "q-signature=3b8851a1…"
        );
        assert_eq!(
            redact("AWS AK:TCD9yOwtU0j9OspAg5WF6sNpXPY= ok"),
            "AWS AK:TCD9yOwt… ok"
        );
        assert_eq!(
            redact("?Signature=W%2BFLBTXkoNC6%2Fq7DauwgVFrOI1E%3D&Expires=1"),
            "?Signature=W%2BFLBT…&Expires=1"
        );
        assert_eq!(redact("plain text é"), "plain text é");
    }
}
