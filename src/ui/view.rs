//! What the web view shows of one request, made from its log record when it is logged: the
//! list entry (the log's own JSON record), the detail (findings with their evidence, the time
//! picture, the stages, the side-by-side diff, what sigtap did, copy-as commands) and the HAR
//! exchange. Everything is redacted here, before it is stored: signature and token values cut
//! to 8 characters as the log cuts them, the session tokens the request carried and the
//! signatures the engine names cut wherever they appear.

use crate::outcome::Record;
use crate::record::read::{ClientSide, Exchange, RecFinding, RecRequest, RecResponse};
use crate::redact::{redacted_hiding, shorten, TOKEN_NAMES};
use crate::timefmt::{parse_amz_date, parse_http_date, parse_user_time, rfc3339};
use serde_json::{json, Map, Value};

/// Stage texts longer than this are cut (a head is at most 64 KiB; the view stays small).
const STAGE_LIMIT: usize = 16 * 1024;
/// Header values longer than this are cut in the view.
const HEADER_LIMIT: usize = 2 * 1024;

/// One request as the view keeps it: nothing in it is secret.
#[derive(Debug)]
pub struct Shown {
    pub id: u64,
    /// The log's JSON record (`Record::write_json`), as the log writes it.
    pub log: String,
    /// The client's clock offset, when a finding measured it (the summary bar's offsets).
    pub client_offset_s: Option<i64>,
    /// The detail panel's JSON.
    pub detail: String,
    /// For the HAR export.
    pub exchange: Exchange,
}

/// The values never shown whole besides those redaction finds by name: the request's session
/// tokens and every signature the engine names (stages, findings' evidence).
struct Hidden(Vec<String>);

impl Hidden {
    fn of(r: &Record) -> Hidden {
        let mut v: Vec<String> = r.tokens.clone();
        let mut add = |s: &str| {
            if s.len() > crate::redact::KEEP && !v.iter().any(|x| x == s) {
                v.push(s.to_string());
            }
        };
        for f in &r.findings {
            for k in ["provided", "expected"] {
                if let Some(s) = f.evidence.get(k).and_then(Value::as_str) {
                    add(s);
                }
            }
        }
        if let Some(d) = &r.detail {
            for s in [&d.stages.expected_signature, &d.stages.provided_signature]
                .into_iter()
                .flatten()
            {
                add(s);
            }
        }
        Hidden(v)
    }

    fn clean(&self, text: &str) -> String {
        redacted_hiding(text, self.0.iter().map(String::as_str)).into_owned()
    }

    /// Every string in `v` (keys stay: they are sigtap's own names).
    fn scrub(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                let c = redacted_hiding(s, self.0.iter().map(String::as_str));
                if let std::borrow::Cow::Owned(c) = c {
                    *s = c;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.scrub(x)),
            Value::Object(o) => o.values_mut().for_each(|x| self.scrub(x)),
            _ => {}
        }
    }
}

/// `text` cut to `limit` bytes (at a character boundary), marked when cut.
fn clip(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… ({} bytes more, cut by the web view)",
        &text[..end],
        text.len() - end
    )
}

/// A header value as the view shows it: a token header's value cut to 8 characters, every
/// other value redacted by name (an Authorization's signature) and clipped.
fn header_value(h: &Hidden, name: &str, value: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if TOKEN_NAMES.contains(&lower.as_str()) {
        return shorten(value).into_owned();
    }
    if lower == "cookie" || lower == "proxy-authorization" {
        return crate::redact::record::MARK.to_string();
    }
    clip(&h.clean(value), HEADER_LIMIT)
}

