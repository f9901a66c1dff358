//! Recordings are untrusted input: a malformed field is a usage error naming the line and the
//! field (exit 2, never a panic nor a false pass), a body is read only from `NAME.bodies/HASH`
//! beside the recording, never through a symbolic link, and only when its bytes have the
//! recorded SHA-256. Every test runs sigtap itself on 127.0.0.1 and needs no outside tool.

mod common;

use common::real::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sha(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn run(args: &[&str]) -> Output {
    let mut c = sigtap_command(args);
    c.stdin(std::process::Stdio::null());
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// An unsigned GET of `/b/k` answered 200 with `body` inline: a well-formed exchange that the
/// tests then spoil one field at a time.
fn exchange(body: &[u8]) -> Value {
    json!({
        "id": 1,
        "time": "2025-01-15T09:00:00Z",
        "request": {
            "method": "GET", "target": "/b/k", "headers": [["Host", "h"]],
            "body": { "size": 0, "sha256": null },
        },
        "response": {
            "status": 200,
            "headers": [["Content-Type", "text/plain"]],
            "body": { "size": body.len(), "sha256": sha(body), "base64": b64(body) },
        },
        "duration_ms": 1.0,
        "client": { "scheme": "none", "carrier": "none", "access_key": null, "verdict": "unsigned", "findings": [] },
        "action": "forwarded",
        "resigned_as": null,
    })
}

fn write_recording(dir: &Path, name: &str, lines: &[Value]) -> PathBuf {
    let p = dir.join(name);
    let mut s = String::from("{\"sigtap_recording\":1}\n");
    for l in lines {
        s.push_str(&l.to_string());
        s.push('\n');
    }
    std::fs::write(&p, s).unwrap();
    p
}

/// A recording whose `sha256` is not hex used to panic inside replay, which then printed
/// `0 same, 0 different, 0 failed` and exited 0: a false pass.
#[test]
fn replay_of_a_recording_with_a_non_hex_sha256_is_a_usage_error_not_a_pass() {
    let dir = tempdir::Dir::new("trust-nonhex");
    let (_mock, addr) = start_mock(&[]);
    let mut x = exchange(b"recorded answer");
    // 11 ASCII characters then a two-byte one: byte 12 is inside a character
    x["response"]["body"]["sha256"] = json!("xxxxxxxxxxxé");
    let rec = write_recording(&dir.0, "nonhex.jsonl", &[x]);
    let o = run(&[
        "replay",
        rec.to_str().unwrap(),
        "--upstream",
        &format!("http://{addr}"),
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("line 2") && t.contains("response.body.sha256") && !t.contains("panicked"),
        "{t}"
    );
}

/// Each malformed field: exit 2, a message naming the line and the field, no panic; the same
/// for replay, export and the mock.
#[test]
fn malformed_fields_name_the_line_and_the_field() {
    let dir = tempdir::Dir::new("trust-fields");
    type Spoil = fn(&mut Value);
    let cases: Vec<(&str, Spoil)> = vec![
        ("request.body.sha256", |x| {
            x["request"]["body"]["sha256"] = json!("abc")
        }),
        ("response.body.sha256", |x| {
            x["response"]["body"]["sha256"] = json!(42)
        }),
        ("response.status", |x| {
            x["response"]["status"] = json!("200")
        }),
        ("response.status", |x| {
            x["response"]["status"] = json!(70000)
        }),
        ("request.method", |x| {
            x["request"].as_object_mut().unwrap().remove("method");
        }),
        ("request.target", |x| {
            x["request"]["target"] = json!(["/b/k"])
        }),
        ("request.headers[0]", |x| {
            x["request"]["headers"] = json!([["Host"]])
        }),
        ("response.headers[0]", |x| {
            x["response"]["headers"] = json!([["Bad Name", "v"]])
        }),
        ("response.body.base64", |x| {
            x["response"]["body"]["base64"] = json!("%%%")
        }),
        ("response.body.size", |x| {
            x["response"]["body"]["size"] = json!(-1)
        }),
        ("client.findings", |x| {
            x["client"]["findings"] = json!("none")
        }),
        ("id", |x| x["id"] = json!("one")),
    ];
    for (i, (field, spoil)) in cases.iter().enumerate() {
        let mut x = exchange(b"fine");
        spoil(&mut x);
        // the spoiled exchange on line 3, after a good one
        let rec = write_recording(
            &dir.0,
            &format!("case{i}.jsonl"),
            &[exchange(b"first"), x.clone()],
        );
        let r = rec.to_str().unwrap();
        for args in [
            vec!["export", "--har", r],
            vec!["replay", r, "--upstream", "http://127.0.0.1:9"],
            vec!["mock", "--port", "0", "--recording", r],
        ] {
            let o = run(&args);
            let t = text(&o);
            assert_eq!(o.status.code(), Some(2), "{field} {args:?}: {x}\n{t}");
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("line 3") && err.contains(field) && !err.contains("panicked"),
                "{field} {args:?}: {x}\n{t}"
            );
        }
    }
}

/// An inline body whose bytes are not the recorded hash is a bad recording, not an answer.
#[test]
fn an_inline_body_that_does_not_match_its_sha256_is_refused() {
    let dir = tempdir::Dir::new("trust-inline");
    let mut x = exchange(b"the recorded bytes");
    x["response"]["body"]["base64"] = json!(b64(b"other bytes, same field"));
    x["response"]["body"]["size"] = json!(23);
    let rec = write_recording(&dir.0, "inline.jsonl", &[x]);
    let o = run(&["export", "--har", rec.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("line 2") && t.contains("response.body") && t.contains("sha256"),
        "{t}"
    );
}

/// Sends one raw request and returns (status, body).
fn http(addr: &str, raw: &str) -> (u16, String) {
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let s = String::from_utf8_lossy(&out).into_owned();
    let status = s
        .split(' ')
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body = s
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A recording `rec.jsonl` in `dir` whose one exchange answers with a body stored in `file`
/// (recorded as `recorded` bytes: size and hash).
fn with_response_file(dir: &Path, file: &str, recorded: &[u8]) -> PathBuf {
    let mut x = exchange(b"");
    x["response"]["body"] =
        json!({ "size": recorded.len(), "sha256": sha(recorded), "file": file });
    write_recording(dir, "rec.jsonl", &[x])
}

/// Before: any file beside the recording and absolute paths were read and exported whole.
#[test]
fn bodies_are_read_only_from_a_bodies_folder_beside_the_recording() {
    let dir = tempdir::Dir::new("trust-names");
    let secret = b"PRIVATE-NOTES-beside-the-recording";
    std::fs::write(dir.0.join("notes.txt"), secret).unwrap();
    let abs = dir.0.join("notes.txt").display().to_string();
    let h = sha(secret);
    for file in [
        "notes.txt".to_string(),
        abs,
        "rec.jsonl.bodies/../notes.txt".to_string(),
        format!("elsewhere/{h}"),
        format!("rec.jsonl.bodies/{}", h.to_uppercase()),
    ] {
        let rec = with_response_file(&dir.0, &file, secret);
        let o = run(&["export", "--har", rec.to_str().unwrap()]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{file}: {t}");
        assert!(
            t.contains("line 2")
                && t.contains("response.body.file")
                && !t.contains("PRIVATE-NOTES"),
            "{file}: {t}"
        );
    }
}

/// Before: a symbolic link in `FILE.bodies/` (or the folder itself being one) was followed.
#[test]
fn symbolic_links_in_or_as_the_bodies_folder_are_not_followed() {
    let dir = tempdir::Dir::new("trust-links");
    let secret = b"PRIVATE-NOTES-reached-through-a-link";
    let h = sha(secret);
    std::fs::write(dir.0.join("notes.txt"), secret).unwrap();
    // a link named by the right hash, inside the bodies folder
    std::fs::create_dir(dir.0.join("rec.jsonl.bodies")).unwrap();
    std::os::unix::fs::symlink("../notes.txt", dir.0.join("rec.jsonl.bodies").join(&h)).unwrap();
    let rec = with_response_file(&dir.0, &format!("rec.jsonl.bodies/{h}"), secret);
    let o = run(&["export", "--har", rec.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("line 2") && t.contains("symbolic link") && !t.contains("PRIVATE-NOTES"),
        "{t}"
    );
    // the folder itself a link to a folder holding a file named by the hash
    let elsewhere = dir.0.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::write(elsewhere.join(&h), secret).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.0.join("link.jsonl.bodies")).unwrap();
    let rec = with_response_file(&dir.0, &format!("link.jsonl.bodies/{h}"), secret);
    let o = run(&["export", "--har", rec.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("symbolic link") && !t.contains("PRIVATE-NOTES"),
        "{t}"
    );
}

/// Before: a body file whose bytes are not the recorded hash was exported, served by the mock
/// and sent by replay as if it were the recorded body.
#[test]
fn a_body_file_that_does_not_match_its_sha256_is_never_used() {
    let dir = tempdir::Dir::new("trust-hash");
    let recorded = b"the body that was recorded, 40 bytes ...";
    let swapped = b"SWAPPED-BYTES-of-the-very-same-length!!!";
    assert_eq!(recorded.len(), swapped.len());
    let h = sha(recorded);
    std::fs::create_dir(dir.0.join("rec.jsonl.bodies")).unwrap();
    std::fs::write(dir.0.join("rec.jsonl.bodies").join(&h), swapped).unwrap();
    let file = format!("rec.jsonl.bodies/{h}");
    let rec = with_response_file(&dir.0, &file, recorded);

    // export: a bad recording
    let o = run(&["export", "--har", rec.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("line 2") && t.contains("sha256") && !t.contains("SWAPPED"),
        "{t}"
    );

    // the mock: an error that names the reason, never the swapped bytes
    let (_mock, addr) = start_mock(&["--recording", rec.to_str().unwrap()]);
    let req = sigtap::wire::Request::parse(
        format!("GET /b/k HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let signed = sign_v4(&req, unix_now(), Some("UNSIGNED-PAYLOAD"), None)
        .plan
        .apply(&req);
    let (status, body) = http(&addr, &String::from_utf8(signed.to_bytes()).unwrap());
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("sha256") && !body.contains("SWAPPED"),
        "{body}"
    );

    // replay: the request body comes from a swapped file; the exchange fails and the upstream
    // never receives the swapped bytes whole
    let mut x = exchange(b"ok");
    x["request"]["method"] = json!("PUT");
    x["request"]["body"] = json!({ "size": recorded.len(), "sha256": h, "file": file });
    let rec = write_recording(&dir.0, "rec.jsonl", &[x]);
    let (up, seen) = one_shot_upstream();
    let o = run(&["replay", rec.to_str().unwrap(), "--upstream", &up]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("1 failed") && t.contains("sha256"), "{t}");
    let got = seen
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&got).contains(std::str::from_utf8(swapped).unwrap()),
        "the upstream received the swapped body: {}",
        String::from_utf8_lossy(&got)
    );
}

/// A listener that answers one connection `200 OK` after reading what the client sent until
/// it stops (or 3 s pass); what it read goes to the channel.
fn one_shot_upstream() -> (String, std::sync::mpsc::Receiver<Vec<u8>>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut c, _)) = l.accept() else { return };
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = c.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        let _ = tx.send(got);
    });
    (addr, rx)
}
