//! The offline commands as users script them: exit codes, JSON shape, key sources,
//! sign -> inspect round trips, presigned URLs, bad input, and no secret in any output.
// Tests time real servers and read the wall clock directly (clippy.toml bans it in the crate).
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sigtap");
const AK: &str = "AKIDCLITESTKEY000001";
const SK: &str = "cLiTeStSeCrEt/K7MDENG+bPxRfiCYSECRETKEY";
const TOKEN: &str = "cli-test-session-token-VALUE";
const NOW: &str = "2025-03-01T12:00:00Z";

fn tmp(name: &str, content: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sigtap-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// Runs sigtap with a clean key environment (no ambient keys, absent AWS files).
fn run(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("COS_SECRET_ID")
        .env_remove("COS_SECRET_KEY")
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/sigtap/credentials",
        )
        .env("AWS_CONFIG_FILE", "/nonexistent/sigtap/config")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().expect("run sigtap");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn codes(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

const UNSIGNED_PUT: &[u8] = b"PUT /bucket/dir/a%20b%2Bc~d.txt?tagging&x=1 HTTP/1.1\r\nHost: s3.eu-central-1.amazonaws.com\r\nContent-Type: text/plain\r\nx-amz-meta-owner: me\r\nContent-Length: 5\r\n\r\nhello";
const UNSIGNED_COS: &[u8] = b"PUT /dir/%E6%96%87%20a.txt?acl= HTTP/1.1\r\nHost: ex-1250000000.cos.ap-guangzhou.myqcloud.com\r\nContent-Type: text/plain\r\nx-cos-acl: private\r\nContent-Length: 5\r\n\r\nhello";

fn keys() -> Vec<&'static str> {
    vec!["--access-key", AK, "--secret-key", SK]
}

#[test]
fn sign_then_inspect_is_valid_for_every_scheme() {
    for (scheme, input) in [
        ("sigv4", UNSIGNED_PUT),
        ("sigv2", UNSIGNED_PUT),
        ("cos", UNSIGNED_COS),
    ] {
        let unsigned = tmp(&format!("unsigned-{scheme}.http"), input);
        let mut args = vec!["sign", "--scheme", scheme, "--now", NOW];
        args.extend(keys());
        args.push(unsigned.to_str().unwrap());
        let s = run(&args, None, &[]);
        assert_eq!(
            s.status.code(),
            Some(0),
            "{scheme}: {}",
            String::from_utf8_lossy(&s.stderr)
        );
        assert!(
            s.stdout.ends_with(b"hello"),
            "{scheme}: the body must be printed"
        );
        // pipe it back through stdin
        let mut a = vec!["inspect", "--now", NOW, "--format", "json"];
        a.extend(keys());
        a.push("-");
        let r = run(&a, Some(&s.stdout), &[]);
        let v = json(&r);
        assert_eq!(r.status.code(), Some(0), "{scheme}: {v}");
        assert_eq!(v["verdict"], "valid");
        assert_eq!(v["scheme"], scheme);
        assert_eq!(v["carrier"], "header");
        assert_eq!(v["access_key"], AK);
        // and an hour later it is too old, whatever the scheme
        let mut late = vec![
            "inspect",
            "--now",
            "2025-03-01T14:00:01Z",
            "--format",
            "json",
        ];
        late.extend(keys());
        late.push("-");
        let r = run(&late, Some(&s.stdout), &[]);
        assert_eq!(r.status.code(), Some(1), "{scheme}");
        let c = codes(&json(&r));
        assert!(
            c.iter().any(|c| c == "expired" || c == "clock-skew"),
            "{scheme}: {c:?}"
        );
    }
}

#[test]
fn json_report_shape() {
    let unsigned = tmp("shape.http", UNSIGNED_PUT);
    let mut args = vec!["sign", "--scheme", "sigv4", "--now", NOW];
    args.extend(keys());
    args.push(unsigned.to_str().unwrap());
    let signed = run(&args, None, &[]).stdout;
    let f = tmp("shape-signed.http", &signed);
    let mut a = vec!["inspect", "--now", NOW, "--format", "json"];
    a.extend(keys());
    a.push(f.to_str().unwrap());
    let v = json(&run(&a, None, &[]));
    for field in [
        "scheme",
        "carrier",
        "access_key",
        "verdict",
        "now",
        "window",
        "findings",
        "stages",
    ] {
        assert!(v.get(field).is_some(), "missing {field}: {v}");
    }
    assert_eq!(v["now"], NOW);
    assert_eq!(v["window"]["start"], "2025-03-01T11:45:00Z");
    assert_eq!(v["window"]["end"], "2025-03-01T12:15:00Z");
    let st = &v["stages"];
    assert!(st["canonical_request"]
        .as_str()
        .unwrap()
        .starts_with("PUT\n/bucket/dir/a%20b%2Bc~d.txt\n"));
    assert!(st["string_to_sign"].as_str().unwrap().starts_with(
        "AWS4-HMAC-SHA256\n20250301T120000Z\n20250301/eu-central-1/s3/aws4_request\n"
    ));
    assert_eq!(st["expected_signature"], st["provided_signature"]);
}

#[test]
fn exit_codes_for_unknown_keys_and_bad_input() {
    let unsigned = tmp("ec.http", UNSIGNED_COS);
    let mut args = vec!["sign", "--scheme", "cos", "--now", NOW];
    args.extend(keys());
    args.push(unsigned.to_str().unwrap());
    let signed = tmp("ec-signed.http", &run(&args, None, &[]).stdout);
    let p = signed.to_str().unwrap();
    // no key at all: unverified
    let r = run(&["inspect", "--now", NOW, "--format", "json", p], None, &[]);
    assert_eq!(r.status.code(), Some(3));
    let v = json(&r);
    assert_eq!(v["verdict"], "unverified");
    assert!(codes(&v).contains(&"unknown-access-key".to_string()));
    // no key and expired: time is still judged, so invalid
    let r = run(
        &[
            "inspect",
            "--now",
            "2026-01-01T00:00:00Z",
            "--format",
            "json",
            p,
        ],
        None,
        &[],
    );
    assert_eq!(r.status.code(), Some(1));
    // empty file, missing file, garbage, bad --now: usage errors with a message
    let empty = tmp("empty.http", b"");
    for bad in [
        vec!["inspect", empty.to_str().unwrap()],
        vec!["inspect", "/nonexistent/sigtap/req.http"],
        vec![
            "inspect",
            tmp("garbage.http", b"\x00\x01not http").to_str().unwrap(),
        ],
        vec!["inspect", "--now", "yesterday", p],
        vec![
            "inspect",
            "--credentials",
            "/nonexistent/sigtap/creds.ini",
            p,
        ],
        vec!["sign", "--scheme", "sigv4", p],
    ] {
        let r = run(&bad, None, &[]);
        assert_eq!(r.status.code(), Some(2), "{bad:?}");
        assert!(!r.stderr.is_empty(), "{bad:?}: no message");
        assert!(r.stdout.is_empty(), "{bad:?}: stdout should stay empty");
    }
}

#[test]
fn garbage_authorization_of_64k_is_malformed_not_a_crash() {
    let mut garbage = String::from("AWS4-HMAC-SHA256 ");
    let mut x: u32 = 12345;
    while garbage.len() < 65536 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        garbage.push((0x21 + (x >> 16) % 94) as u8 as char);
    }
    for auth in [
        garbage.clone(),
        format!("q-sign-algorithm=sha1&{garbage}"),
        format!("AWS {garbage}"),
        "Bearer xyz".into(),
    ] {
        let req = format!("GET /b/k HTTP/1.1\r\nHost: s3.amazonaws.com\r\nX-Amz-Date: 20250301T120000Z\r\nAuthorization: {auth}\r\n\r\n");
        let f = tmp("garbage-auth.http", req.as_bytes());
        let mut a = vec!["inspect", "--now", NOW, "--format", "json"];
        a.extend(keys());
        a.push(f.to_str().unwrap());
        let r = run(&a, None, &[]);
        assert_eq!(r.status.code(), Some(1), "{}", &auth[..20]);
        assert!(codes(&json(&r)).contains(&"malformed-auth".to_string()));
    }
}

