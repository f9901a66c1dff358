//! Record and replay with real components: boto3 and cos-python-sdk-v5 recorded through
//! `sigtap proxy --record` (to s3s-fs and to the SDK-verified COS test upstream), then the
//! recording replayed as a client against fresh servers and served by `sigtap mock
//! --recording` to the same clients run again days later. Processes bind 127.0.0.1 and are
//! stopped by PID.
// Tests time real servers and read the wall clock directly (clippy.toml bans it in the crate).
#![allow(clippy::disallowed_methods)]

mod common;

use common::real::*;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

const TOKEN: &str = "FwoGZXIvYXdzEsigtapReplayTestSessionToken0001";
const THREE_DAYS: &str = "259200";

fn sigtap(args: &[&str]) -> (i32, String, String) {
    let out = sigtap_command(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits until the proxy has logged `n` records (the recording line is written before the log
/// line of a streamed response ends, so the file is complete once the log has them).
fn settle(proxy: &Sigtap, n: usize) {
    let t0 = Instant::now();
    while records(proxy).len() < n && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
}

/// Every file under `dir` whose bytes contain `needle`.
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

fn summary(stdout: &str) -> serde_json::Value {
    let last = stdout.lines().last().unwrap_or("");
    let v: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("summary line {last:?}: {e}"));
    v["summary"].clone()
}

#[test]
fn boto3_session_recorded_replayed_to_a_fresh_server_and_served_by_the_mock_days_later() {
    let Some(t) = tools() else { return };
    let dir = tempdir::Dir::new("replay");
    let file = dir.0.join("session.jsonl");
    let file_s = file.to_str().unwrap();
    let token_env = [("SIGTAP_SESSION_TOKEN", TOKEN)];

    // 1. record: boto3 (with a session token) through sigtap to s3s-fs, plus a wrong secret
    let (s3s_a, port_a, _da) = start_s3s(&t);
    let proxy = start_keyed_proxy(
        &format!("http://127.0.0.1:{port_a}"),
        &["--session-token", TOKEN, "--record", file_s],
    );
    let endpoint = format!("http://{}", proxy.addr);
    let (ok, out) = boto3_env(&t, "roundtrip", &endpoint, "rec-bucket", &token_env);
    assert!(ok, "recording run: {out}");
    let (ok, out) = boto3_env(&t, "wrongsecret", &endpoint, "rec-bucket", &token_env);
    assert!(ok, "wrong secret through the recording proxy: {out}");
    let logged = records(&proxy).len();
    settle(&proxy, logged);
    drop(proxy);
    drop(s3s_a);

    let text = std::fs::read_to_string(&file).unwrap();
    let exchanges = text.lines().count() - 1;
    assert!(
        exchanges >= 25,
        "expected the whole session, got {exchanges} lines"
    );
    assert!(
        dir.0.join("session.jsonl.bodies").is_dir(),
        "the 5 MiB bodies go beside the file"
    );
    // no secret and no token anywhere: the file and the stored bodies
    for needle in [SK, TOKEN] {
        let hits = files_containing(&dir.0, needle);
        assert!(hits.is_empty(), "a secret or token reached {hits:?}");
    }
    assert!(text.contains("X-Amz-Security-Token") || text.contains("x-amz-security-token"));

    // 2. replay as a client against a fresh s3s-fs: fresh signatures, every answer the same
    let (_s3s_b, port_b, _db) = start_s3s(&t);
    let up_b = format!("http://127.0.0.1:{port_b}");
    let replay_b = |extra: &[&str]| {
        let mut args = vec![
            "replay",
            file_s,
            "--upstream",
            &up_b,
            "--access-key",
            AK,
            "--secret-key",
            SK,
            "--session-token",
            TOKEN,
        ];
        args.extend_from_slice(extra);
        sigtap(&args)
    };
    let (code, stdout, stderr) = replay_b(&["--format", "json"]);
    assert_eq!(code, 0, "replay against a fresh server:\n{stdout}{stderr}");
    let s = summary(&stdout);
    assert_eq!(s["different"], 0, "{stdout}");
    assert_eq!(
        s["skipped"], 1,
        "the rejected wrong-secret exchange is not re-sent: {stdout}"
    );
    assert_eq!(
        s["same"].as_u64().unwrap() as usize,
        exchanges - 1,
        "{stdout}"
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v.get("id").is_some())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["target"].as_str().unwrap().contains("uploadId=") && l["result"] == "same"),
        "multipart parts replayed with the new upload id"
    );

    // the same replay again finds the server changed (the bucket exists now): exit 1, the why
    let (code, stdout, _) = replay_b(&[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("differs: status 409 vs recorded 200"),
        "{stdout}"
    );

    // 3. the mock serves the recording to the same client run again, three days later (both
    //    clocks moved), with no upstream at all
    let log = dir.0.join("mock.err");
    let (_mock, addr) = start_plain(
        &[
            "mock",
            "--port",
            "0",
            "--access-key",
            AK,
            "--secret-key",
            SK,
            "--session-token",
            TOKEN,
            "--recording",
            file_s,
            "--clock-offset",
            THREE_DAYS,
        ],
        Some(&log),
    );
    let mock_ep = format!("http://{addr}");
    let later = [
        ("SIGTAP_SESSION_TOKEN", TOKEN),
        ("SIGTAP_CLIENT_CLOCK_OFFSET", THREE_DAYS),
    ];
    let (ok, out) = boto3_env(&t, "roundtrip", &mock_ep, "rec-bucket", &later);
    assert!(ok, "the recording served by the mock, days later: {out}");
    // a client whose clock was not moved is three days off for the mock: RequestTimeTooSkewed
    let (ok, out) = boto3_env(&t, "roundtrip", &mock_ep, "rec-bucket", &token_env);
    assert!(
        !ok && out.contains("RequestTimeTooSkewed"),
        "a 3-day skew must be refused: {out}"
    );
    // a client with a broken signer gets the service's exact error document
    let (ok, out) = boto3_env(&t, "wrongsecret", &mock_ep, "rec-bucket", &later);
    assert!(ok, "{out}");
    assert!(out.contains("\"code\": \"SignatureDoesNotMatch\""), "{out}");

    // a request the recording lacks: 404 error document, and a log line that says why
    let (_, url, _) = sigtap(&[
        "presign",
        "--access-key",
        AK,
        "--secret-key",
        SK,
        "--session-token",
        TOKEN,
        "--now",
        &(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 259_200)
            .to_string(),
        &format!("{mock_ep}/rec-bucket/one.bim"),
    ]);
    let target = url.trim().splitn(4, '/').nth(3).unwrap().to_string();
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        c,
        "GET /{target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    assert!(resp.contains("<Code>NoSuchKey</Code>"), "{resp}");
    let why = std::fs::read_to_string(&log).unwrap();
    assert!(
        why.contains("no recorded exchange for GET /rec-bucket/one.bim")
            && why.contains("closest recorded")
            && why.contains("path \"/rec-bucket/one.bim\" vs recorded \"/rec-bucket/one.bin\""),
        "{why}"
    );

    // 4. HAR: export opens as HAR 1.2 with one entry per exchange; import gives the exchanges back
    let har = dir.0.join("session.har");
    let (code, _, err) = sigtap(&["export", "--har", file_s, "-o", har.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&har).unwrap()).unwrap();
    assert_eq!(doc["log"]["version"], "1.2");
    assert_eq!(doc["log"]["entries"].as_array().unwrap().len(), exchanges);
    let (code, back, err) = sigtap(&["import", "--har", har.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let targets = |t: &str| -> Vec<String> {
        t.lines()
            .skip(1)
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["request"]["target"]
                    .to_string()
            })
            .collect()
    };
    assert_eq!(targets(&back), targets(&text));
}

#[test]
fn cos_session_recorded_then_replayed_to_the_sdk_verified_upstream_and_served_by_the_mock() {
    let Some(t) = tools() else { return };
    let dir = tempdir::Dir::new("replay-cos");
    let file = dir.0.join("cos.jsonl");
    let file_s = file.to_str().unwrap();
    let (up_a, port_a) = start_cos_upstream(&t, None);
    let proxy = start_sigtap(
        &format!("http://127.0.0.1:{port_a}"),
        &[
            "--access-key",
            SID,
            "--secret-key",
            SKEY,
            "--record",
            file_s,
        ],
    );
    let (ok, out) = cos_client(&t, "roundtrip", &proxy);
    assert!(ok, "{out}");
    settle(&proxy, records(&proxy).len());
    drop(proxy);
    drop(up_a);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("q-signature=<redacted>"), "{text}");
    assert!(files_containing(&dir.0, SKEY).is_empty());

    // replay to a fresh upstream that checks each signature with the SDK's own code
    let (_up_b, port_b) = start_cos_upstream(&t, None);
    let (code, stdout, stderr) = sigtap(&[
        "replay",
        file_s,
        "--upstream",
        &format!("http://127.0.0.1:{port_b}"),
        "--access-key",
        SID,
        "--secret-key",
        SKEY,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(" 0 different, 0 failed"), "{stdout}");

    // the mock serves it to the SDK again a day later (COS signatures checked by the mock)
    let (_mock, addr) = start_plain(
        &[
            "mock",
            "--port",
            "0",
            "--access-key",
            SID,
            "--secret-key",
            SKEY,
            "--recording",
            file_s,
            "--clock-offset",
            "1d",
        ],
        None,
    );
    let (ok, out) = cos_client_at(
        &t,
        "roundtrip",
        &addr,
        &[("SIGTAP_CLIENT_CLOCK_OFFSET", "86400")],
    );
    assert!(
        ok,
        "cos-python-sdk-v5 against the mock serving its recording: {out}"
    );
    let (ok, out) = cos_client_at(
        &t,
        "wrongsecret",
        &addr,
        &[("SIGTAP_CLIENT_CLOCK_OFFSET", "86400")],
    );
    assert!(ok, "{out}");
}

/// `--fail`: a 503 SlowDown for the first PUT only, then success; a reset connection.
#[test]
fn mock_fault_injection_answers_as_told() {
    let (_mock, addr) = start_mock(&[
        "--fail",
        "slowdown:method=PUT,times=1",
        "--fail",
        "reset:path=/b/reset*",
        "--fail",
        "expired:path=/b/old",
    ]);
    let send = |method: &str, path: &str| -> String {
        let (_, url, err) = sigtap(&[
            "presign",
            "--access-key",
            AK,
            "--secret-key",
            SK,
            &format!("http://{addr}{path}"),
        ]);
        assert!(!url.is_empty(), "{err}");
        let target = format!("/{}", url.trim().splitn(4, '/').nth(3).unwrap());
        // the presigned URL is a GET; for PUT the mock's own check would refuse the method, so
        // the fault must answer before the signature check
        let mut c = std::net::TcpStream::connect(&addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            c,
            "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        let _ = c.read_to_string(&mut resp);
        resp
    };
    let first = send("PUT", "/b/k");
    assert!(
        first.starts_with("HTTP/1.1 503") && first.contains("<Code>SlowDown</Code>"),
        "{first}"
    );
    let second = send("PUT", "/b/k");
    assert!(!second.starts_with("HTTP/1.1 503"), "times=1: {second}");
    let reset = send("GET", "/b/reset-me");
    assert!(reset.is_empty(), "reset: no answer at all, got {reset:?}");
    let old = send("GET", "/b/old");
    assert!(
        old.starts_with("HTTP/1.1 403") && old.contains("Request has expired"),
        "{old}"
    );
    let fine = send("GET", "/b/other");
    assert!(fine.contains("NoSuchBucket"), "no rule fires: {fine}");
}
