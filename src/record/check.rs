//! The shape of a recorded exchange, checked before anything trusts it: a recording (or a HAR
//! file) comes from anywhere, so every field sigtap reads must have its type and range, and a
//! message names the field that does not (`response.body.sha256: ...`).

use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Suffix of the folder beside a recording that holds its large bodies.
pub const BODIES_SUFFIX: &str = ".bodies";

/// Checks one exchange (a parsed line) and removes `null`s where a default is meant, so that
/// it then deserializes. The error names the field.
pub fn check_exchange(v: &mut Value) -> Result<(), String> {
    let Some(o) = v.as_object_mut() else {
        return Err(format!(
            "an exchange must be a JSON object, not {}",
            show(v)
        ));
    };
    // a `null` where the writer had nothing to say means "absent"
    for k in ["id", "time", "duration_ms", "client", "action"] {
        if o.get(k).is_some_and(Value::is_null) {
            o.remove(k);
        }
    }
    opt(o, "id", "id", |v| v.as_u64().map(drop), "a whole number")?;
    opt(o, "time", "time", |v| v.as_str().map(drop), "a string")?;
    opt(
        o,
        "duration_ms",
        "duration_ms",
        |v| v.as_f64().map(drop),
        "a number",
    )?;
    opt(o, "action", "action", |v| v.as_str().map(drop), "a string")?;
    nullable_str(o, "resigned_as", "resigned_as")?;
    let req = side(o, "request")?;
    let method = req_str(req, "method", "request.method")?;
    if hyper::Method::from_bytes(method.as_bytes()).is_err() {
        return Err(format!(
            "request.method: {} is not an HTTP method",
            show(&req["method"])
        ));
    }
    let target = req_str(req, "target", "request.target")?;
    if target.is_empty() || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "request.target: {} is not a request target (empty, or spaces or control characters)",
            show(&req["target"])
        ));
    }
    headers(req, "request.headers")?;
    body(req, "request.body")?;
    let resp = side(o, "response")?;
    match resp.get("status").and_then(Value::as_u64) {
        Some(s) if (100..=999).contains(&s) => {}
        Some(_) => {
            return Err(format!(
                "response.status: {} is not an HTTP status (100 to 999)",
                show(&resp["status"])
            ))
        }
        None if resp.contains_key("status") => {
            return Err(format!(
                "response.status: must be a number, not {}",
                show(&resp["status"])
            ))
        }
        None => return Err("response.status: missing".into()),
    }
    headers(resp, "response.headers")?;
    body(resp, "response.body")?;
    if let Some(c) = o.get_mut("client") {
        let c = c
            .as_object_mut()
            .ok_or_else(|| "client: must be an object".to_string())?;
        for k in ["scheme", "carrier", "verdict"] {
            opt(
                c,
                k,
                &format!("client.{k}"),
                |v| v.as_str().map(drop),
                "a string",
            )?;
        }
        nullable_str(c, "access_key", "client.access_key")?;
        if let Some(f) = c.get("findings") {
            let list = f
                .as_array()
                .ok_or_else(|| format!("client.findings: must be a list, not {}", show(f)))?;
            for (i, f) in list.iter().enumerate() {
                let at = format!("client.findings[{i}]");
                let fo = f
                    .as_object()
                    .ok_or_else(|| format!("{at}: must be an object"))?;
                match fo.get("code") {
                    Some(Value::String(_)) => {}
                    _ => return Err(format!("{at}.code: must be a string")),
                }
                if !matches!(fo.get("cause"), None | Some(Value::Null | Value::String(_))) {
                    return Err(format!("{at}.cause: must be a string or null"));
                }
            }
        }
    }
    Ok(())
}

/// The `request` or `response` object.
fn side<'a>(
    o: &'a mut Map<String, Value>,
    name: &str,
) -> Result<&'a mut Map<String, Value>, String> {
    match o.get_mut(name) {
        Some(Value::Object(m)) => {
            for k in ["headers", "body"] {
                if m.get(k).is_some_and(Value::is_null) {
                    m.remove(k);
                }
            }
            Ok(m)
        }
        Some(other) => Err(format!("{name}: must be an object, not {}", show(other))),
        None => Err(format!("{name}: missing")),
    }
}