/// Makes what the view keeps of `r`.
pub fn shown(r: &Record) -> Shown {
    let hidden = Hidden::of(r);
    let mut log = Vec::with_capacity(512);
    r.write_json(&mut log);
    let log = String::from_utf8(log).unwrap_or_default();
    let client_offset_s = r.findings.iter().find_map(|f| {
        f.evidence
            .get("client_offset_seconds")
            .and_then(Value::as_i64)
    });
    let headers: Vec<(String, String)> = r
        .detail
        .as_ref()
        .map(|d| {
            d.headers
                .iter()
                .map(|(k, v)| (k.clone(), header_value(&hidden, k, v)))
                .collect()
        })
        .unwrap_or_default();
    let mut detail = detail_json(r, &hidden, &headers);
    hidden.scrub(&mut detail);
    let exchange = exchange(r, &hidden, &headers);
    Shown {
        id: r.id,
        log,
        client_offset_s,
        detail: detail.to_string(),
        exchange,
    }
}

fn detail_json(r: &Record, hidden: &Hidden, headers: &[(String, String)]) -> Value {
    let findings: Vec<Value> = r
        .findings
        .iter()
        .map(|f| {
            let mut evidence = f.evidence.clone();
            for k in ["provided", "expected"] {
                if let Some(Value::String(s)) = evidence.get_mut(k) {
                    *s = shorten(s).into_owned();
                }
            }
            json!({
                "code": f.code, "severity": f.severity.as_str(), "cause": f.cause,
                "message": hidden.clean(&f.message), "evidence": Value::Object(evidence),
                "fix": f.fix,
            })
        })
        .collect();
    let d = r.detail.as_deref();
    let stages = d.map(|d| {
        let s = &d.stages;
        let mut o = Map::new();
        for (k, v) in [
            ("canonical_request", &s.canonical_request),
            ("http_string", &s.http_string),
            ("string_to_sign", &s.string_to_sign),
            ("reading", &s.reading),
        ] {
            if let Some(v) = v {
                o.insert(k.into(), clip(&hidden.clean(v), STAGE_LIMIT).into());
            }
        }
        for (k, v) in [
            ("expected_signature", &s.expected_signature),
            ("provided_signature", &s.provided_signature),
        ] {
            if let Some(v) = v {
                o.insert(k.into(), shorten(v).into_owned().into());
            }
        }
        if let Some(c) = &s.chunks {
            o.insert(
                "chunks".into(),
                json!({"count": c.chunks, "decoded_length": c.decoded_length, "signed": c.signed}),
            );
        }
        Value::Object(o)
    });
    let diff = r
        .findings
        .iter()
        .find_map(|f| f.evidence.get("diff").and_then(Value::as_array))
        .map(|lines| {
            let lines: Vec<String> = lines
                .iter()
                .filter_map(Value::as_str)
                .map(|l| hidden.clean(l))
                .collect();
            let texts: Vec<(&str, String)> = d
                .map(|d| {
                    [
                        ("canonical request", &d.stages.canonical_request),
                        ("HttpString", &d.stages.http_string),
                        ("string to sign", &d.stages.string_to_sign),
                    ]
                    .into_iter()
                    .filter_map(|(n, t)| t.as_ref().map(|t| (n, hidden.clean(t))))
                    .collect()
                })
                .unwrap_or_default();
            side_by_side(&lines, &texts)
        });
    json!({
        "id": r.id,
        "findings": findings,
        "time": d.map(|d| time_picture(r, d)),
        "stages": stages,
        "diff": diff,
        "did": {
            "action": r.action, "resigned_as": r.resigned_as, "note": r.note.as_deref().map(|n| hidden.clean(n)),
            "status": r.status, "upstream": d.map(|d| d.upstream.clone()),
        },
        "upstream": {
            "status": r.upstream_status, "error_code": r.upstream_error_code,
            "error_message": r.upstream_error_message.as_deref().map(|m| hidden.clean(m)),
            "request_id": r.upstream_request_id, "clock_offset_s": r.clock_offset_s,
        },
        "headers": headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "curl": d.map(|_| curl(r, headers)),
        "inspect": d.map(|d| inspect_command(r, d.judged_at, headers)),
    })
}

