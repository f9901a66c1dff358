//! Secrets never leak: every mode (inspect, proxy with human and JSON logs and a recording,
//! mock, replay, export) runs with a known secret and session token (taken from the AWS
//! environment variables), valid and broken requests go through, and then every byte of
//! output, log, recording and error document is searched for them. `sign`/`presign` print a
//! request that must carry the token, so only the secret is searched there.

mod common;

use common::real::{free_port, tempdir, Proc};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

const AK: &str = "AKIDSECRETSTEST00001";
const SK: &str = "SeCrEtNeVeRlEaK/AbCdEfGhIjKlMnOpQrStUv01";
const TOKEN: &str = "ToKeNnEvErLeAk/ToKeNnEvErLeAk+ToKeN0001";

fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sigtap"));
    c.args(args)
        .env("AWS_ACCESS_KEY_ID", AK)
        .env("AWS_SECRET_ACCESS_KEY", SK)
        .env("AWS_SESSION_TOKEN", TOKEN)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/sigtap")
        .env("AWS_CONFIG_FILE", "/nonexistent/sigtap");
    c
}

fn run(args: &[&str], input: Option<&str>) -> String {
    let mut c = cmd(args);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(i) = input {
        child.stdin.take().unwrap().write_all(i.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Starts a server command; its first stdout line is the address; everything else it prints
/// goes to `log` (a file searched at the end).
fn serve(args: &[&str], log: &std::path::Path) -> (Proc, String) {
    let mut child = cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(log.with_extension("err")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .trim_start_matches("{\"listening\":\"")
        .trim_end_matches("\"}")
        .to_string();
    let mut sink = std::fs::File::create(log).unwrap();
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = out.read_to_end(&mut rest);
        let _ = sink.write_all(&rest);
    });
    (Proc(child), addr)
}

fn send(addr: &str, raw: &str) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn raw_for(addr: &str, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
}

#[test]
fn no_secret_or_token_in_any_output_log_or_recording() {
    let dir = tempdir::Dir::new("secrets");
    let d = |n: &str| dir.0.join(n);
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut signed_outputs: Vec<(String, String)> = Vec::new();

    let (_mock, maddr) = serve(&["mock", "--port", "0"], &d("mock.log"));
    let up = format!("http://{maddr}");
    let rec = d("rec.jsonl");
    let (_human, haddr) = serve(
        &[
            "proxy",
            "--upstream",
            &up,
            "--port",
            "0",
            "--record",
            rec.to_str().unwrap(),
        ],
        &d("human.log"),
    );
    let (_json, jaddr) = serve(
        &[
            "proxy",
            "--upstream",
            &up,
            "--port",
            "0",
            "--log-format",
            "json",
        ],
        &d("json.log"),
    );

    for addr in [&haddr, &jaddr] {
        // a valid header-signed request with the token, and the same signed with a wrong secret
        let unsigned =
            format!("PUT /secret-bucket HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        let signed = run(&["sign", "--scheme", "sigv4", "-"], Some(&unsigned));
        signed_outputs.push(("sign".into(), signed.clone()));
        outputs.push((format!("valid via {addr}"), send(addr, &signed)));
        let wrong = run(
            &[
                "sign",
                "--scheme",
                "sigv4",
                "--access-key",
                AK,
                "--secret-key",
                "wrong-secret-0000000000000000000000000000",
                "--session-token",
                TOKEN,
                "-",
            ],
            Some(&raw_for(addr, "/secret-bucket/k")),
        );
        let answer = send(addr, &wrong);
        assert!(answer.contains("SignatureDoesNotMatch"), "{answer}");
        outputs.push((format!("wrong secret via {addr}"), answer));
        // a presigned URL carrying the token in its query, expired long ago
        let url = run(
            &[
                "presign",
                "--scheme",
                "sigv4",
                "--now",
                "2024-01-01T00:00:00Z",
                "--expires",
                "60",
                &format!("http://{addr}/secret-bucket/k"),
            ],
            None,
        );
        signed_outputs.push(("presign".into(), url.clone()));
        let target = format!("/{}", url.trim().splitn(4, '/').nth(3).unwrap());
        outputs.push((
            format!("expired via {addr}"),
            send(addr, &raw_for(addr, &target)),
        ));
        // COS with the token, and a garbage Authorization
        let cos = run(
            &["sign", "--scheme", "cos", "-"],
            Some(&raw_for(addr, "/secret-bucket/cos")),
        );
        signed_outputs.push(("sign cos".into(), cos.clone()));
        outputs.push((format!("cos via {addr}"), send(addr, &cos)));
        outputs.push((
            format!("garbage via {addr}"),
            send(
                addr,
                &format!("GET / HTTP/1.1\r\nHost: {addr}\r\nAuthorization: AWS4-HMAC-SHA256 {TOKEN}\r\nConnection: close\r\n\r\n"),
            ),
        ));
        // offline inspection of the same requests, both formats
        for req in [&signed, &wrong, &cos] {
            for format in ["human", "json"] {
                outputs.push((
                    format!("inspect {format}"),
                    run(&["inspect", "--format", format, "-"], Some(req)),
                ));
            }
        }
        outputs.push((
            "inspect url".into(),
            run(
                &[
                    "inspect",
                    "--format",
                    "json",
                    &format!("http://{addr}{target}"),
                ],
                None,
            ),
        ));
    }
    std::thread::sleep(Duration::from_millis(300));

    // the recording, replayed (human and JSON) against the mock, served by a second mock, exported
    for format in ["human", "json"] {
        outputs.push((
            format!("replay {format}"),
            run(
                &[
                    "replay",
                    rec.to_str().unwrap(),
                    "--upstream",
                    &up,
                    "--format",
                    format,
                ],
                None,
            ),
        ));
    }
    let (_m2, m2addr) = serve(
        &[
            "mock",
            "--port",
            &free_port().to_string(),
            "--recording",
            rec.to_str().unwrap(),
        ],
        &d("mock2.log"),
    );
    let signed = run(
        &["sign", "--scheme", "sigv4", "-"],
        Some(&raw_for(&m2addr, "/secret-bucket/not-recorded")),
    );
    outputs.push(("mock2".into(), send(&m2addr, &signed)));
    outputs.push((
        "export".into(),
        run(&["export", "--har", rec.to_str().unwrap()], None),
    ));
    std::thread::sleep(Duration::from_millis(300));

    // search: every output, and every file written (logs, recording, body store, stderr)
    let mut files = Vec::new();
    for e in std::fs::read_dir(&dir.0).unwrap().flatten() {
        let p = e.path();
        if p.is_file() {
            files.push((
                p.display().to_string(),
                String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned(),
            ));
        }
    }
    assert!(
        files
            .iter()
            .any(|(n, t)| n.ends_with("rec.jsonl") && t.lines().count() > 5),
        "the recording holds the exchanges"
    );
    let encoded_token = TOKEN.replace('/', "%2F").replace('+', "%2B");
    for (what, text) in outputs.iter().chain(files.iter()) {
        for needle in [SK, TOKEN, encoded_token.as_str()] {
            assert!(
                !text.contains(needle),
                "{what} contains a secret or token ({needle:.12}…):\n{text:.3000}"
            );
        }
    }
    for (what, text) in &signed_outputs {
        assert!(!text.contains(SK), "{what} printed the secret");
    }
}

/// The start banner of `sigtap proxy` with no `--upstream` (the embedded mock), read from
/// stderr until its last line; `env` adds to a clean environment (no AWS variables).
fn embedded_banner(env: &[(&str, &str)], home: &std::path::Path) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sigtap"));
    c.args(["proxy", "--port", "0"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_PROFILE")
        .env("HOME", home)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = Proc(c.spawn().unwrap());
    let err = BufReader::new(child.0.stderr.take().unwrap());
    let mut banner = String::new();
    for line in err.lines().map_while(Result::ok) {
        banner.push_str(&line);
        banner.push('\n');
        if line.contains("cos-python-sdk-v5") {
            break;
        }
    }
    drop(child);
    banner
}

#[test]
fn the_embedded_default_prints_only_the_demo_secret() {
    let home = tempdir::Dir::new("banner-home");
    // no key anywhere: the made-up demo key, secret included, so the commands can be pasted
    let demo = embedded_banner(&[], &home.0);
    assert!(
        demo.contains("export AWS_SECRET_ACCESS_KEY=sigtapDemoSecretKey"),
        "the demo banner gives the demo secret:\n{demo}"
    );
    // the user's key from the environment: named by its id, the secret never printed
    let from_env = embedded_banner(
        &[("AWS_ACCESS_KEY_ID", AK), ("AWS_SECRET_ACCESS_KEY", SK)],
        &home.0,
    );
    assert!(from_env.contains(AK), "the key id is named:\n{from_env}");
    assert!(
        !from_env.contains(SK),
        "the banner printed the user's secret"
    );
    assert!(!from_env.contains("AWS_SECRET_ACCESS_KEY="), "{from_env}");
    // ... and from the home credentials file
    std::fs::create_dir_all(home.0.join(".aws")).unwrap();
    std::fs::write(
        home.0.join(".aws/credentials"),
        format!("[default]\naws_access_key_id = {AK}\naws_secret_access_key = {SK}\n"),
    )
    .unwrap();
    let from_file = embedded_banner(&[], &home.0);
    assert!(from_file.contains(AK), "the key id is named:\n{from_file}");
    assert!(
        !from_file.contains(SK),
        "the banner printed the user's secret"
    );
}
