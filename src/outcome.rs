//! The outcome of one request: what sigtap saw, decided and got back. The proxy's log prints it
//! (human or JSON lines) and a recording stores it. Signature and token values never appear
//! whole (at most their first 8 characters), and human lines show what clients and upstreams
//! sent escaped (see [`crate::redact`]).

use crate::findings::Finding;
use crate::policy::Action;
use crate::redact::{escape_into, redacted_hiding, shown_into, Form};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

mod detail;
pub use detail::Detail;

/// How a request reached sigtap: plain HTTP, or HTTPS (the TLS listener, or inside an
/// intercepted CONNECT tunnel). Not the signature scheme (`client.scheme`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    #[default]
    Http,
    Https,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Https => "https",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request's record.
#[derive(Clone, Debug, Default)]
pub struct Record {
    pub id: u64,
    pub time: String,
    pub method: String,
    /// The host as the client wrote it: the absolute-form authority, else `Host` (a port only
    /// when the client wrote one).
    pub host: Option<String>,
    /// How the request arrived (`http` or `https`).
    pub transport: Transport,
    pub target: String,
    pub scheme: String,
    pub carrier: String,
    pub access_key: Option<String>,
    pub verdict: String,
    pub findings: Vec<Finding>,
    pub action: Action,
    pub resigned_as: Option<String>,
    /// The access key id a re-signed request was signed with (never the secret).
    pub resigned_with: Option<String>,
    pub note: Option<String>,
    pub upstream_status: Option<u16>,
    pub upstream_error_code: Option<String>,
    pub upstream_error_message: Option<String>,
    pub upstream_request_id: Option<String>,
    pub clock_offset_s: Option<i64>,
    /// The client's clock minus sigtap's, when the request says when it was signed (for
    /// `--admin`'s metrics; not written in the log record, whose findings say it when it matters).
    pub client_offset_s: Option<i64>,
    pub duration_ms: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub status: u16,
    /// For recordings: the request headers as received (redacted when written).
    pub req_headers: Vec<(String, String)>,
    /// For recordings: the request body, captured while it streamed.
    pub req_body: Option<CapturedBody>,
    /// Session tokens the request carried: never written whole.
    pub tokens: Vec<String>,
    /// For the web view (`--ui`) only: what it shows besides the log record. `None` otherwise.
    pub detail: Option<Box<Detail>>,
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
            "transport": self.transport.as_str(),
            "target": self.clean(&self.target, NONE),
            "client": {
                "scheme": self.scheme, "carrier": self.carrier, "access_key": self.access_key,
                "verdict": self.verdict, "findings": findings,
            },
            "action": self.action,
            "resigned_as": self.resigned_as,
            "resigned_with": self.resigned_with,
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

