//! Robustness of the proxy: bad input from clients, faults of the upstream, and load. Every
//! test runs sigtap in front of `sigtap mock` (or a raw socket playing a broken upstream) on
//! 127.0.0.1, needs no outside tool, and is bounded in time. After each abuse a valid request
//! must still work: a bad client never takes the proxy down for the others.
// Tests time real servers and read the wall clock directly (clippy.toml bans it in the crate).
#![allow(clippy::disallowed_methods)]

mod common;

use common::real::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A raw request head (no body) with these headers after `Host`.
fn raw_head(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> sigtap::wire::Request {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    sigtap::wire::Request::parse(raw.as_bytes()).unwrap()
}

/// A SigV4 header-signed raw request for `host` (UNSIGNED-PAYLOAD unless an
/// `x-amz-content-sha256` header says otherwise), without the body.
fn signed_head(method: &str, path: &str, host: &str, headers: &[(&str, &str)]) -> String {
    let req = raw_head(method, path, host, headers);
    let payload = req
        .header("x-amz-content-sha256")
        .unwrap_or("UNSIGNED-PAYLOAD")
        .to_string();
    let s = sign_v4(&req, unix_now(), Some(&payload), None);
    String::from_utf8(s.plan.apply(&req).to_bytes()).unwrap()
}

/// Sends raw bytes and reads the answer until the server closes (empty when it closed without
/// one), waiting at most `wait` for each read. No half-close: hyper ends a connection whose
/// client half-closes, answer or not.
fn exchange(addr: &str, raw: &[u8], wait: Duration) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(wait)).unwrap();
    let _ = c.write_all(raw);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

struct Setup {
    _mock: Proc,
    proxy: Sigtap,
}

fn setup(extra: &[&str]) -> Setup {
    let (mock, maddr) = start_mock(&[]);
    let proxy = start_keyed_proxy(&format!("http://{maddr}"), extra);
    Setup { _mock: mock, proxy }
}

/// A valid bucket creation and object round trip through the proxy: it still serves.
fn still_serves(addr: &str, tag: &str) {
    let host = addr;
    let put_bucket = signed_head("PUT", "/robust-bucket", host, &[("Connection", "close")]);
    let r = exchange(addr, put_bucket.as_bytes(), Duration::from_secs(5));
    assert!(
        matches!(status(&r), 200 | 409),
        "after {tag}: bucket creation failed: {r}"
    );
    let body = format!("still alive after {tag}");
    let put = signed_head(
        "PUT",
        "/robust-bucket/alive.txt",
        host,
        &[
            ("Content-Length", &body.len().to_string()),
            ("Connection", "close"),
        ],
    );
    let r = exchange(
        addr,
        format!("{put}{body}").as_bytes(),
        Duration::from_secs(5),
    );
    assert_eq!(status(&r), 200, "after {tag}: {r}");
    let get = signed_head(
        "GET",
        "/robust-bucket/alive.txt",
        host,
        &[("Connection", "close")],
    );
    let r = exchange(addr, get.as_bytes(), Duration::from_secs(5));
    assert!(r.ends_with(&body), "after {tag}: {r}");
}