#[test]
fn presign_url_then_inspect_the_url() {
    for scheme in ["sigv4", "sigv2", "cos"] {
        let url = if scheme == "cos" {
            "https://ex-1250000000.cos.ap-beijing.myqcloud.com/a%20b/%E6%96%87.txt?response-content-type=text%2Fplain"
        } else {
            "https://bucket.s3.us-west-2.amazonaws.com/a%20b/%E6%96%87.txt?response-content-type=text%2Fplain"
        };
        let mut args = vec![
            "presign",
            "--scheme",
            scheme,
            "--now",
            NOW,
            "--expires",
            "600",
            "--session-token",
            TOKEN,
        ];
        args.extend(keys());
        args.push(url);
        let s = run(&args, None, &[]);
        assert_eq!(
            s.status.code(),
            Some(0),
            "{scheme}: {}",
            String::from_utf8_lossy(&s.stderr)
        );
        let presigned = String::from_utf8(s.stdout).unwrap();
        let presigned = presigned.trim();
        assert!(presigned.starts_with("https://"), "{presigned}");
        let mut a = vec![
            "inspect",
            "--now",
            "2025-03-01T12:09:00Z",
            "--format",
            "json",
            "--session-token",
            TOKEN,
        ];
        a.extend(keys());
        a.push(presigned);
        let r = run(&a, None, &[]);
        let v = json(&r);
        assert_eq!(r.status.code(), Some(0), "{scheme}: {v}");
        assert_eq!(v["carrier"], "query");
        assert_eq!(v["scheme"], scheme);
        let mut late = vec![
            "inspect",
            "--now",
            "2025-03-01T12:10:01Z",
            "--format",
            "json",
            "--session-token",
            TOKEN,
        ];
        late.extend(keys());
        late.push(presigned);
        let r = run(&late, None, &[]);
        assert_eq!(r.status.code(), Some(1), "{scheme}");
        let v = json(&r);
        let expired = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "expired")
            .expect("expired");
        assert_eq!(expired["cause"], "used-too-late");
        assert!(
            expired["message"]
                .as_str()
                .unwrap()
                .contains("expired 1s ago"),
            "{expired}"
        );
    }
}

