//! Temporary upstream identities (issue 17): `--upstream-profile` with a `credential_process`
//! whose keys live 75 s (so sigtap may use each for 15 s), refreshed while a legacy SigV2 client
//! (real boto3) keeps sending; a refresh that fails until the key's last minute (503, then
//! recovery); the container credential endpoint and the CVM role metadata endpoint (local
//! stand-ins, `tests/clients/cred_endpoint.py`). The upstream is `sigtap mock`, which checks
//! each key and its session token.

mod common;
use common::real::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

const POOL: [(&str, &str, &str); 4] = [
    (
        "ASIAGATEWAYTEMP00001",
        "tempSecretOne/aaaaaaaaaaaaaaaaaaaaaaaaaa",
        "TOKEN-one-0001",
    ),
    (
        "ASIAGATEWAYTEMP00002",
        "tempSecretTwo/bbbbbbbbbbbbbbbbbbbbbbbbbb",
        "TOKEN-two-0002",
    ),
    (
        "ASIAGATEWAYTEMP00003",
        "tempSecretThr/cccccccccccccccccccccccccc",
        "TOKEN-thr-0003",
    ),
    (
        "ASIAGATEWAYTEMP00004",
        "tempSecretFou/dddddddddddddddddddddddddd",
        "TOKEN-fou-0004",
    ),
];

/// The mock upstream, knowing the pool's keys with their session tokens.
fn upstream(dir: &Path) -> (Proc, String) {
    let ini: String = POOL
        .iter()
        .enumerate()
        .map(|(i, (ak, sk, tok))| {
            format!("[t{i}]\naws_access_key_id = {ak}\naws_secret_access_key = {sk}\naws_session_token = {tok}\n")
        })
        .collect();
    let path = dir.join("upstream.ini");
    std::fs::write(&path, ini).unwrap();
    start_plain(
        &[
            "mock",
            "--port",
            "0",
            "--credentials",
            path.to_str().unwrap(),
        ],
        None,
    )
}

/// A state folder for `fake_sts.py` with the pool and a profile that runs it.
fn sts(dir: &Path, t: &Tools, lifetime: u32) -> std::path::PathBuf {
    let state = dir.join("sts");
    std::fs::create_dir_all(&state).unwrap();
    let pool: Vec<[&str; 3]> = POOL.iter().map(|(a, s, k)| [*a, *s, *k]).collect();
    std::fs::write(
        state.join("pool.json"),
        serde_json::to_string(&pool).unwrap(),
    )
    .unwrap();
    std::fs::write(state.join("lifetime"), lifetime.to_string()).unwrap();
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "[profile gateway]\ncredential_process = {} {} '{}'\n",
            t.python.display(),
            root().join("tests/clients/fake_sts.py").display(),
            state.display()
        ),
    )
    .unwrap();
    state
}

/// `sigtap proxy --resign always --upstream-profile gateway` (JSON log) in front of the mock at
/// `mock_addr`, the profile read from `config`, with `extra` options.
fn gateway(mock_addr: &str, config: &Path, extra: &[&str]) -> Sigtap {
    let upstream = format!("http://{mock_addr}");
    let mut args = vec![
        "proxy",
        "--upstream",
        &upstream,
        "--port",
        "0",
        "--log-format",
        "json",
        "--resign",
        "always",
        "--upstream-profile",
        "gateway",
    ];
    args.extend_from_slice(extra);
    start_sigtap_env(&args, &[("AWS_CONFIG_FILE", config.to_str().unwrap())])
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn credential_records(p: &Sigtap) -> Vec<Value> {
    p.lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("credentials").cloned())
        .collect()
}

fn ledger(state: &Path) -> Vec<(String, i64)> {
    std::fs::read_to_string(state.join("ledger"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (ak, exp) = l.split_once(' ').unwrap();
            (ak.to_string(), exp.parse().unwrap())
        })
        .collect()
}

