//! Per-request log records (human or JSON lines) and the shutdown summary. Signature values
//! never appear whole: at most their first 8 characters.

use crate::findings::Finding;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Keeps the first 8 characters of anything that looks like a signature (40/64 hex digits,
/// or 28 base64 characters ending in `=`), and of signature query values.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    redact_into(&mut out, text);
    out
}

/// `redact`, appended to `out`.
pub fn redact_into(out: &mut String, text: &str) {
    let from = out.len();
    let b = text.as_bytes();
    let mut i = 0;
    // one pass: a signature can only start where an alphanumeric run starts, so a run that is
    // not one is copied whole
    while i < b.len() {
        if !b[i].is_ascii_alphanumeric() {
            // up to the next ASCII alphanumeric: always a character boundary
            let run = b[i..]
                .iter()
                .position(|c| c.is_ascii_alphanumeric())
                .unwrap_or(b.len() - i);
            out.push_str(&text[i..i + run]);
            i += run;
            continue;
        }
        let run = b[i..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        let boundary_before = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if boundary_before {
            let hex = b[i..i + run]
                .iter()
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            if hex >= 40 {
                out.push_str(&text[i..i + 8]);
                out.push('…');
                i += hex;
                continue;
            }
            let b64 = b[i..]
                .iter()
                .take(28)
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'+' || **c == b'/')
                .count();
            if b64 == 27 && b.get(i + 27) == Some(&b'=') {
                out.push_str(&text[i..i + 8]);
                out.push('…');
                i += 28;
                continue;
            }
        }
        out.push_str(&text[i..i + run]);
        i += run;
    }
    // percent-encoded SigV2 signatures in query strings
    for key in ["Signature=", "sign="] {
        if let Some(pos) = out[from..].find(key).map(|p| from + p) {
            let start = pos + key.len();
            let end = out[start..]
                .find('&')
                .map(|e| start + e)
                .unwrap_or(out.len());
            if end - start > 8 {
                let keep: String = out[start..start + 8].to_string();
                out.replace_range(start..end, &format!("{keep}…"));
            }
        }
    }
}

/// Session tokens (and their percent-encoded spelling) that a request carries: header
/// `X-Amz-Security-Token` / `x-cos-security-token` / `x-ci-security-token` and the same names
/// in the query. Used to keep them out of logs, error documents and recordings.
pub fn request_tokens(req: &crate::wire::Request) -> Vec<String> {
    const NAMES: [&str; 3] = [
        "x-amz-security-token",
        "x-cos-security-token",
        "x-ci-security-token",
    ];
    let mut out = Vec::new();
    for (k, v) in &req.headers {
        if NAMES.iter().any(|n| k.eq_ignore_ascii_case(n)) {
            out.push(v.clone());
        }
    }
    // most requests carry none: look before parsing the query
    let in_query = req.query.as_deref().is_some_and(|q| {
        q.as_bytes()
            .windows(14)
            .any(|w| w.eq_ignore_ascii_case(b"security-token"))
    });
    if out.is_empty() && !in_query {
        return out;
    }
    if let Some(q) = req.query.as_deref().filter(|_| in_query) {
        for p in crate::sig::encode::split_query(q) {
            let name = crate::sig::encode::decoded_text(p.name).to_ascii_lowercase();
            if NAMES.contains(&name.as_str()) {
                out.push(p.value.to_string());
                out.push(crate::sig::encode::text(&crate::sig::encode::form_decode(
                    p.value,
                )));
            }
        }
    }
    out.retain(|t| t.len() >= 8 && t != "<redacted>");
    // canonical texts show them percent-encoded (SigV4 query, COS HttpString)
    let spelled: Vec<String> = out
        .iter()
        .flat_map(|t| {
            let decoded = crate::sig::encode::text(&crate::sig::encode::percent_decode(t));
            [
                crate::sig::encode::uri_encode(decoded.as_bytes(), false),
                crate::sig::cos::cos_encode(decoded.as_bytes()),
                decoded,
            ]
        })
        .collect();
    out.extend(spelled);
    out.sort();
    out.dedup();
    out
}