#[test]
fn bad_client_input_gets_clear_answers_and_never_stops_the_proxy() {
    let s = setup(&["--header-timeout", "2"]);
    let addr = s.proxy.addr.clone();
    let w = Duration::from_secs(5);
    // a request line that does not parse: hyper's 400, connection closed
    let r = exchange(&addr, b"GARBAGE\r\n\r\n", Duration::from_secs(1));
    assert!(r.is_empty() || status(&r) == 400, "{r}");
    still_serves(&addr, "a garbage request line");
    // oversized headers: 431 or 400 (limit documented in docs/RELIABILITY.md)
    let big = format!(
        "GET /b/k HTTP/1.1\r\nHost: {addr}\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let r = exchange(&addr, big.as_bytes(), Duration::from_secs(1));
    assert!(r.is_empty() || matches!(status(&r), 400 | 431), "{r:.200}");
    still_serves(&addr, "a 1 MiB header");
    // invalid UTF-8 in a header value: the headers parse, so a clear 4xx in S3's format
    let mut raw =
        signed_head("GET", "/robust-bucket/x", &addr, &[("Connection", "close")]).into_bytes();
    let at = raw.len() - 2;
    raw.splice(at..at, b"X-Bad: \xff\xfe\xfd\r\n".iter().copied());
    let r = exchange(&addr, &raw, w);
    assert!(
        (400..500).contains(&status(&r)) && r.contains("<Code>"),
        "{r}"
    );
    still_serves(&addr, "invalid UTF-8");
    // garbage Authorization values, including 64 KiB of it
    for garbage in [
        "AWS4-HMAC-SHA256 Credential=",
        "q-sign-algorithm=sha1&q-ak=",
        "AWS :",
        &"Zm9v".repeat(16 * 1024),
    ] {
        let raw = format!(
            "GET /robust-bucket/x HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {garbage}\r\nConnection: close\r\n\r\n"
        );
        let r = exchange(&addr, raw.as_bytes(), w);
        assert!(
            (400..500).contains(&status(&r)) && r.contains("<Error>"),
            "{garbage:.40}: {r}"
        );
    }
    still_serves(&addr, "garbage Authorization values");
    // a body shorter than its Content-Length: the client gives up; the connection ends
    let put = signed_head(
        "PUT",
        "/robust-bucket/short.txt",
        &addr,
        &[("Content-Length", "1000"), ("Connection", "close")],
    );
    let r = exchange(
        &addr,
        format!("{put}only ten b").as_bytes(),
        Duration::from_secs(1),
    );
    assert!(r.is_empty() || status(&r) >= 400, "{r}");
    still_serves(&addr, "a short body");
    // a body longer than its Content-Length: the rest is read as the next request (a 400)
    let put = signed_head(
        "PUT",
        "/robust-bucket/long.txt",
        &addr,
        &[("Content-Length", "5")],
    );
    let r = exchange(
        &addr,
        format!("{put}12345 and then some garbage\r\n\r\n").as_bytes(),
        w,
    );
    assert_eq!(status(&r), 200, "{r}");
    still_serves(&addr, "a long body");
    // aws-chunked: truncated, and a chunk size that lies
    for (tag, body) in [
        (
            "truncated",
            "400;chunk-signature=".to_string() + &"0".repeat(64) + "\r\nabc",
        ),
        (
            "lying size",
            "ffffffffffffffffff;chunk-signature=x\r\nabc\r\n0\r\n\r\n".to_string(),
        ),
    ] {
        let put = signed_head(
            "PUT",
            "/robust-bucket/chunked.bin",
            &addr,
            &[
                ("Content-Encoding", "aws-chunked"),
                ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                ("x-amz-decoded-content-length", "1024"),
                ("Content-Length", &body.len().to_string()),
                ("Connection", "close"),
            ],
        );
        let r = exchange(&addr, format!("{put}{body}").as_bytes(), w);
        assert!(r.is_empty() || status(&r) >= 400, "{tag}: {r}");
        still_serves(&addr, tag);
    }
    // slowloris: headers trickle in; the header timeout (2 s here) ends the connection
    let t0 = Instant::now();
    let mut c = TcpStream::connect(&addr).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let _ = c.write_all(b"GET /robust-bucket/x HTTP/1.1\r\nHost: x\r\n");
    let mut closed = false;
    while t0.elapsed() < Duration::from_secs(8) {
        if c.write_all(b"X-Slow: 1\r\n").is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        match c.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {
                closed = true; // an error answer (408) before the close is fine too
                break;
            }
            Err(_) => {}
        }
    }
    assert!(closed, "a slowloris client was kept for 8 s");
    assert!(t0.elapsed() < Duration::from_secs(6), "{:?}", t0.elapsed());
    still_serves(&addr, "a slowloris client");
}

/// An upstream played by a raw socket: `behave` gets each accepted connection.
fn fake_upstream(behave: fn(TcpStream)) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || behave(c));
        }
    });
    addr
}

