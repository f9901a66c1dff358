//! The web view's HTTP server: the embedded page and its assets, the data endpoints (the
//! list, one request's detail, exports, the running recording) and the live stream
//! (server-sent events). It runs on its own thread and event loop, so that the proxy's workers
//! never wait on a browser.
//!
//! Every request must name the server's own address in `Host` (a page on another name that
//! resolves to this address, DNS rebinding, is refused), and the data endpoints refuse requests
//! from other origins (`Origin`, `Sec-Fetch-Site`). A slow live stream holds at most two
//! batches; one that does not take them within 10 s is closed, and one that falls behind the
//! store learns how many requests it missed.

use super::{Entry, Ui};
use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const FAVICON: &str = include_str!("assets/favicon.svg");

/// Connections served at once (a browser opens a handful).
const MAX_CONNECTIONS: usize = 64;
/// Entries per live-stream batch.
const BATCH: usize = 200;
/// A live stream that does not take a batch within this long is closed.
const SLOW_CLIENT: Duration = Duration::from_secs(10);
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The running server; stopped when dropped.
pub struct UiServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UiServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for UiServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `ui` on `listener` from a thread of its own until the returned handle is dropped.
pub fn start(listener: std::net::TcpListener, ui: Ui) -> std::io::Result<UiServer> {
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (stop, stop_rx) = watch::channel(false);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let thread = std::thread::Builder::new()
        .name("sigtap-ui".into())
        .spawn(move || {
            rt.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => serve(l, ui, addr, stop_rx).await,
                    Err(e) => eprintln!("sigtap: the web view cannot listen: {e}"),
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        })?;
    Ok(UiServer {
        addr,
        stop,
        thread: Some(thread),
    })
}

struct Ctx {
    ui: Ui,
    addr: SocketAddr,
    stop: watch::Receiver<bool>,
}

async fn serve(
    listener: tokio::net::TcpListener,
    ui: Ui,
    addr: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let ctx = Arc::new(Ctx {
        ui,
        addr,
        stop: stop.clone(),
    });
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else { continue };
                let _ = stream.set_nodelay(true);
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let ctx = ctx.clone();
                        async move { Ok::<_, Infallible>(handle(&ctx, req)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(30))
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                    drop(slot);
                });
            }
        }
    }
}

/// Whether `host` (a request's `Host`) names the server bound to `bound`: its port, and a
/// loopback address, `localhost`, or the address it is bound to. Bound to every address
/// (`0.0.0.0`, `[::]`), any IP literal is accepted; a DNS name never is, but `localhost`.
pub fn own_host(host: &str, bound: SocketAddr) -> bool {
    let Ok(a) = crate::net::client::Authority::parse(host) else {
        return false;
    };
    if a.port != Some(bound.port()) {
        return false;
    }
    let literal = a.host.trim_start_matches('[').trim_end_matches(']');
    match literal.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip == bound.ip() || bound.ip().is_unspecified(),
        Err(_) => a.host == "localhost" || a.host.ends_with(".localhost"),
    }
}

/// Whether a request to a data endpoint comes from another origin than the view's own page.
fn cross_origin(req: &Request<Incoming>, host: &str) -> bool {
    let h = req.headers();
    if let Some(o) = h.get(header::ORIGIN) {
        if o.as_bytes() != format!("http://{host}").as_bytes() {
            return true;
        }
    }
    match h.get("sec-fetch-site").map(HeaderValue::as_bytes) {
        None | Some(b"same-origin") | Some(b"none") => false,
        Some(_) => true,
    }
}

/// A response body: bytes known up front, or a stream fed by a task (live events, a file).
pub struct Body {
    once: Option<Bytes>,
    rx: Option<mpsc::Receiver<Bytes>>,
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(b) = self.once.take() {
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        match &mut self.rx {
            Some(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match (&self.rx, &self.once) {
            (None, Some(b)) => hyper::body::SizeHint::with_exact(b.len() as u64),
            (None, None) => hyper::body::SizeHint::with_exact(0),
            _ => hyper::body::SizeHint::default(),
        }
    }
}

fn answer(status: StatusCode, mime: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Body {
        once: Some(body.into()),
        rx: None,
    });
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    r
}

fn text(status: StatusCode, msg: &str) -> Response<Body> {
    answer(status, "text/plain; charset=utf-8", format!("{msg}\n"))
}

fn json(body: String) -> Response<Body> {
    answer(StatusCode::OK, "application/json", body)
}

fn streamed(mime: &'static str, rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let mut r = Response::new(Body {
        once: None,
        rx: Some(rx),
    });
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    r
}