#[test]
fn credential_process_keys_are_refreshed_before_their_last_minute() {
    let Some(t) = tools() else { return };
    let dir = tempdir::Dir::new("gateway-temp");
    let (_mock, mock_addr) = upstream(&dir.0);
    let state = sts(&dir.0, &t, 75);
    let config = dir.0.join("config");
    let proxy = gateway(&mock_addr, &config, &["--sign-as", "sigv4"]);
    let endpoint = format!("http://{}", proxy.addr);
    let (ok, out) = boto3(&t, "roundtrip", &endpoint, "temp-bucket");
    assert!(ok, "{out}");
    // (the round trip provokes one NoSuchUpload on purpose; from here on every answer is 2xx)
    let first_legacy = records(&proxy).len();
    // keep a legacy client busy across at least two refreshes (one every ~7.5 s)
    for _ in 0..40 {
        let (ok, out) = boto3(&t, "sigv2", &endpoint, "temp-bucket");
        assert!(ok, "a request failed across a refresh:\n{out}");
        if ledger(&state).len() >= 3 && credential_records(&proxy).len() >= 2 {
            let (ok, out) = boto3(&t, "sigv2", &endpoint, "temp-bucket");
            assert!(ok, "{out}");
            break;
        }
    }
    let issued = ledger(&state);
    assert!(issued.len() >= 3, "only {} keys were issued", issued.len());
    let refreshes = credential_records(&proxy);
    assert!(
        refreshes
            .iter()
            .filter(|r| r["result"] == "refreshed")
            .count()
            >= 2,
        "{refreshes:?}"
    );
    let recs = records(&proxy);
    let mut used = std::collections::BTreeSet::new();
    for (i, r) in recs.iter().enumerate() {
        if i >= first_legacy {
            assert!(r["status"].as_u64().unwrap() < 300, "{r}");
        }
        assert_eq!(r["action"], "resigned", "{r}");
        let ak = r["resigned_with"].as_str().unwrap();
        let at = sigtap::timefmt::parse_user_time(r["time"].as_str().unwrap()).unwrap();
        // the pool repeats a key: some issue of it must cover the time of use
        assert!(
            issued
                .iter()
                .any(|(k, e)| k == ak && at >= e - 75 - 1 && at < e - 60),
            "{ak} signed at {at} outside every usable window: {issued:?}: {r}"
        );
        used.insert(ak.to_string());
    }
    assert!(used.len() >= 2, "one key signed everything: {used:?}");
    let all = proxy.lines.lock().unwrap().join("\n");
    for (_, sk, tok) in POOL {
        assert!(
            !all.contains(sk) && !all.contains(tok),
            "a secret or token reached the log"
        );
    }
}

#[test]
fn a_failed_refresh_ends_in_503_at_the_last_minute_and_recovers() {
    let Some(t) = tools() else { return };
    let dir = tempdir::Dir::new("gateway-fail");
    let (_mock, mock_addr) = upstream(&dir.0);
    // each key may be used for 3 s (63 s of life minus the last minute)
    let state = sts(&dir.0, &t, 63);
    let config = dir.0.join("config");
    let proxy = gateway(&mock_addr, &config, &[]);
    let (status, text) = get(&proxy.addr, "/");
    assert_eq!(status, 200, "{text}");
    std::fs::write(state.join("fail"), "").unwrap();
    std::thread::sleep(Duration::from_millis(4500));
    let (status, text) = get(&proxy.addr, "/");
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("<Code>ServiceUnavailable</Code>"), "{text}");
    assert!(text.contains("could not be refreshed"), "{text}");
    let failed: Vec<Value> = credential_records(&proxy)
        .into_iter()
        .filter(|r| r["result"] == "refresh-failed")
        .collect();
    assert!(!failed.is_empty());
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("the service is unreachable"),
        "{failed:?}"
    );
    // the source answers again: the next attempt (backing off, at most 8 s here) takes it up
    std::fs::remove_file(state.join("fail")).unwrap();
    let mut back = false;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(200));
        if credential_records(&proxy)
            .iter()
            .any(|r| r["result"] == "refreshed")
        {
            back = true;
            break;
        }
    }
    assert!(back, "{:?}", credential_records(&proxy));
    let (status, text) = get(&proxy.addr, "/");
    assert_eq!(status, 200, "{text}");
}

