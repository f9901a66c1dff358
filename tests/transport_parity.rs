//! One behaviour per request, whatever the transport: the same corpus of requests goes through
//! `sigtap proxy` on the lean transport, on hyper (`SIGTAP_LEAN=0`) and on the lean transport
//! with `--record`, to one recording upstream, and the upstream requests, the client answers
//! and the log records must be identical. Times, signatures made at that time and durations
//! are masked before comparing; nothing else is.

mod common;

use common::real::*;
use regex::Regex;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the upstream received for one request: its head and the SHA-256 of its body.
type Seen = Arc<Mutex<Vec<String>>>;

fn sha(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    sigtap::sig::encode::hex(&Sha256::digest(b))
}

/// The recording upstream. The path picks the answer: `/b/5xx` a small 503 error document,
/// `/b/80h` 80 extra headers, `/b/slow` a body sent in three pieces 200 ms apart, `/b/drop`
/// reads the request and closes without an answer, `/b/chunked` a chunked answer; anything
/// else 200 with a 2-byte body.
fn upstream() -> (String, Seen) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let seen = s2.clone();
            std::thread::spawn(move || serve(c, &seen));
        }
    });
    (addr, seen)
}

fn serve(c: TcpStream, seen: &Seen) {
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    loop {
        let Some(head) = read_head_raw(&mut r) else {
            return;
        };
        let lower = head.to_ascii_lowercase();
        let len: usize = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let body = if lower.contains("transfer-encoding: chunked") {
            let mut all = Vec::new();
            loop {
                let mut size = String::new();
                if r.read_line(&mut size).unwrap_or(0) == 0 {
                    return;
                }
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                    .unwrap_or(0);
                let mut chunk = vec![0u8; n + 2];
                if r.read_exact(&mut chunk).is_err() {
                    return;
                }
                all.extend_from_slice(&chunk[..n]);
                if n == 0 {
                    break;
                }
            }
            all
        } else {
            let mut b = vec![0u8; len];
            if r.read_exact(&mut b).is_err() {
                return;
            }
            b
        };
        seen.lock()
            .unwrap()
            .push(format!("{head}body sha256 {}", sha(&body)));
        let path = head.split(' ').nth(1).unwrap_or("").to_string();
        let answer: Vec<Vec<u8>> = if path.starts_with("/b/5xx") {
            let doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>UP1</RequestId></Error>";
            vec![format!("HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{doc}", doc.len()).into_bytes()]
        } else if path.starts_with("/b/80h") {
            let mut a = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n".to_string();
            for i in 0..80 {
                a.push_str(&format!("X-Amz-Meta-Field-{i}: value {i}\r\n"));
            }
            a.push_str("\r\nok");
            vec![a.into_bytes()]
        } else if path.starts_with("/b/slow") {
            vec![
                b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\nETag: \"slow\"\r\n\r\n0123456789"
                    .to_vec(),
                b"abcdefghij".to_vec(),
                b"ABCDEFGHIJ".to_vec(),
            ]
        } else if path.starts_with("/b/chunked") {
            vec![
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                    .to_vec(),
            ]
        } else if path.starts_with("/b/stall-error") {
            // a small error whose body stops after 10 of 100 bytes
            let _ = w.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/xml\r\nContent-Length: 100\r\n\r\n<Error><Co");
            std::thread::sleep(Duration::from_secs(4));
            return;
        } else if path.starts_with("/b/drop") {
            return;
        } else {
            vec![b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Case-Kept: Yes\r\nContent-Length: 2\r\n\r\nok".to_vec()]
        };
        for (i, piece) in answer.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(200));
            }
            if w.write_all(piece).is_err() {
                return;
            }
        }
    }
}

/// One request of the corpus: a name and its bytes as the client sends them.
struct Case {
    name: &'static str,
    bytes: Vec<u8>,
}

const HOST: &str = "proxy.test:8080";

fn head_of(method: &str, target: &str, headers: &[(&str, &str)]) -> sigtap::wire::Request {
    let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: {HOST}\r\n");
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    sigtap::wire::Request::parse(raw.as_bytes()).unwrap()
}

fn with_body(req: &sigtap::wire::Request, body: &[u8]) -> Vec<u8> {
    let mut out = req.to_bytes();
    out.extend_from_slice(body);
    out
}

