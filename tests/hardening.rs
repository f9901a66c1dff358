//! Holes found by attacking the proxy (issue 12), each pinned by a test that failed before
//! its fix: the forward proxy's allow list judged on a strictly parsed authority, `--resolve`
//! rules with a port, and signing with the upstream identity only for the proxy's own origin.
//! The upstream is a raw socket that records every connection and request head it gets, so a
//! test can assert that nothing reached it.

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
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        match r.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => head.push_str(&line),
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
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
