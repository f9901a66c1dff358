//! HTTPS without changing the client: real clients (boto3, urllib, curl, cos-python-sdk-v5)
//! pointed at sigtap only through their proxy setting and sigtap's CA, real TLS on both sides
//! (sigtap's leaf for the client, an upstream certificate from a test CA made with openssl),
//! real verifying upstreams (s3s-fs behind sigtap's own TLS listener; the COS test upstream,
//! which checks signatures with the official SDK's code). The real endpoint names are kept
//! (`s3.us-east-1.amazonaws.com`, `*.cos.ap-guangzhou.myqcloud.com`) and `--resolve`d to
//! 127.0.0.1.

mod common;

use common::real::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const S3_HOST: &str = "s3.us-east-1.amazonaws.com";
const COS_HOST: &str = "sigtaptest-1250000000.cos.ap-guangzhou.myqcloud.com";

/// s3s-fs (verifying SigV4/SigV2 with the test key) behind sigtap's TLS listener serving the
/// test certificate: an HTTPS S3 endpoint. Returns the processes and the TLS port.
fn s3_over_tls(t: &Tools, cert: &UpstreamCert) -> (Proc, tempdir::Dir, Sigtap, u16) {
    let (s3s, s3s_port, data) = start_s3s(t);
    let front = start_sigtap_args(&[
        "proxy",
        "--upstream",
        &format!("http://127.0.0.1:{s3s_port}"),
        "--tls",
        "--tls-cert",
        &cert.path("srv.pem"),
        "--tls-key",
        &cert.path("srv.key"),
        "--resign",
        "never",
        "--port",
        "0",
        "--log-format",
        "json",
    ]);
    let port = front.addr.rsplit(':').next().unwrap().parse().unwrap();
    (s3s, data, front, port)
}

/// The intercepting proxy: forward mode with its own CA in `ca_dir`, `extra` options.
fn interceptor(ca_dir: &Path, extra: &[&str]) -> Sigtap {
    let ca = ca_dir.display().to_string();
    let mut args = vec![
        "proxy",
        "--forward",
        "--ca-dir",
        &ca,
        "--port",
        "0",
        "--log-format",
        "json",
    ];
    args.extend_from_slice(extra);
    start_sigtap_args(&args)
}

/// https://s3.us-east-1.amazonaws.com as an unmodified client reaches it through sigtap: s3s-fs
/// behind TLS (a test CA, passed as `--upstream-ca`) and an intercepting sigtap holding the
/// test key, the host `--resolve`d to the TLS front. Everything stops when dropped.
struct S3Intercepted {
    proxy: Sigtap,
    /// sigtap's CA certificate, for the client to trust.
    ca: String,
    _ca_dir: tempdir::Dir,
    _upstream: (Proc, tempdir::Dir, Sigtap, UpstreamCert),
}

impl S3Intercepted {
    fn start(t: &Tools) -> S3Intercepted {
        let cert = UpstreamCert::new(&[S3_HOST, "127.0.0.1"]);
        let (s3s, data, front, tls_port) = s3_over_tls(t, &cert);
        let ca_dir = tempdir::Dir::new("sigtapca");
        let resolve = format!("{S3_HOST}:443=127.0.0.1:{tls_port}");
        let upstream_ca = cert.path("ca.pem");
        let proxy = interceptor(
            &ca_dir.0,
            &[
                "--allow-host",
                S3_HOST,
                "--resolve",
                &resolve,
                "--upstream-ca",
                &upstream_ca,
                "--access-key",
                AK,
                "--secret-key",
                SK,
            ],
        );
        let ca = sigtap_ca(&ca_dir.0);
        S3Intercepted {
            proxy,
            ca,
            _ca_dir: ca_dir,
            _upstream: (s3s, data, front, cert),
        }
    }
}

