//! The proxy with real components: boto3 (pinned, in target/tools/clients) through
//! `sigtap proxy` in front of s3s-fs 0.14.1, a real server that verifies SigV4 and SigV2.
//! The servers are started on 127.0.0.1 by the test and stopped by PID.
//!
//! Needs `scripts/tools.sh`; without the tools these tests fail with that command
//! (`SIGTAP_SKIP_TOOLS=1` skips them loudly, never in CI).
// Tests time real servers and read the wall clock directly (clippy.toml bans it in the crate).
#![allow(clippy::disallowed_methods)]

mod common;

use common::real::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn boto3_through_sigtap_to_s3s_fs() {
    let Some(t) = tools() else { return };
    let (_s3s, port, _dir) = start_s3s(&t);
    let proxy = start_keyed_proxy(&format!("http://127.0.0.1:{port}"), &[]);
    let endpoint = format!("http://{}", proxy.addr);

    let (ok, out) = boto3(&t, "roundtrip", &endpoint, "rt-bucket");
    assert!(
        ok,
        "boto3 round trip through sigtap failed:\n{out}\nlog:\n{:#?}",
        records(&proxy)
    );
    let recs = records(&proxy);
    assert!(
        recs.len() >= 20,
        "expected a record per request, got {}",
        recs.len()
    );
    let odd: Vec<_> = recs.iter().filter(|r| r["action"] != "resigned").collect();
    assert!(
        odd.is_empty(),
        "every request signed for sigtap's host must be re-signed: {odd:#?}"
    );
    let late = recs
        .iter()
        .find(|r| {
            r["client"]["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["code"] == "no-such-upload")
        })
        .expect("the part sent after completion is flagged no-such-upload");
    assert!(
        late["upstream"]["status"].as_u64().unwrap() >= 400,
        "{late}"
    );
    assert!(
        recs.iter()
            .filter(|r| r["id"] != late["id"])
            .all(|r| r["upstream"]["status"].as_u64().unwrap_or(0) < 300),
        "{recs:#?}"
    );
    for r in &recs {
        let text = r.to_string();
        assert!(!text.contains(SK), "the secret reached the log");
        // no whole signature value: no run of 40 or more hex digits
        let longest_hex = text
            .as_bytes()
            .split(|b| !b.is_ascii_hexdigit())
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0);
        assert!(
            longest_hex < 40,
            "a full signature value reached the log: {text}"
        );
        assert!(r["client"]["verdict"] == "valid", "{r}");
    }

    // a client clock 20 minutes slow: diagnosed and re-signed, the request goes through
    let (ok, out) = boto3(&t, "skew", &endpoint, "rt-bucket");
    assert!(ok, "skewed client failed:\n{out}");
    let recs = records(&proxy);
    let skew = recs.iter().rev().find(|r| r["method"] == "PUT").unwrap();
    let f = skew["client"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "clock-skew")
        .expect("clock-skew logged");
    assert_eq!(f["cause"], "client-clock-behind");
    assert_eq!(skew["action"], "resigned");

    // a wrong secret is answered locally with S3's own error document
    let (ok, out) = boto3(&t, "wrongsecret", &endpoint, "rt-bucket");
    assert!(ok, "wrong secret scenario:\n{out}");
    assert!(
        out.contains("SIGTAP"),
        "the request id comes from sigtap: {out}"
    );
    let last = records(&proxy).pop().unwrap();
    assert_eq!(last["action"], "rejected");

    // SigV2 (legacy) objects through the proxy, re-signed as SigV2
    let (ok, out) = boto3(&t, "sigv2", &endpoint, "rt-bucket");
    assert!(ok, "SigV2 client failed:\n{out}");
    assert!(records(&proxy)
        .iter()
        .rev()
        .take(4)
        .all(|r| r["resigned_as"] == "sigv2"));

    // a presigned URL that expired is refreshed in auto mode
    let (ok, out) = boto3(&t, "expired-presign", &endpoint, "rt-bucket");
    assert!(ok, "expired presigned URL was not refreshed:\n{out}");
    let last = records(&proxy).pop().unwrap();
    assert_eq!(last["client"]["findings"][0]["code"], "expired", "{last}");
    assert_eq!(last["action"], "resigned");
}

#[test]
fn never_mode_forwards_untouched() {
    let Some(t) = tools() else { return };
    let (_s3s, port, _dir) = start_s3s(&t);
    let proxy = start_sigtap(
        &format!("http://127.0.0.1:{port}"),
        &["--resign", "never", "--access-key", AK, "--secret-key", SK],
    );
    // Forwarded byte for byte, Host included: s3s-fs does not check the host, so the client's own
    // signature verifies there and every operation works without a single re-signing.
    let (ok, out) = boto3(
        &t,
        "roundtrip",
        &format!("http://{}", proxy.addr),
        "never-bucket",
    );
    assert!(ok, "{out}");
    let recs = records(&proxy);
    assert!(
        recs.len() >= 20
            && recs
                .iter()
                .all(|r| r["action"] == "forwarded" && r["resigned_as"].is_null()),
        "{recs:#?}"
    );
}