fn read_head(c: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match c.read(&mut b) {
            Ok(1) => buf.push(b[0]),
            _ => return,
        }
    }
}

#[test]
fn upstream_faults_answer_502_or_504_and_the_next_request_works() {
    let (_mock, maddr) = start_mock(&["--fail", "reset:path=/robust-bucket/reset"]);
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "connection refused",
            format!("127.0.0.1:{}", free_port()),
            502,
        ),
        ("reset by the mock", maddr.clone(), 502),
        (
            "reset mid-response",
            fake_upstream(|mut c| {
                read_head(&mut c);
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Le");
            }),
            502,
        ),
        (
            "an answer that never comes",
            fake_upstream(|mut c| {
                read_head(&mut c);
                std::thread::sleep(Duration::from_secs(20));
            }),
            504,
        ),
    ];
    for (tag, up, want) in cases {
        let proxy = start_keyed_proxy(&format!("http://{up}"), &["--upstream-timeout", "2"]);
        let path = if tag == "reset by the mock" {
            "/robust-bucket/reset"
        } else {
            "/robust-bucket/x"
        };
        let t0 = Instant::now();
        let get = signed_head("GET", path, &proxy.addr, &[("Connection", "close")]);
        let r = exchange(&proxy.addr, get.as_bytes(), Duration::from_secs(10));
        assert_eq!(status(&r), want, "{tag}: {r}");
        assert!(r.contains("<Error>"), "{tag}: in the service's format: {r}");
        assert!(
            t0.elapsed() < Duration::from_secs(8),
            "{tag}: {:?}",
            t0.elapsed()
        );
        if tag == "reset by the mock" {
            // the same upstream answers the next request
            still_serves(&proxy.addr, tag);
        }
    }
    // a half-sent body: the client sees the connection end early, never a hang
    let up = fake_upstream(|mut c| {
        read_head(&mut c);
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly a little");
    });
    let proxy = start_keyed_proxy(&format!("http://{up}"), &["--upstream-timeout", "2"]);
    let get = signed_head("GET", "/b/k", &proxy.addr, &[("Connection", "close")]);
    let t0 = Instant::now();
    let r = exchange(&proxy.addr, get.as_bytes(), Duration::from_secs(10));
    assert!(t0.elapsed() < Duration::from_secs(8));
    assert!(
        r.starts_with("HTTP/1.1 200") && r.ends_with("only a little"),
        "the head passes through, then the connection ends: {r}"
    );
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// 500 concurrent keep-alive connections for 30 s (`SIGTAP_LOAD_SECS` to change): no error,
/// memory bounded, descriptors back to the baseline afterwards.
#[test]
fn five_hundred_connections_for_thirty_seconds() {
    let secs: u64 = std::env::var("SIGTAP_LOAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let s = setup(&["--upstream-idle", "1", "--log-file", "/dev/null"]);
    let addr = s.proxy.addr.clone();
    let pid = s.proxy.proc.0.id();
    still_serves(&addr, "start");
    std::thread::sleep(Duration::from_millis(1500));
    let base_fds = fd_count(pid);
    let url_path = {
        // one presigned GET, valid for the whole run, signed for the proxy's host
        let req =
            sigtap::wire::Request::from_url(&format!("http://{addr}/robust-bucket/alive.txt"))
                .unwrap();
        let s = sign_v4(&req, unix_now(), None, Some(3600));
        s.plan.apply(&req).origin_target()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (ok, failed) = rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for _ in 0..500 {
            let (addr, path) = (addr.clone(), url_path.clone());
            tasks.push(tokio::spawn(async move {
                let (mut ok, mut failed) = (0u64, Vec::new());
                let mut c = match tokio::net::TcpStream::connect(&addr).await {
                    Ok(c) => c,
                    Err(e) => return (0, vec![format!("connect: {e}")]),
                };
                let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
                let mut buf = vec![0u8; 16 * 1024];
                while Instant::now() < deadline {
                    if let Err(e) = c.write_all(req.as_bytes()).await {
                        failed.push(format!("write: {e}"));
                        break;
                    }
                    // one response: head, then Content-Length bytes
                    let mut got = Vec::new();
                    let complete = loop {
                        let n =
                            match tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
                                .await
                            {
                                Ok(Ok(0)) | Err(_) => break false,
                                Ok(Ok(n)) => n,
                                Ok(Err(_)) => break false,
                            };
                        got.extend_from_slice(&buf[..n]);
                        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                            let len: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            if got.len() >= end + 4 + len {
                                break head.starts_with("http/1.1 200");
                            }
                        }
                    };
                    if complete {
                        ok += 1;
                    } else {
                        failed
                            .push(String::from_utf8_lossy(&got[..got.len().min(200)]).into_owned());
                        break;
                    }
                }
                (ok, failed)
            }));
        }
        let watcher = {
            let peak = peak.clone();
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            })
        };
        let (mut ok, mut failed) = (0, Vec::new());
        for t in tasks {
            let (o, f) = t.await.unwrap();
            ok += o;
            failed.extend(f);
        }
        let _ = watcher.await;
        (ok, failed)
    });
    assert!(
        failed.is_empty(),
        "{} failures, first: {:?}",
        failed.len(),
        failed.first()
    );
    assert!(ok > 500 * secs / 10, "only {ok} requests in {secs} s");
    let peak_mib = peak.load(std::sync::atomic::Ordering::Relaxed) / 1024;
    assert!(
        peak_mib < 256,
        "peak RSS {peak_mib} MiB under 500 connections"
    );
    // client connections closed and idle upstream connections expired: back to the baseline
    drop(rt);
    let t0 = Instant::now();
    while fd_count(pid) > base_fds && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        fd_count(pid) <= base_fds,
        "descriptors: {} now, {base_fds} before the load",
        fd_count(pid)
    );
    eprintln!("load: {ok} requests over 500 connections in {secs} s, peak RSS {peak_mib} MiB, fds back to {base_fds}");
    still_serves(&addr, "the load");
}