/// The environment of an unmodified client that uses sigtap as its HTTPS proxy and trusts
/// sigtap's CA (and nothing else set by the machine).
fn client_env(proxy: &Sigtap, ca_pem: &str) -> Vec<(String, String)> {
    let url = format!("http://{}", proxy.addr);
    [
        ("HTTPS_PROXY", url.as_str()),
        ("https_proxy", url.as_str()),
        ("HTTP_PROXY", ""),
        ("http_proxy", ""),
        ("NO_PROXY", ""),
        ("no_proxy", ""),
        ("AWS_CA_BUNDLE", ca_pem),
        ("REQUESTS_CA_BUNDLE", ca_pem),
        ("SSL_CERT_FILE", ca_pem),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn borrow(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn sigtap_ca(dir: &Path) -> String {
    let ca = dir.join("ca.pem");
    assert!(ca.is_file(), "the proxy did not create {}", ca.display());
    ca.display().to_string()
}

/// boto3 with HTTPS_PROXY and AWS_CA_BUNDLE only: puts (small, 5 MiB, multipart), lists, gets,
/// deletes and fetches presigned URLs against https://s3.us-east-1.amazonaws.com; every request
/// is seen, verified, logged as arriving over https for that host and goes on unchanged (the
/// client signed for the real host). Then the same client with its clock 20 minutes behind is
/// re-signed (`clock-skew`, `client-clock-behind`), and an expired presigned https URL fetched
/// through curl --proxy is refreshed.
#[test]
fn boto3_and_curl_through_connect_interception() {
    let Some(t) = tools() else { return };
    let s3 = S3Intercepted::start(&t);
    let (proxy, ca) = (&s3.proxy, s3.ca.as_str());
    let env = client_env(proxy, ca);
    let endpoint = format!("https://{S3_HOST}");

    let (ok, out) = boto3_env(&t, "roundtrip", &endpoint, "tunnelled", &borrow(&env));
    assert!(
        ok,
        "boto3 over HTTPS_PROXY failed:\n{out}\n{:#?}",
        records(proxy)
    );
    let recs = records(proxy);
    assert!(recs.len() >= 20, "only {} records: {recs:#?}", recs.len());
    for r in &recs {
        assert_eq!(r["transport"], "https", "{r}");
        assert_eq!(r["host"], S3_HOST, "{r}");
        assert!(r["target"].as_str().unwrap().starts_with('/'), "{r}");
        assert_eq!(r["client"]["scheme"], "sigv4", "{r}");
        assert_eq!(r["client"]["verdict"], "valid", "{r}");
        assert_eq!(r["action"], "forwarded", "a valid request was changed: {r}");
    }
    assert!(
        recs.iter()
            .any(|r| r["client"]["carrier"] == "query" && r["method"] == "PUT"),
        "the presigned PUT was not seen"
    );
    let before = recs.len();

    // the client's clock is 20 minutes behind: sigtap re-signs with its own
    let (ok, out) = boto3_env(&t, "skew", &endpoint, "tunnelled", &borrow(&env));
    assert!(ok, "the skewed client failed:\n{out}");
    let recs = records(proxy);
    let skewed: Vec<_> = recs[before..].iter().collect();
    assert!(!skewed.is_empty());
    for r in &skewed {
        assert_eq!(r["transport"], "https", "{r}");
        assert_eq!(r["action"], "resigned", "{r}");
        let f = r["client"]["findings"].as_array().unwrap();
        assert!(
            f.iter()
                .any(|f| f["code"] == "clock-skew" && f["cause"] == "client-clock-behind"),
            "{r}"
        );
    }
    let before = recs.len();

    // an expired presigned https URL, fetched by curl through the proxy: refreshed
    let now = unix_now();
    let url = Command::new(env!("CARGO_BIN_EXE_sigtap"))
        .args([
            "presign",
            &format!("{endpoint}/tunnelled/skew/ok.txt"),
            "--access-key",
            AK,
            "--secret-key",
            SK,
            "--now",
            &(now - 600).to_string(),
            "--expires",
            "60",
        ])
        .output()
        .unwrap();
    assert!(url.status.success());
    let url = String::from_utf8(url.stdout).unwrap().trim().to_string();
    assert!(url.starts_with("https://"), "{url}");
    let out = Command::new("curl")
        .args([
            "-sS",
            "--proxy",
            &format!("http://{}", proxy.addr),
            "--cacert",
            ca,
            "--noproxy",
            "",
            "-w",
            "\n%{http_code}",
            &url,
        ])
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && text.ends_with("\n200"),
        "curl: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("clock skew survived"), "{text}");
    let recs = records(proxy);
    let r = &recs[before];
    assert_eq!(r["transport"], "https", "{r}");
    assert_eq!(r["client"]["carrier"], "query", "{r}");
    assert_eq!(r["action"], "resigned", "{r}");
    assert!(
        r["client"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "expired"),
        "{r}"
    );
}

/// cos-python-sdk-v5 with `Proxies={'https': ...}` and `VerifySSL=` sigtap's CA, to its real
/// `*.cos.ap-guangzhou.myqcloud.com` endpoint resolved to the COS test upstream (TLS, test CA).
#[test]
fn cos_sdk_through_connect_interception() {
    let Some(t) = tools() else { return };
    let cert = UpstreamCert::new(&[COS_HOST, "127.0.0.1"]);
    let (_up, port) = start_cos_upstream(
        &t,
        Some((
            &PathBuf::from(cert.path("srv.pem")),
            &PathBuf::from(cert.path("srv.key")),
        )),
    );
    let ca_dir = tempdir::Dir::new("sigtapca");
    let resolve = format!("{COS_HOST}:443=127.0.0.1:{port}");
    let upstream_ca = cert.path("ca.pem");
    let proxy = interceptor(
        &ca_dir.0,
        &[
            "--allow-host",
            "*.myqcloud.com",
            "--resolve",
            &resolve,
            "--upstream-ca",
            &upstream_ca,
            "--access-key",
            SID,
            "--secret-key",
            SKEY,
        ],
    );
    let ca = sigtap_ca(&ca_dir.0);
    let proxy_url = format!("http://{}", proxy.addr);
    let env = [
        ("SIGTAP_HTTPS_PROXY", proxy_url.as_str()),
        ("SIGTAP_VERIFY_SSL", ca.as_str()),
        ("NO_PROXY", ""),
        ("no_proxy", ""),
    ];
    let (ok, out) = cos_client_at(&t, "roundtrip", &proxy.addr, &env);
    assert!(
        ok,
        "COS SDK over an HTTPS proxy failed:\n{out}\n{:#?}",
        records(&proxy)
    );
    let recs = records(&proxy);
    assert!(recs.len() >= 7, "{recs:#?}");
    for r in &recs {
        assert_eq!(r["transport"], "https", "{r}");
        assert_eq!(r["host"], COS_HOST, "{r}");
        assert_eq!(r["client"]["scheme"], "cos", "{r}");
        assert_eq!(r["client"]["verdict"], "valid", "{r}");
        assert!(r["status"].as_u64().unwrap() < 300, "{r}");
    }
    // a client clock 3 h 10 min behind: re-signed inside the tunnel, the upstream accepts it
    let before = recs.len();
    let (ok, out) = cos_client_at(&t, "clock-behind-3h10m", &proxy.addr, &env);
    assert!(ok, "{out}");
    let recs = records(&proxy);
    assert_eq!(recs[before]["action"], "resigned", "{}", recs[before]);
}

/// A CONNECT the allow list does not permit (another host, loopback, another port) gets 403
/// and no connection is opened anywhere: the listener named in it never sees one.
#[test]
fn refused_connects_open_no_connection() {
    let watched = TcpListener::bind("127.0.0.1:0").unwrap();
    let wport = watched.local_addr().unwrap().port();
    watched.set_nonblocking(true).unwrap();
    let ca_dir = tempdir::Dir::new("sigtapca");
    let resolve = format!("{S3_HOST}:443=127.0.0.1:{wport}");
    let other = format!("evil.example.com:443=127.0.0.1:{wport}");
    let proxy = interceptor(
        &ca_dir.0,
        &[
            "--allow-host",
            S3_HOST,
            "--resolve",
            &resolve,
            "--resolve",
            &other,
        ],
    );
    for target in [
        "evil.example.com:443".to_string(),
        format!("127.0.0.1:{wport}"),
        format!("localhost:{wport}"),
        format!("[::1]:{wport}"),
        format!("{S3_HOST}:22"),
        format!("{S3_HOST}:{wport}"),
        "s3.us-east-1.amazonaws.com.evil.example.com:443".to_string(),
    ] {
        let mut c = TcpStream::connect(&proxy.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(c, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
        let mut answer = String::new();
        let _ = c.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.1 403"),
            "CONNECT {target}: {answer}"
        );
        assert!(answer.contains("<Code>AccessDenied</Code>"), "{answer}");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        watched.accept().is_err(),
        "a refused CONNECT opened a connection"
    );
    let recs = records(&proxy);
    assert_eq!(
        recs.len(),
        7,
        "every refused CONNECT has a record: {recs:#?}"
    );
    for r in &recs {
        assert_eq!(r["method"], "CONNECT");
        assert_eq!(r["status"], 403);
    }
    // and a CONNECT in reverse mode is not tunnelled
    let rev = start_sigtap("http://127.0.0.1:9", &[]);
    let mut c = TcpStream::connect(&rev.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        c,
        "CONNECT {S3_HOST}:443 HTTP/1.1\r\nHost: {S3_HOST}:443\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
}

/// An upstream whose certificate does not verify (no --upstream-ca for its test CA): the client
/// gets a 502 inside the tunnel in the service's format, and the log says why.
#[test]
fn an_untrusted_upstream_is_a_502_that_says_why() {
    let Some(t) = tools() else { return };
    let cert = UpstreamCert::new(&[S3_HOST, "127.0.0.1"]);
    let (_s3s, _data, _front, tls_port) = s3_over_tls(&t, &cert);
    let ca_dir = tempdir::Dir::new("sigtapca");
    let resolve = format!("{S3_HOST}:443=127.0.0.1:{tls_port}");
    let proxy = interceptor(&ca_dir.0, &["--allow-host", S3_HOST, "--resolve", &resolve]);
    let ca = sigtap_ca(&ca_dir.0);
    let out = Command::new("curl")
        .args([
            "-sS",
            "--proxy",
            &format!("http://{}", proxy.addr),
            "--cacert",
            &ca,
            "--noproxy",
            "",
            "-w",
            "\n%{http_code}",
            &format!("https://{S3_HOST}/bucket/key"),
        ])
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.ends_with("\n502"), "{text}");
    assert!(text.contains("<Error>"), "not the service's format: {text}");
    let recs = records(&proxy);
    assert_eq!(recs.len(), 1, "{recs:#?}");
    let r = &recs[0];
    assert_eq!(r["status"], 502);
    assert_eq!(r["transport"], "https");
    let why = r["upstream"]["error_message"].as_str().unwrap_or_default();
    assert!(
        why.contains("upstream TLS certificate verification failed"),
        "{r}"
    );
}

/// The TLS listener in reverse mode, with a leaf from the local CA: boto3 to
/// https://127.0.0.1:PORT trusting that CA, through to s3s-fs.
#[test]
fn boto3_to_the_tls_listener() {
    let Some(t) = tools() else { return };
    let (_s3s, s3s_port, _data) = start_s3s(&t);
    let ca_dir = tempdir::Dir::new("sigtapca");
    let ca_arg = ca_dir.0.display().to_string();
    let proxy = start_keyed_proxy(
        &format!("http://127.0.0.1:{s3s_port}"),
        &["--tls", "--ca-dir", &ca_arg],
    );
    let ca = sigtap_ca(&ca_dir.0);
    let endpoint = format!("https://{}", proxy.addr);
    let env = [
        ("AWS_CA_BUNDLE", ca.as_str()),
        ("SSL_CERT_FILE", ca.as_str()),
        ("NO_PROXY", "*"),
    ];
    let (ok, out) = boto3_env(&t, "roundtrip", &endpoint, "overtls", &env);
    assert!(
        ok,
        "boto3 to the TLS listener failed:\n{out}\n{:#?}",
        records(&proxy)
    );
    let recs = records(&proxy);
    assert!(recs.len() >= 20);
    assert!(recs.iter().all(|r| r["transport"] == "https"), "{recs:#?}");
}

/// A client that does not trust sigtap's CA: the handshake fails on the client's side, no
/// request is forwarded, and sigtap keeps serving others.
#[test]
fn a_client_that_distrusts_the_ca_sends_nothing_upstream() {
    let hits = Arc::new(AtomicUsize::new(0));
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let uport = up.local_addr().unwrap().port();
    let h2 = hits.clone();
    std::thread::spawn(move || {
        for c in up.incoming().flatten() {
            h2.fetch_add(1, Ordering::SeqCst);
            drop(c);
        }
    });
    let ca_dir = tempdir::Dir::new("sigtapca");
    let ca_arg = ca_dir.0.display().to_string();
    let resolve = format!("{S3_HOST}:443=127.0.0.1:{uport}");
    let stderr = ca_dir.0.with_extension("stderr");
    let (_proxy, addr) = start_plain(
        &[
            "proxy",
            "--forward",
            "--ca-dir",
            &ca_arg,
            "--port",
            "0",
            "--allow-host",
            S3_HOST,
            "--resolve",
            &resolve,
        ],
        Some(&stderr),
    );
    let curl = |cacert: &str| {
        Command::new("curl")
            .args(["-sS", "--proxy", &format!("http://{addr}"), "--noproxy", ""])
            .args(["--cacert", cacert, &format!("https://{S3_HOST}/bucket/key")])
            .output()
            .expect("run curl")
    };
    // the client trusts some CA, not sigtap's
    let other = UpstreamCert::new(&["127.0.0.1"]);
    let out = curl(&other.path("ca.pem"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
    assert!(
        err.contains("certificate"),
        "curl did not fail on the certificate: {err}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a request went upstream");
    // sigtap says what to do, naming its CA
    let said = std::fs::read_to_string(&stderr).unwrap();
    let ca = sigtap_ca(&ca_dir.0);
    assert!(
        said.contains("refused sigtap's certificate") && said.contains(&ca),
        "{said}"
    );
    assert!(!said.contains('\x1b'), "colour codes in a file: {said:?}");
    // and keeps serving: a client that trusts the CA gets through to the (dropping) upstream
    let out = curl(&ca);
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("<Code>BadGateway</Code>"), "{body}");
    assert!(hits.load(Ordering::SeqCst) >= 1);
    let _ = std::fs::remove_file(&stderr);
}

/// `sigtap mock --tls`: the strict mock as an HTTPS endpoint (a leaf from the local CA for the
/// loopback names), for test suites whose clients insist on https. boto3 runs its round trip
/// (multipart and presigned URLs included) against it, trusting only that CA.
#[test]
fn the_mock_serves_https() {
    let Some(t) = tools() else { return };
    let ca_dir = tempdir::Dir::new("sigtapca");
    let ca_arg = ca_dir.0.display().to_string();
    let (_mock, addr) = start_mock(&["--tls", "--ca-dir", &ca_arg]);
    let ca = sigtap_ca(&ca_dir.0);
    let env = [
        ("AWS_CA_BUNDLE", ca.as_str()),
        ("SSL_CERT_FILE", ca.as_str()),
        ("NO_PROXY", "*"),
    ];
    let (ok, out) = boto3_env(&t, "roundtrip", &format!("https://{addr}"), "mocktls", &env);
    assert!(ok, "boto3 to `sigtap mock --tls` failed:\n{out}");
    // plain http to the TLS port is not served
    let mut c = TcpStream::connect(&addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = c.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/1.1 200"),
        "plain http answered over the TLS port"
    );
}

/// The aws cli (`HTTPS_PROXY`, `AWS_CA_BUNDLE`), rclone (`HTTPS_PROXY`, `--ca-cert`) and the
/// AWS JS SDK (a proxy agent, `NODE_EXTRA_CA_CERTS`; its stream upload is aws-chunked with a
/// trailer), unmodified but for those, against https://s3.us-east-1.amazonaws.com intercepted
/// by sigtap.
#[test]
fn aws_cli_rclone_and_js_sdk_through_connect_interception() {
    let Some(t) = tools() else { return };
    let rclone = match Command::new("rclone").arg("version").output() {
        Ok(o) if o.status.success() => PathBuf::from("rclone"),
        _ => panic!("rclone is missing: apt-get install -y rclone (scripts/tools.sh does it)"),
    };
    let s3 = S3Intercepted::start(&t);
    let (proxy, ca) = (&s3.proxy, s3.ca.as_str());
    let env = client_env(proxy, ca);
    let work = tempdir::Dir::new("clients");
    let payload = work.0.join("payload.bin");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&payload, &data).unwrap();
    let config = work.0.join("aws-config");
    std::fs::write(&config, "[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n    signature_version = s3v4\n").unwrap();
    let bin = root().join("target/tools/clients/bin");
    let endpoint = format!("https://{S3_HOST}");
    let aws = |args: &[&str]| {
        let out = Command::new(bin.join("aws"))
            .args(["--endpoint-url", &endpoint])
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_ACCESS_KEY_ID", AK)
            .env("AWS_SECRET_ACCESS_KEY", SK)
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/sigtap")
            .output()
            .expect("run aws");
        outcome(&out)
    };
    let (ok, out) = aws(&["s3", "mb", "s3://cli-tls"]);
    assert!(ok, "aws s3 mb: {out}");
    let (ok, out) = aws(&[
        "s3",
        "cp",
        payload.to_str().unwrap(),
        "s3://cli-tls/aws.bin",
    ]);
    assert!(ok, "aws s3 cp: {out}");
    let (ok, out) = aws(&["s3", "ls", "s3://cli-tls/"]);
    assert!(ok && out.contains("aws.bin"), "aws s3 ls: {out}");
    let before = records(proxy).len();

    let conf = work.0.join("rclone.conf");
    std::fs::write(
        &conf,
        format!("[s]\ntype = s3\nprovider = Other\nendpoint = {endpoint}\nforce_path_style = true\naccess_key_id = {AK}\nsecret_access_key = {SK}\nregion = us-east-1\n"),
    )
    .unwrap();
    let back = work.0.join("back");
    let out = Command::new(&rclone)
        .arg("--config")
        .arg(&conf)
        .args(["--ca-cert", ca, "copy", "s:cli-tls", back.to_str().unwrap()])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .expect("run rclone");
    let (ok, out) = outcome(&out);
    assert!(ok, "rclone through the tunnel: {out}");
    assert!(
        std::fs::read(back.join("aws.bin")).unwrap() == data,
        "rclone: bytes differ"
    );
    let after_rclone = records(proxy).len();
    assert!(after_rclone > before, "rclone's requests were not seen");

    let out = Command::new("node")
        .arg(root().join("tests/clients/node/js_sdk.cjs"))
        .args([endpoint.as_str(), AK, SK, "cli-tls"])
        .env("NODE_PATH", &t.node_modules)
        .env("SIGTAP_HTTPS_PROXY", format!("http://{}", proxy.addr))
        .env("NODE_EXTRA_CA_CERTS", ca)
        .output()
        .expect("run node");
    let (ok, out) = outcome(&out);
    assert!(ok, "the AWS JS SDK through the tunnel: {out}");
    let recs = records(proxy);
    assert!(
        recs[after_rclone..]
            .iter()
            .any(|r| r["method"] == "PUT" && r["bytes_in"].as_u64().unwrap_or(0) >= 300_000),
        "the JS SDK's aws-chunked upload was not seen: {:#?}",
        &recs[after_rclone..]
    );
    for r in &recs {
        assert_eq!(r["transport"], "https", "{r}");
        assert_eq!(r["host"], S3_HOST, "{r}");
        assert_eq!(r["client"]["verdict"], "valid", "{r}");
    }
}