fn raw_http(addr: &str, req: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn refused_upstream_is_a_502_in_the_service_format_and_sigterm_prints_a_summary() {
    let port = free_port(); // nothing listens there
    let mut proxy = start_sigtap(&format!("http://127.0.0.1:{port}"), &[]);
    let resp = raw_http(
        &proxy.addr,
        "GET /bucket/key HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 502"), "{resp}");
    assert!(
        resp.contains("<Code>BadGateway</Code>")
            && resp.to_ascii_lowercase().contains("x-amz-request-id"),
        "{resp}"
    );
    assert!(resp.contains("cannot connect to the upstream"), "{resp}");
    // a malformed Authorization gets a 400 in the same format, never a closed connection
    let resp = raw_http(
        &proxy.addr,
        "GET /bucket/key HTTP/1.1\r\nHost: example.com\r\nAuthorization: AWS4-HMAC-SHA256 garbage\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(
        resp.contains("<Code>AuthorizationHeaderMalformed</Code>"),
        "{resp}"
    );
    // SIGTERM: exit 0 with a summary
    let pid = proxy.proc.0.id();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = proxy.proc.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "sigtap did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    std::thread::sleep(Duration::from_millis(100));
    let lines = proxy.lines.lock().unwrap().clone();
    assert!(lines.iter().any(|l| l.contains("\"summary\"")), "{lines:?}");
}