/// The corpus, signed once so that every transport gets the same bytes.
fn corpus() -> Vec<Case> {
    use sigtap::sig::v4::{self, chunked};
    let now = unix_now();
    let close = ("Connection", "close");
    let v4 = |method: &str, target: &str, extra: &[(&str, &str)], body: &[u8], at: i64| {
        let hash = sha(body);
        let len = body.len().to_string();
        let mut h = vec![close, ("x-amz-content-sha256", hash.as_str())];
        if !body.is_empty() {
            h.push(("Content-Length", len.as_str()));
        }
        h.extend_from_slice(extra);
        let req = head_of(method, target, &h);
        let signed = sign_v4(&req, at, Some(&hash), None).plan.apply(&req);
        with_body(&signed, body)
    };
    let presigned = |target: &str, at: i64, expires: i64| {
        let req = head_of("GET", target, &[close]);
        sign_v4(&req, at, None, Some(expires))
            .plan
            .apply(&req)
            .to_bytes()
    };
    let mut cases = vec![
        Case {
            name: "valid",
            bytes: v4("GET", "/b/k.txt", &[], b"", now),
        },
        Case {
            name: "expired presigned",
            bytes: presigned("/b/k.txt", now - 7200, 900),
        },
        Case {
            name: "valid presigned",
            bytes: presigned("/b/k.txt", now, 900),
        },
        Case {
            name: "client clock 20 minutes behind",
            bytes: v4("GET", "/b/k.txt", &[], b"", now - 1200),
        },
        Case {
            name: "unsigned",
            bytes: head_of("GET", "/b/k.txt", &[close]).to_bytes(),
        },
        Case {
            name: "malformed authorization",
            bytes: head_of(
                "GET",
                "/b/k.txt",
                &[close, ("Authorization", "AWS4-HMAC-SHA256 Credential=")],
            )
            .to_bytes(),
        },
        Case {
            name: "fragment in the target",
            bytes: format!(
                "GET /b/k.txt#frag HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
            )
            .into_bytes(),
        },
        Case {
            name: "< in the path",
            bytes: format!("GET /b/a<b HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n")
                .into_bytes(),
        },
        Case {
            name: "backtick in the path",
            bytes: format!("GET /b/a`b HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n")
                .into_bytes(),
        },
        Case {
            name: "non-ASCII in the path",
            bytes: format!(
                "GET /b/caf\u{e9} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
            )
            .into_bytes(),
        },
        Case {
            name: "a head that does not parse",
            bytes: b"GET /b/k HTTP/1.1\r\nBad Header\r\n\r\n".to_vec(),
        },
        Case {
            name: "small body",
            bytes: v4("PUT", "/b/small.txt", &[], &[7u8; 1000], now),
        },
        Case {
            name: "large body",
            bytes: v4("PUT", "/b/large.bin", &[], &vec![9u8; 200 * 1024], now),
        },
        Case {
            name: "small body, wrong hash",
            bytes: {
                let req = head_of(
                    "PUT",
                    "/b/bad.txt",
                    &[
                        close,
                        ("Content-Length", "5"),
                        ("x-amz-content-sha256", &sha(b"other")),
                    ],
                );
                with_body(
                    &sign_v4(&req, now, Some(&sha(b"other")), None)
                        .plan
                        .apply(&req),
                    b"hello",
                )
            },
        },
        Case {
            name: "upstream 503",
            bytes: v4("GET", "/b/5xx", &[], b"", now),
        },
        Case {
            name: "80 answer headers",
            bytes: v4("GET", "/b/80h", &[], b"", now),
        },
        Case {
            name: "slow answer body",
            bytes: v4("GET", "/b/slow", &[], b"", now),
        },
        Case {
            name: "chunked answer",
            bytes: v4("GET", "/b/chunked", &[], b"", now),
        },
        Case {
            name: "upstream drops a GET",
            bytes: v4("GET", "/b/drop", &[], b"", now),
        },
        Case {
            name: "upstream drops a PUT",
            bytes: v4("PUT", "/b/drop", &[], b"data", now),
        },
        Case {
            name: "a small error body that stops",
            bytes: v4("GET", "/b/stall-error", &[], b"", now),
        },
        Case {
            name: "bodyless DELETE",
            bytes: v4("DELETE", "/b/k.txt", &[], b"", now),
        },
        Case {
            name: "a header named in Connection",
            bytes: format!("GET /b/k.txt HTTP/1.1\r\nHost: {HOST}\r\nConnection: close, X-Hop-Test\r\nX-Hop-Test: 1\r\n\r\n").into_bytes(),
        },
        Case {
            name: "HTTP/1.0",
            bytes: format!("GET /b/k.txt HTTP/1.0\r\nHost: {HOST}\r\n\r\n").into_bytes(),
        },
        Case {
            name: "101 headers",
            bytes: format!(
                "GET /b/k.txt HTTP/1.1\r\nHost: {HOST}\r\n{}Connection: close\r\n\r\n",
                (0..101).map(|i| format!("X-N{i}: v\r\n")).collect::<String>()
            )
            .into_bytes(),
        },
    ];
    // a mismatched signature: one header changed after signing
    let mut changed = head_of(
        "GET",
        "/b/k.txt",
        &[
            close,
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("Range", "bytes=0-1"),
        ],
    );
    changed = sign_v4(&changed, now, Some("UNSIGNED-PAYLOAD"), None)
        .plan
        .apply(&changed);
    changed.set_header("Range", "bytes=0-9");
    cases.push(Case {
        name: "mismatched signature",
        bytes: changed.to_bytes(),
    });
    // HTTP chunked upload, UNSIGNED-PAYLOAD
    let req = head_of(
        "PUT",
        "/b/chunked-up.txt",
        &[close, ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")],
    );
    let mut signed = sign_v4(&req, now, Some("UNSIGNED-PAYLOAD"), None)
        .plan
        .apply(&req);
    signed.set_header("Transfer-Encoding", "chunked");
    cases.push(Case {
        name: "chunked upload",
        bytes: with_body(&signed, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
    });
    // signed aws-chunked upload, two chunks
    let data = vec![5u8; 70 * 1024];
    let pieces: Vec<&[u8]> = data.chunks(64 * 1024).collect();
    let framed: usize = pieces
        .iter()
        .map(|p| format!("{:x}", p.len()).len() + 17 + 64 + 4 + p.len())
        .sum::<usize>()
        + 1
        + 17
        + 64
        + 4;
    let req = head_of(
        "PUT",
        "/b/aws-chunked.bin",
        &[
            close,
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", &data.len().to_string()),
            ("Content-Length", &framed.to_string()),
        ],
    );
    let s = sign_v4(&req, now, Some(v4::STREAMING_SIGNED), None);
    let signed = s.plan.apply(&req);
    let amz = signed.header("x-amz-date").unwrap().to_string();
    let key = v4::signing_key(SK, &amz[..8], "us-east-1", "s3");
    let scope = format!("{}/us-east-1/s3/aws4_request", &amz[..8]);
    let mut chain = chunked::ChainSigner::new(key, &amz, &scope, &s.signature);
    let mut body = Vec::new();
    for p in pieces {
        body.extend(chunked::encode_chunk(Some(&mut chain), p));
    }
    body.extend(chunked::encode_final(Some(&mut chain), &[]));
    cases.push(Case {
        name: "signed aws-chunked upload",
        bytes: with_body(&signed, &body),
    });
    cases
}

/// Masks what depends on the second a request was signed or answered, and durations.
fn mask(text: &str) -> String {
    let rules = [
        (r"\d{8}T\d{6}Z", "<amz-date>"),
        (r"\d{8}/us-east-1", "<date>/us-east-1"),
        (r"[0-9a-f]{64}", "<hex64>"),
        (r"[0-9a-f]{8}…", "<sig8>…"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<time>"),
        (
            r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT",
            "<http-date>",
        ),
        (r"\b\d+h\d+m\d+s|\b\d+m\d+s|\b\d+s\b", "<duration>"),
        (r"[+-]\d+s\b", "<offset>"),
    ];
    let mut out = text.to_string();
    for (re, with) in rules {
        out = Regex::new(re).unwrap().replace_all(&out, with).into_owned();
    }
    out
}

/// Sends one request on a new connection; the answer as it came, with `Date` masked.
fn send(addr: &str, bytes: &[u8]) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = c.write_all(bytes);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    mask(&String::from_utf8_lossy(&out))
}

/// Everything one transport produced for the corpus: per case, the client answer, what the
/// upstream received, and the log record.
fn run(
    env: &[(&str, &str)],
    extra: &[&str],
    up: &str,
    seen: &Seen,
) -> Vec<(String, String, String)> {
    let url = format!("http://{up}");
    let mut args = vec![
        "proxy",
        "--upstream",
        &url,
        "--port",
        "0",
        "--log-format",
        "json",
        "--upstream-timeout",
        "2",
    ];
    args.extend_from_slice(&["--access-key", AK, "--secret-key", SK]);
    args.extend_from_slice(extra);
    let proxy = start_sigtap_env(&args, env);
    let mut out = Vec::new();
    for case in corpus() {
        seen.lock().unwrap().clear();
        let answer = send(&proxy.addr, &case.bytes);
        std::thread::sleep(Duration::from_millis(30));
        let upstream = mask(&seen.lock().unwrap().join("\n"));
        out.push((case.name.to_string(), answer, upstream));
    }
    let recs = records(&proxy);
    out.iter()
        .enumerate()
        .map(|(i, (name, answer, upstream))| {
            let rec = recs
                .iter()
                .find(|r| r["id"] == (i as u64 + 1))
                .map(|r| {
                    let mut r = r.clone();
                    r.as_object_mut().unwrap().remove("time");
                    r.as_object_mut().unwrap().remove("duration_ms");
                    mask(&r.to_string())
                })
                .unwrap_or_else(|| "NO LOG RECORD".into());
            (
                format!("{name}\n--- answer\n{answer}\n--- upstream\n{upstream}"),
                rec,
                String::new(),
            )
        })
        .collect()
}

#[test]
fn every_transport_gives_the_same_upstream_request_answer_and_log_record() {
    let (up, seen) = upstream();
    let dir = tempdir::Dir::new("parity");
    let rec = dir.0.join("rec.jsonl");
    let rec_arg = rec.to_str().unwrap().to_string();
    let lean = run(&[("SIGTAP_LEAN", "1")], &[], &up, &seen);
    let hyper = run(&[("SIGTAP_LEAN", "0")], &[], &up, &seen);
    let recorded = run(&[("SIGTAP_LEAN", "1")], &["--record", &rec_arg], &up, &seen);
    assert_eq!(lean.len(), corpus().len());
    let mut differences = Vec::new();
    for (other_name, other) in [("hyper", &hyper), ("lean --record", &recorded)] {
        for (a, b) in lean.iter().zip(other.iter()) {
            if a.0 != b.0 {
                differences.push(format!(
                    "== lean vs {other_name}: exchange differs\n{}\n=== {other_name}:\n{}",
                    a.0, b.0
                ));
            }
            if a.1 != b.1 {
                differences.push(format!(
                    "== lean vs {other_name}: log record differs for {}\n{}\n=== {other_name}:\n{}",
                    a.0.lines().next().unwrap_or(""),
                    a.1,
                    b.1
                ));
            }
        }
    }
    for (exchange, rec, _) in &lean {
        assert!(rec != "NO LOG RECORD", "no log record for {exchange}");
    }
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n\n")
    );
    // a few facts the comparison alone would not catch (all transports could be wrong alike)
    let upstream_of = |name: &str| {
        let e = &lean.iter().find(|(e, _, _)| e.starts_with(name)).unwrap().0;
        e.split("--- upstream").nth(1).unwrap().to_string()
    };
    let answer_of = |name: &str| {
        let e = &lean.iter().find(|(e, _, _)| e.starts_with(name)).unwrap().0;
        e.split("--- upstream").next().unwrap().to_string()
    };
    assert!(answer_of("a small error body that stops").contains("HTTP/1.1 502"));
    assert!(answer_of("< in the path").contains("<Code>InvalidURI</Code>"));
    assert!(answer_of("80 answer headers").contains("X-Amz-Meta-Field-79"));
    assert!(!upstream_of("a header named in Connection").contains("X-Hop-Test"));
    assert!(!upstream_of("valid\n").contains("Content-Length"));
    assert!(upstream_of("< in the path").trim().is_empty());
    assert!(upstream_of("small body, wrong hash").trim().is_empty());
    assert_eq!(
        upstream_of("upstream drops a GET")
            .matches("GET /b/drop")
            .count(),
        2
    );
    assert_eq!(
        upstream_of("upstream drops a PUT")
            .matches("PUT /b/drop")
            .count(),
        1
    );
    // the recording holds every exchange
    let lines = std::fs::read_to_string(&rec).unwrap().lines().count();
    assert!(
        lines > lean.len(),
        "{lines} recording lines for {} requests",
        lean.len()
    );
}
