//! Rendering a [`Report`](crate::inspect::Report) as JSON (one object) or as a compact human report.

use crate::findings::{code, Code, Severity};
use crate::inspect::{window_text, Report, Verdict};
use crate::redact::{escape, escape_bytes};
use crate::timefmt::rfc3339;
use serde_json::{json, Map, Value};

/// The JSON object `inspect --format json` prints.
pub fn to_json(r: &Report) -> Value {
    let mut stages = Map::new();
    let s = &r.stages;
    for (k, v) in [
        ("canonical_request", &s.canonical_request),
        ("http_string", &s.http_string),
        ("string_to_sign", &s.string_to_sign),
        ("expected_signature", &s.expected_signature),
        ("provided_signature", &s.provided_signature),
        ("reading", &s.reading),
    ] {
        if let Some(v) = v {
            stages.insert(k.into(), Value::String(v.clone()));
        }
    }
    if let Some(c) = &s.chunks {
        stages.insert(
            "chunks".into(),
            json!({"count": c.chunks, "decoded_length": c.decoded_length, "signed": c.signed}),
        );
    }
    json!({
        "scheme": r.scheme.as_str(),
        "carrier": r.carrier.as_str(),
        "access_key": r.access_key,
        "verdict": r.verdict.as_str(),
        "now": rfc3339(r.now),
        "window": r.window.map(|w| json!({
            "start": w.start.map(rfc3339),
            "end": rfc3339(w.end),
        })),
        "findings": r.findings,
        "stages": Value::Object(stages),
        "request": {"method": r.method, "host": r.host, "path": r.path},
    })
}

/// Which error leads the headline: time and key problems first, then the signature.
fn headline_rank(c: Code) -> u8 {
    match c {
        code::MALFORMED_AUTH => 0,
        code::EXPIRED | code::NOT_YET_VALID | code::CLOCK_SKEW => 1,
        code::CREDENTIAL_SCOPE_MISMATCH | code::EXPIRES_TOO_LONG => 2,
        code::SIGNATURE_MISMATCH => 3,
        _ => 4,
    }
}

struct Paint {
    on: bool,
}

impl Paint {
    fn c(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// A compact report for people; `color` only when writing to a terminal. What the request
/// carried is escaped ([`crate::redact`]): the host and path as bytes, the rest as text.
pub fn to_human(r: &Report, color: bool) -> String {
    let p = Paint { on: color };
    let mut out = String::new();
    let (mark, word, col) = match r.verdict {
        Verdict::Valid => ("✓", "VALID", "32"),
        Verdict::Invalid => ("✗", "INVALID", "31"),
        Verdict::Unverified => ("?", "UNVERIFIED", "33"),
    };
    // The headline names the most important finding and its cause.
    let primary = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .min_by_key(|f| headline_rank(f.code))
        .map(|f| {
            let first = f.message.split('\n').next().unwrap_or("");
            let short = first.split(" (").next().unwrap_or(first);
            let short: String = short.chars().take(90).collect();
            let short = escape(&short);
            let lead = if short.starts_with(f.code.as_str()) {
                short.into_owned()
            } else {
                format!("{}: {short}", f.code)
            };
            match f.cause {
                Some(c) => format!(" — {lead} — cause: {c}"),
                None => format!(" — {lead}"),
            }
        })
        .unwrap_or_default();
    out.push_str(&format!(
        "{} {}{}\n  {} {}{}\n",
        p.c(col, mark),
        p.c(&format!("1;{col}"), word),
        primary,
        r.scheme.as_str(),
        r.carrier.as_str(),
        r.access_key
            .as_ref()
            .map(|a| format!("  key {}", escape(a)))
            .unwrap_or_default()
    ));
    out.push_str(&format!(
        "  {} {}{}\n",
        escape(&r.method),
        r.host
            .as_deref()
            .map(escape_bytes)
            .unwrap_or("(no host)".into()),
        escape_bytes(&r.path)
    ));
    match &r.window {
        Some(w) => out.push_str(&format!(
            "  window {}   now {}\n",
            window_text(w),
            rfc3339(r.now)
        )),
        None => out.push_str(&format!("  now {}\n", rfc3339(r.now))),
    }
    let mut findings: Vec<_> = r.findings.iter().collect();
    findings.sort_by_key(|f| f.severity);
    for f in findings {
        let (label, c) = match f.severity {
            Severity::Error => ("error  ", "31"),
            Severity::Warning => ("warning", "33"),
            Severity::Info => ("info   ", "36"),
        };
        out.push_str(&format!(
            "  {} {}{}: {}\n",
            p.c(c, label),
            p.c("1", f.code.as_str()),
            f.cause.map(|c| format!(" [{c}]")).unwrap_or_default(),
            lines(&f.message, "\n          ")
        ));
        if let Some(serde_json::Value::Array(lines)) = f.evidence.get("diff") {
            out.push_str(&format!(
                "          {}\n",
                p.c("2", "diff (- as received, + as the client signed):")
            ));
            for l in lines.iter().filter_map(|l| l.as_str()) {
                let c = if l.starts_with('+') { "32" } else { "31" };
                out.push_str(&format!("            {}\n", p.c(c, &escape(l))));
            }
        }
        if let (Some(fix), Severity::Error) = (&f.fix, f.severity) {
            out.push_str(&format!("          fix: {}\n", lines(fix, "\n          ")));
        }
    }
    let s = &r.stages;
    let block = |out: &mut String, title: &str, text: &Option<String>| {
        if let Some(t) = text {
            out.push_str(&format!("  {}\n", p.c("2", title)));
            for line in t.split('\n') {
                out.push_str(&format!("    │ {}\n", escape(line)));
            }
        }
    };
    block(&mut out, "canonical request:", &s.canonical_request);
    block(&mut out, "HttpString:", &s.http_string);
    block(&mut out, "string to sign:", &s.string_to_sign);
    if let Some(e) = &s.expected_signature {
        out.push_str(&format!("  expected signature {}\n", escape(e)));
    }
    if let Some(pv) = &s.provided_signature {
        out.push_str(&format!("  provided signature {}\n", escape(pv)));
    }
    if let Some(c) = &s.chunks {
        out.push_str(&format!(
            "  aws-chunked: {} chunks, {} bytes decoded{}\n",
            c.chunks,
            c.decoded_length,
            if c.signed { ", signed" } else { "" }
        ));
    }
    out
}

/// `text` escaped, its lines joined by `sep` (a line break and the indentation that follows).
fn lines(text: &str, sep: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push_str(sep);
        }
        crate::redact::escape_into(&mut out, line, crate::redact::Form::Text);
    }
    out
}
