//! Helpers shared by the integration tests: locating `../shared`, building wire requests.
#![allow(dead_code)]

pub mod real;
pub mod ui;

use std::path::PathBuf;

/// The folder with the public vectors and the official SigV4 suite:
/// `$SIGTAP_SHARED_DIR`, else `../shared` beside the checkout.
///
/// When it is missing the test fails with a message saying where to put it; set
/// `SIGTAP_SKIP_SHARED=1` to skip these tests explicitly (never done in CI).
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SIGTAP_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("shared")
        });
    if dir.join("vectors").is_dir() {
        return Some(dir);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if std::env::var("SIGTAP_SKIP_SHARED").is_ok_and(|v| v == "1") && !ci {
        eprintln!(
            "SKIPPED: {} is missing and SIGTAP_SKIP_SHARED=1 was set; these conformance tests did not run",
            dir.display()
        );
        return None;
    }
    panic!(
        "the shared conformance data is missing: expected {} (with vectors/ and aws-sig-v4-test-suite/). \
         Put the `shared` folder beside the checkout or set SIGTAP_SHARED_DIR=/path/to/shared \
         (SIGTAP_SKIP_SHARED=1 skips these tests outside CI, loudly).",
        dir.display()
    );
}

/// One raw HTTP/1.1 request, headers written `Name: value`.
pub fn raw_request(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Wraps a body in HTTP/1.1 chunked framing, `piece` bytes per chunk.
pub fn http_chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// `[["Name","value"], ...]` as pairs.
pub fn header_pairs(v: &serde_json::Value) -> Vec<(String, String)> {
    v.as_array()
        .expect("headers is a list")
        .iter()
        .map(|h| {
            (
                h[0].as_str().expect("header name").to_string(),
                h[1].as_str().expect("header value").to_string(),
            )
        })
        .collect()
}

/// Origin-form target of a URL.
pub fn origin_form(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    match rest.find('/') {
        Some(i) => rest[i..].to_string(),
        None => match rest.find('?') {
            Some(i) => format!("/{}", &rest[i..]),
            None => "/".to_string(),
        },
    }
}

pub fn b64(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("valid base64")
}

pub fn load_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}
