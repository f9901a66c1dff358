//! Recordings hold no secret: no session token (the client's, in any header or query spelling,
//! nor the upstream identity's that `--resign always` adds) and no whole signature made by
//! sigtap, even when the upstream echoes the request it received in its answer; and recording
//! files are private (0600) and never written through a symbolic link. The upstream is a raw
//! socket in the test that echoes what it got; everything runs on 127.0.0.1.
// Tests time real servers and read the wall clock directly (clippy.toml bans it in the crate).
#![allow(clippy::disallowed_methods)]

mod common;

use common::real::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const ID_TOKEN: &str = "IdEnTiTyToKeN/upstream+identity=session/token/0001";

/// An upstream that answers every request with the request's head (and body) it received:
/// `200` and the text as it came, or `403` with it inside an XML error document, as services
/// do in SignatureDoesNotMatch. Each head also goes to the channel.
fn echo_upstream(status: u16) -> (String, Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut got = Vec::new();
                let mut buf = [0u8; 8192];
                let head_end = loop {
                    if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while got.len() < head_end + len {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let echoed = String::from_utf8_lossy(&got).into_owned();
                let (reason, ctype, body) = if status == 200 {
                    ("OK", "text/plain", echoed)
                } else {
                    (
                        "Forbidden",
                        "application/xml",
                        format!(
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Request>{}</Request></Error>",
                            echoed.replace('&', "&amp;").replace('<', "&lt;")
                        ),
                    )
                };
                let _ = write!(
                    c,
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tx.send(head);
            });
        }
    });
    (addr, rx)
}