fn req_str<'a>(o: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a str, String> {
    match o.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("{at}: must be a string, not {}", show(other))),
        None => Err(format!("{at}: missing")),
    }
}

fn opt(
    o: &Map<String, Value>,
    key: &str,
    at: &str,
    ok: impl Fn(&Value) -> Option<()>,
    what: &str,
) -> Result<(), String> {
    match o.get(key) {
        Some(v) if ok(v).is_none() => Err(format!("{at}: must be {what}, not {}", show(v))),
        _ => Ok(()),
    }
}

fn nullable_str(o: &Map<String, Value>, key: &str, at: &str) -> Result<(), String> {
    match o.get(key) {
        None | Some(Value::Null | Value::String(_)) => Ok(()),
        Some(v) => Err(format!("{at}: must be a string or null, not {}", show(v))),
    }
}

/// `[[name, value], ...]` with names and values a request or response may carry.
fn headers(o: &Map<String, Value>, at: &str) -> Result<(), String> {
    let Some(h) = o.get("headers") else {
        return Ok(());
    };
    let list = h.as_array().ok_or_else(|| {
        format!(
            "{at}: must be a list of [name, value] pairs, not {}",
            show(h)
        )
    })?;
    for (i, pair) in list.iter().enumerate() {
        let (name, value) = match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(n), Value::String(v)]) => (n, v),
            _ => {
                return Err(format!(
                    "{at}[{i}]: must be a [name, value] pair of strings, not {}",
                    show(pair)
                ))
            }
        };
        if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("{at}[{i}]: {name:?} is not a header name"));
        }
        if hyper::header::HeaderValue::from_bytes(value.as_bytes()).is_err() {
            return Err(format!(
                "{at}[{i}]: the value of {name} holds characters a header cannot carry"
            ));
        }
    }
    Ok(())
}

/// True for 64 hexadecimal digits (either case).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A body: `{"size", "sha256", "base64"?, "file"?, "redacted"?, "store_error"?}`. Inline bytes
/// must have the recorded size and hash; a file must be named as [`check_body_file`] says.
fn body(o: &mut Map<String, Value>, at: &str) -> Result<(), String> {
    let Some(b) = o.get_mut("body") else {
        return Ok(());
    };
    let b = b
        .as_object_mut()
        .ok_or_else(|| format!("{at}: must be an object"))?;
    for k in [
        "size",
        "sha256",
        "base64",
        "file",
        "redacted",
        "store_error",
    ] {
        if b.get(k).is_some_and(Value::is_null) {
            b.remove(k);
        }
    }
    let size = match b.get("size") {
        None => 0,
        Some(v) => v.as_u64().ok_or_else(|| {
            format!(
                "{at}.size: must be a whole number of bytes, not {}",
                show(v)
            )
        })?,
    };
    let sha = match b.get("sha256") {
        None => None,
        Some(Value::String(s)) if is_sha256_hex(s) => Some(s.to_ascii_lowercase()),
        Some(v) => {
            return Err(format!(
                "{at}.sha256: must be 64 hex digits or null, not {}",
                show(v)
            ))
        }
    };
    opt(
        b,
        "redacted",
        &format!("{at}.redacted"),
        |v| v.as_bool().map(drop),
        "true or false",
    )?;
    opt(
        b,
        "store_error",
        &format!("{at}.store_error"),
        |v| v.as_str().map(drop),
        "a string",
    )?;
    if b.contains_key("base64") && b.contains_key("file") {
        return Err(format!(
            "{at}: has both base64 and file; a body is inline or in a file, not both"
        ));
    }
    if let Some(v) = b.get("base64") {
        let s = v
            .as_str()
            .ok_or_else(|| format!("{at}.base64: must be a string, not {}", show(v)))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("{at}.base64: does not decode: {e}"))?;
        if bytes.len() as u64 != size {
            return Err(format!(
                "{at}.size: says {size} bytes, but the inline body holds {}",
                bytes.len()
            ));
        }
        if let Some(want) = &sha {
            let got = crate::sig::encode::hex(&Sha256::digest(&bytes));
            if &got != want {
                return Err(format!(
                    "{at}.sha256: {}… does not match the inline body's bytes ({}…)",
                    &want[..12],
                    &got[..12]
                ));
            }
        }
    }
    if let Some(v) = b.get("file") {
        let f = v
            .as_str()
            .ok_or_else(|| format!("{at}.file: must be a string, not {}", show(v)))?;
        let want = sha.as_deref().ok_or_else(|| {
            format!("{at}.sha256: missing, and a body in a file is checked against it")
        })?;
        check_body_file(f, want).map_err(|e| format!("{at}.file: {e}"))?;
    }
    Ok(())
}

