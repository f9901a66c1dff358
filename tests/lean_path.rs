//! The lean path (bodyless requests to a plain-http upstream, served without hyper): framing of
//! every kind passes through byte for byte, small bodies are hash-checked whole and forwarded
//! unchanged, kept upstream connections that the upstream closed are replaced, a connection
//! moves to hyper when a body is larger than the lean limit, the per-connection memo never
//! outlives its second, and `--upstream-idle` closes the kept upstream connection.
//! The upstream is a raw socket that records each request head it receives, so the test can
//! check what sigtap sent (a fresh signature, verified here with the engine).
// Tests time real servers and read the wall clock directly (clippy.toml bans it in the crate).
#![allow(clippy::disallowed_methods)]

mod common;

use common::real::*;
use sigtap::credentials::{Credential, KeyStore};
use sigtap::inspect::{Inspector, Verdict};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the raw upstream saw.
#[derive(Default)]
struct Seen {
    heads: Mutex<Vec<String>>,
    bodies: Mutex<Vec<Vec<u8>>>,
    connections: AtomicUsize,
    closed: AtomicUsize,
}

const CHUNKED: &[u8] = b"5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n";

/// A raw HTTP/1.1 upstream. Paths pick the answer: `/b/len` Content-Length, `/b/chunked` chunked
/// with a trailer, `/b/eof` a close-delimited body, `/b/once` Content-Length and then it closes,
/// `/b/304` Not Modified, `/b/error` a small S3 error; HEAD gets a head only.
fn raw_upstream() -> (String, Arc<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen = Arc::new(Seen::default());
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let seen = s2.clone();
            seen.connections.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || serve_raw(c, &seen));
        }
    });
    (addr, seen)
}

fn serve_raw(c: TcpStream, seen: &Seen) {
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    seen.closed.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Ok(_) => {}
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        seen.heads.lock().unwrap().push(head.clone());
        let len: usize = head
            .to_ascii_lowercase()
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        seen.bodies.lock().unwrap().push(body);
        let is_head = head.starts_with("HEAD ");
        let path = head.split(' ').nth(1).unwrap_or("").to_string();
        let (answer, close): (Vec<u8>, bool) = if path.starts_with("/b/chunked") {
            let mut a =
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
                    .to_vec();
            a.extend_from_slice(CHUNKED);
            (a, false)
        } else if path.starts_with("/b/eof") {
            (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end".to_vec(),
                true,
            )
        } else if path.starts_with("/b/once") {
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nonce".to_vec(),
                true,
            )
        } else if path.starts_with("/b/304") {
            (
                b"HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n".to_vec(),
                false,
            )
        } else if path.starts_with("/b/error") {
            let doc = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>gone</Message><RequestId>R1</RequestId></Error>";
            let a = format!("HTTP/1.1 404 Not Found\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{doc}", doc.len());
            (a.into_bytes(), false)
        } else if is_head {
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nETag: \"h\"\r\n\r\n".to_vec(),
                false,
            )
        } else {
            let mut a =
                b"HTTP/1.1 200 OK\r\nX-Case-Kept: Yes\r\nContent-Length: 256\r\n\r\n".to_vec();
            a.extend((0..=255u8).collect::<Vec<u8>>());
            (a, false)
        };
        if w.write_all(&answer).is_err() || close {
            seen.closed.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
}

/// A presigned GET (or other method) target for the proxy's host.
fn presigned(method: &str, addr: &str, path: &str, expires: i64) -> String {
    let raw = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let req = sigtap::wire::Request::parse(raw.as_bytes()).unwrap();
    sign_v4(&req, unix_now(), None, Some(expires))
        .plan
        .apply(&req)
        .origin_target()
}

/// Reads one answer: the head, then the body as its framing says (`head_only` for HEAD).
fn read_answer(c: &mut TcpStream, head_only: bool) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    let end = loop {
        if let Some(e) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break e + 4;
        }
        let n = c.read(&mut b).unwrap();
        assert!(
            n > 0,
            "closed before a head: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&b[..n]);
    };
    let head = String::from_utf8_lossy(&got[..end]).into_owned();
    let mut body = got[end..].to_vec();
    let lower = head.to_ascii_lowercase();
    let len = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let done = |body: &[u8]| {
        if head_only || head.starts_with("HTTP/1.1 304") {
            true
        } else if let Some(n) = len {
            body.len() >= n
        } else if lower.contains("transfer-encoding: chunked") {
            body.ends_with(b"\r\n\r\n") && body.windows(3).any(|w| w == b"0\r\n")
        } else {
            false
        }
    };
    while !done(&body) {
        let n = c.read(&mut b).unwrap();
        if n == 0 {
            break;
        }
        body.extend_from_slice(&b[..n]);
    }
    (head, body)
}

