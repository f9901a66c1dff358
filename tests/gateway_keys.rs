//! A long-lived re-signing gateway whose upstream key changes while it runs (issue 17): a
//! legacy SigV2 client (real boto3, `signature_version='s3'`, with a fixed key sigtap does not
//! know) goes through `--resign always --sign-as sigv4` to a strict verifying upstream
//! (`sigtap mock`, which knows three upstream keys) while the credentials file is replaced,
//! rewritten behind the watcher's back and reloaded by SIGHUP, broken, and removed.

mod common;
use common::real::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const KEYS: [(&str, &str); 3] = [
    (
        "AKIDGATEWAYKEY000001",
        "gatewaySecretNumberOne/aaaaaaaaaaaaaaaa",
    ),
    (
        "AKIDGATEWAYKEY000002",
        "gatewaySecretNumberTwo/bbbbbbbbbbbbbbbb",
    ),
    (
        "AKIDGATEWAYKEY000003",
        "gatewaySecretNumberThr/cccccccccccccccc",
    ),
];

fn ini(i: usize) -> String {
    format!(
        "[gateway{i}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        KEYS[i].0, KEYS[i].1
    )
}

/// `sigtap mock` knowing the keys in `path`; its address.
fn mock_with(path: &Path) -> (Proc, String) {
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

/// Replaces `path` atomically (a new file renamed over it), as deployment tools do.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The reload records logged so far.
fn reloads(p: &Sigtap) -> Vec<Value> {
    p.lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("credentials").cloned())
        .collect()
}

/// Waits (up to `limit`) for reload record number `n` (0-based) and returns it.
fn wait_reload(p: &Sigtap, n: usize, limit: Duration) -> Value {
    for _ in 0..=limit.as_millis() / 50 {
        if let Some(r) = reloads(p).get(n) {
            return r.clone();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "no reload record #{n} within {limit:?}; so far: {:?}",
        reloads(p)
    );
}

/// Runs the SigV2 client and returns the records of its requests, all re-signed with `key`.
fn legacy_round(t: &Tools, p: &Sigtap, endpoint: &str, key: &str) {
    let before = records(p).len();
    let (ok, out) = boto3(t, "sigv2", endpoint, "gateway-bucket");
    assert!(
        ok,
        "the SigV2 client failed while signing with {key}:\n{out}"
    );
    let recs = records(p);
    let mine = &recs[before..];
    assert!(mine.len() >= 6, "{mine:?}");
    for r in mine {
        assert_eq!(r["client"]["scheme"], "sigv2", "{r}");
        assert_eq!(r["resigned_as"], "sigv4", "{r}");
        assert_eq!(r["resigned_with"], key, "{r}");
        assert!(r["status"].as_u64().unwrap() < 300, "{r}");
    }
}

#[test]
fn the_upstream_key_changes_while_the_gateway_runs() {
    let Some(t) = tools() else { return };
    let dir = tempdir::Dir::new("gateway-keys");
    // the upstream knows the three upstream keys and not the client's
    let up_keys = dir.0.join("upstream.ini");
    std::fs::write(&up_keys, (0..3).map(ini).collect::<Vec<_>>().join("\n")).unwrap();
    let (_mock, mock_addr) = mock_with(&up_keys);
    let keyfile = dir.0.join("gateway.ini");
    std::fs::write(&keyfile, ini(0)).unwrap();
    let proxy = start_sigtap(
        &format!("http://{mock_addr}"),
        &[
            "--resign",
            "always",
            "--sign-as",
            "sigv4",
            "--credentials",
            keyfile.to_str().unwrap(),
        ],
    );
    let endpoint = format!("http://{}", proxy.addr);
    // the bucket, made by a SigV4 client through the gateway
    let (ok, out) = boto3(&t, "roundtrip", &endpoint, "gateway-bucket");
    assert!(ok, "{out}");
    legacy_round(&t, &proxy, &endpoint, KEYS[0].0);

    // 1. the file is replaced (no signal): within 5 s the next requests use the new key
    replace(&keyfile, &ini(1));
    let r = wait_reload(&proxy, 0, Duration::from_secs(5));
    assert_eq!(r["result"], "loaded", "{r}");
    assert_eq!(r["trigger"], "file changed", "{r}");
    assert_eq!(r["identity"], KEYS[1].0, "{r}");
    legacy_round(&t, &proxy, &endpoint, KEYS[1].0);

    // 2. rewritten in place with the same length, inode and modification time, so no watcher
    // can tell: SIGHUP loads it at once
    let stamp = std::fs::metadata(&keyfile).unwrap().modified().unwrap();
    std::fs::write(&keyfile, ini(2)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&keyfile)
        .unwrap()
        .set_modified(stamp)
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        reloads(&proxy).len(),
        1,
        "the watcher saw an invisible change"
    );
    legacy_round(&t, &proxy, &endpoint, KEYS[1].0);
    let pid = proxy.proc.0.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let r = wait_reload(&proxy, 1, Duration::from_secs(2));
    assert_eq!(
        (r["result"].as_str(), r["trigger"].as_str()),
        (Some("loaded"), Some("SIGHUP")),
        "{r}"
    );
    legacy_round(&t, &proxy, &endpoint, KEYS[2].0);

    // 3. a broken write keeps the last good key (and says which file and why)
    replace(&keyfile, "[gateway]\naws_access_key_id = AKIDHALFWRITTEN\n");
    let r = wait_reload(&proxy, 2, Duration::from_secs(5));
    assert_eq!(r["result"], "kept", "{r}");
    let why = r["error"].as_str().unwrap();
    assert!(
        why.contains("gateway.ini") && why.contains("aws_secret_access_key"),
        "{why}"
    );
    legacy_round(&t, &proxy, &endpoint, KEYS[2].0);

    // 4. so does a missing file
    std::fs::remove_file(&keyfile).unwrap();
    let r = wait_reload(&proxy, 3, Duration::from_secs(5));
    assert_eq!(r["result"], "kept", "{r}");
    legacy_round(&t, &proxy, &endpoint, KEYS[2].0);

    // 5. and a file with two keys and no --upstream-access-key (no identity for --resign always)
    replace(&keyfile, &format!("{}\n{}", ini(0), ini(1)));
    let r = wait_reload(&proxy, 4, Duration::from_secs(5));
    assert_eq!(r["result"], "kept", "{r}");
    assert!(
        r["error"].as_str().unwrap().contains("--resign always"),
        "{r}"
    );
    legacy_round(&t, &proxy, &endpoint, KEYS[2].0);

    // 6. a good file again is taken up
    replace(&keyfile, &ini(0));
    let r = wait_reload(&proxy, 5, Duration::from_secs(5));
    assert_eq!(r["result"], "loaded", "{r}");
    legacy_round(&t, &proxy, &endpoint, KEYS[0].0);

    // no record, reload or not, carries a secret
    let all = proxy.lines.lock().unwrap().join("\n");
    for (_, secret) in KEYS {
        assert!(!all.contains(secret), "a secret reached the log");
    }
}