fn attachment(mut r: Response<Body>, name: &'static str) -> Response<Body> {
    r.headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static(name));
    r
}

fn handle(ctx: &Ctx, req: Request<Incoming>) -> Response<Body> {
    let mut r = route(ctx, &req);
    let h = r.headers_mut();
    for (k, v) in [
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-resource-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("content-security-policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    r
}

fn route(ctx: &Ctx, req: &Request<Incoming>) -> Response<Body> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !own_host(host, ctx.addr) {
        return text(
            StatusCode::FORBIDDEN,
            &format!(
                "sigtap web view: Host {host:?} is not this server's address ({}); open the URL sigtap printed",
                ctx.addr
            ),
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "sigtap web view: GET only");
    }
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    match path {
        "/" | "/index.html" => return answer(StatusCode::OK, "text/html; charset=utf-8", INDEX),
        "/app.js" => return answer(StatusCode::OK, "text/javascript; charset=utf-8", APP_JS),
        "/app.css" => return answer(StatusCode::OK, "text/css; charset=utf-8", APP_CSS),
        "/favicon.svg" | "/favicon.ico" => return answer(StatusCode::OK, "image/svg+xml", FAVICON),
        _ => {}
    }
    let Some(api) = path.strip_prefix("/api/") else {
        return text(StatusCode::NOT_FOUND, "sigtap web view: no such page");
    };
    if cross_origin(req, host) {
        return text(
            StatusCode::FORBIDDEN,
            "sigtap web view: its data is for its own page only (cross-origin request refused)",
        );
    }
    let ui = &ctx.ui;
    match api {
        "meta" => {
            let (keep, seen) = ui.counts();
            let recording = ui.recording().map(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            json(
                serde_json::json!({"keep": keep, "seen": seen, "recording": recording,
                                    "version": env!("CARGO_PKG_VERSION")})
                .to_string(),
            )
        }
        "requests" => {
            let (all, _) = ui.after(0, usize::MAX);
            let mut out = String::from("[");
            for (i, e) in all.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&item(e));
            }
            out.push(']');
            json(out)
        }
        "events" => events(ctx, req),
        "export.jsonl" => {
            let ids = Ids::parse(param(query, "ids"));
            let (all, _) = ui.after(0, usize::MAX);
            let mut out = String::new();
            for e in all.iter().filter(|e| ids.has(e.shown.id)) {
                out.push_str(&e.shown.log);
                out.push('\n');
            }
            attachment(
                answer(StatusCode::OK, "application/x-ndjson", out),
                "attachment; filename=\"sigtap-requests.jsonl\"",
            )
        }
        "export.har" => {
            let ids = Ids::parse(param(query, "ids"));
            let (all, _) = ui.after(0, usize::MAX);
            let rec = crate::record::read::Recording {
                exchanges: all
                    .iter()
                    .filter(|e| ids.has(e.shown.id))
                    .map(|e| e.shown.exchange.clone())
                    .collect(),
                base: std::path::PathBuf::new(),
            };
            match crate::record::har::export(&rec) {
                Ok(v) => attachment(
                    answer(StatusCode::OK, "application/json", v.to_string()),
                    "attachment; filename=\"sigtap-requests.har\"",
                ),
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &e),
            }
        }
        "recording" => match ui.recording() {
            Some(p) => attachment(
                file(p.to_path_buf()),
                "attachment; filename=\"sigtap-recording.jsonl\"",
            ),
            None => text(
                StatusCode::NOT_FOUND,
                "sigtap web view: no --record running",
            ),
        },
        _ => match api
            .strip_prefix("requests/")
            .and_then(|n| n.parse::<u64>().ok())
        {
            Some(id) => match ui.get(id, param(query, "seq").and_then(|s| s.parse().ok())) {
                Some(e) => json(e.shown.detail.clone()),
                None => text(
                    StatusCode::NOT_FOUND,
                    "sigtap web view: that request is no longer kept (--ui-keep)",
                ),
            },
            None => text(StatusCode::NOT_FOUND, "sigtap web view: no such data"),
        },
    }
}

/// A list entry: the log's JSON record, with its place in the view (`seq`: ids repeat when
/// several proxies feed one view, as in `sigtap demo --ui`) and the client's clock offset when
/// one was measured.
fn item(e: &Entry) -> String {
    let rest = e.shown.log.strip_prefix('{').unwrap_or("}");
    let sep = if rest == "}" { "" } else { "," };
    match e.shown.client_offset_s {
        Some(o) => format!("{{\"client_offset_s\":{o},\"seq\":{}{sep}{rest}", e.seq),
        None => format!("{{\"seq\":{}{sep}{rest}", e.seq),
    }
}

