//! The admin endpoints' HTTP server: `GET /metrics` and `GET /healthz` on a thread and event
//! loop of its own (a scrape never waits on the proxy's workers, nor they on it). Every request
//! must name the server's own address in `Host`, as the web view's must (the same check).

use super::Admin;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Connections served at once (a scraper and a health checker or two).
const MAX_CONNECTIONS: usize = 32;

/// The running server; stopped when dropped.
pub struct AdminServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AdminServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `admin` on `listener` from a thread of its own until the returned handle is dropped.
pub fn start(listener: std::net::TcpListener, admin: Arc<Admin>) -> std::io::Result<AdminServer> {
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (stop, mut stop_rx) = watch::channel(false);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let thread = std::thread::Builder::new()
        .name("sigtap-admin".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("sigtap: the admin endpoints cannot listen: {e}");
                        return;
                    }
                };
                let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
                loop {
                    tokio::select! {
                        _ = stop_rx.changed() => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                continue;
                            };
                            let Ok(slot) = slots.clone().try_acquire_owned() else { continue };
                            let admin = admin.clone();
                            tokio::spawn(async move {
                                let svc = hyper::service::service_fn(move |req| {
                                    let r = route(&admin, addr, &req);
                                    async move { Ok::<_, Infallible>(r) }
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .timer(TokioTimer::new())
                                    .header_read_timeout(Duration::from_secs(10))
                                    .serve_connection(TokioIo::new(stream), svc)
                                    .await;
                                drop(slot);
                            });
                        }
                    }
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        })?;
    Ok(AdminServer {
        addr,
        stop,
        thread: Some(thread),
    })
}

fn answer(status: StatusCode, mime: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn text(status: StatusCode, msg: &str) -> Response<Full<Bytes>> {
    answer(status, "text/plain; charset=utf-8", format!("{msg}\n"))
}

fn route(admin: &Admin, addr: SocketAddr, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !crate::ui::own_host(host, addr) {
        return text(
            StatusCode::FORBIDDEN,
            &format!("sigtap admin: Host {host:?} is not this server's address ({addr})"),
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "sigtap admin: GET only");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/metrics" => answer(
            StatusCode::OK,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            admin.exposition(),
        ),
        "/healthz" => match admin.health() {
            Ok(()) => text(StatusCode::OK, "ok"),
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, &why),
        },
        "/" => text(
            StatusCode::OK,
            "sigtap admin: /metrics (Prometheus text format), /healthz",
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            "sigtap admin: no such page (/metrics, /healthz)",
        ),
    }
}