#[test]
fn a_config_file_runs_the_gateway_and_flags_override_it() {
    let Some(t) = tools() else { return };
    let dir = tempdir::Dir::new("gateway-config");
    let up_keys = dir.0.join("upstream.ini");
    std::fs::write(&up_keys, ini(1)).unwrap();
    let (_mock, mock_addr) = mock_with(&up_keys);
    let keyfile = dir.0.join("gateway.ini");
    std::fs::write(&keyfile, ini(1)).unwrap();
    let config = dir.0.join("sigtap.toml");
    std::fs::write(
        &config,
        format!(
            "upstream = \"http://{mock_addr}\"\nresign = \"never\"\nsign-as = \"sigv4\"\ncredentials = \"{}\"\nlog_format = \"human\"\nport = 0\n",
            keyfile.display()
        ),
    )
    .unwrap();
    // the command line says json and always: it wins over the file's human and never
    let proxy = start_sigtap_args(&[
        "proxy",
        "--config",
        config.to_str().unwrap(),
        "--log-format",
        "json",
        "--resign",
        "always",
    ]);
    let endpoint = format!("http://{}", proxy.addr);
    let (ok, out) = boto3(&t, "roundtrip", &endpoint, "gateway-bucket");
    assert!(ok, "{out}");
    legacy_round(&t, &proxy, &endpoint, KEYS[1].0);

    // an unknown key is an error that names it, before anything listens
    std::fs::write(
        &config,
        "upstream = \"http://127.0.0.1:1\"\nresign_mode = \"always\"\n",
    )
    .unwrap();
    let out = sigtap_command(&["proxy", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown key \"resign_mode\""), "{err}");
}