#[test]
fn sigv2_client_converted_to_sigv4_and_unsigned_client_signed_with_always() {
    let Some(t) = tools() else { return };
    let (_s3s, port, _dir) = start_s3s(&t);
    let up = format!("http://127.0.0.1:{port}");
    // --sign-as sigv4: a legacy SigV2 client, re-signed at the byte level as SigV4
    let proxy = start_sigtap(
        &up,
        &["--sign-as", "sigv4", "--access-key", AK, "--secret-key", SK],
    );
    let endpoint = format!("http://{}", proxy.addr);
    let (ok, out) = boto3(&t, "roundtrip", &endpoint, "conv-bucket"); // creates the bucket with SigV4
    assert!(ok, "{out}");
    let before = records(&proxy).len();
    let (ok, out) = boto3(&t, "sigv2", &endpoint, "conv-bucket");
    assert!(ok, "SigV2 -> SigV4 conversion failed:\n{out}");
    let recs = records(&proxy);
    let v2: Vec<_> = recs[before..].iter().collect();
    assert!(!v2.is_empty());
    for r in v2 {
        assert_eq!(r["client"]["scheme"], "sigv2", "{r}");
        assert_eq!(r["resigned_as"], "sigv4", "{r}");
    }
    drop(proxy);
    // --resign always: an unsigned client (no Authorization at all) works through sigtap, for
    // a Host named with --serve-host (signing for any other name is refused)
    let proxy = start_sigtap(
        &up,
        &[
            "--resign",
            "always",
            "--access-key",
            AK,
            "--secret-key",
            SK,
            "--serve-host",
            "legacy.local",
        ],
    );
    let body = "hello from an unsigned client";
    let resp = raw_http(
        &proxy.addr,
        &format!("PUT /conv-bucket/unsigned.txt HTTP/1.1\r\nHost: legacy.local\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()),
    );
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let resp = raw_http(
        &proxy.addr,
        "GET /conv-bucket/unsigned.txt HTTP/1.1\r\nHost: legacy.local\r\nConnection: close\r\n\r\n",
    );
    assert!(
        resp.starts_with("HTTP/1.1 200") && resp.ends_with(body),
        "{resp}"
    );
    let recs = records(&proxy);
    assert!(
        recs.iter()
            .all(|r| r["client"]["scheme"] == "none" && r["resigned_as"] == "sigv4"),
        "{recs:#?}"
    );
}

/// COS: cos-python-sdk-v5 through sigtap to a test upstream that re-derives every signature
/// with the official SDK's own signing code (`tests/clients/cos_upstream.py`).
#[test]
fn cos_python_sdk_through_sigtap_to_an_sdk_verified_upstream() {
    let Some(t) = tools() else { return };
    let (_up, port) = start_cos_upstream(&t, None);
    let proxy = start_sigtap(
        &format!("http://127.0.0.1:{port}"),
        &["--access-key", SID, "--secret-key", SKEY],
    );
    let cos = |scenario: &str| cos_client(&t, scenario, &proxy);
    let (ok, out) = cos("roundtrip");
    assert!(ok, "COS round trip failed:\n{out}\n{:#?}", records(&proxy));
    let recs = records(&proxy);
    assert!(
        recs.len() >= 6
            && recs
                .iter()
                .all(|r| r["client"]["scheme"] == "cos" && r["resigned_as"] == "cos"),
        "{recs:#?}"
    );
    assert!(
        recs.iter().all(|r| r["client"]["verdict"] == "valid"),
        "{recs:#?}"
    );

    // the SDK's clock 3h10m slow (not a whole number of hours): its 10000 s window has closed; sigtap re-signs
    let (ok, out) = cos("clock-behind-3h10m");
    assert!(ok, "{out}");
    let last = records(&proxy).pop().unwrap();
    let f = &last["client"]["findings"][0];
    assert_eq!(f["code"], "expired", "{last}");
    assert_eq!(f["cause"], "client-clock-behind", "{last}");

    // a wrong secret: answered by sigtap in COS XML, which the SDK parses (code and request id)
    let (ok, out) = cos("wrongsecret");
    assert!(ok, "{out}");
    assert_eq!(records(&proxy).pop().unwrap()["action"], "rejected");
}

#[test]
fn forward_proxy_passes_valid_requests_and_refuses_other_hosts() {
    let Some(t) = tools() else { return };
    let (_s3s, port, _dir) = start_s3s(&t);
    let allowed = format!("127.0.0.1:{port}");
    let proxy = start_sigtap_args(&[
        "proxy",
        "--forward",
        "--allow-host",
        &allowed,
        "--port",
        "0",
        "--log-format",
        "json",
        "--access-key",
        AK,
        "--secret-key",
        SK,
    ]);
    // boto3 with an http proxy: absolute-form requests signed for the real server pass unchanged
    let (ok, out) = boto3_via(
        &t,
        "roundtrip",
        &format!("http://{allowed}"),
        "fwd-bucket",
        Some(&format!("http://{}", proxy.addr)),
    );
    assert!(
        ok,
        "boto3 through the forward proxy failed:\n{out}\n{:#?}",
        records(&proxy)
    );
    let recs = records(&proxy);
    assert!(recs.len() >= 20);
    assert!(
        recs.iter()
            .filter(|r| r["client"]["findings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["code"] != "no-such-upload"))
            .all(|r| r["action"] == "forwarded" && r["client"]["verdict"] == "valid"),
        "{recs:#?}"
    );
    // a host outside --allow-host: 403 in the service's format, no connection attempted
    let resp = raw_http(&proxy.addr, "GET http://169.254.169.254/latest/meta-data HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n");
    assert!(
        resp.starts_with("HTTP/1.1 403") && resp.contains("is not allowed"),
        "{resp}"
    );
    let resp = raw_http(
        &proxy.addr,
        "CONNECT bucket.s3.amazonaws.com:443 HTTP/1.1\r\nHost: bucket.s3.amazonaws.com:443\r\n\r\n",
    );
    // a CONNECT is intercepted only for allowed hosts (tests/https_intercept.rs); this one is not
    assert!(
        resp.starts_with("HTTP/1.1 403") && resp.contains("is not allowed"),
        "{resp}"
    );
}

/// A signed aws-chunked upload (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, made with sigtap's own
/// signer, as no installable client sends one) signed for sigtap's host: sigtap verifies every
/// chunk, re-signs the request and re-frames the body with a new chain; s3s-fs verifies the new
/// chunk signatures (a bad one gives 500) and stores the object.
#[test]
fn signed_aws_chunked_upload_is_verified_and_reframed() {
    use sigtap::sig::v4;
    use sigtap::sig::v4::chunked::{encode_chunk, encode_final, ChainSigner};
    use sigtap::wire::Request;
    let Some(t) = tools() else { return };
    let (_s3s, port, _dir) = start_s3s(&t);
    let proxy = start_keyed_proxy(&format!("http://127.0.0.1:{port}"), &[]);
    let created = raw_http(
        &proxy.addr,
        &signed_raw("PUT", "/chunked-bucket", &proxy.addr, b"", None),
    );
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");

    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for corrupt in [false, true] {
        let key = if corrupt {
            "/chunked-bucket/bad.bin"
        } else {
            "/chunked-bucket/good.bin"
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut head = Request::parse(
            format!(
                "PUT {key} HTTP/1.1\r\nHost: {}\r\nContent-Encoding: aws-chunked\r\nx-amz-decoded-content-length: {}\r\nx-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\n\r\n",
                proxy.addr,
                data.len()
            )
            .as_bytes(),
        )
        .unwrap();
        let signed = sign_v4(&head, now, Some(v4::STREAMING_SIGNED), None);
        head = signed.plan.apply(&head);
        let date = sigtap::timefmt::amz_date(now);
        let key_bytes = v4::signing_key(SK, &date[..8], "us-east-1", "s3");
        let mut chain = ChainSigner::new(
            key_bytes,
            &date,
            &format!("{}/us-east-1/s3/aws4_request", &date[..8]),
            &signed.signature,
        );
        let mut body = Vec::new();
        for piece in data.chunks(65536) {
            body.extend(encode_chunk(Some(&mut chain), piece));
        }
        body.extend(encode_final(Some(&mut chain), &[]));
        if corrupt {
            let at = body
                .windows(17)
                .position(|w| w == b";chunk-signature=")
                .unwrap()
                + 17;
            body[at] = if body[at] == b'0' { b'1' } else { b'0' };
        }
        head.set_header("Content-Length", body.len().to_string());
        head.set_header("Connection", "close");
        head.body = body;
        let mut s = TcpStream::connect(&proxy.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(&head.to_bytes()).unwrap();
        let mut resp = Vec::new();
        let _ = s.read_to_end(&mut resp);
        let resp = String::from_utf8_lossy(&resp);
        if corrupt {
            assert!(
                resp.starts_with("HTTP/1.1 403")
                    && resp.contains("chunk 0 signature does not verify"),
                "a corrupted chunk got through: {resp}"
            );
        } else {
            assert!(
                resp.starts_with("HTTP/1.1 200"),
                "{resp}\n{:#?}",
                records(&proxy)
            );
        }
    }
    let t0 = Instant::now();
    let last = loop {
        if let Some(r) = records(&proxy)
            .into_iter()
            .rev()
            .find(|r| r["target"] == "/chunked-bucket/good.bin")
        {
            break r;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no log record for the upload: {:?}",
            proxy.lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        last["note"].as_str().unwrap().contains("re-framed"),
        "{last}"
    );
    // read it back through sigtap: the bytes are the original ones
    let mut conn = TcpStream::connect(&proxy.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(
        signed_raw("GET", "/chunked-bucket/good.bin", &proxy.addr, b"", None).as_bytes(),
    )
    .unwrap();
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got);
    let split = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got[..split])
    );
    assert!(
        got[split + 4..] == data[..],
        "the object read back differs from what was uploaded"
    );
}

/// A raw request signed with SigV4 (header) for `host`, with Connection: close.
fn signed_raw(method: &str, path: &str, host: &str, body: &[u8], _token: Option<&str>) -> String {
    let req = sigtap::wire::Request::parse(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut out = sign_v4(&req, unix_now(), None, None).plan.apply(&req);
    out.set_header("Connection", "close");
    String::from_utf8(out.to_bytes()).unwrap()
}

/// An HTTPS upstream: trusted through `--upstream-ca` (a test CA made here with openssl), and
/// refused with a clear 502 without it.
#[test]
fn https_upstream_with_a_test_ca() {
    let Some(t) = tools() else { return };
    let dir = tempdir::Dir::new("tls");
    let d = dir.0.display().to_string();
    let script = format!(
        "set -e; cd {d}; \
         openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=sigtap test CA' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null; \
         openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key -out srv.csr -subj '/CN=127.0.0.1' 2>/dev/null; \
         printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf; \
         openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext.cnf 2>/dev/null"
    );
    let ok = Command::new("sh")
        .args(["-c", &script])
        .status()
        .expect("openssl");
    assert!(
        ok.success(),
        "openssl could not make the test certificates (is openssl installed?)"
    );
    let (_up, port) =
        start_cos_upstream(&t, Some((&dir.0.join("srv.pem"), &dir.0.join("srv.key"))));
    let upstream = format!("https://127.0.0.1:{port}");
    let ca = dir.0.join("ca.pem").display().to_string();
    let proxy = start_sigtap(
        &upstream,
        &[
            "--upstream-ca",
            &ca,
            "--access-key",
            SID,
            "--secret-key",
            SKEY,
        ],
    );
    let (ok, out) = cos_client(&t, "roundtrip", &proxy);
    assert!(
        ok,
        "COS over an https upstream failed:\n{out}\n{:#?}",
        records(&proxy)
    );
    drop(proxy);
    // without the CA the certificate is untrusted: a 502 that says so, in COS's format
    let proxy = start_sigtap(&upstream, &["--access-key", SID, "--secret-key", SKEY]);
    let (ok, out) = cos_client(&t, "roundtrip", &proxy);
    assert!(!ok, "an untrusted certificate was accepted: {out}");
    let t0 = Instant::now();
    let r = loop {
        if let Some(r) = records(&proxy).pop() {
            break r;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "no record");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(r["status"], 502, "{r}");
    let note = r["note"].as_str().unwrap().to_ascii_lowercase();
    assert!(
        note.contains("certificate") || note.contains("unknownissuer"),
        "{note}"
    );
}

fn run_tool(cmd: &mut Command) -> (bool, String) {
    outcome(&cmd.output().expect("run a client"))
}

/// aws cli (v1, pinned) and s3cmd (SigV4 and --signature-v2) through sigtap to s3s-fs.
#[test]
fn aws_cli_and_s3cmd_through_sigtap() {
    let Some(t) = tools() else { return };
    let bin = root().join("target/tools/clients/bin");
    let (_s3s, port, _dir) = start_s3s(&t);
    let proxy = start_keyed_proxy(&format!("http://127.0.0.1:{port}"), &[]);
    let work = tempdir::Dir::new("clients");
    let payload = work.0.join("payload.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&payload, &data).unwrap();
    let config = work.0.join("aws-config");
    std::fs::write(&config, "[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n    signature_version = s3v4\n").unwrap();
    let endpoint = format!("http://{}", proxy.addr);
    let aws = |args: &[&str]| {
        run_tool(
            Command::new(bin.join("aws"))
                .args(["--endpoint-url", &endpoint])
                .args(args)
                .env("AWS_ACCESS_KEY_ID", AK)
                .env("AWS_SECRET_ACCESS_KEY", SK)
                .env("AWS_CONFIG_FILE", &config)
                .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/sigtap")
                .env(
                    "PATH",
                    format!(
                        "{}:{}",
                        bin.display(),
                        std::env::var("PATH").unwrap_or_default()
                    ),
                ),
        )
    };
    let (ok, out) = aws(&["s3", "mb", "s3://cli-bucket"]);
    assert!(ok, "aws s3 mb: {out}");
    let (ok, out) = aws(&[
        "s3",
        "cp",
        payload.to_str().unwrap(),
        "s3://cli-bucket/dir/aws cli file.bin",
    ]);
    assert!(ok, "aws s3 cp up: {out}");
    let back = work.0.join("back.bin");
    let (ok, out) = aws(&[
        "s3",
        "cp",
        "s3://cli-bucket/dir/aws cli file.bin",
        back.to_str().unwrap(),
    ]);
    assert!(ok, "aws s3 cp down: {out}");
    assert!(
        std::fs::read(&back).unwrap() == data,
        "aws cli: the bytes differ after the round trip"
    );
    let (ok, out) = aws(&["s3", "ls", "s3://cli-bucket/dir/"]);
    assert!(ok && out.contains("aws cli file.bin"), "aws s3 ls: {out}");

    for (label, extra) in [("s3cmd v4", None), ("s3cmd v2", Some("--signature-v2"))] {
        let cfg = work.0.join("s3cfg");
        std::fs::write(
            &cfg,
            format!(
                "[default]\naccess_key = {AK}\nsecret_key = {SK}\nhost_base = {0}\nhost_bucket = {0}\nuse_https = False\nbucket_location = us-east-1\nsignature_v2 = False\n",
                proxy.addr
            ),
        )
        .unwrap();
        let s3cmd = |args: &[&str]| {
            let mut c = Command::new(bin.join("python"));
            c.arg(bin.join("s3cmd")).arg("-c").arg(&cfg);
            if let Some(e) = extra {
                c.arg(e);
            }
            run_tool(c.args(args))
        };
        let key = format!("s3://cli-bucket/{}/obj.bin", label.replace(' ', "-"));
        let (ok, out) = s3cmd(&["put", payload.to_str().unwrap(), &key]);
        assert!(ok, "{label} put: {out}\n{:#?}", records(&proxy).last());
        let got = work.0.join(format!("{}.bin", label.replace(' ', "-")));
        let (ok, out) = s3cmd(&["get", "--force", &key, got.to_str().unwrap()]);
        assert!(ok, "{label} get: {out}");
        assert!(
            std::fs::read(&got).unwrap() == data,
            "{label}: the bytes differ"
        );
        let (ok, out) = s3cmd(&["del", &key]);
        assert!(ok, "{label} del: {out}");
    }
    let recs = records(&proxy);
    assert!(
        recs.iter()
            .any(|r| r["client"]["scheme"] == "sigv2" && r["resigned_as"] == "sigv2"),
        "no SigV2 request seen"
    );
    let failed: Vec<_> = recs
        .iter()
        .filter(|r| r["action"] == "rejected" || r["action"] == "failed")
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

fn node(t: &Tools, script: &str, args: &[&str]) -> Command {
    let mut c = Command::new("node");
    c.arg(root().join("tests/clients/node").join(script))
        .args(args)
        .env("NODE_PATH", &t.node_modules);
    c
}

/// SigV2 -> SigV4 conversion proven against s3rver 5.0.0, which refuses every SigV2 request.
#[test]
fn sigv2_client_reaches_a_sigv4_only_server_through_sign_as_sigv4() {
    let Some(t) = tools() else { return };
    let dir = tempdir::Dir::new("s3rver");
    let port = free_port();
    let mut child = node(
        &t,
        "s3rver.js",
        &[&port.to_string(), dir.0.to_str().unwrap(), "v4only"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("start s3rver (node)");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "listening", "s3rver did not start");
    let _s3rver = Proc(child);
    let up = format!("http://127.0.0.1:{port}");
    let run = |proxy: &Sigtap| {
        let out = Command::new(&t.python)
            .arg(root().join("tests/clients/boto3_proxy.py"))
            .args([
                "sigv2",
                &format!("http://{}", proxy.addr),
                "S3RVER",
                "S3RVER",
                "v4only",
            ])
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    // kept as SigV2, the server refuses it: it really is SigV4-only
    let keep = start_sigtap(&up, &["--access-key", "S3RVER", "--secret-key", "S3RVER"]);
    let (ok, _) = run(&keep);
    assert!(
        !ok,
        "s3rver accepted a SigV2 request; the test would prove nothing"
    );
    drop(keep);
    // converted to SigV4 by sigtap, the same client works
    let conv = start_sigtap(
        &up,
        &[
            "--sign-as",
            "sigv4",
            "--access-key",
            "S3RVER",
            "--secret-key",
            "S3RVER",
        ],
    );
    let (ok, out) = run(&conv);
    assert!(
        ok,
        "SigV2 -> SigV4 through sigtap to s3rver failed:\n{out}\n{:#?}",
        records(&conv)
    );
    let recs = records(&conv);
    assert!(
        recs.iter()
            .all(|r| r["client"]["scheme"] == "sigv2" && r["resigned_as"] == "sigv4"),
        "{recs:#?}"
    );
}

/// The AWS JS SDK v3 through sigtap to s3s-fs: its stream upload is aws-chunked with
/// STREAMING-UNSIGNED-PAYLOAD-TRAILER and a CRC32 trailer, which passes through unchanged.
#[test]
fn aws_js_sdk_through_sigtap() {
    let Some(t) = tools() else { return };
    let (_s3s, port, _dir) = start_s3s(&t);
    let proxy = start_keyed_proxy(&format!("http://127.0.0.1:{port}"), &[]);
    let created = raw_http(
        &proxy.addr,
        &signed_raw("PUT", "/js-bucket", &proxy.addr, b"", None),
    );
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    let (ok, out) = run_tool(&mut node(
        &t,
        "js_sdk.cjs",
        &[&format!("http://{}", proxy.addr), AK, SK, "js-bucket"],
    ));
    assert!(
        ok,
        "JS SDK through sigtap failed:\n{out}\n{:#?}",
        records(&proxy)
    );
    let recs = records(&proxy);
    assert!(
        recs.iter()
            .filter(|r| r["method"] == "PUT")
            .all(|r| r["action"] == "resigned"),
        "{recs:#?}"
    );
}

/// coscmd (an http_proxy client sending absolute-form targets) through sigtap's forward mode;
/// `--resolve` sends the COS domain to the local COS test upstream, which verifies with the SDK.
#[test]
fn coscmd_through_the_forward_proxy() {
    let Some(t) = tools() else { return };
    let (_up, port) = start_cos_upstream(&t, None);
    let bucket_host = "sigtaptest-1250000000.cos.ap-guangzhou.myqcloud.com";
    let resolve = format!("{bucket_host}=127.0.0.1:{port}");
    let proxy = start_sigtap_args(&[
        "proxy",
        "--forward",
        "--port",
        "0",
        "--log-format",
        "json",
        "--resolve",
        &resolve,
        "--access-key",
        SID,
        "--secret-key",
        SKEY,
    ]);
    let work = tempdir::Dir::new("coscmd");
    let run = |args: &[&str]| coscmd(&work.0, &proxy.addr, args);
    let (ok, out) = run(&[
        "config",
        "-a",
        SID,
        "-s",
        SKEY,
        "-b",
        "sigtaptest-1250000000",
        "-r",
        "ap-guangzhou",
        "--do-not-use-ssl",
    ]);
    assert!(ok, "coscmd config: {out}");
    let file = work.0.join("report 2025.bin");
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let (ok, out) = run(&["upload", file.to_str().unwrap(), "docs/report 2025.bin"]);
    assert!(ok, "coscmd upload: {out}\n{:#?}", records(&proxy));
    let back = work.0.join("back.bin");
    let (ok, out) = run(&[
        "download",
        "-f",
        "docs/report 2025.bin",
        back.to_str().unwrap(),
    ]);
    assert!(ok, "coscmd download: {out}\n{:#?}", records(&proxy));
    assert!(
        std::fs::read(&back).unwrap() == data,
        "coscmd: the bytes differ"
    );
    let recs = records(&proxy);
    let puts: Vec<_> = recs.iter().filter(|r| r["method"] == "PUT").collect();
    assert!(!puts.is_empty(), "{recs:#?}");
    for r in &recs {
        assert_eq!(r["client"]["scheme"], "cos", "{r}");
        assert_eq!(
            r["action"], "forwarded",
            "a valid request for the real host passes unchanged: {r}"
        );
    }
}

/// rclone (Debian's, installed by scripts/tools.sh) with SigV4 (UNSIGNED-PAYLOAD + Content-MD5) and
/// `v2_auth`, through sigtap to s3s-fs.
#[test]
fn rclone_v4_and_v2_through_sigtap() {
    let Some(t) = tools() else { return };
    let rclone = match Command::new("rclone").arg("version").output() {
        Ok(o) if o.status.success() => PathBuf::from("rclone"),
        _ => panic!("rclone is missing: apt-get install -y rclone (scripts/tools.sh does it)"),
    };
    let (_s3s, port, _dir) = start_s3s(&t);
    let proxy = start_keyed_proxy(&format!("http://127.0.0.1:{port}"), &[]);
    for b in ["/rclone-v4", "/rclone-v2"] {
        let created = raw_http(&proxy.addr, &signed_raw("PUT", b, &proxy.addr, b"", None));
        assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    }
    let work = tempdir::Dir::new("rclone");
    let src = work.0.join("src");
    std::fs::create_dir_all(src.join("sub dir")).unwrap();
    let data: Vec<u8> = (0..123_457u32).map(|i| (i % 239) as u8).collect();
    std::fs::write(src.join("sub dir/file+1.bin"), &data).unwrap();
    std::fs::write(src.join("empty.txt"), b"").unwrap();
    for (label, v2) in [("v4", "false"), ("v2", "true")] {
        let conf = work.0.join(format!("rclone-{label}.conf"));
        std::fs::write(
            &conf,
            format!(
                "[s]\ntype = s3\nprovider = Other\nendpoint = http://{}\nforce_path_style = true\naccess_key_id = {AK}\nsecret_access_key = {SK}\nregion = us-east-1\nv2_auth = {v2}\n",
                proxy.addr
            ),
        )
        .unwrap();
        let rc = |args: &[&str]| {
            run_tool(
                Command::new(&rclone)
                    .arg("--config")
                    .arg(&conf)
                    .args(args)
                    .env_remove("AWS_CA_BUNDLE"),
            )
        };
        // to the bucket root: s3s-fs answers a HEAD of a "directory" key with 500, which makes
        // rclone retry for a minute and a half (also without sigtap in between)
        let dest = format!("s:rclone-{label}");
        let (ok, out) = rc(&["copy", src.to_str().unwrap(), &dest]);
        assert!(
            ok,
            "rclone {label} copy up: {out}\n{:#?}",
            records(&proxy).last()
        );
        let back = work.0.join(format!("back-{label}"));
        let (ok, out) = rc(&["copy", &dest, back.to_str().unwrap()]);
        assert!(ok, "rclone {label} copy down: {out}");
        assert!(
            std::fs::read(back.join("sub dir/file+1.bin")).unwrap() == data,
            "rclone {label}: bytes differ"
        );
        assert!(
            back.join("empty.txt").is_file(),
            "rclone {label}: the empty file did not come back"
        );
    }
    let recs = records(&proxy);
    assert!(
        recs.iter().any(|r| r["client"]["scheme"] == "sigv2"),
        "no SigV2 request seen"
    );
    let bad: Vec<_> = recs
        .iter()
        .filter(|r| r["action"] == "rejected" || r["action"] == "failed")
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
}

/// Bodies of random sizes from 0 B to 64 MiB through sigtap arrive byte-identical (the server's
/// ETag is the MD5 of what it stored; the read-back is compared by SHA-256).
#[test]
fn soak_random_sizes_up_to_64_mib_arrive_unchanged() {
    let Some(t) = tools() else { return };
    let (_s3s, port, _dir) = start_s3s(&t);
    let proxy = start_keyed_proxy(&format!("http://127.0.0.1:{port}"), &[]);
    let (ok, out) = boto3(&t, "soak", &format!("http://{}", proxy.addr), "soak-bucket");
    assert!(ok, "soak failed:\n{out}");
    let recs = records(&proxy);
    let big = recs
        .iter()
        .find(|r| r["method"] == "PUT" && r["bytes_in"].as_u64() == Some(64 << 20));
    assert!(
        big.is_some(),
        "the 64 MiB upload is not in the log with its size"
    );
}

/// In `never` mode an expired presigned URL is forwarded untouched and explained in the log.
#[test]
fn never_mode_explains_an_expired_presigned_url() {
    let Some(t) = tools() else { return };
    let (_s3s, port, _dir) = start_s3s(&t);
    let proxy = start_sigtap(
        &format!("http://127.0.0.1:{port}"),
        &["--resign", "never", "--access-key", AK, "--secret-key", SK],
    );
    let (ok, out) = boto3(
        &t,
        "expired-presign",
        &format!("http://{}", proxy.addr),
        "late-bucket",
    );
    assert!(
        !ok,
        "an expired presigned URL got through a server that checks expiry: {out}"
    );
    let t0 = Instant::now();
    let last = loop {
        if let Some(r) = records(&proxy)
            .into_iter()
            .rev()
            .find(|r| r["method"] == "GET")
        {
            break r;
        }
        assert!(t0.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(last["action"], "forwarded");
    let f = &last["client"]["findings"][0];
    assert_eq!(f["code"], "expired", "{last}");
    assert_eq!(f["cause"], "used-too-late", "{last}");
    assert_eq!(last["upstream"]["status"], 403, "{last}");
}

/// An upstream that accepts the connection but never answers: 504 after --upstream-timeout,
/// in the service's format; and --log-file receives the records while stdout keeps the address.
#[test]
fn silent_upstream_is_a_504_and_log_file_gets_the_records() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in silent.incoming().flatten() {
            held.push(c); // keep it open, say nothing
        }
    });
    let dir = tempdir::Dir::new("logfile");
    let log = dir.0.join("sigtap.log");
    let proxy = start_sigtap(
        &format!("http://127.0.0.1:{port}"),
        &[
            "--upstream-timeout",
            "1",
            "--log-file",
            log.to_str().unwrap(),
        ],
    );
    let t0 = Instant::now();
    let resp = raw_http(
        &proxy.addr,
        "GET /b/k HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 504"), "{resp}");
    assert!(
        resp.contains("<Code>GatewayTimeout</Code>") && resp.contains("did not answer within 1s"),
        "{resp}"
    );
    assert!(t0.elapsed() < Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(100)); // the log is flushed within 50 ms
    let text = std::fs::read_to_string(&log).unwrap();
    let rec: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(rec["status"], 504, "{rec}");
    assert!(
        records(&proxy).is_empty(),
        "records went to stdout although --log-file was given"
    );
}

/// `sigtap mock`: a strict in-memory service that real boto3 uses directly (signatures checked),
/// answers a wrong secret with S3's document, and with --clock-offset 20m refuses a correct client
/// with RequestTimeTooSkewed. And `sigtap proxy` without --upstream fronts the embedded mock.
#[test]
fn strict_mock_and_the_embedded_default() {
    let Some(t) = tools() else { return };
    let spawn_plain = |args: &[&str]| start_plain(args, None);
    let (_mock, addr) = start_mock(&[]);
    let endpoint = format!("http://{addr}");
    let (ok, out) = boto3(&t, "roundtrip", &endpoint, "mock-bucket");
    assert!(ok, "boto3 against sigtap mock:\n{out}");
    let (ok, out) = boto3(&t, "wrongsecret", &endpoint, "mock-bucket");
    assert!(ok, "{out}");
    let (_skewed, addr2) = start_mock(&["--clock-offset", "20m"]);
    let (ok, out) = boto3(&t, "skewed-server", &format!("http://{addr2}"), "any");
    assert!(ok, "{out}");
    // cos-python-sdk-v5 straight at the mock: COS signatures checked, COS XML errors parsed by the SDK
    let (_cos_mock, caddr) = spawn_plain(&[
        "mock",
        "--port",
        "0",
        "--access-key",
        SID,
        "--secret-key",
        SKEY,
    ]);
    let cport = caddr.rsplit(':').next().unwrap().to_string();
    for scenario in ["roundtrip", "wrongsecret"] {
        let out = Command::new(&t.python)
            .arg(root().join("tests/clients/cos_client.py"))
            .args([scenario, &cport, SID, SKEY])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cos-python-sdk-v5 {scenario} against the mock: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // the embedded default: proxy with no upstream, demo key
    let proxy = start_sigtap_args(&["proxy", "--port", "0", "--log-format", "json"]);
    let out = Command::new(&t.python)
        .arg(root().join("tests/clients/boto3_proxy.py"))
        .args([
            "roundtrip",
            &format!("http://{}", proxy.addr),
            "AKIDSIGTAPDEMO000001",
            "sigtapDemoSecretKey/NotARealSecret0000001",
            "demo-bucket",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "embedded default: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the mock answers for any host, so valid requests pass unchanged
    let recs = records(&proxy);
    assert!(
        recs.iter()
            .all(|r| r["action"] == "forwarded" && r["client"]["verdict"] == "valid"),
        "{recs:#?}"
    );
    // coscmd, which reaches COS as an http_proxy with virtual-hosted absolute-form targets, works
    // against the embedded default too (its bucket comes from the Host it keeps)
    let work = tempdir::Dir::new("coscmd-embedded");
    let run = |args: &[&str]| coscmd(&work.0, &proxy.addr, args);
    let (ok, out) = run(&[
        "config",
        "-a",
        "AKIDSIGTAPDEMO000001",
        "-s",
        "sigtapDemoSecretKey/NotARealSecret0000001",
        "-b",
        "demo-1250000000",
        "-r",
        "ap-guangzhou",
        "--do-not-use-ssl",
    ]);
    assert!(ok, "coscmd config: {out}");
    let file = work.0.join("notes.txt");
    std::fs::write(&file, b"coscmd against the embedded default").unwrap();
    for args in [
        vec!["createbucket"],
        vec!["upload", file.to_str().unwrap(), "notes.txt"],
        vec![
            "download",
            "-f",
            "notes.txt",
            work.0.join("back.txt").to_str().unwrap(),
        ],
    ] {
        let (ok, out) = run(&args);
        assert!(ok, "coscmd {args:?}: {out}\n{:#?}", records(&proxy));
    }
    assert_eq!(
        std::fs::read(work.0.join("back.txt")).unwrap(),
        b"coscmd against the embedded default"
    );
}

/// `--record FILE`: a version line then exactly one JSON line per exchange, flushed as each
/// completes (a kill -9 loses nothing already answered), with no secret, token or signature.
#[test]
fn recording_is_one_redacted_line_per_exchange_and_survives_kill_9() {
    let Some(t) = tools() else { return };
    let (_s3s, port, _dir) = start_s3s(&t);
    let dir = tempdir::Dir::new("record");
    let file = dir.0.join("session.jsonl");
    let mut proxy = start_keyed_proxy(
        &format!("http://127.0.0.1:{port}"),
        &[
            "--record",
            file.to_str().unwrap(),
            "--redact-header",
            "User-Agent",
        ],
    );
    let (ok, out) = boto3(
        &t,
        "roundtrip",
        &format!("http://{}", proxy.addr),
        "rec-bucket",
    );
    assert!(ok, "{out}");
    let t0 = Instant::now();
    while records(&proxy).len() < 20 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let logged = records(&proxy).len();
    std::thread::sleep(Duration::from_millis(200));
    // kill -9: nothing at shutdown is needed for the file to be complete
    let _ = Command::new("kill")
        .args(["-9", &proxy.proc.0.id().to_string()])
        .status();
    let _ = proxy.proc.0.wait();
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], r#"{"sigtap_recording":1}"#);
    assert_eq!(lines.len() - 1, logged, "one line per answered exchange");
    for l in &lines[1..] {
        let v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
        assert!(
            v["request"]["method"].is_string() && v["response"]["status"].is_u64(),
            "{l}"
        );
        assert!(v["request"]["body"]["sha256"].is_string(), "{l}");
    }
    assert!(!text.contains(SK), "the secret reached the recording");
    assert!(
        !text.contains("Boto3/"),
        "--redact-header User-Agent was not applied"
    );
    let longest_hex = text
        .as_bytes()
        .split(|b| !b.is_ascii_hexdigit())
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    assert!(longest_hex >= 64, "bodies are recorded by sha256");
    assert!(
        text.contains("Signature=<redacted>"),
        "signature markers expected"
    );
    for l in &lines[1..] {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let auth = v["request"]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0] == "authorization");
        if let Some(h) = auth {
            assert!(
                h[1].as_str().unwrap().ends_with("Signature=<redacted>"),
                "{h}"
            );
        }
        assert!(
            !v["request"]["target"]
                .as_str()
                .unwrap()
                .contains("X-Amz-Signature=")
                || v["request"]["target"]
                    .as_str()
                    .unwrap()
                    .contains("X-Amz-Signature=<redacted>")
        );
    }
}