/// One request with a body; returns the status and the response body (Content-Length framed).
fn http(addr: &str, head: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(&out)));
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    (status(&head), out[end + 4..].to_vec())
}

/// Deterministic pseudo-random bytes (xorshift), so a failure can be reproduced by size.
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.truncate(n);
    out
}

fn sha(b: &[u8]) -> String {
    sigtap::sig::encode::hex(&sigtap::sig::crypto::sha256(b))
}

/// A signed upload head and body for `mode`; the body as it goes on the wire.
fn upload(mode: &str, addr: &str, path: &str, data: &[u8]) -> (String, Vec<u8>) {
    use sigtap::sig::v4::{self, chunked};
    let len = data.len().to_string();
    let header_signed = |headers: &[(&str, &str)], payload: &str| {
        let mut all = headers.to_vec();
        all.push(("Connection", "close"));
        let req = raw_head("PUT", path, addr, &all);
        let s = sign_v4(&req, unix_now(), Some(payload), None);
        (s.plan.apply(&req), s.signature)
    };
    let plain = || {
        raw_head(
            "PUT",
            path,
            addr,
            &[("Content-Length", &len), ("Connection", "close")],
        )
    };
    match mode {
        "sigv4-hex" => {
            let (r, _) = header_signed(&[("Content-Length", &len)], &sha(data));
            (String::from_utf8(r.to_bytes()).unwrap(), data.to_vec())
        }
        "sigv4-unsigned" => {
            let (r, _) = header_signed(&[("Content-Length", &len)], "UNSIGNED-PAYLOAD");
            (String::from_utf8(r.to_bytes()).unwrap(), data.to_vec())
        }
        "sigv4-chunked" => {
            // signed aws-chunked, 64 KiB chunks; Content-Length is the framed length
            let pieces: Vec<&[u8]> = data.chunks(64 * 1024).collect();
            let framed_len: usize = pieces
                .iter()
                .map(|p| format!("{:x}", p.len()).len() + 17 + 64 + 4 + p.len())
                .sum::<usize>()
                + 1
                + 17
                + 64
                + 4;
            let (r, seed) = header_signed(
                &[
                    ("Content-Encoding", "aws-chunked"),
                    ("x-amz-decoded-content-length", &len),
                    ("Content-Length", &framed_len.to_string()),
                ],
                v4::STREAMING_SIGNED,
            );
            let amz = r.header("x-amz-date").unwrap().to_string();
            let key = v4::signing_key(SK, &amz[..8], "us-east-1", "s3");
            let scope = format!("{}/us-east-1/s3/aws4_request", &amz[..8]);
            let mut chain = chunked::ChainSigner::new(key, &amz, &scope, &seed);
            let mut body = Vec::with_capacity(framed_len);
            for p in pieces {
                body.extend(chunked::encode_chunk(Some(&mut chain), p));
            }
            body.extend(chunked::encode_final(Some(&mut chain), &[]));
            assert_eq!(body.len(), framed_len);
            (String::from_utf8(r.to_bytes()).unwrap(), body)
        }
        "sigv4-presigned" => {
            let req = plain();
            let s = sign_v4(&req, unix_now(), None, Some(600));
            (
                String::from_utf8(s.plan.apply(&req).to_bytes()).unwrap(),
                data.to_vec(),
            )
        }
        "cos" => {
            let req = plain();
            let s = sigtap::sig::cos::sign(
                &req,
                &sigtap::sig::cos::CosSignParams {
                    access_key: AK,
                    secret: SK,
                    session_token: None,
                    start: unix_now() - 60,
                    end: unix_now() + 600,
                    header_list: None,
                    presign: false,
                },
            );
            (
                String::from_utf8(s.plan.apply(&req).to_bytes()).unwrap(),
                data.to_vec(),
            )
        }
        _ => unreachable!("{mode}"),
    }
}