fn send(c: &mut TcpStream, method: &str, target: &str, addr: &str, extra: &str) {
    let raw = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n");
    c.write_all(raw.as_bytes()).unwrap();
}

fn connect(addr: &str) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

fn verifier() -> Inspector {
    Inspector::new(KeyStore::single(Credential::new(AK, SK)))
}

#[test]
fn every_framing_passes_through_and_each_request_is_signed_afresh() {
    let (up, seen) = raw_upstream();
    let proxy = start_keyed_proxy(&format!("http://{up}"), &[]);
    let a = proxy.addr.clone();
    let mut c = connect(&a);
    // the same presigned GET three times (remembered the second time, the third from the memo),
    // then every framing on the same connection
    let get = presigned("GET", &a, "/b/len", 600);
    for _ in 0..3 {
        send(&mut c, "GET", &get, &a, "");
        let (h, body) = read_answer(&mut c, false);
        assert!(h.starts_with("HTTP/1.1 200"), "{h}");
        assert!(
            h.contains("X-Case-Kept: Yes"),
            "upstream header case kept: {h}"
        );
        assert_eq!(body, (0..=255u8).collect::<Vec<u8>>());
    }
    send(
        &mut c,
        "GET",
        &presigned("GET", &a, "/b/chunked", 600),
        &a,
        "",
    );
    let (h, body) = read_answer(&mut c, false);
    assert!(h.contains("Transfer-Encoding: chunked"), "{h}");
    assert_eq!(body, CHUNKED, "chunks and trailer byte for byte");
    send(
        &mut c,
        "HEAD",
        &presigned("HEAD", &a, "/b/len", 600),
        &a,
        "",
    );
    let (h, body) = read_answer(&mut c, true);
    assert!(h.contains("Content-Length: 10") && body.is_empty(), "{h}");
    send(&mut c, "GET", &presigned("GET", &a, "/b/304", 600), &a, "");
    let (h, _) = read_answer(&mut c, false);
    assert!(h.starts_with("HTTP/1.1 304"), "{h}");
    send(
        &mut c,
        "GET",
        &presigned("GET", &a, "/b/error", 600),
        &a,
        "",
    );
    let (h, body) = read_answer(&mut c, false);
    assert!(h.starts_with("HTTP/1.1 404") && String::from_utf8_lossy(&body).contains("NoSuchKey"));
    // the upstream closes after this one: the next request gets a new connection
    send(&mut c, "GET", &presigned("GET", &a, "/b/once", 600), &a, "");
    let (h, body) = read_answer(&mut c, false);
    assert!(h.starts_with("HTTP/1.1 200") && body == b"once", "{h}");
    send(&mut c, "GET", &get, &a, "");
    let (h, _) = read_answer(&mut c, false);
    assert!(
        h.starts_with("HTTP/1.1 200"),
        "after the upstream closed: {h}"
    );
    // a close-delimited body ends the client connection too
    send(&mut c, "GET", &presigned("GET", &a, "/b/eof", 600), &a, "");
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    let text = String::from_utf8_lossy(&rest);
    assert!(
        text.starts_with("HTTP/1.1 200")
            && text.contains("Connection: close")
            && text.ends_with("\r\n\r\nuntil the end"),
        "{text}"
    );

    // every head the upstream got carries a fresh signature for its own host, valid now
    let heads = seen.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 10, "{heads:#?}");
    let insp = verifier();
    for h in &heads {
        let req = sigtap::wire::Request::parse(h.as_bytes()).unwrap();
        assert_eq!(req.header("host"), Some(up.as_str()), "{h}");
        let rep = insp.inspect_head(&req, unix_now());
        assert_eq!(rep.verdict, Verdict::Valid, "{h}: {:?}", rep.findings);
    }
    assert_eq!(
        seen.connections.load(Ordering::SeqCst),
        2,
        "one kept connection, replaced once"
    );
    // and the log has one record per request, the error named
    let recs = records(&proxy);
    assert_eq!(recs.len(), 10);
    assert!(recs
        .iter()
        .all(|r| r["action"] == "resigned" && r["client"]["verdict"] == "valid"));
    assert!(recs
        .iter()
        .any(|r| r["upstream"]["error_code"] == "NoSuchKey"));
    let ids: Vec<u64> = recs.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (1..=10).collect::<Vec<u64>>());
}

