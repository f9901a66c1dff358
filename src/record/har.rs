//! HAR 1.2 export and import, so a recording opens in browser devtools and HAR viewers.
//!
//! Export keeps everything sigtap needs in `_sigtap` fields (HAR's place for custom data), so
//! `export --har` then `import` gives the recording back; a HAR made by another tool imports
//! from its standard fields.

use super::read::{BodyRef, Exchange, Recording};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// HAR headers (redacted again: a recording made by an older sigtap may hold more).
fn pairs(h: &[(String, String)]) -> Vec<Value> {
    h.iter()
        .map(|(k, v)| json!({ "name": k, "value": super::redact_header(k, v) }))
        .collect()
}

fn body_ref_json(b: &BodyRef) -> Value {
    json!({ "size": b.size, "sha256": b.sha256, "base64": b.base64, "file": b.file, "redacted": b.redacted })
}

/// Bodies up to this size are copied into the HAR; larger ones only by size.
const HAR_BODY_LIMIT: u64 = super::DEFAULT_INLINE_LIMIT as u64 * 16;

/// HAR content of a body: text when it is UTF-8, else base64; nothing when only hashed or
/// large. A stored body that cannot be read as recorded (see [`BodyRef::load`]) is an error.
fn content(rec: &Recording, b: &BodyRef, mime: &str) -> Result<Value, String> {
    let mut c = json!({ "size": b.size, "mimeType": mime });
    if b.size > HAR_BODY_LIMIT {
        return Ok(c);
    }
    if let Some(bytes) = b.load(&rec.base)? {
        match String::from_utf8(bytes) {
            Ok(t) => c["text"] = json!(t),
            Err(e) => {
                c["text"] = json!(base64::engine::general_purpose::STANDARD.encode(e.into_bytes()));
                c["encoding"] = json!("base64");
            }
        }
    }
    Ok(c)
}

fn reason(status: u16) -> &'static str {
    hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// The recording as a HAR 1.2 document; fails naming the line of a body that cannot be read.
