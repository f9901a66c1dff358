//! Holes found by attacking the proxy (issue 12), each pinned by a test that failed before
//! its fix: the forward proxy's allow list judged on a strictly parsed authority, `--resolve`
//! rules with a port, and signing with the upstream identity only for the proxy's own origin.
//! The upstream is a raw socket that records every connection and request head it gets, so a
//! test can assert that nothing reached it.
// Tests time real servers and read the wall clock directly (clippy.toml bans it in the crate).
#![allow(clippy::disallowed_methods)]

mod common;

use common::real::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the raw upstream saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    heads: Mutex<Vec<String>>,
}

/// A raw HTTP/1.1 server on loopback that answers every request `200 OK` with the body `ok`.
fn raw_upstream() -> (String, Arc<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen = Arc::new(Seen::default());
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            s2.connections.fetch_add(1, Ordering::SeqCst);
            let seen = s2.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut w = c;
                loop {
                    let Some(head) = read_head_raw(&mut r) else {
                        return;
                    };
                    let len = content_length_of(&head);
                    let mut body = vec![0u8; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    seen.heads.lock().unwrap().push(head);
                    if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// Sends `raw` on a new connection and reads the answer until the proxy closes it or 3 s pass.
fn exchange(addr: &str, raw: &str) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn forward_proxy(extra: &[&str]) -> Sigtap {
    let mut args = vec!["proxy", "--forward", "--port", "0", "--log-format", "json"];
    args.extend_from_slice(extra);
    start_sigtap_args(&args)
}

#[test]
fn forward_mode_judges_the_parsed_host_and_never_connects_elsewhere() {
    let (secret_addr, seen) = raw_upstream();
    let port = secret_addr.rsplit(':').next().unwrap();
    // the default allow list: the COS and S3 endpoint domains only
    let proxy = forward_proxy(&[]);
    let hosts = [
        format!("127.0.0.1:{port}/secret.txt#.s3.amazonaws.com"),
        format!("127.0.0.1:{port}?.s3.amazonaws.com"),
        format!("127.0.0.1:{port}\\.s3.amazonaws.com"),
        format!("s3.amazonaws.com@127.0.0.1:{port}"),
        format!("127.0.0.1:{port}/.cos.ap-guangzhou.myqcloud.com"),
        format!("127.0.0.1:{port}#.myqcloud.com"),
        format!("127.0.0.1:{port} .amazonaws.com"),
        format!("127.0.0.1:{port}"),
    ];
    for host in &hosts {
        let raw = format!("GET /secret.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let answer = exchange(&proxy.addr, &raw);
        let code = status(&answer);
        assert!(
            code == 400 || code == 403,
            "Host {host:?} got {code}:\n{answer}"
        );
        assert!(
            !answer.contains("\r\n\r\nok"),
            "{host:?} reached the server"
        );
    }
    // absolute-form targets with the same tricks
    for target in [
        format!("http://s3.amazonaws.com@127.0.0.1:{port}/secret.txt"),
        format!("http://127.0.0.1:{port}/secret.txt"),
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nConnection: close\r\n\r\n");
        let code = status(&exchange(&proxy.addr, &raw));
        assert!(code == 400 || code == 403, "{target} got {code}");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        seen.connections.load(Ordering::SeqCst),
        0,
        "the loopback server not on the list was reached"
    );
    // every refusal is in the log
    assert!(records(&proxy).len() >= hosts.len());
}

#[test]
fn forward_mode_still_reaches_an_allowed_host_by_its_parsed_parts() {
    let (up, seen) = raw_upstream();
    let proxy = forward_proxy(&[
        "--allow-host",
        "bucket-1250000000.cos.ap-guangzhou.myqcloud.com",
        "--resolve",
        &format!("bucket-1250000000.cos.ap-guangzhou.myqcloud.com={up}"),
    ]);
    let raw = "GET http://Bucket-1250000000.cos.ap-guangzhou.myqcloud.com/k.txt HTTP/1.1\r\n\
               Host: bucket-1250000000.cos.ap-guangzhou.myqcloud.com\r\nConnection: close\r\n\r\n";
    let answer = exchange(&proxy.addr, raw);
    assert_eq!(status(&answer), 200, "{answer}");
    let heads = seen.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 1);
    assert!(
        heads[0].starts_with("GET /k.txt HTTP/1.1\r\n"),
        "{}",
        heads[0]
    );
    // an absolute-form target whose Host header names another place is refused
    let raw = "GET http://bucket-1250000000.cos.ap-guangzhou.myqcloud.com/k.txt HTTP/1.1\r\n\
               Host: other-1250000000.cos.ap-guangzhou.myqcloud.com\r\nConnection: close\r\n\r\n";
    assert_eq!(status(&exchange(&proxy.addr, raw)), 400);
}

#[test]
fn resolve_rules_with_the_default_port_match_as_in_curl() {
    let (up, seen) = raw_upstream();
    for rule_host in ["files.example.test:80", "files.example.test"] {
        let before = seen.heads.lock().unwrap().len();
        let proxy = forward_proxy(&[
            "--allow-host",
            "files.example.test",
            "--resolve",
            &format!("{rule_host}={up}"),
        ]);
        for target in [
            "http://files.example.test/a.txt",
            "http://files.example.test:80/a.txt",
        ] {
            let raw = format!("GET {target} HTTP/1.1\r\nConnection: close\r\n\r\n");
            let answer = exchange(&proxy.addr, &raw);
            assert_eq!(
                status(&answer),
                200,
                "--resolve {rule_host}, {target}: {answer}"
            );
        }
        assert_eq!(seen.heads.lock().unwrap().len(), before + 2);
    }
    // a rule for 443 does not apply to plain http: the name is looked up (and fails here)
    let proxy = forward_proxy(&[
        "--allow-host",
        "files.example.test",
        "--resolve",
        &format!("files.example.test:443={up}"),
        "--upstream-timeout",
        "5",
    ]);
    let before = seen.heads.lock().unwrap().len();
    let raw = "GET http://files.example.test/a.txt HTTP/1.1\r\nConnection: close\r\n\r\n";
    assert_ne!(status(&exchange(&proxy.addr, raw)), 200);
    assert_eq!(seen.heads.lock().unwrap().len(), before);
}

/// A `--resign always` proxy to the raw upstream with one key (the identity); `lean` is the
/// `SIGTAP_LEAN` setting.
fn signing_proxy(up: &str, extra: &[&str], lean: &str) -> Sigtap {
    let url = format!("http://{up}");
    let mut args = vec![
        "proxy",
        "--upstream",
        &url,
        "--port",
        "0",
        "--log-format",
        "json",
    ];
    args.extend_from_slice(&["--access-key", AK, "--secret-key", SK, "--resign", "always"]);
    args.extend_from_slice(extra);
    start_sigtap_env(&args, &[("SIGTAP_LEAN", lean)])
}

#[test]
fn the_identity_signs_only_for_the_proxys_own_origin() {
    for lean in ["1", "0"] {
        let (up, seen) = raw_upstream();
        let proxy = signing_proxy(&up, &[], lean);
        let port = proxy.addr.rsplit(':').next().unwrap().to_string();
        // DNS rebinding: a page on rebind.attacker.example whose name now points at 127.0.0.1
        let raw = format!(
            "DELETE /bucket/important.txt HTTP/1.1\r\nHost: rebind.attacker.example:{port}\r\nConnection: close\r\n\r\n"
        );
        let answer = exchange(&proxy.addr, &raw);
        assert_eq!(status(&answer), 403, "lean={lean} rebinding: {answer}");
        assert!(answer.contains("AccessDenied"), "{answer}");
        // a cross-site POST from a page on another origin, addressed to the proxy itself
        let raw = format!(
            "POST /bucket/?delete HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: https://evil.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            status(&exchange(&proxy.addr, &raw)),
            403,
            "lean={lean} origin"
        );
        assert!(
            seen.heads.lock().unwrap().is_empty(),
            "lean={lean}: something was signed and sent"
        );
        // a plain request to the proxy's own address is signed and forwarded as before
        for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
            let raw =
                format!("GET /bucket/k.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            let answer = exchange(&proxy.addr, &raw);
            assert_eq!(status(&answer), 200, "lean={lean} {host}: {answer}");
        }
        let heads = seen.heads.lock().unwrap().clone();
        assert_eq!(heads.len(), 2);
        assert!(
            heads
                .iter()
                .all(|h| h.contains("AWS4-HMAC-SHA256 Credential=")),
            "{heads:?}"
        );
    }
}

#[test]
fn serve_host_and_allow_origin_name_what_else_may_be_signed() {
    let (up, seen) = raw_upstream();
    let proxy = signing_proxy(
        &up,
        &[
            "--serve-host",
            "storage.internal",
            "--allow-origin",
            "http://localhost:3000",
        ],
        "1",
    );
    let raw = "GET /bucket/k.txt HTTP/1.1\r\nHost: storage.internal\r\nConnection: close\r\n\r\n";
    assert_eq!(status(&exchange(&proxy.addr, raw)), 200);
    let port = proxy.addr.rsplit(':').next().unwrap();
    let raw = format!(
        "GET /bucket/k.txt HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://localhost:3000\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(status(&exchange(&proxy.addr, &raw)), 200);
    let raw = "GET /bucket/k.txt HTTP/1.1\r\nHost: storage.internal.attacker.example\r\nConnection: close\r\n\r\n";
    assert_eq!(status(&exchange(&proxy.addr, raw)), 403);
    assert_eq!(seen.heads.lock().unwrap().len(), 2);
}

/// A proxy to `up` with the test key and `extra` options; `lean` is `SIGTAP_LEAN`.
fn proxy_to(up: &str, extra: &[&str], lean: &str) -> Sigtap {
    let url = format!("http://{up}");
    let mut args = vec![
        "proxy",
        "--upstream",
        &url,
        "--port",
        "0",
        "--log-format",
        "json",
    ];
    args.extend_from_slice(&["--access-key", AK, "--secret-key", SK]);
    args.extend_from_slice(extra);
    start_sigtap_env(&args, &[("SIGTAP_LEAN", lean)])
}

/// Whether the proxy closes `c` within `within` (reads until the end, discarding).
fn closed_within(c: &mut TcpStream, within: Duration) -> bool {
    let start = std::time::Instant::now();
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while start.elapsed() < within {
        match c.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn header_timeout_closes_silent_half_sent_and_idle_connections_on_every_path() {
    let (up, _seen) = raw_upstream();
    for lean in ["1", "0"] {
        let proxy = proxy_to(&up, &["--header-timeout", "2"], lean);
        let mut silent = TcpStream::connect(&proxy.addr).unwrap();
        let mut half = TcpStream::connect(&proxy.addr).unwrap();
        half.write_all(b"GET /b/k HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A")
            .unwrap();
        let mut idle = TcpStream::connect(&proxy.addr).unwrap();
        idle.write_all(b"GET /b/k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut answer = [0u8; 64];
        idle.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let n = idle.read(&mut answer).unwrap();
        assert!(answer[..n].starts_with(b"HTTP/1.1 200"), "lean={lean}");
        for (what, c) in [
            ("silent", &mut silent),
            ("half-sent", &mut half),
            ("idle keep-alive", &mut idle),
        ] {
            assert!(
                closed_within(c, Duration::from_secs(8)),
                "lean={lean}: a {what} connection was still open after 8 s with --header-timeout 2"
            );
        }
    }
}

/// An upstream that answers a head and the first 10 of 100 body bytes, then sends nothing
/// (the connection stays open). `status` picks a success or a small error.
fn stalling_upstream(status: u16) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let head = format!("HTTP/1.1 {status} X\r\nContent-Type: application/xml\r\nContent-Length: 100\r\n\r\n<Error><Co");
                let _ = c.write_all(head.as_bytes());
                std::thread::sleep(Duration::from_secs(60));
            });
        }
    });
    addr
}

#[test]
fn an_answer_that_stops_is_abandoned_after_upstream_timeout_on_every_path() {
    for status in [200, 404] {
        let up = stalling_upstream(status);
        for lean in ["1", "0"] {
            let proxy = proxy_to(&up, &["--upstream-timeout", "2"], lean);
            let mut c = TcpStream::connect(&proxy.addr).unwrap();
            // with Connection: close, the connection ends once the answer is over, whether
            // the broken answer was passed on or replaced by sigtap's own
            c.write_all(b"GET /b/k HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .unwrap();
            assert!(
                closed_within(&mut c, Duration::from_secs(10)),
                "lean={lean} status={status}: the stalled answer was never abandoned"
            );
        }
    }
}

/// An upstream that answers the first request on each connection and closes the connection
/// on the second without answering, recording every request line it reads.
fn dropping_upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l2 = lines.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let lines = l2.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut w = c;
                for n in 0..2 {
                    let Some(head) = read_head_raw(&mut r) else {
                        return;
                    };
                    let len = content_length_of(&head);
                    let mut body = vec![0u8; len];
                    let _ = r.read_exact(&mut body);
                    lines
                        .lock()
                        .unwrap()
                        .push(head.lines().next().unwrap_or("").to_string());
                    if n == 0 {
                        let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                    }
                }
                // dropping the socket closes it without an answer to the second request
            });
        }
    });
    (addr, lines)
}

