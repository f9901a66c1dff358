//! `sigtap demo`: a short scripted tour through the proxy and the embedded mock, on ephemeral
//! ports, with no credentials and no network; it prints the live diagnoses.

use crate::clock::{Clock, SystemClock};
use crate::credentials::KeyStore;
use crate::proxy::{decide, log, Mode, ProxyConfig};
use crate::sig::v2;
use crate::sig::v4::{self, Rules, SigningKeyCache};
use crate::wire::Request;
use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

fn send(addr: &str, req: &Request) -> Result<u16, String> {
    let mut req = req.clone();
    req.set_header("Connection", "close");
    let mut s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    s.write_all(&req.to_bytes()).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let head = String::from_utf8_lossy(&out);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "no HTTP answer".to_string())
}

/// Runs the tour; exit status 0 when every step behaved as shown.
pub fn run() -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sigtap demo: cannot start the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(tour())
}

async fn tour() -> i32 {
    let key = crate::commands::demo_key();
    let (ak, sk) = (key.access_key.clone(), key.secret.expose().to_string());
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("sigtap demo: cannot listen: {e}");
            return 1;
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let cfg = ProxyConfig {
        listen: listener.local_addr().expect("bound"),
        mode: Mode::EmbeddedMock,
        resign: decide::ResignMode::Auto,
        sign_as: decide::SignAs::Sigv4,
        region: None,
        keys: KeyStore::single(key.clone()),
        identity: Some(key),
        upstream_timeout: Duration::from_secs(10),
        upstream_ca: None,
        upstream_idle: Duration::from_secs(30),
        header_timeout: Duration::from_secs(10),
        resolve: Vec::new(),
        sink: log::Sink::new(
            Box::new(std::io::stdout()),
            false,
            std::io::stdout().is_terminal(),
        ),
        json_log: false,
        embedded: false,
        recorder: None,
        threads: 1,
        lean: true,
        vouch: Default::default(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::proxy::serve_on(
        cfg,
        listener,
        async move {
            let _ = stopped.await;
        },
        false,
    ));
    println!("sigtap demo: a proxy on {addr} in front of the embedded strict mock; every request below is signed by a simulated client, then diagnosed and passed on: as it is when valid, re-signed as SigV4 (--sign-as sigv4) when its time or scheme needs it, or refused.\n");
    let now = SystemClock.now();
    let cache = SigningKeyCache::new();
    let v4sign = |method: &str,
                  path: &str,
                  extra: &[(&str, &str)],
                  body: &[u8],
                  at: i64,
                  presign: Option<i64>| {
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
        for (k, v) in extra {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        raw.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut req = Request::parse(raw.as_bytes()).expect("demo requests parse");
        req.body = body.to_vec();
        let s = v4::sign(
            &req,
            &v4::V4SignParams {
                access_key: &ak,
                secret: &sk,
                session_token: None,
                region: "us-east-1",
                service: "s3",
                now: at,
                rules: Rules::S3,
                signed_headers: None,
                presign_expires: presign,
                payload_hash: None,
            },
            &cache,
        );
        s.plan.apply(&req)
    };
    let mut steps: Vec<(&str, Request, u16)> = vec![
        ("A valid request: verified and passed on unchanged", v4sign("PUT", "/demo-bucket", &[], b"", now, None), 200),
        ("Another: an object upload", v4sign("PUT", "/demo-bucket/hello.txt", &[("Content-Type", "text/plain")], b"hello from sigtap demo", now, None), 200),
        ("A presigned URL made two hours ago, valid 15 minutes: expired, refreshed", v4sign("GET", "/demo-bucket/hello.txt", &[], b"", now - 7200, Some(900)), 200),
        ("A client whose clock is 20 minutes behind: clock skew, re-signed with the proxy's clock", v4sign("GET", "/demo-bucket/hello.txt", &[], b"", now - 1200, None), 200),
    ];
    let mut changed = v4sign(
        "PUT",
        "/demo-bucket/note.txt",
        &[("Content-Type", "text/plain")],
        b"note",
        now,
        None,
    );
    changed.set_header("Content-Type", "text/plain; charset=utf-8");
    steps.push(("A gateway added '; charset=utf-8' to the signed Content-Type: refused, with the cause and a diff", changed, 403));
    let legacy = Request::parse(
        format!("GET /demo-bucket/hello.txt HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )
    .expect("parses");
    let signed = v2::sign(
        &legacy,
        &v2::V2SignParams {
            access_key: &ak,
            secret: &sk,
            session_token: None,
            now,
            presign_expires: None,
        },
    );
    steps.push((
        "A legacy SigV2 client: converted to SigV4",
        signed.plan.apply(&legacy),
        200,
    ));
    let mut failures = 0;
    for (title, req, want) in steps {
        println!("== {title}");
        let a = addr.clone();
        let got = tokio::task::spawn_blocking(move || send(&a, &req))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        tokio::time::sleep(Duration::from_millis(30)).await; // let the log line land first
        match got {
            Ok(code) if code == want => println!("   client got HTTP {code}, as expected\n"),
            Ok(code) => {
                failures += 1;
                println!("   client got HTTP {code}, expected {want}\n");
            }
            Err(e) => {
                failures += 1;
                println!("   request failed: {e}\n");
            }
        }
    }
    let _ = stop.send(());
    let _ = server.await;
    if failures == 0 {
        0
    } else {
        eprintln!("sigtap demo: {failures} step(s) did not behave as shown");
        1
    }
}