#[test]
fn keys_from_files_and_environment_like_botocore() {
    let unsigned = tmp("env.http", UNSIGNED_PUT);
    let mut args = vec!["sign", "--scheme", "sigv4", "--now", NOW];
    args.extend(keys());
    args.push(unsigned.to_str().unwrap());
    let signed = tmp("env-signed.http", &run(&args, None, &[]).stdout);
    let p = signed.to_str().unwrap();
    let inspect = ["inspect", "--now", NOW, "--format", "json", p];
    // environment variables
    let r = run(
        &inspect,
        None,
        &[("AWS_ACCESS_KEY_ID", AK), ("AWS_SECRET_ACCESS_KEY", SK)],
    );
    assert_eq!(r.status.code(), Some(0));
    // shared credentials file with a profile chosen by AWS_PROFILE
    let creds = tmp(
        "credentials",
        format!("[default]\naws_access_key_id = OTHER\naws_secret_access_key = x\n\n[dev]\naws_access_key_id = {AK}\naws_secret_access_key = {SK}\n").as_bytes(),
    );
    let c = creds.to_str().unwrap();
    let r = run(
        &inspect,
        None,
        &[("AWS_SHARED_CREDENTIALS_FILE", c), ("AWS_PROFILE", "dev")],
    );
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stdout)
    );
    let r = run(&inspect, None, &[("AWS_SHARED_CREDENTIALS_FILE", c)]);
    assert_eq!(
        r.status.code(),
        Some(3),
        "the default profile has another key"
    );
    // config file `[profile dev]` section
    let config = tmp("config", format!("[profile dev]\nregion = eu-central-1\naws_access_key_id = {AK}\naws_secret_access_key = {SK}\n").as_bytes());
    let r = run(
        &inspect,
        None,
        &[
            ("AWS_CONFIG_FILE", config.to_str().unwrap()),
            ("AWS_PROFILE", "dev"),
        ],
    );
    assert_eq!(r.status.code(), Some(0));
    // --credentials loads every section
    let many = tmp("many.ini", format!("[a]\naws_access_key_id = X1\naws_secret_access_key = y1\n[b]\naws_access_key_id = {AK}\naws_secret_access_key = {SK}\n").as_bytes());
    let r = run(
        &[
            "inspect",
            "--now",
            NOW,
            "--credentials",
            many.to_str().unwrap(),
            p,
        ],
        None,
        &[],
    );
    assert_eq!(r.status.code(), Some(0));
    // COS variables
    let r = run(
        &inspect,
        None,
        &[("COS_SECRET_ID", AK), ("COS_SECRET_KEY", SK)],
    );
    assert_eq!(r.status.code(), Some(0));
}