#[test]
fn a_written_post_is_never_sent_twice_while_a_get_may_be_retried() {
    for lean in ["1", "0"] {
        let (up, lines) = dropping_upstream();
        let proxy = proxy_to(&up, &[], lean);
        let mut c = TcpStream::connect(&proxy.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        let read_answer = |r: &mut BufReader<TcpStream>| -> u16 {
            let mut status = String::new();
            r.read_line(&mut status).unwrap();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0u8; len];
            r.read_exact(&mut body).unwrap();
            status.split(' ').nth(1).unwrap().parse().unwrap()
        };
        c.write_all(b"GET /b/first HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        assert_eq!(read_answer(&mut r), 200);
        // the kept upstream connection reads the POST and closes: the answer is a 502
        c.write_all(
            b"POST /b/k?uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc",
        )
        .unwrap();
        assert_eq!(read_answer(&mut r), 502, "lean={lean}");
        let posts = lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("POST "))
            .count();
        assert_eq!(
            posts, 1,
            "lean={lean}: the POST reached the upstream {posts} times"
        );
        // a GET in the same place is sent again on a new connection and answered
        let mut c = TcpStream::connect(&proxy.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        c.write_all(b"GET /b/one HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        assert_eq!(read_answer(&mut r), 200);
        c.write_all(b"GET /b/two HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        assert_eq!(
            read_answer(&mut r),
            200,
            "lean={lean}: the GET was not retried"
        );
    }
}

#[test]
fn a_presigned_expiry_names_the_slow_clock_the_same_key_showed() {
    let (_mock, mock_addr) = start_mock(&[]);
    let proxy = start_keyed_proxy(&format!("http://{mock_addr}"), &[]);
    let behind = unix_now() - 1200;
    // header-signed by a client whose clock is 20 minutes slow
    let raw = format!("GET /b/k.txt HTTP/1.1\r\nHost: {}\r\n\r\n", proxy.addr);
    let req = sigtap::wire::Request::parse(raw.as_bytes()).unwrap();
    let signed = sign_v4(&req, behind, None, None).plan.apply(&req);
    let mut head = format!("GET {} HTTP/1.1\r\n", signed.origin_target());
    for (k, v) in &signed.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    exchange(&proxy.addr, &head);
    // then a presigned URL made by the same clock, valid 15 minutes: already expired on arrival
    let url = sign_v4(&req, behind, None, Some(900))
        .plan
        .apply(&req)
        .origin_target();
    let raw = format!(
        "GET {url} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        proxy.addr
    );
    exchange(&proxy.addr, &raw);
    let recs = records(&proxy);
    assert_eq!(recs.len(), 2, "{recs:?}");
    let expired = recs[1]["client"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "expired")
        .unwrap_or_else(|| panic!("no expired finding: {}", recs[1]))
        .clone();
    assert_eq!(expired["cause"], "client-clock-behind", "{expired}");
    let msg = expired["message"].as_str().unwrap();
    // the two requests may fall on either side of a second boundary
    assert!(
        (msg.contains("20m0s behind") || msg.contains("20m1s behind"))
            && msg.contains("1 request(s)"),
        "{msg}"
    );
}
