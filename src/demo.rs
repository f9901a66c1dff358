//! `sigtap demo`: a short scripted tour through the proxy and the embedded mock, on ephemeral
//! ports, with no credentials and no network; it prints the live diagnoses.

use crate::clock::Clock;
use crate::credentials::KeyStore;
use crate::proxy::{decide, log, Mode, ProxyConfig};
use crate::sig::v4::{self, Rules, SigningKeyCache};
use crate::sig::{cos, v2};
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

/// Runs the tour, its simulated clients signing with `clock`; exit status 0 when every step
/// behaved as shown. With `ui` (`--ui`), the web view of the tour's requests is served there
/// and stays up after the tour until SIGINT/SIGTERM; an address that does not parse is the
/// error.
pub fn run(clock: &dyn Clock, ui: Option<&str>) -> Result<i32, String> {
    let ui_addr = match ui {
        Some(spec) => Some(crate::ui::parse_addr(spec).map_err(|e| format!("--ui {e}"))?),
        None => None,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sigtap demo: cannot start the runtime: {e}");
            return Ok(1);
        }
    };
    let view = match ui_addr {
        Some(addr) => {
            let started = std::net::TcpListener::bind(addr).and_then(|l| {
                let store = crate::ui::Ui::new(crate::ui::DEFAULT_KEEP, None);
                crate::ui::start(l, store.clone()).map(|server| (store, server))
            });
            match started {
                Ok(v) => {
                    println!("ui: {}", v.1.url());
                    Some(v)
                }
                Err(e) => {
                    eprintln!("sigtap demo: the web view cannot listen on {addr}: {e}");
                    return Ok(1);
                }
            }
        }
        None => None,
    };
    let observer = view.as_ref().map(|(store, _)| store.observer());
    let code = rt.block_on(tour(clock, observer));
    if let Some((_, server)) = &view {
        println!(
            "sigtap demo: the web view stays at {} until Ctrl-C",
            server.url()
        );
        let _ = std::io::stdout().flush();
        rt.block_on(crate::proxy::shutdown_signal());
    }
    Ok(code)
}

async fn tour(clock: &dyn Clock, observer: Option<log::Observer>) -> i32 {
    let key = crate::credentials::demo_key();
    let (ak, sk) = (key.access_key.clone(), key.secret.expose().to_string());
    let (addr, stop, server) =
        match start_proxy(&key, decide::SignAs::Sigv4, observer.clone()).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("sigtap demo: {e}");
                return 1;
            }
        };
    println!("sigtap demo: a proxy on {addr} in front of the embedded strict mock; every request below is signed by a simulated client, then diagnosed and passed on: as it is when valid, re-signed as SigV4 (--sign-as sigv4) when its time or scheme needs it, or refused.\n");
    let now = clock.now();
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
    let mut failures = run_steps(&addr, steps).await;
    let _ = stop.send(());
    let _ = server.await;
    failures += cos_tour(&key, clock, observer).await;
    if failures == 0 {
        0
    } else {
        eprintln!("sigtap demo: {failures} step(s) did not behave as shown");
        1
    }
}

/// A proxy in front of its own embedded strict mock, on an ephemeral port: its address, the
/// switch that stops it and the task serving it.
type Running = (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<i32>,
);

async fn start_proxy(
    key: &crate::credentials::Credential,
    sign_as: decide::SignAs,
    observer: Option<log::Observer>,
) -> Result<Running, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot listen: {e}"))?;
    // the proxy judges by the machine's clock (the shell's, as `sigtap proxy` does)
    let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(crate::clock::SystemClock);
    let cfg = ProxyConfig {
        key_source: None,
        identity_source: None,
        listen: bound,
        mode: Mode::EmbeddedMock,
        resign: decide::ResignMode::Auto,
        sign_as,
        region: None,
        keys: KeyStore::single(key.clone()),
        identity: Some(key.clone()),
        upstream_timeout: Duration::from_secs(10),
        upstream_ca: None,
        upstream_idle: Duration::from_secs(30),
        header_timeout: Duration::from_secs(10),
        resolve: Vec::new(),
        sink: {
            let sink = log::Sink::new(
                Box::new(std::io::stdout()),
                false,
                std::io::stdout().is_terminal(),
                clock.clone(),
            );
            match observer {
                Some(o) => sink.observe(o),
                None => sink,
            }
        },
        json_log: false,
        embedded: false,
        recorder: None,
        tls: Default::default(),
        threads: 1,
        lean: true,
        clock,
        vouch: Default::default(),
        ui: None,
        admin: None,
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
    Ok((bound.to_string(), stop, server))
}

/// Sends each step to `addr` in turn, printing its title and what the client got; the number
/// of steps that did not get the status shown.
async fn run_steps(addr: &str, steps: Vec<(&str, Request, u16)>) -> usize {
    let mut failures = 0;
    for (title, req, want) in steps {
        println!("== {title}");
        let a = addr.to_string();
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
    failures
}

/// The COS part: a proxy that keeps each client's scheme (no --sign-as), in front of its own
/// mock, with requests signed as cos-python-sdk-v5 signs them (`q-sign-algorithm=sha1`, the
/// bucket in the host name, a window from a minute before the SDK's clock).
async fn cos_tour(
    key: &crate::credentials::Credential,
    clock: &dyn Clock,
    observer: Option<log::Observer>,
) -> usize {
    let (addr, stop, server) = match start_proxy(key, decide::SignAs::Keep, observer).await {
        Ok(r) => r,
        Err(e) => {
            println!("   the COS proxy did not start: {e}\n");
            return 1;
        }
    };
    println!("sigtap demo: Tencent COS, through a second proxy on {addr} that keeps each client's scheme\n");
    let host = "demo-1250000000.cos.ap-guangzhou.myqcloud.com";
    let now = clock.now();
    let cos_sign = |method: &str, path: &str, body: &[u8], client_now: i64| {
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: cos-python-sdk-v5.1.9.30\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut req = Request::parse(raw.as_bytes()).expect("demo requests parse");
        req.body = body.to_vec();
        let s = cos::sign(
            &req,
            &cos::CosSignParams {
                access_key: &key.access_key,
                secret: key.secret.expose(),
                session_token: None,
                start: client_now - 60,
                end: client_now + 600,
                header_list: None,
                presign: false,
            },
        );
        s.plan.apply(&req)
    };
    let steps = vec![
        ("COS: a bucket created by an SDK with a good clock: verified, passed on unchanged", cos_sign("PUT", "/", b"", now), 200),
        ("COS: an object upload, its q-sign-time valid for ten minutes", cos_sign("PUT", "/notes.txt", b"hello from COS", now), 200),
        ("COS: the SDK's clock is 20 minutes behind, so its q-sign-time window closed before the request was sent: expired, the client clock named as the cause, re-signed with the proxy's clock", cos_sign("GET", "/notes.txt", b"", now - 1200), 200),
    ];
    let failures = run_steps(&addr, steps).await;
    let _ = stop.send(());
    let _ = server.await;
    failures
}