/// Replaces each token in `text` by its first 8 characters and `…`.
pub fn redact_tokens(text: &str, tokens: &[String]) -> String {
    if tokens.is_empty() {
        return text.to_string();
    }
    let mut out = text.to_string();
    for t in tokens {
        if t.len() >= 8 && out.contains(t.as_str()) {
            let short: String = t.chars().take(8).collect();
            out = out.replace(t.as_str(), &format!("{short}…"));
        }
    }
    out
}

/// One request's record.
#[derive(Clone, Debug, Default)]
pub struct Record {
    pub id: u64,
    pub time: String,
    pub method: String,
    pub target: String,
    pub scheme: String,
    pub carrier: String,
    pub access_key: Option<String>,
    pub verdict: String,
    pub findings: Vec<Finding>,
    pub action: &'static str,
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
                let mut o = json!({"code": f.code, "severity": f.severity.as_str(), "message": redact(&f.message)});
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
            "target": redact(&self.target),
            "client": {
                "scheme": self.scheme, "carrier": self.carrier, "access_key": self.access_key,
                "verdict": self.verdict, "findings": findings,
            },
            "action": self.action,
            "resigned_as": self.resigned_as,
            "note": self.note.as_deref().map(redact),
            "status": self.status,
            "upstream": {
                "status": self.upstream_status, "error_code": self.upstream_error_code,
                "error_message": self.upstream_error_message, "request_id": self.upstream_request_id,
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
    pub fn write_human(&self, out: &mut String, color: bool) {
        use std::fmt::Write;
        let paint = |out: &mut String, c: &str, s: &str| {
            if color {
                let _ = write!(out, "\x1b[{c}m{s}\x1b[0m");
            } else {
                out.push_str(s);
            }
        };
        match (self.action, self.status) {
            ("rejected", _) => paint(out, "31", "✗"),
            (_, s) if s >= 400 => paint(out, "33", "!"),
            _ => paint(out, "32", "✓"),
        }
        let _ = write!(out, " #{} {} ", self.id, self.method);
        redact_into(out, &self.target);
        let _ = write!(out, " → {}", self.action);
        if let Some(s) = &self.resigned_as {
            let _ = write!(out, " as {s}");
        }
        let _ = write!(
            out,
            " {} {:.1}ms [{} {} {}]",
            self.status, self.duration_ms, self.scheme, self.carrier, self.verdict,
        );
        if let Some(c) = &self.upstream_error_code {
            let _ = write!(out, " upstream {c}");
        }
        out.push('\n');
        for f in self
            .findings
            .iter()
            .filter(|f| f.severity != crate::findings::Severity::Info || self.action == "rejected")
        {
            let _ = write!(out, "    {} {}", f.severity.as_str(), f.code);
            if let Some(c) = f.cause {
                let _ = write!(out, " [{c}]");
            }
            out.push_str(": ");
            redact_into(out, &f.message);
            out.push('\n');
            if let Some(serde_json::Value::Array(lines)) = f.evidence.get("diff") {
                for l in lines.iter().filter_map(|l| l.as_str()) {
                    out.push_str("        ");
                    paint(
                        out,
                        if l.starts_with('+') { "32" } else { "31" },
                        &redact(l),
                    );
                    out.push('\n');
                }
            }
        }
        if let Some(n) = &self.note {
            out.push_str("    note: ");
            redact_into(out, n);
            out.push('\n');
        }
    }
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
                "rejected" => s.rejected += 1,
                "resigned" => s.resigned += 1,
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
            let text = r.to_json().to_string();
            if r.tokens.is_empty() {
                self.write_line(&text);
            } else {
                self.write_line(&redact_tokens(&text, &r.tokens));
            }
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
                if r.tokens.is_empty() {
                    self.write_line(&text);
                } else {
                    self.write_line(&redact_tokens(&text, &r.tokens));
                }
            }
            Err(_) => self.write_line(&redact_tokens(&r.to_human(self.color), &r.tokens)),
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
        f.evidence
            .insert("diff".into(), serde_json::json!(["-host:a", "+host:b"]));
        let r = Record {
            id: 7,
            method: "GET".into(),
            target: "/b/k?X-Amz-Signature=0a64ae62da0fdde29f179d3f674ee45e4c879572d844163340384ec2810602ea&x=1".into(),
            scheme: "sigv4".into(),
            carrier: "query".into(),
            verdict: "invalid".into(),
            action: "rejected",
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
            action: "resigned",
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