/// Random sizes from 0 B to 64 MiB in every payload mode and both schemes, up through the
/// proxy (verified, re-signed, re-framed) into the mock and back: SHA-256 equal end to end.
#[test]
fn integrity_soak_every_payload_mode_both_schemes() {
    let s = setup(&["--log-file", "/dev/null"]);
    let addr = s.proxy.addr.clone();
    still_serves(&addr, "start");
    let mut seed = 0x5eed_u64;
    let mut sizes = vec![0usize, 1, 1023, 65_536, 65_537, (1 << 20) + 3, 64 << 20];
    for _ in 0..3 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        sizes.push((seed >> 33) as usize % (8 << 20));
    }
    let modes = [
        "sigv4-hex",
        "sigv4-unsigned",
        "sigv4-chunked",
        "sigv4-presigned",
        "cos",
    ];
    let mut checked = 0;
    for (i, &n) in sizes.iter().enumerate() {
        let data = bytes(n, i as u64 + 7);
        for mode in modes {
            let path = format!("/robust-bucket/soak/{mode}/{n}");
            let (head, body) = upload(mode, &addr, &path, &data);
            let (st, resp) = http(&addr, &head, &body);
            assert_eq!(
                st,
                200,
                "{mode} {n} B upload: {}",
                String::from_utf8_lossy(&resp)
            );
            let get = signed_head("GET", &path, &addr, &[("Connection", "close")]);
            let (st, got) = http(&addr, &get, b"");
            assert_eq!(st, 200, "{mode} {n} B download");
            assert_eq!(
                sha(&got),
                sha(&data),
                "{mode}: {n} B came back as {} B with another hash",
                got.len()
            );
            let del = signed_head("DELETE", &path, &addr, &[("Connection", "close")]);
            assert_eq!(http(&addr, &del, b"").0, 204, "{mode} {n} B delete");
            checked += 1;
        }
    }
    eprintln!("soak: {checked} uploads and downloads compared, sizes {sizes:?}");
}