/// A body file is `NAME.bodies/HASH`: a folder beside the recording whose name ends in
/// `.bodies`, and in it the file named by the body's SHA-256 in lower-case hex. Nothing else
/// (no other folder, no `..`, no absolute path) is ever opened.
pub fn check_body_file(file: &str, sha256: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "{} is not a stored body name ({why}); sigtap reads bodies only from NAME{BODIES_SUFFIX}/SHA256 beside the recording",
            show(&Value::String(file.to_string()))
        ))
    };
    let Some((dir, name)) = file.split_once('/') else {
        return bad("no folder");
    };
    if name.contains('/') || dir.is_empty() {
        return bad("not exactly FOLDER/FILE");
    }
    if dir.len() <= BODIES_SUFFIX.len()
        || !dir.ends_with(BODIES_SUFFIX)
        || dir.bytes().any(|b| b == 0 || b == b'\\')
    {
        return bad("the folder's name must end in .bodies");
    }
    if name != sha256.to_ascii_lowercase() {
        return bad("the file's name must be the body's sha256 in lower-case hex");
    }
    Ok(())
}

/// A value for a message: its JSON text, cut short.
fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= 40 {
        return s;
    }
    let cut: String = s.chars().take(40).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_file_names_are_only_the_hash_in_a_bodies_folder() {
        let h = "ab".repeat(32);
        assert!(check_body_file(&format!("r.jsonl.bodies/{h}"), &h).is_ok());
        assert!(check_body_file(&format!("r.jsonl.bodies/{h}"), &h.to_uppercase()).is_ok());
        for f in [
            format!("r.jsonl.bodies/{}", h.to_uppercase()),
            format!("../r.jsonl.bodies/{h}"),
            format!("/tmp/r.jsonl.bodies/{h}"),
            format!("r.jsonl.bodies/x/{h}"),
            format!("other/{h}"),
            format!(".bodies/{h}"),
            h.clone(),
            "r.jsonl.bodies/../../etc/passwd".to_string(),
            format!("r.jsonl.bodies/{}", "cd".repeat(32)),
        ] {
            assert!(check_body_file(&f, &h).is_err(), "{f}");
        }
    }

    #[test]
    fn nulls_mean_absent_and_wrong_types_name_the_field() {
        let mut v = json!({"request": {"method": "GET", "target": "/", "headers": null, "body": null},
            "response": {"status": 200, "body": {"size": 0, "sha256": null, "base64": ""}}, "client": null});
        check_exchange(&mut v).unwrap();
        assert!(v["request"].get("body").is_none() && v.get("client").is_none());
        let mut v = json!({"request": {"method": "GET", "target": "/"}, "response": {"status": 200, "body": {"size": 1, "sha256": "é".repeat(32)}}});
        let e = check_exchange(&mut v).unwrap_err();
        assert!(
            e.starts_with("response.body.sha256: must be 64 hex digits"),
            "{e}"
        );
        let mut v =
            json!({"request": {"method": "G E T", "target": "/"}, "response": {"status": 200}});
        assert!(check_exchange(&mut v)
            .unwrap_err()
            .starts_with("request.method"));
        let mut v = json!([1]);
        assert!(check_exchange(&mut v).is_err());
    }
}