/// The times on one axis: the signature's window, the client's clock (as the request implies
/// it), the proxy's clock and the upstream's (when its `Date` was seen), in unix seconds.
fn time_picture(r: &Record, d: &crate::outcome::Detail) -> Value {
    let header = |name: &str| {
        d.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let from_finding = r.findings.iter().find_map(|f| {
        f.evidence
            .get("client_time")
            .and_then(Value::as_str)
            .and_then(parse_user_time)
    });
    let (client, basis) = if let Some(t) = from_finding {
        (Some(t), "as the diagnosis measured it".to_string())
    } else if r.scheme == "cos" && r.carrier == "header" {
        match d.window.and_then(|w| w.start) {
            Some(start) => {
                let ct = crate::diagnose::time::cos_client_time(start, header("user-agent"));
                (Some(ct.time), ct.basis)
            }
            None => (None, String::new()),
        }
    } else if r.carrier == "header" {
        match (header("x-amz-date"), header("date")) {
            (Some(a), _) if parse_amz_date(a).is_some() => {
                (parse_amz_date(a), "X-Amz-Date".to_string())
            }
            (_, Some(dt)) => (parse_http_date(dt), "Date".to_string()),
            _ => (None, String::new()),
        }
    } else if r.carrier == "query" {
        (
            d.window.and_then(|w| w.start),
            "when the URL was signed".to_string(),
        )
    } else {
        (None, String::new())
    };
    let upstream = r.clock_offset_s.map(|o| d.local_now.saturating_add(o));
    let t = |v: Option<i64>| v.map(|v| json!({"unix": v, "text": rfc3339(v)}));
    json!({
        "window_start": t(d.window.and_then(|w| w.start)),
        "window_end": t(d.window.map(|w| w.end)),
        "client": t(client),
        "client_basis": (!basis.is_empty()).then_some(basis),
        "proxy": t(Some(d.local_now)),
        "judged": t(Some(d.judged_at)),
        "upstream": t(upstream),
    })
}

/// The mismatch diff side by side: what the client signed beside what arrived, as canonical
/// lines. `lines` are the engine's (`+ ` signed, `- ` received); `texts` the stages computed
/// from the request as received, to show the unchanged lines around the changed ones (the
/// first whose lines hold every `- ` line in order). Without such a text only the changed
/// lines are paired.
pub fn side_by_side(lines: &[String], texts: &[(&str, String)]) -> Value {
    let minus: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix("- ")).collect();
    let base = texts.iter().find(|(_, t)| {
        let mut it = t.split('\n');
        minus.iter().all(|m| it.any(|l| l == *m))
    });
    let row = |signed: Option<&str>, received: Option<&str>| json!({"signed": signed, "received": received, "changed": signed != received});
    let mut rows: Vec<Value> = Vec::new();
    let mut plus: std::collections::VecDeque<&str> = Default::default();
    let received: Vec<&str> = base
        .map(|(_, t)| t.split('\n').collect())
        .unwrap_or_default();
    let mut cursor = 0;
    for l in lines {
        if let Some(p) = l.strip_prefix("+ ") {
            plus.push_back(p);
        } else if let Some(m) = l.strip_prefix("- ") {
            if base.is_some() {
                while cursor < received.len() && received[cursor] != m {
                    rows.push(row(Some(received[cursor]), Some(received[cursor])));
                    cursor += 1;
                }
                cursor += 1;
            }
            rows.push(row(plus.pop_front(), Some(m)));
        } else {
            rows.push(json!({"note": l}));
        }
    }
    rows.extend(plus.into_iter().map(|p| row(Some(p), None)));
    if base.is_some() {
        rows.extend(
            received[cursor.min(received.len())..]
                .iter()
                .map(|l| row(Some(l), Some(l))),
        );
    }
    json!({"of": base.map(|(n, _)| *n), "rows": rows})
}