/// A signed aws-chunked upload recorded (one body inline, one in the body store) and replayed
/// to a fresh mock, which checks every chunk signature: the replay re-frames both with the new
/// signature's chain while streaming.
#[test]
fn replay_reframes_signed_aws_chunked_bodies() {
    let dir = tempdir::Dir::new("replay-chunked");
    let rec = dir.0.join("rec.jsonl");
    let s = setup(&[
        "--record",
        rec.to_str().unwrap(),
        "--record-inline-limit",
        "4096",
        "--log-file",
        "/dev/null",
    ]);
    let addr = s.proxy.addr.clone();
    still_serves(&addr, "start");
    for n in [1000usize, 300 * 1024] {
        let data = bytes(n, n as u64);
        let path = format!("/robust-bucket/chunked-{n}");
        let (head, body) = upload("sigv4-chunked", &addr, &path, &data);
        let (st, resp) = http(&addr, &head, &body);
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&resp));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        std::fs::read_dir(dir.0.join("rec.jsonl.bodies"))
            .map(|d| d.count() > 0)
            .unwrap_or(false),
        "the 300 KiB body went to the body store"
    );
    let (_fresh, faddr) = start_mock(&[]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sigtap"))
        .args([
            "replay",
            rec.to_str().unwrap(),
            "--upstream",
            &format!("http://{faddr}"),
            "--access-key",
            AK,
            "--secret-key",
            SK,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("/robust-bucket/chunked-307200 → 200"),
        "{text}"
    );
    assert!(text.contains(" 0 different, 0 failed"), "{text}");
    // the fresh mock stored the data, not the framing
    let get = signed_head(
        "GET",
        "/robust-bucket/chunked-307200",
        &faddr,
        &[("Connection", "close")],
    );
    let (st, got) = http(&faddr, &get, b"");
    assert_eq!(st, 200);
    assert_eq!(sha(&got), sha(&bytes(300 * 1024, 300 * 1024)));
}

/// `sigtap mock --recording FILE --store`: what the recording lacks goes to the in-memory
/// store; without `--store` it is a 404 that says why.
#[test]
fn mock_store_fallback_for_what_the_recording_lacks() {
    let dir = tempdir::Dir::new("store-fallback");
    let rec = dir.0.join("empty.jsonl");
    std::fs::write(&rec, "{\"sigtap_recording\":1}\n").unwrap();
    let (_m1, a1) = start_mock(&["--recording", rec.to_str().unwrap(), "--store"]);
    let (_m2, a2) = start_mock(&["--recording", rec.to_str().unwrap()]);
    let create = |addr: &str| {
        http(
            addr,
            &signed_head("PUT", "/fallback-bucket", addr, &[("Connection", "close")]),
            b"",
        )
    };
    assert_eq!(create(&a1).0, 200, "--store creates the bucket in memory");
    let put = signed_head(
        "PUT",
        "/fallback-bucket/k",
        &a1,
        &[("Content-Length", "5"), ("Connection", "close")],
    );
    assert_eq!(http(&a1, &put, b"hello").0, 200);
    let get = signed_head("GET", "/fallback-bucket/k", &a1, &[("Connection", "close")]);
    assert_eq!(http(&a1, &get, b""), (200, b"hello".to_vec()));
    let (st, body) = create(&a2);
    assert_eq!(st, 404);
    assert!(
        String::from_utf8_lossy(&body).contains("no recorded exchange matches"),
        "{}",
        String::from_utf8_lossy(&body)
    );
}

/// `sigtap mock --region R` refuses another SigV4 region the way S3 does.
#[test]
fn mock_region_is_checked_only_when_named() {
    let (_m, addr) = start_mock(&["--region", "eu-west-1"]);
    let (st, body) = http(
        &addr,
        &signed_head("PUT", "/region-bucket", &addr, &[("Connection", "close")]),
        b"",
    );
    let text = String::from_utf8_lossy(&body);
    assert_eq!(st, 400, "{text}");
    assert!(
        text.contains("<Code>AuthorizationHeaderMalformed</Code>")
            && text.contains(
                "the region &apos;us-east-1&apos; is wrong; expecting &apos;eu-west-1&apos;"
            ),
        "{text}"
    );
}