#[test]
fn container_and_cvm_endpoints_give_the_upstream_identity() {
    let Some(t) = tools() else { return };
    let dir = tempdir::Dir::new("gateway-endpoints");
    let (_mock, mock_addr) = upstream(&dir.0);
    let (ak, sk, tok) = POOL[2];
    let port_file = dir.0.join("port");
    let endpoint = Proc(
        std::process::Command::new(&t.python)
            .arg(root().join("tests/clients/cred_endpoint.py"))
            .args([port_file.to_str().unwrap(), ak, sk, tok, "auth-token-xyz"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut port = String::new();
    for _ in 0..100 {
        port = std::fs::read_to_string(&port_file).unwrap_or_default();
        if !port.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!port.is_empty(), "the endpoint never started");
    let token_file = dir.0.join("token");
    std::fs::write(&token_file, "auth-token-xyz\n").unwrap();
    let base = [
        "proxy",
        "--upstream",
        &format!("http://{mock_addr}"),
        "--port",
        "0",
        "--log-format",
        "json",
        "--resign",
        "always",
    ];
    let full_uri = format!("http://127.0.0.1:{port}/container-creds");
    let metadata = format!("http://127.0.0.1:{port}/latest/meta-data/");
    type Run<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let runs: [Run; 2] = [
        (
            vec!["--upstream-credentials", "container"],
            vec![
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri),
                (
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                    token_file.to_str().unwrap(),
                ),
            ],
        ),
        (
            vec![
                "--upstream-credentials",
                "cvm",
                "--cvm-metadata-url",
                &metadata,
            ],
            vec![],
        ),
    ];
    for (extra, env) in runs {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let proxy = start_sigtap_env(&args, &env);
        let (status, text) = get(&proxy.addr, "/");
        assert_eq!(status, 200, "{extra:?}: {text}");
        let r = records(&proxy).pop().unwrap();
        assert_eq!(r["resigned_with"], ak, "{r}");
    }
    // a wrong authorization token is refused by the endpoint: sigtap does not start
    std::fs::write(&token_file, "wrong\n").unwrap();
    let out = sigtap_command(&[
        "proxy",
        "--upstream",
        &format!("http://{mock_addr}"),
        "--port",
        "0",
        "--resign",
        "always",
        "--upstream-credentials",
        "container",
    ])
    .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri)
    .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_file)
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("answered 401"), "{err}");
    drop(endpoint);
}

/// Keep-alive GETs of `path` from `threads` clients for `secs`: (answers by status, failures).
fn load(addr: &str, path: &str, threads: usize, secs: u64) -> (Vec<u16>, usize) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (addr, stop) = (addr.to_string(), stop.clone());
            let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                let mut failures = 0;
                'outer: while !stop.load(Ordering::Relaxed) {
                    // a new connection every 50 requests
                    let Ok(mut s) = std::net::TcpStream::connect(&addr) else {
                        failures += 1;
                        continue;
                    };
                    s.set_nodelay(true).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let mut r = std::io::BufReader::new(s.try_clone().unwrap());
                    for _ in 0..50 {
                        if s.write_all(request.as_bytes()).is_err() {
                            failures += 1;
                            continue 'outer;
                        }
                        let Some(head) = read_head_raw(&mut r) else {
                            failures += 1;
                            continue 'outer;
                        };
                        let status: u16 = head
                            .split_whitespace()
                            .nth(1)
                            .and_then(|c| c.parse().ok())
                            .unwrap_or(0);
                        let mut body = vec![0; content_length_of(&head)];
                        if r.read_exact(&mut body).is_err() {
                            failures += 1;
                            continue 'outer;
                        }
                        statuses.push(status);
                    }
                }
                (statuses, failures)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut failures = 0;
    for h in handles {
        let (s, f) = h.join().unwrap();
        all.extend(s);
        failures += f;
    }
    (all, failures)
}

#[test]
fn soak_with_the_key_rotated_every_few_seconds() {
    let Some(t) = tools() else { return };
    let dir = tempdir::Dir::new("gateway-soak");
    let (_mock, mock_addr) = upstream(&dir.0);
    // each key is usable for 6 s and replaced after 3
    let state = sts(&dir.0, &t, 66);
    let config = dir.0.join("config");
    let log = dir.0.join("log.jsonl");
    let proxy = gateway(&mock_addr, &config, &["--log-file", log.to_str().unwrap()]);
    let (statuses, failures) = load(&proxy.addr, "/", 6, 15);
    // a clean stop (SIGTERM) writes out the last log lines
    let mut proxy = proxy;
    let pid = proxy.proc.0.id().to_string();
    std::process::Command::new("kill")
        .arg(&pid)
        .status()
        .unwrap();
    proxy.proc.0.wait().unwrap();
    assert_eq!(failures, 0, "requests failed under rotation");
    assert!(statuses.len() > 1000, "only {} answers", statuses.len());
    assert!(statuses.iter().all(|s| *s == 200), "not all 200");
    let issued = ledger(&state);
    assert!(
        issued.len() >= 4,
        "only {} keys issued in 15 s",
        issued.len()
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let mut n = 0;
    let mut used = std::collections::BTreeSet::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v.get("id").is_none() {
            continue;
        }
        n += 1;
        let ak = v["resigned_with"].as_str().unwrap();
        let at = sigtap::timefmt::parse_user_time(v["time"].as_str().unwrap()).unwrap();
        // the pool repeats a key: some issue of it must cover the time of use
        assert!(
            issued
                .iter()
                .any(|(k, e)| k == ak && at >= e - 66 - 1 && at < e - 60),
            "{ak} used at {at} outside every usable window: {issued:?}"
        );
        used.insert(ak.to_string());
    }
    assert_eq!(n, statuses.len(), "one record per answer");
    assert!(used.len() >= 4, "{used:?}");
}