#[test]
fn no_secret_in_any_output() {
    let unsigned = tmp("secret.http", UNSIGNED_PUT);
    let mut outputs: Vec<Vec<u8>> = Vec::new();
    let mut args = vec![
        "sign",
        "--scheme",
        "sigv4",
        "--now",
        NOW,
        "--session-token",
        TOKEN,
    ];
    args.extend(keys());
    args.push(unsigned.to_str().unwrap());
    let s = run(&args, None, &[]);
    let signed = tmp("secret-signed.http", &s.stdout);
    outputs.push(s.stdout.clone());
    outputs.push(s.stderr.clone());
    for format in ["json", "human"] {
        for secret in [SK, "wrong-secret-value-XYZ"] {
            let r = run(
                &[
                    "inspect",
                    "--now",
                    NOW,
                    "--format",
                    format,
                    "--access-key",
                    AK,
                    "--secret-key",
                    secret,
                    "--session-token",
                    TOKEN,
                    signed.to_str().unwrap(),
                ],
                None,
                &[],
            );
            outputs.push(r.stdout);
            outputs.push(r.stderr);
        }
    }
    for o in &outputs {
        let text = String::from_utf8_lossy(o);
        assert!(!text.contains(SK), "the secret key leaked: {text}");
        assert!(
            !text.contains("wrong-secret-value-XYZ"),
            "a secret leaked: {text}"
        );
    }
}

#[test]
fn human_report_is_plain_when_not_a_terminal() {
    let f = tmp(
        "human.http",
        b"GET /b/k HTTP/1.1\r\nHost: s3.amazonaws.com\r\n\r\n",
    );
    let r = run(&["inspect", "--now", NOW, f.to_str().unwrap()], None, &[]);
    assert_eq!(r.status.code(), Some(3));
    let text = String::from_utf8(r.stdout).unwrap();
    assert!(
        text.contains("UNVERIFIED") && text.contains("no-signature"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "colour codes on a pipe");
}

#[test]
fn explain_codes() {
    let r = run(&["explain"], None, &[]);
    assert_eq!(r.status.code(), Some(0));
    let list = String::from_utf8(r.stdout).unwrap();
    for c in [
        "signature-mismatch",
        "expired",
        "clock-skew",
        "chunk-signature-mismatch",
    ] {
        assert!(list.contains(c), "{c} not listed");
    }
    let r = run(&["explain", "expired"], None, &[]);
    assert!(String::from_utf8(r.stdout).unwrap().contains("How to fix"));
    assert_eq!(
        run(&["explain", "no-such-code"], None, &[]).status.code(),
        Some(2)
    );
}

#[test]
fn long_window_with_session_token_warns() {
    let unsigned = tmp("warn.http", UNSIGNED_COS);
    let mut args = vec![
        "sign",
        "--scheme",
        "cos",
        "--now",
        NOW,
        "--expires",
        "86400",
        "--session-token",
        TOKEN,
    ];
    args.extend(keys());
    args.push(unsigned.to_str().unwrap());
    let s = run(&args, None, &[]);
    assert_eq!(s.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&s.stderr).contains("session token"),
        "no warning"
    );
}