/// Single-quoted for a POSIX shell.
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `curl` for the request as received (the signature and tokens cut: sign it again to send).
fn curl(r: &Record, headers: &[(String, String)]) -> String {
    let scheme = r.transport.as_str();
    let host = r.host.clone().unwrap_or_default();
    let mut out = String::from(
        "# as received; signature and token values are cut to 8 characters: sign again to send\n",
    );
    out.push_str(&format!(
        "curl -X {} {}",
        sh(&r.method),
        sh(&format!("{scheme}://{host}{}", r.target))
    ));
    for (k, v) in headers {
        let lower = k.to_ascii_lowercase();
        if matches!(lower.as_str(), "host" | "content-length" | "connection") {
            continue;
        }
        out.push_str(&format!(" \\\n  -H {}", sh(&format!("{k}: {v}"))));
    }
    if r.bytes_in > 0 {
        out.push_str(" \\\n  --data-binary @BODY_FILE");
    }
    out
}

/// `sigtap inspect` for the request as received, at the time it was judged.
fn inspect_command(r: &Record, judged_at: i64, headers: &[(String, String)]) -> String {
    let mut raw = format!("{} {} HTTP/1.1\n", r.method, r.target);
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\n"));
    }
    format!(
        "# the signature is cut to 8 characters here: put your client's whole value back to check it\n\
         sigtap inspect --now {} - <<'SIGTAP_REQUEST'\n{raw}\nSIGTAP_REQUEST",
        rfc3339(judged_at)
    )
}