    /// The JSON record, appended to `out` without building a `Value` first (the log runs once
    /// per request). The same text as `to_json().to_string()`: keys in the same (sorted) order,
    /// strings escaped and numbers written by serde_json itself; a unit test holds the two
    /// together.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        fn text(out: &mut Vec<u8>, s: &str) {
            let _ = serde_json::to_writer(&mut *out, s);
        }
        fn opt_text(out: &mut Vec<u8>, s: Option<&str>) {
            match s {
                Some(s) => text(out, s),
                None => out.extend_from_slice(b"null"),
            }
        }
        fn key(out: &mut Vec<u8>, k: &str) {
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
        }
        out.extend_from_slice(b"{");
        key(out, "action");
        let _ = serde_json::to_writer(&mut *out, &self.action);
        let _ = write!(
            out,
            ",\"bytes_in\":{},\"bytes_out\":{},",
            self.bytes_in, self.bytes_out
        );
        key(out, "client");
        out.push(b'{');
        key(out, "access_key");
        opt_text(out, self.access_key.as_deref());
        out.push(b',');
        key(out, "carrier");
        text(out, &self.carrier);
        out.push(b',');
        key(out, "findings");
        out.push(b'[');
        for (i, f) in self.findings.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'{');
            if let Some(c) = f.cause {
                key(out, "cause");
                text(out, c);
                out.push(b',');
            }
            key(out, "code");
            let _ = serde_json::to_writer(&mut *out, &f.code);
            out.push(b',');
            key(out, "message");
            text(out, &self.clean(&f.message, named_signatures(f)));
            out.push(b',');
            key(out, "severity");
            text(out, f.severity.as_str());
            out.push(b'}');
        }
        out.extend_from_slice(b"],");
        key(out, "scheme");
        text(out, &self.scheme);
        out.push(b',');
        key(out, "verdict");
        text(out, &self.verdict);
        out.extend_from_slice(b"},");
        key(out, "duration_ms");
        let _ = serde_json::to_writer(&mut *out, &((self.duration_ms * 1000.0).round() / 1000.0));
        out.push(b',');
        key(out, "host");
        opt_text(out, self.host.as_deref());
        let _ = write!(out, ",\"id\":{},", self.id);
        key(out, "method");
        text(out, &self.method);
        out.push(b',');
        key(out, "note");
        opt_text(
            out,
            self.note.as_deref().map(|n| self.clean(n, NONE)).as_deref(),
        );
        out.push(b',');
        key(out, "resigned_as");
        opt_text(out, self.resigned_as.as_deref());
        out.push(b',');
        key(out, "resigned_with");
        opt_text(out, self.resigned_with.as_deref());
        let _ = write!(out, ",\"status\":{},", self.status);
        key(out, "target");
        text(out, &self.clean(&self.target, NONE));
        out.push(b',');
        key(out, "time");
        text(out, &self.time);
        out.push(b',');
        key(out, "transport");
        text(out, self.transport.as_str());
        out.push(b',');
        key(out, "upstream");
        out.push(b'{');
        key(out, "clock_offset_s");
        match self.clock_offset_s {
            Some(o) => {
                let _ = write!(out, "{o}");
            }
            None => out.extend_from_slice(b"null"),
        }
        out.push(b',');
        key(out, "error_code");
        opt_text(out, self.upstream_error_code.as_deref());
        out.push(b',');
        key(out, "error_message");
        let message = self
            .upstream_error_message
            .as_deref()
            .map(|m| self.clean(m, NONE));
        opt_text(out, message.as_deref());
        out.push(b',');
        key(out, "request_id");
        opt_text(out, self.upstream_request_id.as_deref());
        out.push(b',');
        key(out, "status");
        match self.upstream_status {
            Some(s) => {
                let _ = write!(out, "{s}");
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b"}}");
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
            if self.transport == Transport::Https {
                out.push_str("https://");
            }
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

/// A request body captured for a recording while it streams (the recorder makes it).
pub type CapturedBody = Arc<Mutex<dyn Capture>>;

/// What the outcome needs of a captured body.
pub trait Capture: std::fmt::Debug + Send {
    /// Ends the capture (again: no change) and describes the body as a recording stores it.
    fn finish_json(&mut self) -> Value;
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
    fn the_json_writer_gives_the_text_of_to_json() {
        let mut f = Finding::error(
            crate::findings::code::SIGNATURE_MISMATCH,
            "Signature 0a64ae62da0fdde29f179d3f674ee45e4c879572d844163340384ec2810602ea differs\n\"quoted\" \u{7}",
        );
        f.cause = Some("host-changed");
        f.evidence.insert(
            "provided".into(),
            "0a64ae62da0fdde29f179d3f674ee45e4c879572d844163340384ec2810602ea".into(),
        );
        let full = Record {
            id: 42,
            time: "2026-12-03T10:00:00Z".into(),
            method: "PUT".into(),
            host: Some("b.s3.amazonaws.com:8443\u{1b}[2J".into()),
            transport: Transport::Https,
            target: "/b/k é?X-Amz-Signature=0a64ae62da0fdde29f179d3f674ee45e4c879572d844163340384ec2810602ea&x-amz-security-token=FwoGZXIvYXdzEBYaDH".into(),
            scheme: "sigv4".into(),
            carrier: "query".into(),
            access_key: Some("AKIDEXAMPLE".into()),
            verdict: "invalid".into(),
            findings: vec![f, Finding::info(crate::findings::code::SIGNATURE_READING, "tab\there")],
            action: Action::Resigned,
            resigned_as: Some("sigv4".into()),
            note: Some("a note with a token FwoGZXIvYXdzEBYaDH inside".into()),
            upstream_status: Some(503),
            upstream_error_code: Some("SlowDown".into()),
            upstream_error_message: Some("Please reduce your request rate.".into()),
            upstream_request_id: Some("TX123".into()),
            clock_offset_s: Some(-1200),
            duration_ms: 12.345_678_9,
            bytes_in: 1 << 40,
            bytes_out: 7,
            status: 503,
            tokens: vec!["FwoGZXIvYXdzEBYaDH".into()],
            ..Default::default()
        };
        for r in [
            full.clone(),
            Record::default(),
            Record {
                duration_ms: 0.1 + 0.2,
                ..full
            },
        ] {
            let mut out = Vec::new();
            r.write_json(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), r.to_json().to_string());
        }
    }
}