#[test]
fn the_memo_never_outlives_its_second_nor_covers_a_changed_byte() {
    // (the record's findings come from the pipeline: a remembered verdict would repeat them)
    let (up, seen) = raw_upstream();
    let proxy = start_keyed_proxy(&format!("http://{up}"), &[]);
    let a = proxy.addr.clone();
    let mut c = connect(&a);
    // valid for 2 s: accepted now, refused (same bytes, same connection) once it has expired
    let get = presigned("GET", &a, "/b/len", 2);
    send(&mut c, "GET", &get, &a, "");
    let (h, _) = read_answer(&mut c, false);
    assert!(h.starts_with("HTTP/1.1 200"), "{h}");
    // one changed signature character, right after: refused
    let sig_at = get.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = get.clone().into_bytes();
    tampered[sig_at] = if tampered[sig_at] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    send(&mut c, "GET", &tampered, &a, "");
    let (h, body) = read_answer(&mut c, false);
    assert!(
        h.starts_with("HTTP/1.1 403")
            && String::from_utf8_lossy(&body).contains("SignatureDoesNotMatch"),
        "{h}"
    );
    // the same bytes on the same connection once the URL has expired: the verdict is not the
    // remembered one (sigtap refreshes an expired signature by default, and logs why)
    std::thread::sleep(Duration::from_millis(3200));
    send(&mut c, "GET", &get, &a, "");
    let (h, _) = read_answer(&mut c, false);
    assert!(h.starts_with("HTTP/1.1 200"), "{h}");
    let recs = records(&proxy);
    assert_eq!(recs.len(), 3);
    let codes = |r: &serde_json::Value| -> Vec<String> {
        r["client"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        !codes(&recs[0]).contains(&"expired".to_string()),
        "{}",
        recs[0]
    );
    assert_eq!(recs[1]["action"], "rejected");
    assert!(
        codes(&recs[1]).contains(&"signature-mismatch".to_string()),
        "{}",
        recs[1]
    );
    assert!(
        codes(&recs[2]).contains(&"expired".to_string()),
        "{}",
        recs[2]
    );
    assert!(
        recs[2]["note"].as_str().unwrap().contains("not valid now"),
        "{}",
        recs[2]
    );
    assert_eq!(
        seen.heads.lock().unwrap().len(),
        2,
        "the refused request never reached the upstream"
    );
}

#[test]
fn a_large_body_moves_the_connection_to_hyper() {
    let (mock, maddr) = start_mock(&[]);
    let _mock = mock;
    let proxy = start_keyed_proxy(&format!("http://{maddr}"), &[]);
    let a = proxy.addr.clone();
    let mut c = connect(&a);
    let put = presigned("PUT", &a, "/lean-bucket", 600);
    send(&mut c, "PUT", &put, &a, "Content-Length: 0\r\n");
    let (h, _) = read_answer(&mut c, false);
    assert!(
        h.starts_with("HTTP/1.1 200"),
        "create bucket (bodyless, lean): {h}"
    );
    // a body over the lean limit (64 KiB): hyper streams it, and keeps the connection
    let big: Vec<u8> = (0..70 * 1024u32).map(|i| (i % 253) as u8).collect();
    let put = presigned("PUT", &a, "/lean-bucket/k", 600);
    send(
        &mut c,
        "PUT",
        &put,
        &a,
        &format!("Content-Length: {}\r\n", big.len()),
    );
    c.write_all(&big).unwrap();
    let (h, _) = read_answer(&mut c, false);
    assert!(
        h.starts_with("HTTP/1.1 200"),
        "put with a large body (hyper): {h}"
    );
    // a head that arrives in two pieces, on the same (now hyper) connection and on a new one
    let get = presigned("GET", &a, "/lean-bucket/k", 600);
    for conn in [&mut c, &mut connect(&a)] {
        let raw = format!("GET {get} HTTP/1.1\r\nHost: {a}\r\n\r\n");
        let (x, y) = raw.split_at(raw.len() / 2);
        conn.write_all(x.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        conn.write_all(y.as_bytes()).unwrap();
        let (h, body) = read_answer(conn, false);
        assert!(h.starts_with("HTTP/1.1 200") && body == big, "{h}");
    }
    let recs = records(&proxy);
    assert_eq!(recs.len(), 4);
    assert!(recs.iter().all(|r| r["status"] == 200), "{recs:?}");
}

#[test]
fn the_kept_upstream_connection_closes_after_upstream_idle() {
    let (up, seen) = raw_upstream();
    let proxy = start_keyed_proxy(&format!("http://{up}"), &["--upstream-idle", "1"]);
    let a = proxy.addr.clone();
    let mut c = connect(&a);
    send(&mut c, "GET", &presigned("GET", &a, "/b/len", 600), &a, "");
    let _ = read_answer(&mut c, false);
    let t0 = Instant::now();
    while seen.closed.load(Ordering::SeqCst) == 0 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let waited = t0.elapsed();
    assert_eq!(
        seen.closed.load(Ordering::SeqCst),
        1,
        "the idle upstream connection stayed open"
    );
    assert!(
        waited >= Duration::from_millis(800),
        "closed too early: {waited:?}"
    );
    // the client connection still works, on a new upstream connection
    send(&mut c, "GET", &presigned("GET", &a, "/b/len", 600), &a, "");
    let (h, _) = read_answer(&mut c, false);
    assert!(h.starts_with("HTTP/1.1 200"), "{h}");
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
}

/// A SigV4 header-signed PUT head for the proxy's host, over `body` (its hash signed).
fn signed_put(addr: &str, path: &str, body: &[u8], claimed: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    let hash = claimed
        .map(str::to_string)
        .unwrap_or_else(|| sigtap::sig::encode::hex(&Sha256::digest(body)));
    let raw = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nx-amz-content-sha256: {hash}\r\n\r\n",
        body.len()
    );
    let req = sigtap::wire::Request::parse(raw.as_bytes()).unwrap();
    let signed = sign_v4(&req, unix_now(), Some(&hash), None)
        .plan
        .apply(&req);
    String::from_utf8(signed.to_bytes()).unwrap()
}

#[test]
fn small_bodies_are_checked_whole_then_forwarded_byte_for_byte() {
    let (up, seen) = raw_upstream();
    let proxy = start_keyed_proxy(&format!("http://{up}"), &[]);
    let a = proxy.addr.clone();
    let mut c = connect(&a);
    let body: Vec<u8> = (0..1024u32).map(|i| (i * 7 % 251) as u8).collect();
    // whole, three times (the third head from the memo, the body checked again)
    let head = signed_put(&a, "/b/put", &body, None);
    for _ in 0..3 {
        c.write_all(head.as_bytes()).unwrap();
        c.write_all(&body).unwrap();
        let (h, _) = read_answer(&mut c, false);
        assert!(h.starts_with("HTTP/1.1 200"), "{h}");
    }
    // the same head with other bytes of the same length: the hash check refuses them
    let mut other = body.clone();
    other[512] ^= 1;
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(&other).unwrap();
    let (h, text) = read_answer(&mut c, false);
    let text = String::from_utf8_lossy(&text);
    assert!(
        h.starts_with("HTTP/1.1 400") && text.contains("XAmzContentSHA256Mismatch"),
        "{h}{text}"
    );
    // the body a while after its head
    let later = signed_put(&a, "/b/later", &body, None);
    c.write_all(later.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    c.write_all(&body).unwrap();
    let (h, _) = read_answer(&mut c, false);
    assert!(h.starts_with("HTTP/1.1 200"), "{h}");
    let bodies = seen.bodies.lock().unwrap().clone();
    assert_eq!(
        bodies.len(),
        4,
        "the refused body never reached the upstream"
    );
    assert!(
        bodies.iter().all(|b| *b == body),
        "bytes changed on the way"
    );
    let recs = records(&proxy);
    assert_eq!(
        recs.iter()
            .map(|r| r["bytes_in"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1024; 5]
    );
}

#[test]
fn a_body_that_does_not_match_its_hash_never_reaches_the_upstream_whole() {
    let (up, seen) = raw_upstream();
    let proxy = start_keyed_proxy(&format!("http://{up}"), &[]);
    let a = proxy.addr.clone();
    // 1 KiB: the lean path; 100 KiB: hyper, hashed inline; 6 MiB: hyper, hashed on a helper
    // thread while it streams
    for size in [1024usize, 100 * 1024, 6 * 1024 * 1024] {
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut other = body.clone();
        other[size - 1] ^= 1; // the last byte differs: only the full hash can tell
        for (sent, ok) in [(&body, true), (&other, false)] {
            let mut c = connect(&a);
            c.write_all(signed_put(&a, "/b/hashed", &body, None).as_bytes())
                .unwrap();
            c.write_all(sent).unwrap();
            let (h, text) = read_answer(&mut c, false);
            let text = String::from_utf8_lossy(&text);
            if ok {
                assert!(h.starts_with("HTTP/1.1 200"), "{size} B: {h}{text}");
            } else {
                assert!(
                    h.starts_with("HTTP/1.1 400") && text.contains("XAmzContentSHA256Mismatch"),
                    "{size} B: {h}{text}"
                );
            }
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let bodies = seen.bodies.lock().unwrap();
    let sizes: Vec<usize> = bodies.iter().map(Vec::len).collect();
    assert_eq!(
        sizes,
        vec![1024, 100 * 1024, 6 * 1024 * 1024],
        "only the matching bodies arrived whole"
    );
}