fn exchange(r: &Record, hidden: &Hidden, headers: &[(String, String)]) -> Exchange {
    Exchange {
        id: r.id,
        time: r.time.clone(),
        request: RecRequest {
            method: r.method.clone(),
            target: hidden.clean(&crate::redact::record::redact_target(&r.target)),
            headers: headers
                .iter()
                .map(|(k, v)| (k.clone(), crate::redact::record::redact_header(k, v)))
                .collect(),
            body: Default::default(),
        },
        response: RecResponse {
            status: r.status,
            headers: Vec::new(),
            body: Default::default(),
        },
        duration_ms: r.duration_ms,
        client: ClientSide {
            scheme: r.scheme.clone(),
            carrier: r.carrier.clone(),
            access_key: r.access_key.clone(),
            verdict: r.verdict.clone(),
            findings: r
                .findings
                .iter()
                .map(|f| RecFinding {
                    code: f.code.as_str().to_string(),
                    cause: f.cause.map(str::to_string),
                })
                .collect(),
        },
        action: r.action.as_str().to_string(),
        resigned_as: r.resigned_as.clone(),
        line: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_diff_is_shown_beside_the_text_as_received() {
        let text = "PUT\n/b/k\n\ncontent-type:text/plain; charset=utf-8\nhost:h\n\nUNSIGNED";
        let d = side_by_side(
            &lines(&[
                "+ content-type:text/plain",
                "- content-type:text/plain; charset=utf-8",
            ]),
            &[("canonical request", text.to_string())],
        );
        assert_eq!(d["of"], "canonical request");
        let rows = d["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 7);
        assert_eq!(rows[3]["signed"], "content-type:text/plain");
        assert_eq!(
            rows[3]["received"],
            "content-type:text/plain; charset=utf-8"
        );
        assert_eq!(rows[3]["changed"], true);
        assert_eq!(rows[4]["changed"], false);
        assert_eq!(rows[6]["signed"], "UNSIGNED");
    }

    #[test]
    fn without_a_matching_text_only_the_changes_are_paired() {
        let d = side_by_side(&lines(&["+ a", "- b", "+ c", "(note)"]), &[]);
        let rows = d["rows"].as_array().unwrap();
        assert_eq!(rows[0]["signed"], "a");
        assert_eq!(rows[0]["received"], "b");
        assert_eq!(rows[1]["note"], "(note)");
        assert_eq!(rows[2]["signed"], "c");
        assert!(rows[2]["received"].is_null());
        assert!(d["of"].is_null());
    }

    proptest::proptest! {
        #[test]
        fn any_record_is_shown_without_panicking(
            target in ".{0,80}", value in ".{0,80}", stage in ".{0,200}",
            diff in proptest::collection::vec("[-+ ]{0,2}.{0,20}", 0..8),
            start in proptest::option::of(proptest::num::i64::ANY), end in proptest::num::i64::ANY,
        ) {
            let f = crate::findings::Finding::error(crate::findings::code::SIGNATURE_MISMATCH, value.clone())
                .with("diff", json!(diff))
                .with("provided", value.clone())
                .with("client_time", value.clone());
            let r = Record {
                target: target.clone(),
                carrier: "header".into(),
                scheme: "cos".into(),
                findings: vec![f],
                tokens: vec![value.clone()],
                clock_offset_s: Some(end),
                detail: Some(Box::new(crate::outcome::Detail {
                    stages: crate::inspect::Stages {
                        canonical_request: Some(stage.clone()),
                        provided_signature: Some(value.clone()),
                        ..Default::default()
                    },
                    window: Some(crate::inspect::Window { start, end }),
                    judged_at: end,
                    local_now: end,
                    headers: vec![(value.clone(), target), ("X-Amz-Date".into(), value)],
                    upstream: String::new(),
                })),
                ..Default::default()
            };
            let s = shown(&r);
            proptest::prop_assert!(serde_json::from_str::<Value>(&s.detail).is_ok());
        }
    }

    #[test]
    fn signatures_and_tokens_never_reach_the_view_whole() {
        use crate::findings::{code, Finding};
        let sig = "0a64ae62da0fdde29f179d3f674ee45e4c879572d844163340384ec2810602ea";
        let other = "fe12ab34cd56ef78fe12ab34cd56ef78fe12ab34cd56ef78fe12ab34cd56ef78";
        let token = "FwoGZXIvYXdzEBYaDHsecrettokenvalue";
        let f = Finding::error(code::SIGNATURE_MISMATCH, format!("Signature {sig} differs"))
            .with("provided", sig)
            .with("expected", other)
            .with(
                "diff",
                json!([format!("+ x-amz-security-token:{token}"), "- host:a"]),
            );
        let r = Record {
            id: 3,
            method: "GET".into(),
            target: format!("/b/k?X-Amz-Signature={sig}&x-amz-security-token={token}"),
            scheme: "sigv4".into(),
            carrier: "header".into(),
            findings: vec![f],
            tokens: vec![token.into()],
            detail: Some(Box::new(crate::outcome::Detail {
                stages: crate::inspect::Stages {
                    canonical_request: Some(format!(
                        "GET\n/b/k\nx-amz-security-token:{token}\n{other}"
                    )),
                    expected_signature: Some(other.into()),
                    provided_signature: Some(sig.into()),
                    ..Default::default()
                },
                headers: vec![
                    (
                        "Authorization".into(),
                        format!(
                            "AWS4-HMAC-SHA256 Credential=AK/x, SignedHeaders=host, Signature={sig}"
                        ),
                    ),
                    ("X-Amz-Security-Token".into(), token.into()),
                    ("X-Echo".into(), format!("{other}/{token}")),
                ],
                ..Default::default()
            })),
            ..Default::default()
        };
        let s = shown(&r);
        for text in [
            &s.log,
            &s.detail,
            &serde_json::to_string(&s.exchange.request.headers).unwrap(),
            &s.exchange.request.target,
        ] {
            for secret in [sig, other, token] {
                assert!(!text.contains(secret), "{secret} whole in {text}");
            }
        }
        assert!(s.detail.contains("0a64ae62…"), "{}", s.detail);
        assert!(s.detail.contains("fe12ab34…"));
    }
}
