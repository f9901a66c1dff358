//! Issue 12 item 13: `sigtap mock` holds objects in memory and must bound it. A body whose
//! Content-Length passes the per-object limit is refused (400 EntityTooLarge) before it is
//! read; a body that would take the total past `--max-memory` gets 503 ServiceUnavailable
//! naming the limit (a chunked body is counted while it is read); deleting frees the budget.

mod common;

use common::real::*;
use sigtap::sig::v4::UNSIGNED_PAYLOAD;
use sigtap::wire::Request;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const LIMIT: usize = 1024 * 1024;

/// A signed (UNSIGNED-PAYLOAD) request head for `method path` with these extra headers.
fn signed_head(addr: &str, method: &str, path: &str, extra: &[(&str, String)]) -> Vec<u8> {
    signed_head_then(addr, method, path, extra, "")
}

/// The same, with `unsigned` header lines added after signing.
fn signed_head_then(
    addr: &str,
    method: &str,
    path: &str,
    extra: &[(&str, String)],
    unsigned: &str,
) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("x-amz-content-sha256: {UNSIGNED_PAYLOAD}\r\n\r\n"));
    let req = Request::parse(head.as_bytes()).unwrap();
    let signed = sign_v4(&req, unix_now(), Some(UNSIGNED_PAYLOAD), None)
        .plan
        .apply(&req);
    let mut bytes = signed.to_bytes();
    // Connection: close (unsigned) so that the answer ends at EOF
    let end = bytes.len() - 2;
    let added = format!("Connection: close\r\n{unsigned}");
    bytes.splice(end..end, added.bytes());
    bytes
}

/// Sends `parts` one after the other and reads the answer (status, whole text).
fn exchange(addr: &str, parts: &[&[u8]]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for p in parts {
        s.write_all(p).unwrap();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no answer (timed out?): {text:?}"));
    (status, text)
}

fn put_object(addr: &str, key: &str, len: usize) -> (u16, String) {
    let head = signed_head(
        addr,
        "PUT",
        &format!("/mem-bucket/{key}"),
        &[("Content-Length", len.to_string())],
    );
    exchange(addr, &[&head, &vec![b'x'; len]])
}

fn delete_object(addr: &str, key: &str) -> u16 {
    let head = signed_head(addr, "DELETE", &format!("/mem-bucket/{key}"), &[]);
    exchange(addr, &[&head]).0
}

#[test]
fn the_mock_bounds_what_it_holds() {
    let (_mock, addr) = start_mock(&["--max-memory", "1MiB"]);
    let head = signed_head(&addr, "PUT", "/mem-bucket", &[]);
    assert_eq!(exchange(&addr, &[&head]).0, 200, "create the bucket");

    // larger than the per-object limit: refused from the head alone, the body is never sent
    let head = signed_head(
        &addr,
        "PUT",
        "/mem-bucket/huge",
        &[("Content-Length", (300 * 1024 * 1024).to_string())],
    );
    let (status, text) = exchange(&addr, &[&head]);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("<Code>EntityTooLarge</Code>"), "{text}");

    // within the limit, then one that would pass the total
    let (status, text) = put_object(&addr, "a", 600 * 1024);
    assert_eq!(status, 200, "{text}");
    let head = signed_head(
        &addr,
        "PUT",
        "/mem-bucket/b",
        &[("Content-Length", (600 * 1024).to_string())],
    );
    let (status, text) = exchange(&addr, &[&head]);
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("<Code>ServiceUnavailable</Code>"), "{text}");
    assert!(text.contains("--max-memory"), "{text}");
    assert!(text.contains(&LIMIT.to_string()), "{text}");

    // an UploadPart is held too
    let (status, text) = exchange(
        &addr,
        &[&signed_head(
            &addr,
            "POST",
            "/mem-bucket/multi?uploads",
            &[],
        )],
    );
    assert_eq!(status, 200, "{text}");
    let upload = text
        .split("<UploadId>")
        .nth(1)
        .and_then(|t| t.split("</UploadId>").next())
        .unwrap()
        .to_string();
    let head = signed_head(
        &addr,
        "PUT",
        &format!("/mem-bucket/multi?partNumber=1&uploadId={upload}"),
        &[("Content-Length", (600 * 1024).to_string())],
    );
    assert_eq!(
        exchange(&addr, &[&head]).0,
        503,
        "UploadPart past the total"
    );

    // a chunked body without Content-Length is counted while it is read
    let head = signed_head_then(
        &addr,
        "PUT",
        "/mem-bucket/streamed",
        &[],
        "Transfer-Encoding: chunked\r\n",
    );
    let piece = vec![b'y'; 64 * 1024];
    let mut chunks = Vec::new();
    for _ in 0..8 {
        chunks.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunks.extend_from_slice(&piece);
        chunks.extend_from_slice(b"\r\n");
    }
    let (status, text) = exchange(&addr, &[&head, &chunks]);
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("<Code>ServiceUnavailable</Code>"), "{text}");

    // deleting frees the budget
    assert_eq!(delete_object(&addr, "a"), 204);
    let (status, text) = put_object(&addr, "b", 600 * 1024);
    assert_eq!(status, 200, "{text}");
    // and the mock still answers
    assert_eq!(delete_object(&addr, "b"), 204);
}

#[test]
fn max_memory_must_be_a_size() {
    for bad in ["lots", "0", "12XB", "-5"] {
        let out = sigtap_command(&["mock", "--port", "0", "--max-memory", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--max-memory {bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--max-memory"), "{bad}: {err}");
    }
}