#[test]
fn upstream_response_is_correlated() {
    let unsigned = tmp("up.http", UNSIGNED_PUT);
    let mut args = vec!["sign", "--scheme", "sigv4", "--now", NOW];
    args.extend(keys());
    args.push(unsigned.to_str().unwrap());
    let signed = tmp("up-signed.http", &run(&args, None, &[]).stdout);
    let resp = tmp(
        "up-resp.http",
        b"HTTP/1.1 403 Forbidden\r\nDate: Sat, 01 Mar 2025 12:20:05 GMT\r\nContent-Type: application/xml\r\n\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message><RequestTime>20250301T120000Z</RequestTime><ServerTime>2025-03-01T12:20:05Z</ServerTime><MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds><RequestId>R1</RequestId><HostId>H=</HostId></Error>",
    );
    let mut a = vec![
        "inspect",
        "--now",
        "2025-03-01T12:20:00Z",
        "--format",
        "json",
        "--response",
        resp.to_str().unwrap(),
    ];
    a.extend(keys());
    a.push(signed.to_str().unwrap());
    let r = run(&a, None, &[]);
    let v = json(&r);
    assert_eq!(r.status.code(), Some(1));
    let f = |c: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == c)
            .cloned()
    };
    let clock = f("upstream-clock").expect("upstream-clock");
    assert_eq!(clock["evidence"]["offset_seconds"], 5);
    let up = f("upstream-error").expect("upstream-error");
    assert_eq!(up["evidence"]["code"], "RequestTimeTooSkewed");
    assert!(
        up["message"]
            .as_str()
            .unwrap()
            .contains("clock-skew (client-clock-behind)"),
        "{up}"
    );
    // a file that is not an HTTP response is a usage error
    let bad = tmp("up-bad.http", b"not a response");
    let mut a = vec!["inspect", "--now", NOW, "--response", bad.to_str().unwrap()];
    a.extend(keys());
    a.push(signed.to_str().unwrap());
    assert_eq!(run(&a, None, &[]).status.code(), Some(2));
}

#[test]
fn demo_tour_runs_offline_and_shows_the_causes() {
    let t0 = std::time::Instant::now();
    let r = run(&["demo"], None, &[]);
    let out = String::from_utf8_lossy(&r.stdout);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&r.stderr)
    );
    for needle in [
        "expired [used-too-late]",
        "clock-skew [client-clock-behind]",
        "signature-mismatch [header-changed]",
        "resigned as sigv4",
        "[sigv2 header valid]",
        "summary: 6 requests",
        // COS, the first service sigtap exists for: a valid request and an SDK clock behind
        "→ forwarded 200",
        "[cos header valid]",
        "expired [client-clock-behind]",
        "resigned as cos",
    ] {
        assert!(
            out.contains(needle),
            "{needle} missing from the demo:\n{out}"
        );
    }
    assert!(t0.elapsed() < std::time::Duration::from_secs(60));
    assert!(
        !out.contains("sigtapDemoSecretKey"),
        "the demo printed a secret"
    );
}