/// Sends `raw` and reads the whole answer.
fn send(addr: &str, raw: &[u8]) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits until the recording holds `n` exchanges (after its version line).
fn wait_lines(file: &Path, n: usize) -> String {
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.lines().count() > n || t0.elapsed() > Duration::from_secs(10) {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every file under `dir` (the recording, its bodies, the HAR) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            hits.extend(files_containing(&p, needle));
        } else if let Ok(b) = std::fs::read(&p) {
            if b.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

fn export_har(rec: &Path) -> PathBuf {
    let har = rec.with_extension("har");
    let o = sigtap_command(&[
        "export",
        "--har",
        rec.to_str().unwrap(),
        "-o",
        har.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(
        o.status.success(),
        "export: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    har
}

/// The spellings a token takes in a request: as is, and percent-encoded.
fn spellings(t: &str) -> Vec<String> {
    let enc = t
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect::<String>();
    vec![t.to_string(), enc]
}

/// Before: `x-ci-security-token` in the query was written whole into the recording and HAR.
#[test]
fn client_tokens_in_every_header_and_query_spelling_stay_out() {
    let dir = tempdir::Dir::new("rec-tokens");
    let rec = dir.0.join("rec.jsonl");
    let (up, heads) = echo_upstream(200);
    let proxy = start_sigtap(&up, &["--record", rec.to_str().unwrap()]);
    let query_token = "CiQuErYtOkEn/in+the=query/0001";
    let header_tokens = ["CoShEaDeRtOkEn/0002+abc", "CiHeAdErToKeN/0003+abc"];
    let raw = format!(
        "GET /b/k?a=1&x-ci-security-token={}&X-Cos-Security-Token={} HTTP/1.1\r\nHost: h\r\nx-cos-security-token: {}\r\nX-Ci-Security-Token: {}\r\nConnection: close\r\n\r\n",
        spellings(query_token)[1],
        spellings(query_token)[1],
        header_tokens[0],
        header_tokens[1]
    );
    let answer = send(&proxy.addr, raw.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let head = heads.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        head.contains(header_tokens[0]),
        "the upstream got the request: {head}"
    );
    let text = wait_lines(&rec, 1);
    assert_eq!(text.lines().count(), 2, "{text}");
    drop(proxy);
    export_har(&rec);
    for t in [query_token, header_tokens[0], header_tokens[1]] {
        for s in spellings(t) {
            let hits = files_containing(&dir.0, &s);
            assert!(hits.is_empty(), "{s} reached {hits:?}:\n{text}");
        }
    }
    // what matching needs is still there
    assert!(
        text.contains("a=1") && text.contains("x-ci-security-token=<redacted>"),
        "{text}"
    );
}

/// The signature value in a head sigtap sent upstream.
fn signature_in(head: &str) -> String {
    for key in ["Signature=", "q-signature="] {
        if let Some(i) = head.find(key) {
            let rest = &head[i + key.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(rest.len());
            if end >= 40 {
                return rest[..end].to_string();
            }
        }
    }
    // SigV2: `Authorization: AWS AK:base64`
    let line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("authorization: aws "))
        .unwrap_or_else(|| panic!("no signature in {head}"));
    line.rsplit_once(':').unwrap().1.trim().to_string()
}

/// Before: with `--resign always` and a temporary identity, an upstream that echoed the request
/// put sigtap's fresh signature and the identity's session token whole into the recording
/// (inline or in `FILE.bodies/`) and the HAR.
#[test]
fn signatures_sigtap_made_and_the_identity_token_stay_out_of_echoed_bodies() {
    for (sign_as, status, inline_limit) in [
        ("sigv4", 200, "65536"),
        ("sigv4", 403, "65536"),
        ("cos", 403, "65536"),
        ("cos", 200, "16"),
        ("sigv2", 200, "65536"),
        ("sigv2", 403, "16"),
    ] {
        let dir = tempdir::Dir::new("rec-echo");
        let rec = dir.0.join("rec.jsonl");
        let (up, heads) = echo_upstream(status);
        let proxy = start_keyed_proxy(
            &up,
            &[
                "--session-token",
                ID_TOKEN,
                "--resign",
                "always",
                "--sign-as",
                sign_as,
                "--record",
                rec.to_str().unwrap(),
                "--record-inline-limit",
                inline_limit,
                "--serve-host",
                "h",
            ],
        );
        let raw =
            "PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
        let answer = send(&proxy.addr, raw.as_bytes());
        let case = format!("{sign_as} {status} inline limit {inline_limit}");
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{case}: {answer}"
        );
        let head = heads.recv_timeout(Duration::from_secs(10)).unwrap();
        let sig = signature_in(&head);
        assert!(
            head.contains(ID_TOKEN) || head.contains(&spellings(ID_TOKEN)[1]),
            "{case}: the identity's token went upstream: {head}"
        );
        let text = wait_lines(&rec, 1);
        assert_eq!(text.lines().count(), 2, "{case}: {text}");
        drop(proxy);
        if inline_limit == "16" {
            assert!(
                text.contains("\"file\":\"rec.jsonl.bodies/"),
                "{case}: the echo is stored in a file: {text}"
            );
        }
        export_har(&rec);
        for needle in [sig.as_str(), ID_TOKEN, &spellings(ID_TOKEN)[1]] {
            let hits = files_containing(&dir.0, needle);
            assert!(
                hits.is_empty(),
                "{case}: {needle} reached {hits:?}:\n{text}"
            );
        }
        // the edited body says so, and its hash describes the stored bytes
        assert!(text.contains("\"redacted\":true"), "{case}: {text}");
        let o = sigtap_command(&["export", "--har", rec.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{case}: the recording still reads back");
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Before: the recording and its body files were created with the umask's mode (often 0644),
/// a recording path that is a symbolic link was followed, and so was a `FILE.bodies` link.
#[test]
fn recording_files_are_private_and_never_written_through_a_link() {
    let dir = tempdir::Dir::new("rec-files");
    let (up, _heads) = echo_upstream(200);

    // a recording path that is a link: refused before anything is written
    let target = dir.0.join("elsewhere.txt");
    std::fs::write(&target, "untouched\n").unwrap();
    let link = dir.0.join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut child = sigtap_command(&[
        "proxy",
        "--upstream",
        &up,
        "--port",
        "0",
        "--record",
        link.to_str().unwrap(),
    ])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the proxy started with a recording path that is a symbolic link");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");

    // a fresh recording with bodies in files: 0600 files in a 0700 folder
    let rec = dir.0.join("rec.jsonl");
    let proxy = start_sigtap(
        &up,
        &[
            "--record",
            rec.to_str().unwrap(),
            "--record-inline-limit",
            "16",
        ],
    );
    let raw = format!(
        "PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{}",
        "x".repeat(100)
    );
    assert!(send(&proxy.addr, raw.as_bytes()).starts_with("HTTP/1.1 200"));
    let text = wait_lines(&rec, 1);
    drop(proxy);
    assert_eq!(mode(&rec), 0o600, "{text}");
    let bodies = dir.0.join("rec.jsonl.bodies");
    assert_eq!(mode(&bodies), 0o700);
    let files: Vec<PathBuf> = std::fs::read_dir(&bodies)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "request and echoed answer: {files:?}");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }

    // a bodies folder that is a link: nothing is written through it
    let outside = dir.0.join("outside");
    std::fs::create_dir(&outside).unwrap();
    let rec2 = dir.0.join("two.jsonl");
    std::os::unix::fs::symlink(&outside, dir.0.join("two.jsonl.bodies")).unwrap();
    let proxy = start_sigtap(
        &up,
        &[
            "--record",
            rec2.to_str().unwrap(),
            "--record-inline-limit",
            "16",
        ],
    );
    assert!(send(&proxy.addr, raw.as_bytes()).starts_with("HTTP/1.1 200"));
    let text = wait_lines(&rec2, 1);
    drop(proxy);
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "bodies were written through the link: {text}"
    );
    assert!(
        text.contains("store_error") && text.contains("symbolic link"),
        "{text}"
    );
}

/// Before: `import -o` (a recording) and `export -o` (the same data as HAR) were written with
/// the umask's mode and through a symbolic link.
#[test]
fn import_and_export_outputs_are_private_and_never_written_through_a_link() {
    let dir = tempdir::Dir::new("rec-outputs");
    let rec = dir.0.join("rec.jsonl");
    std::fs::write(&rec, "{\"sigtap_recording\":1}\n").unwrap();
    let har = dir.0.join("rec.har");
    let o = sigtap_command(&[
        "export",
        "--har",
        rec.to_str().unwrap(),
        "-o",
        har.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(mode(&har), 0o600);
    let back = dir.0.join("back.jsonl");
    let o = sigtap_command(&[
        "import",
        "--har",
        har.to_str().unwrap(),
        "-o",
        back.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(mode(&back), 0o600);
    let target = dir.0.join("elsewhere.txt");
    std::fs::write(&target, "untouched\n").unwrap();
    let link = dir.0.join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for args in [
        vec![
            "import",
            "--har",
            har.to_str().unwrap(),
            "-o",
            link.to_str().unwrap(),
        ],
        vec![
            "export",
            "--har",
            rec.to_str().unwrap(),
            "-o",
            link.to_str().unwrap(),
        ],
    ] {
        let o = sigtap_command(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("symbolic link"), "{args:?}: {err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
    }
}

/// An upstream answering every request `200` with `body`.
fn fixed_upstream(body: &'static str) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            std::thread::spawn(move || {
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = write!(
                    c,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    addr
}

/// An answer that holds a signature (a page with a presigned link) is recorded masked; replay
/// masks the live answer the same way before comparing, so it is not reported as different.
#[test]
fn replay_compares_a_masked_answer_after_masking_the_live_one() {
    const SIG: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
    const PAGE: &str = "link: https://b.example/k?X-Amz-Signature=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0&x=1\n";
    assert!(PAGE.contains(SIG));
    let dir = tempdir::Dir::new("rec-masked-replay");
    let rec = dir.0.join("rec.jsonl");
    let up = fixed_upstream(PAGE);
    let proxy = start_sigtap(&up, &["--record", rec.to_str().unwrap()]);
    let answer = send(
        &proxy.addr,
        b"GET /b/page HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert!(
        answer.ends_with(PAGE),
        "the client gets the page as is: {answer}"
    );
    let text = wait_lines(&rec, 1);
    drop(proxy);
    assert!(
        text.contains("\"redacted\":true") && files_containing(&dir.0, SIG).is_empty(),
        "{text}"
    );
    let o = sigtap_command(&["replay", rec.to_str().unwrap(), "--upstream", &up])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("1 same, 0 different"), "{out}");
}