pub fn export(rec: &Recording) -> Result<Value, String> {
    let entries: Vec<Value> = rec
        .exchanges
        .iter()
        .map(|x| -> Result<Value, String> {
            let r = &x.request;
            let host = Exchange::header(&r.headers, "host").unwrap_or("localhost");
            let target = super::redact_target(&r.target);
            let url = format!("http://{host}{target}");
            let query: Vec<Value> = target
                .split_once('?')
                .map(|(_, q)| {
                    crate::sig::encode::split_query(q)
                        .iter()
                        .map(|p| {
                            json!({
                                "name": crate::sig::encode::decoded_text(p.name),
                                "value": crate::sig::encode::form_decoded_text(p.value),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let req_mime = Exchange::header(&r.headers, "content-type").unwrap_or("");
            let resp_mime = Exchange::header(&x.response.headers, "content-type").unwrap_or("");
            let mut request = json!({
                "method": r.method, "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
                "headers": pairs(&r.headers), "queryString": query, "headersSize": -1,
                "bodySize": r.body.size,
            });
            let at = |side: &'static str| move |e: String| format!("line {}: {side}.body: {e}", x.line);
            if r.body.size > 0 {
                let c = content(rec, &r.body, req_mime).map_err(at("request"))?;
                let mut post = json!({ "mimeType": req_mime, "params": [] });
                if let Some(t) = c.get("text") {
                    post["text"] = t.clone();
                }
                if let Some(e) = c.get("encoding") {
                    post["encoding"] = e.clone();
                }
                request["postData"] = post;
            }
            let resp_content =
                content(rec, &x.response.body, resp_mime).map_err(at("response"))?;
            let ms = x.duration_ms.max(0.0);
            Ok(json!({
                "startedDateTime": if x.time.is_empty() { "1970-01-01T00:00:00Z".to_string() } else { x.time.clone() },
                "time": ms,
                "request": request,
                "response": {
                    "status": x.response.status, "statusText": reason(x.response.status),
                    "httpVersion": "HTTP/1.1", "cookies": [], "headers": pairs(&x.response.headers),
                    "content": resp_content, "redirectURL": "",
                    "headersSize": -1, "bodySize": x.response.body.size,
                },
                "cache": {},
                "timings": { "send": 0, "wait": ms, "receive": 0 },
                "comment": format!("sigtap #{} {} ({} {} {})", x.id, x.action, x.client.scheme, x.client.carrier, x.client.verdict),
                "_sigtap": {
                    "id": x.id, "action": x.action, "resigned_as": x.resigned_as,
                    "client": {
                        "scheme": x.client.scheme, "carrier": x.client.carrier,
                        "access_key": x.client.access_key, "verdict": x.client.verdict,
                        "findings": x.client.findings.iter().map(|f| json!({"code": f.code, "cause": f.cause})).collect::<Vec<_>>(),
                    },
                    "request_body": body_ref_json(&r.body),
                    "response_body": body_ref_json(&x.response.body),
                },
            }))
        })
        .collect::<Result<_, _>>()?;
    Ok(json!({
        "log": {
            "version": "1.2",
            "creator": { "name": "sigtap", "version": env!("CARGO_PKG_VERSION") },
            "entries": entries,
        }
    }))
}

fn har_headers(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| {
                    Some((
                        h["name"].as_str()?.to_string(),
                        h["value"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A body from HAR text (base64 when `encoding` says so).
fn har_body(text: Option<&str>, encoding: Option<&str>) -> Result<Value, String> {
    let bytes = match (text, encoding) {
        (None, _) => Vec::new(),
        (Some(t), Some("base64")) => base64::engine::general_purpose::STANDARD
            .decode(t)
            .map_err(|e| format!("a base64 body does not decode: {e}"))?,
        (Some(t), _) => t.as_bytes().to_vec(),
    };
    Ok(json!({
        "size": bytes.len(),
        "sha256": crate::sig::encode::hex(&Sha256::digest(&bytes)),
        "base64": base64::engine::general_purpose::STANDARD.encode(&bytes),
    }))
}

/// Redacts what a HAR from another tool may carry in the clear.
fn redacted_headers(h: Vec<(String, String)>) -> Vec<Value> {
    h.iter()
        .map(|(k, v)| json!([k, super::redact_header(k, v)]))
        .collect()
}

/// Recording lines (version line first) from a HAR document.
pub fn import(har: &Value) -> Result<Vec<Value>, String> {
    let entries = har
        .pointer("/log/entries")
        .and_then(Value::as_array)
        .ok_or("not a HAR document: no log.entries")?;
    let mut out = vec![json!({ "sigtap_recording": super::FORMAT_VERSION })];
    for (i, e) in entries.iter().enumerate() {
        let n = i + 1;
        let req = &e["request"];
        let url = req["url"]
            .as_str()
            .ok_or_else(|| format!("entry {n}: request.url is missing"))?;
        let target = match url.split_once("://") {
            Some((_, rest)) => rest
                .find('/')
                .map(|j| rest[j..].to_string())
                .unwrap_or_else(|| "/".into()),
            None => url.to_string(),
        };
        let st = &e["_sigtap"];
        let req_body = match st.get("request_body") {
            Some(b) if !b.is_null() => b.clone(),
            _ => har_body(
                req.pointer("/postData/text").and_then(Value::as_str),
                req.pointer("/postData/encoding").and_then(Value::as_str),
            )
            .map_err(|m| format!("entry {n}: {m}"))?,
        };
        let resp = &e["response"];
        let resp_body = match st.get("response_body") {
            Some(b) if !b.is_null() => b.clone(),
            _ => har_body(
                resp.pointer("/content/text").and_then(Value::as_str),
                resp.pointer("/content/encoding").and_then(Value::as_str),
            )
            .map_err(|m| format!("entry {n}: {m}"))?,
        };
        let status = resp["status"]
            .as_u64()
            .ok_or_else(|| format!("entry {n}: response.status is missing"))?;
        let mut line = json!({
            "id": st.get("id").and_then(Value::as_u64).unwrap_or(n as u64),
            "time": e["startedDateTime"],
            "request": {
                "method": req["method"].as_str().unwrap_or("GET"),
                "target": super::redact_target(&target),
                "headers": redacted_headers(har_headers(&req["headers"])),
                "body": req_body,
            },
            "response": { "status": status, "headers": redacted_headers(har_headers(&resp["headers"])), "body": resp_body },
            "duration_ms": e["time"].as_f64().unwrap_or(0.0),
            "client": st.get("client").cloned().unwrap_or_else(|| json!({})),
            "action": st.get("action").cloned().unwrap_or_else(|| json!(crate::policy::Action::Forwarded)),
            "resigned_as": st.get("resigned_as").cloned().unwrap_or(Value::Null),
        });
        let wire = crate::wire::Request::parse(
            format!(
                "{} {} HTTP/1.1\r\n\r\n",
                line["request"]["method"].as_str().unwrap_or("GET"),
                target
            )
            .as_bytes(),
        )
        .map(|mut w| {
            w.headers = har_headers(&req["headers"]);
            w
        });
        if line["client"].get("scheme").is_none() {
            // a foreign HAR: tell the scheme and key from the request itself
            let wire = wire.as_ref().map_err(|e| format!("entry {n}: {e}"))?;
            let r = crate::inspect::Inspector::default().inspect_head(wire, 0);
            line["client"] = json!({ "scheme": r.scheme.as_str(), "carrier": r.carrier.as_str(), "access_key": r.access_key, "verdict": "unverified", "findings": [] });
        }
        // the request's tokens and any signature value are masked in what is kept
        let tokens = wire
            .as_ref()
            .map(crate::redact::request_tokens)
            .unwrap_or_default();
        super::scrub_exchange(&mut line, &tokens, |b, s| {
            super::scrub_inline(b, s);
        });
        // the same checks as a recording's lines: what import writes, replay and the mock read
        super::check::check_exchange(&mut line).map_err(|e| format!("entry {n}: {e}"))?;
        out.push(line);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_then_import_gives_the_recording_back() {
        let text = concat!(
            "{\"sigtap_recording\":1}\n",
            "{\"id\":7,\"time\":\"2025-01-15T09:00:00Z\",\"request\":{\"method\":\"PUT\",\"target\":\"/b/k?x=1\",\"headers\":[[\"Host\",\"h:9\"],[\"Authorization\",\"AWS AK:<redacted>\"]],\"body\":{\"size\":2,\"sha256\":\"8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4\",\"base64\":\"aGk=\"}},",
            "\"response\":{\"status\":200,\"headers\":[[\"ETag\",\"\\\"e\\\"\"]],\"body\":{\"size\":0,\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"base64\":\"\"}},\"duration_ms\":1.5,",
            "\"client\":{\"scheme\":\"sigv2\",\"carrier\":\"header\",\"access_key\":\"AK\",\"verdict\":\"valid\",\"findings\":[]},\"action\":\"forwarded\",\"resigned_as\":null}\n"
        );
        let rec = Recording {
            exchanges: super::super::read::parse(text).unwrap(),
            base: ".".into(),
        };
        let har = export(&rec).unwrap();
        assert_eq!(har["log"]["version"], "1.2");
        let e = &har["log"]["entries"][0];
        assert_eq!(e["request"]["url"], "http://h:9/b/k?x=1");
        assert_eq!(e["request"]["postData"]["text"], "hi");
        let lines = import(&har).unwrap();
        let back: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let again = super::super::read::parse(&back).unwrap();
        assert_eq!(again[0].id, 7);
        assert_eq!(again[0].request.target, "/b/k?x=1");
        assert_eq!(again[0].request.headers, rec.exchanges[0].request.headers);
        assert_eq!(again[0].client.scheme, "sigv2");
        assert_eq!(again[0].request.body.base64.as_deref(), Some("aGk="));
    }

    #[test]
    fn import_checks_what_it_writes() {
        let entry = |sigtap: Value, status: u64| {
            json!({"log": {"entries": [{
                "startedDateTime": "2025-01-15T09:00:00Z", "time": 1,
                "request": {"method": "GET", "url": "http://h/b/k", "headers": []},
                "response": {"status": status, "headers": [], "content": {"size": 0}},
                "_sigtap": sigtap,
            }]}})
        };
        let e = import(&entry(
            json!({"response_body": {"size": 1, "sha256": "nothex"}}),
            200,
        ))
        .unwrap_err();
        assert!(e.starts_with("entry 1: response.body.sha256"), "{e}");
        let e = import(&entry(
            json!({"response_body": {"size": 1, "sha256": "ab".repeat(32), "file": "/etc/passwd"}}),
            200,
        ))
        .unwrap_err();
        assert!(e.starts_with("entry 1: response.body.file"), "{e}");
        let e = import(&entry(json!({}), 0)).unwrap_err();
        assert!(e.starts_with("entry 1: response.status"), "{e}");
        assert!(import(&entry(json!({}), 200)).is_ok());
    }

    #[test]
    fn a_foreign_har_is_redacted_on_import() {
        let har = json!({"log": {"version": "1.2", "entries": [{
            "startedDateTime": "2025-01-15T09:00:00Z", "time": 3,
            "request": {"method": "GET", "url": "https://b.s3.amazonaws.com/k?X-Amz-Signature=abababababababababababababababababababababababababababababababab&X-Amz-Credential=AK%2F20250115%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20250115T090000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host",
                        "headers": [{"name": "Host", "value": "b.s3.amazonaws.com"}, {"name": "X-Amz-Security-Token", "value": "tok"}]},
            "response": {"status": 200, "headers": [], "content": {"size": 2, "text": "ok"}}
        }]}});
        let lines = import(&har).unwrap();
        let s = lines[1].to_string();
        assert!(
            !s.contains("abababababababababababababababababababababababababababababababab")
                && !s.contains("tok"),
            "{s}"
        );
        assert_eq!(lines[1]["client"]["scheme"], "sigv4");
        assert_eq!(lines[1]["client"]["access_key"], "AK");
    }
}