/// Replay, export, import and the mock's options: bad input gets a message that names the
/// problem and exit 2; a recording whose key is unknown fails per exchange (exit 1).
#[test]
fn replay_and_recording_tools_refuse_bad_input_clearly() {
    let err = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();
    // not JSON on line 2
    let bad = tmp("bad.jsonl", b"{\"sigtap_recording\":1}\nnot json\n");
    let o = run(
        &[
            "replay",
            bad.to_str().unwrap(),
            "--upstream",
            "http://127.0.0.1:9",
        ],
        None,
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("line 2 is not JSON"), "{}", err(&o));
    // a newer format
    let newer = tmp("newer.jsonl", b"{\"sigtap_recording\":9}\n");
    let o = run(&["export", "--har", newer.to_str().unwrap()], None, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("format 9"), "{}", err(&o));
    // an empty recording, a bad upstream, zero concurrency
    let empty = tmp("empty.jsonl", b"{\"sigtap_recording\":1}\n");
    for (args, want) in [
        (
            vec![
                "replay",
                empty.to_str().unwrap(),
                "--upstream",
                "http://127.0.0.1:9",
            ],
            "holds no exchange",
        ),
        (
            vec!["replay", empty.to_str().unwrap(), "--upstream", "ftp://x"],
            "http or https",
        ),
        (vec!["mock", "--fail", "explode"], "unknown kind"),
        (
            vec!["mock", "--fail", "slowdown:rate=7"],
            "a fraction between 0 and 1",
        ),
        (
            vec!["mock", "--recording", "/nonexistent/rec.jsonl"],
            "cannot read the recording",
        ),
    ] {
        let o = run(&args, None, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(err(&o).contains(want), "{args:?}: {}", err(&o));
    }
    // a HAR that is not one
    let har = tmp("x.har", b"{\"log\": {}}");
    let o = run(&["import", "--har", har.to_str().unwrap()], None, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("no log.entries"), "{}", err(&o));
    // a recorded exchange whose key has no secret here: that exchange fails, exit 1
    let one = tmp(
        "one.jsonl",
        concat!(
            "{\"sigtap_recording\":1}\n",
            "{\"id\":1,\"request\":{\"method\":\"GET\",\"target\":\"/b/k\",\"headers\":[[\"host\",\"h\"],[\"x-amz-date\",\"20250101T000000Z\"],[\"x-amz-content-sha256\",\"UNSIGNED-PAYLOAD\"],",
            "[\"authorization\",\"AWS4-HMAC-SHA256 Credential=AKIDUNKNOWN/20250101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=<redacted>\"]],",
            "\"body\":{\"size\":0,\"sha256\":null,\"base64\":\"\"}},\"response\":{\"status\":200,\"headers\":[],\"body\":{\"size\":0,\"base64\":\"\"}},",
            "\"client\":{\"scheme\":\"sigv4\",\"carrier\":\"header\",\"access_key\":\"AKIDUNKNOWN\",\"verdict\":\"valid\",\"findings\":[]},\"action\":\"forwarded\"}\n"
        )
        .as_bytes(),
    );
    let o = run(
        &[
            "replay",
            one.to_str().unwrap(),
            "--upstream",
            "http://127.0.0.1:9",
            "--access-key",
            AK,
            "--secret-key",
            SK,
            "--access-key",
            "AKIDOTHER",
        ],
        None,
        &[],
    );
    // two --access-key flags are a usage error from clap
    assert_eq!(o.status.code(), Some(2));
    let creds = tmp(
        "two.ini",
        format!("[a]\naws_access_key_id = {AK}\naws_secret_access_key = {SK}\n[b]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = x\n").as_bytes(),
    );
    let o = run(
        &[
            "replay",
            one.to_str().unwrap(),
            "--upstream",
            "http://127.0.0.1:9",
            "--credentials",
            creds.to_str().unwrap(),
        ],
        None,
        &[],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}{}", err(&o));
    assert!(
        out.contains("no secret for access key \"AKIDUNKNOWN\"") && out.contains("1 failed"),
        "{out}"
    );
}