/// The value of query parameter `name` (not decoded: the ids use no escapes).
fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Request ids to export: `1-5,7,9` (`%2C` for a comma too); none given means all.
struct Ids(Option<Vec<(u64, u64)>>);

impl Ids {
    fn parse(v: Option<&str>) -> Ids {
        let Some(v) = v else { return Ids(None) };
        let v = v.replace("%2C", ",").replace("%2c", ",");
        let mut ranges: Vec<(u64, u64)> = v
            .split(',')
            .take(200_000)
            .filter_map(|p| match p.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => p.parse().ok().map(|n| (n, n)),
            })
            .collect();
        ranges.sort_unstable();
        Ids(Some(ranges))
    }

    fn has(&self, id: u64) -> bool {
        match &self.0 {
            None => true,
            Some(r) => {
                let i = r.partition_point(|(a, _)| *a <= id);
                r[..i]
                    .iter()
                    .rev()
                    .take(64)
                    .any(|(a, b)| *a <= id && id <= *b)
            }
        }
    }
}

/// The live stream: every kept request after the one the client saw last (`Last-Event-ID`),
/// then each new one as it is logged.
fn events(ctx: &Ctx, req: &Request<Incoming>) -> Response<Body> {
    let last = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let (tx, rx) = mpsc::channel::<Bytes>(2);
    tokio::spawn(stream(ctx.ui.clone(), last, tx, ctx.stop.clone()));
    streamed("text/event-stream", rx)
}

async fn stream(ui: Ui, mut last: u64, tx: mpsc::Sender<Bytes>, mut stop: watch::Receiver<bool>) {
    // subscribe before reading the store, so that no request logged in between is missed
    let mut newest = ui.subscribe();
    let send = |b: String| {
        let tx = tx.clone();
        async move {
            matches!(
                tokio::time::timeout(SLOW_CLIENT, tx.send(Bytes::from(b))).await,
                Ok(Ok(()))
            )
        }
    };
    if !send(": sigtap web view\nretry: 2000\n\n".into()).await {
        return;
    }
    loop {
        let (batch, skipped) = ui.after(last, BATCH);
        let mut out = String::new();
        if skipped > 0 && last > 0 {
            out.push_str(&format!("event: skipped\ndata: {skipped}\n\n"));
        }
        for e in &batch {
            last = e.seq;
            out.push_str(&format!(
                "id: {}\nevent: request\ndata: {}\n\n",
                e.seq,
                item(e)
            ));
        }
        if !out.is_empty() {
            if !send(out).await {
                return;
            }
            if batch.len() == BATCH {
                continue;
            }
        }
        tokio::select! {
            changed = newest.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(KEEPALIVE) => if !send(": keep-alive\n\n".into()).await { return },
            _ = tx.closed() => return,
            _ = stop.changed() => return,
        }
    }
}

/// A file streamed in 64 KiB pieces (the running recording).
fn file(path: std::path::PathBuf) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(2);
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let Ok(mut f) = tokio::fs::File::open(&path).await else {
            return;
        };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match f.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    streamed("application/x-ndjson", rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_its_own_address_is_its_host() {
        let b: SocketAddr = "127.0.0.1:8123".parse().unwrap();
        for h in [
            "127.0.0.1:8123",
            "localhost:8123",
            "[::1]:8123",
            "127.0.0.9:8123",
        ] {
            assert!(own_host(h, b), "{h}");
        }
        for h in [
            "evil.example:8123",
            "127.0.0.1:8124",
            "127.0.0.1",
            "",
            "localhost",
            "10.0.0.1:8123",
            "a b",
        ] {
            assert!(!own_host(h, b), "{h}");
        }
        let any: SocketAddr = "0.0.0.0:8123".parse().unwrap();
        assert!(own_host("10.0.0.1:8123", any));
        assert!(!own_host("rebind.example:8123", any));
        assert!(own_host("localhost:8123", any));
    }

    #[test]
    fn export_ids_are_ranges() {
        let ids = Ids::parse(Some("1-3,7,10-12%2C20"));
        for (id, want) in [
            (1, true),
            (3, true),
            (4, false),
            (7, true),
            (11, true),
            (13, false),
            (20, true),
        ] {
            assert_eq!(ids.has(id), want, "{id}");
        }
        assert!(Ids::parse(None).has(99));
        assert!(!Ids::parse(Some("x,-,1-")).has(1));
    }
}
