//! The proxy: the only part of sigtap that does I/O. Each request goes through the same named
//! phases: inspect -> decide -> re-sign -> forward -> log.

pub use crate::net::body;
pub mod clients;
pub mod decide;
pub use crate::errordoc as errors;
pub mod guard;
mod lean;
pub mod log;
pub mod upstream;

use crate::clock::{Clock, SystemClock};
use crate::credentials::{Credential, KeyStore};
use crate::inspect::Inspector;
use crate::sig::Scheme;
use crate::timefmt::{http_date, parse_http_date, rfc3339};
use body::{full, BoxError, Checked, Meter, ProxyBody};
use bytes::Bytes;
use decide::{Decision, ResignMode, SignAs};
use errors::{Dialect, ErrorDoc};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request as HRequest, Response as HResponse};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use upstream::{Clocks, HttpsClient, Upstream};

/// Validated proxy settings.
/// Where requests go.
pub enum Mode {
    /// Every request to one base URL.
    Reverse(Upstream),
    /// Each request to the host its target or `Host` names, if a pattern allows it.
    Forward(Vec<upstream::HostPattern>),
    /// In front of an embedded strict mock (no upstream given): the main job on a machine that
    /// reaches no service.
    EmbeddedMock,
}

pub struct ProxyConfig {
    pub listen: SocketAddr,
    pub mode: Mode,
    pub resign: ResignMode,
    pub sign_as: SignAs,
    pub region: Option<String>,
    pub keys: KeyStore,
    pub identity: Option<Credential>,
    pub upstream_timeout: Duration,
    pub upstream_ca: Option<std::path::PathBuf>,
    /// Idle upstream connections are closed after this long (`--upstream-idle`).
    pub upstream_idle: Duration,
    pub header_timeout: Duration,
    /// `--resolve`: where to connect for an upstream host.
    pub resolve: Vec<upstream::Resolve>,
    pub sink: log::Sink,
    pub json_log: bool,
    /// Set when the upstream is the embedded mock (for the start banner).
    pub embedded: bool,
    /// `--record FILE`: every exchange appended as one JSON line.
    pub recorder: Option<Arc<crate::record::Recorder>>,
    /// Worker threads, each with its own event loop and upstream connection pool (`--threads`).
    pub threads: usize,
    /// Serve what it can on the lean path (`SIGTAP_LEAN=0` turns it off, to compare).
    pub lean: bool,
    /// `--serve-host` and `--allow-origin`: who may have requests signed with the identity.
    pub vouch: guard::Vouch,
}

struct State {
    cfg: ProxyConfig,
    inspector: Inspector,
    /// One upstream client (connection pool) per worker thread, so that a request never waits
    /// on another thread's connection.
    clients: Vec<HttpsClient>,
    clocks: Clocks,
    seq: AtomicU64,
    /// Client clock offsets measured on header-signed requests, by access key.
    client_clocks: clients::ClientClocks,
    /// Multipart upload ids seen completed or aborted (for the `no-such-upload` lint).
    finished_uploads: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// The `uploadId` query parameter, if any.
fn upload_id(req: &crate::wire::Request) -> Option<String> {
    let q = req.query.as_deref()?;
    crate::sig::encode::split_query(q)
        .iter()
        .find(|p| p.name == "uploadId")
        .map(|p| crate::sig::encode::decoded_text(p.value).into_owned())
}

thread_local! {
    /// Which worker thread this is (picks its upstream client).
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl State {
    /// The next request's number (log records count from 1).
    fn next_id(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn client(&self) -> &HttpsClient {
        &self.clients[WORKER.with(|w| w.get()) % self.clients.len()]
    }
}

/// Runs until SIGINT/SIGTERM; returns the process exit status.
///
/// Thread per core: `cfg.threads` threads each run a single-threaded event loop that serves
/// its connections start to finish, so a request never hops between threads (on a small
/// machine the wake-ups of a work-stealing pool cost more than the signing does). The main
/// thread accepts and hands connections to the workers in turn, waits for the signal and runs
/// the embedded mock.
pub fn run(cfg: ProxyConfig) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sigtap: cannot start the runtime: {e}");
            return 1;
        }
    };
    let std_listener = match std::net::TcpListener::bind(cfg.listen)
        .and_then(|l| l.set_nonblocking(true).map(|_| l))
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("sigtap: cannot listen on {}: {e}", cfg.listen);
            return 1;
        }
    };
    let threads = cfg.threads.max(1);
    let prepared = rt.block_on(async { prepare(cfg, &std_listener, true, threads).await });
    let (state, _mock) = match prepared {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    let mut hands = Vec::new();
    for n in 0..threads {
        let (st, stop) = (state.clone(), stop_rx.clone());
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<std::net::TcpStream>();
        hands.push(tx);
        let spawned = std::thread::Builder::new()
            .name(format!("sigtap-worker-{n}"))
            .spawn(move || {
                WORKER.with(|w| w.set(n));
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(accept_loop(st, Source::Handed(rx), stop));
                Ok::<(), std::io::Error>(())
            });
        match spawned {
            Ok(h) => workers.push(h),
            Err(e) => {
                eprintln!("sigtap: cannot start worker thread {n}: {e}");
                return 1;
            }
        }
    }
    // one acceptor hands connections to the workers in turn, so that each gets an equal share
    // (workers accepting for themselves can end up with most connections on one core)
    rt.block_on(async {
        let listener = match tokio::net::TcpListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("sigtap: cannot listen: {e}");
                return;
            }
        };
        let mut next = 0usize;
        let signal = shutdown_signal();
        tokio::pin!(signal);
        loop {
            tokio::select! {
                _ = &mut signal => break,
                accepted = listener.accept() => match accepted.and_then(|(s, _)| s.into_std()) {
                    Ok(s) => {
                        let _ = hands[next % hands.len()].send(s);
                        next = next.wrapping_add(1);
                    }
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
    });
    drop(hands);
    let _ = stop_tx.send(true);
    for w in workers {
        if let Ok(Err(e)) = w.join() {
            eprintln!("sigtap: a worker stopped early: {e}");
        }
    }
    state.cfg.sink.write_line(&state.cfg.sink.summary());
    state.cfg.sink.flush();
    0
}

/// Serves on `listener` in the current runtime until `shutdown` resolves (then drains and
/// prints the summary). `announce` prints the address line and the start banner.
pub async fn serve_on(
    cfg: ProxyConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
    announce: bool,
) -> i32 {
    let (state, _mock) = match prepare(cfg, &listener, announce, 1).await {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let serving = accept_loop(state.clone(), Source::Listener(listener), stop_rx);
    tokio::pin!(serving);
    tokio::select! {
        _ = shutdown => {
            let _ = stop_tx.send(true);
            serving.await;
        }
        _ = &mut serving => {}
    }
    state.cfg.sink.write_line(&state.cfg.sink.summary());
    state.cfg.sink.flush();
    0
}

/// Something with a local address (a std or tokio listener).
trait Bound {
    fn bound(&self) -> Option<SocketAddr>;
    fn addr(&self) -> String {
        self.bound().map(|a| a.to_string()).unwrap_or_default()
    }
}

impl Bound for std::net::TcpListener {
    fn bound(&self) -> Option<SocketAddr> {
        self.local_addr().ok()
    }
}

impl Bound for tokio::net::TcpListener {
    fn bound(&self) -> Option<SocketAddr> {
        self.local_addr().ok()
    }
}

/// Keeps the embedded mock running until dropped.
struct MockGuard(Option<tokio::sync::watch::Sender<bool>>);

impl Drop for MockGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(true);
        }
    }
}

/// Starts the embedded mock if needed, builds the clients, announces; the shared state.
async fn prepare(
    mut cfg: ProxyConfig,
    listener: &impl Bound,
    announce: bool,
    threads: usize,
) -> Result<(Arc<State>, MockGuard), i32> {
    let mock_guard = if matches!(cfg.mode, Mode::EmbeddedMock) {
        let ml = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("sigtap: cannot start the embedded mock: {e}");
                return Err(1);
            }
        };
        let maddr = ml.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let m = crate::mock::Mock::new(crate::mock::MockConfig::new(
            Inspector::new(cfg.keys.clone()),
            0,
        ));
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(crate::mock::serve(m, ml, rx));
        cfg.mode = Mode::Reverse(Upstream {
            scheme: "http".into(),
            authority: maddr,
            base_path: String::new(),
        });
        cfg.embedded = true;
        MockGuard(Some(tx))
    } else {
        MockGuard(None)
    };
    let addr = listener.addr();
    cfg.vouch.listen = listener.bound();
    let mut clients = Vec::with_capacity(threads);
    for _ in 0..threads {
        match upstream::client(cfg.upstream_ca.as_deref(), cfg.upstream_idle) {
            Ok(c) => clients.push(c),
            Err(e) => {
                eprintln!("sigtap: {e}");
                return Err(2);
            }
        }
    }
    if announce {
        use std::io::Write;
        let line = if cfg.json_log {
            serde_json::json!({ "listening": addr }).to_string()
        } else {
            addr.clone()
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    let target = match &cfg.mode {
        Mode::Reverse(u) => format!("{}://{}{}", u.scheme, u.authority, u.base_path),
        Mode::Forward(allow) => format!("forward proxy to {} allowed host pattern(s)", allow.len()),
        Mode::EmbeddedMock => "the embedded mock".to_string(),
    };
    if announce {
        eprintln!(
            "sigtap: proxying http://{addr} -> {target} (resign {:?}, {} key(s) known)",
            cfg.resign,
            cfg.keys.len()
        );
    }
    if cfg.embedded && announce {
        if let Some(k) = cfg.keys.all().first() {
            eprintln!("{}", embedded_banner(&addr, k));
        }
    }
    let state = Arc::new(State {
        inspector: Inspector::new(cfg.keys.clone()),
        cfg,
        clients,
        clocks: Clocks::default(),
        client_clocks: Default::default(),
        seq: AtomicU64::new(0),
        finished_uploads: std::sync::Mutex::new(std::collections::HashSet::new()),
    });
    Ok((state, mock_guard))
}

/// What to paste to try the embedded mock. The secret is printed only when it is sigtap's own
/// demo key: a key from the user's environment, files or flags stays theirs.
fn embedded_banner(addr: &str, k: &Credential) -> String {
    let demo = crate::credentials::is_demo_key(k);
    let port = addr.rsplit(':').next().unwrap_or("");
    let keys = if demo {
        format!(
            "  export AWS_ACCESS_KEY_ID={}\n  export AWS_SECRET_ACCESS_KEY={}\n",
            k.access_key,
            k.secret.expose()
        )
    } else {
        format!(
            "  (signing with your own key {}: its secret is yours and is not printed here; \
             set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY as you already do)\n  export AWS_ACCESS_KEY_ID={}\n",
            k.access_key, k.access_key
        )
    };
    format!(
        "sigtap: no --upstream given: requests go to an embedded strict mock (in memory).\n\
         Paste these to try it:\n{keys}  export AWS_DEFAULT_REGION=us-east-1\n  \
         aws --endpoint-url http://{addr} s3 mb s3://demo-bucket && aws --endpoint-url http://{addr} s3 ls\n  \
         python3 -c \"import boto3; s3=boto3.client('s3', endpoint_url='http://{addr}'); print(s3.list_buckets()['Buckets'])\"\n  \
         coscmd -c /tmp/sigtap-demo.cos.conf config -a $AWS_ACCESS_KEY_ID -s $AWS_SECRET_ACCESS_KEY -b demo-1250000000 -r ap-guangzhou --do-not-use-ssl\n  \
         http_proxy=http://{addr} coscmd -c /tmp/sigtap-demo.cos.conf createbucket && http_proxy=http://{addr} coscmd -c /tmp/sigtap-demo.cos.conf upload README.md README.md\n  \
         cos-python-sdk-v5: CosConfig(Region='ap-guangzhou', SecretId=..., SecretKey=..., Scheme='http', IP='127.0.0.1', Port={port})"
    )
}

/// Where a serving loop gets its connections: its own listener, or a dispatcher handing it
/// accepted sockets (thread per core).
enum Source {
    Listener(tokio::net::TcpListener),
    Handed(tokio::sync::mpsc::UnboundedReceiver<std::net::TcpStream>),
}

impl Source {
    /// The next connection; `None` when a dispatcher has stopped handing them out.
    async fn next(&mut self) -> Option<tokio::net::TcpStream> {
        loop {
            match self {
                Source::Listener(l) => match l.accept().await {
                    Ok((s, _)) => return Some(s),
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Source::Handed(rx) => {
                    let s = rx.recv().await?;
                    match tokio::net::TcpStream::from_std(s) {
                        Ok(s) => return Some(s),
                        Err(e) => tracing::warn!("cannot adopt a connection: {e}"),
                    }
                }
            }
        }
    }
}

/// Serves connections from `source` until `stop` fires (or the source ends), then lets them
/// finish (5 s at most).
async fn accept_loop(
    state: Arc<State>,
    mut source: Source,
    stop_rx: tokio::sync::watch::Receiver<bool>,
) {
    let lean_ok = lean::enabled(&state);
    let mut conns = tokio::task::JoinSet::new();
    let mut stopping = stop_rx.clone();
    loop {
        tokio::select! {
            _ = stopping.changed() => break,
            next = source.next() => {
                let Some(stream) = next else { break };
                let _ = stream.set_nodelay(true);
                let (st, stop) = (state.clone(), stop_rx.clone());
                if lean_ok {
                    conns.spawn(lean::serve(st, stream, stop));
                } else {
                    conns.spawn(serve_hyper(st, stream, stop));
                }
                while conns.try_join_next().is_some() {}
            }
        }
    }
    drop(source);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(6), drain)
        .await
        .is_err()
    {
        eprintln!("sigtap: some connections did not finish within 6 s");
    }
}

/// Serves one connection with hyper until it closes or the proxy stops.
async fn serve_hyper<I>(st: Arc<State>, io: I, mut stop: tokio::sync::watch::Receiver<bool>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let header_timeout = st.cfg.header_timeout;
    let svc = service_fn(move |req| {
        let st = st.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(st, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // SDKs read some response headers case-sensitively (cos-python-sdk-v5 looks up
        // 'Content-Length'): keep the upstream's case, title-case ours
        .preserve_header_case(true)
        .title_case_headers(true)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => { let _ = res; }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.as_mut()).await;
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Hop-by-hop headers never forwarded.
const HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

fn to_wire(req: &HRequest<Incoming>) -> crate::wire::Request {
    crate::net::wire_head(req.method(), req.uri(), req.headers())
}

/// Everything the pipeline decided about one request before a byte goes upstream: the
/// (possibly re-signed) request, where it goes, and its log record so far.
#[derive(Clone)]
struct Outbound {
    pub rec: log::Record,
    pub outgoing: crate::wire::Request,
    pub upstream: Upstream,
    /// `--resolve` (and the embedded mock): connect here, keep the Host the request carries.
    pub connect_to: Option<String>,
    pub dialect: Dialect,
    pub reframe: Option<decide::Reframing>,
    pub upload: Option<String>,
    pub up_host: String,
    pub client_host: String,
    /// The client's method and path (error documents name them).
    pub method: String,
    pub path: String,
    pub now: i64,
    pub started: Instant,
}

/// The outcome of the pipeline's first phases.
enum Planned {
    /// Answered by sigtap itself (refused or rejected); already logged.
    Local(HResponse<http_body_util::Full<Bytes>>),
    Forward(Box<Outbound>),
}

#[allow(clippy::disallowed_methods)] // TODO(issue 13 pipeline): clock injected
async fn handle(st: Arc<State>, req: HRequest<Incoming>) -> HResponse<ProxyBody> {
    let started = Instant::now();
    let wire = to_wire(&req);
    match plan(&st, wire, started) {
        Planned::Local(r) => boxed(r),
        Planned::Forward(o) => forward_hyper(st, req, *o).await,
    }
}

fn boxed(r: HResponse<http_body_util::Full<Bytes>>) -> HResponse<ProxyBody> {
    let (parts, b) = r.into_parts();
    HResponse::from_parts(
        parts,
        BodyExt::boxed(b.map_err(|never| -> BoxError { match never {} })),
    )
}

/// Phases inspect, decide and re-sign: pure work on the request head (no I/O), shared by the
/// hyper path and the lean path.
fn plan(st: &State, wire: crate::wire::Request, started: Instant) -> Planned {
    let id = st.next_id();
    // where this request goes
    let upstream = match &st.cfg.mode {
        // replaced by Reverse when the embedded mock starts
        // the embedded mock answers for any host: keep the client's, so that virtual-hosted
        // clients (coscmd's bucket-appid.cos.region.myqcloud.com) still name their bucket
        Mode::Reverse(u) if st.cfg.embedded => Upstream {
            scheme: "http".into(),
            authority: wire
                .authority
                .clone()
                .or_else(|| wire.header("host").map(str::to_string))
                .unwrap_or_else(|| u.authority.clone())
                .to_ascii_lowercase(),
            base_path: String::new(),
        },
        Mode::Reverse(u) => u.clone(),
        Mode::EmbeddedMock => Upstream {
            scheme: "http".into(),
            authority: "127.0.0.1:9".into(),
            base_path: String::new(),
        },
        Mode::Forward(allow) => {
            let scheme = wire
                .scheme
                .as_deref()
                .unwrap_or("http")
                .to_ascii_lowercase();
            let named = wire
                .authority
                .clone()
                .or_else(|| wire.header("host").map(str::to_string));
            let refuse = |status: u16, code: &'static str, message: String| {
                let now = SystemClock.now();
                let rec = log::Record {
                    id,
                    time: rfc3339(now),
                    method: wire.method.clone(),
                    // the log escapes whatever the client named
                    host: named.clone().filter(|h| !h.is_empty()),
                    target: wire.origin_target(),
                    scheme: "none".into(),
                    carrier: "none".into(),
                    verdict: "unverified".into(),
                    ..Default::default()
                };
                // the error document names the host only when it is a plain one
                let host = named
                    .as_deref()
                    .and_then(|n| upstream::Authority::parse(n).ok())
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                let doc = ErrorDoc {
                    status,
                    code,
                    message,
                    extra: vec![],
                    resource: format!("{host}{}", wire.path),
                };
                Planned::Local(finish_local(
                    st,
                    rec,
                    Dialect::for_host(&host),
                    &doc,
                    now,
                    started,
                ))
            };
            if wire.method == "CONNECT" {
                return refuse(405, "MethodNotAllowed", "sigtap does not tunnel CONNECT: send plain-http requests (an http_proxy), so that it can see and re-sign them".into());
            }
            if scheme != "http" && scheme != "https" {
                return refuse(
                    400,
                    "InvalidRequest",
                    "sigtap forward proxy: only http and https targets are forwarded".into(),
                );
            }
            let Some(named) = named.as_deref() else {
                return refuse(400, "InvalidRequest", "sigtap forward proxy: the request names no host (absolute-form target or Host header)".into());
            };
            // judge exactly where a connection would go: a host and a port, nothing else
            let authority = match upstream::Authority::parse(named) {
                Ok(a) => a,
                Err(e) => {
                    return refuse(
                        400,
                        "InvalidRequest",
                        format!(
                            "sigtap forward proxy: the request's host {e}; no connection was made"
                        ),
                    )
                }
            };
            if !allow.iter().any(|p| p.matches(&authority, &scheme)) {
                return refuse(403, "AccessDenied", format!("sigtap forward proxy: host {authority} is not allowed (--allow-host); no connection was made"));
            }
            let same_place = |h: &str| {
                upstream::Authority::parse(h).is_ok_and(|a| {
                    a.host == authority.host
                        && a.effective_port(&scheme) == authority.effective_port(&scheme)
                })
            };
            if wire.authority.is_some() && wire.header("host").is_some_and(|h| !same_place(h)) {
                return refuse(400, "InvalidRequest", format!("sigtap forward proxy: the Host header does not name the target's host {authority}"));
            }
            Upstream {
                authority: authority.for_scheme(&scheme),
                scheme,
                base_path: String::new(),
            }
        }
    };
    let up_host = upstream.authority.clone();
    let offset = st.clocks.offset(&up_host);
    let now = SystemClock.now() + offset;
    // phase: inspect
    let report = st.inspector.inspect_head(&wire, now);
    let upload = upload_id(&wire);
    let mut findings = report.findings.clone();
    if let Some(ak) = &report.access_key {
        if report.carrier == crate::sig::Carrier::Query {
            st.client_clocks.explain(ak, &mut findings, now);
        } else {
            st.client_clocks.learn(ak, &findings, now);
        }
    }
    if let Some(u) = &upload {
        let seen = st
            .finished_uploads
            .lock()
            .map(|s| s.contains(u))
            .unwrap_or(false);
        if seen && wire.method == "PUT" {
            findings.push(crate::findings::Finding::warning(
                crate::findings::code::NO_SUCH_UPLOAD,
                format!("a part for upload {u}, which this proxy saw completed or aborted: the service will answer NoSuchUpload"),
            ));
        }
    }
    let mut rec = log::Record {
        id,
        time: rfc3339(SystemClock.now()),
        method: wire.method.clone(),
        host: wire
            .authority
            .clone()
            .or_else(|| wire.header("host").map(str::to_string)),
        target: wire.origin_target(),
        scheme: report.scheme.as_str().into(),
        carrier: report.carrier.as_str().into(),
        access_key: report.access_key.clone(),
        verdict: report.verdict.as_str().into(),
        findings,
        clock_offset_s: (offset != 0).then_some(offset),
        // only a recording needs the request's headers again
        req_headers: if st.cfg.recorder.is_some() {
            wire.headers.clone()
        } else {
            Vec::new()
        },
        tokens: log::request_tokens(&wire),
        ..Default::default()
    };
    let dialect = match report.scheme {
        Scheme::Cos => Dialect::Cos,
        Scheme::Sigv4 | Scheme::Sigv2 => Dialect::S3,
        Scheme::None => Dialect::for_host(&up_host),
    };
    let client_host = wire.host().unwrap_or("").to_ascii_lowercase();
    let host_changed = client_host != up_host;
    // phase: decide
    let decision = decide::decide(
        &report,
        st.cfg.resign,
        st.cfg.sign_as,
        host_changed,
        st.cfg.identity.is_some(),
    );
    // signing with the identity adds credentials the client did not have: only for a client
    // sigtap can vouch for
    let decision = match decision {
        Decision::Resign { identity: true, .. } => {
            let reverse = !matches!(st.cfg.mode, Mode::Forward(_));
            match st
                .cfg
                .vouch
                .check(wire.header("host"), wire.header("origin"), reverse)
            {
                Ok(()) => decision,
                Err(message) => Decision::Reject {
                    status: 403,
                    code: "AccessDenied",
                    message,
                },
            }
        }
        d => d,
    };
    let mut reframe: Option<decide::Reframing> = None;
    let (outgoing, action, resigned_as) = match decision {
        Decision::Reject {
            status,
            code,
            message,
        } => {
            let extra = if code == "SignatureDoesNotMatch" {
                errors::signature_extras(dialect, &report.stages, &rec.tokens)
            } else {
                Vec::new()
            };
            let doc = ErrorDoc {
                status,
                code,
                message,
                extra,
                resource: format!("{client_host}{}", wire.path),
            };
            return Planned::Local(finish_local(st, rec, dialect, &doc, now, started));
        }
        Decision::Forward { note } => {
            rec.note = note;
            (wire, "forwarded", None)
        }
        Decision::Resign { reason, identity } => {
            let cred = if identity {
                st.cfg.identity.clone()
            } else {
                report
                    .access_key
                    .as_deref()
                    .and_then(|ak| st.cfg.keys.get(ak))
                    .cloned()
            };
            match cred {
                None => {
                    rec.note = Some(format!(
                        "{reason}, but no secret to re-sign with; forwarded unchanged"
                    ));
                    (wire, "forwarded", None)
                }
                Some(cred) => {
                    let p = decide::ResignParams {
                        cred: &cred,
                        upstream_host: &up_host,
                        now,
                        region: st.cfg.region.as_deref(),
                        sign_as: st.cfg.sign_as,
                        fresh: identity,
                    };
                    match decide::resign(&wire, &report, &p, &st.inspector.cache) {
                        Ok((r, scheme, rf)) => {
                            let mut note = format!("re-signed: {reason}");
                            if rf.is_some() {
                                note.push_str(
                                    "; aws-chunked body verified and re-framed chunk by chunk",
                                );
                            }
                            reframe = rf;
                            if offset != 0 {
                                note.push_str(&format!(
                                    "; signed with the upstream's clock ({offset:+}s from local)"
                                ));
                            }
                            rec.note = Some(note);
                            (r, "resigned", Some(scheme.as_str().to_string()))
                        }
                        Err(why) => {
                            rec.note = Some(format!("{reason}, but {why}; forwarded unchanged"));
                            (wire, "forwarded", None)
                        }
                    }
                }
            }
        }
    };
    rec.action = action;
    rec.resigned_as = resigned_as;
    let connect_to = match &st.cfg.mode {
        Mode::Reverse(mock) if st.cfg.embedded => Some(mock.authority.clone()),
        _ => st
            .cfg
            .resolve
            .iter()
            .find(|r| r.applies_to(&upstream))
            .map(|r| r.to.to_string()),
    };
    Planned::Forward(Box::new(Outbound {
        rec,
        method: outgoing.method.clone(),
        path: outgoing.path.clone(),
        outgoing,
        upstream,
        connect_to,
        dialect,
        reframe,
        upload,
        up_host,
        client_host,
        now,
        started,
    }))
}

impl Outbound {
    /// An answer from sigtap itself when forwarding failed (502/504, a failed body check).
    fn failed(
        mut self,
        st: &State,
        status: u16,
        code: &'static str,
        message: String,
    ) -> HResponse<http_body_util::Full<Bytes>> {
        let doc = ErrorDoc {
            status,
            code,
            message,
            extra: vec![],
            resource: format!("{}{}", self.client_host, self.path),
        };
        self.rec.duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        finish_local(st, self.rec, self.dialect, &doc, self.now, self.started)
    }

    /// What every upstream answer teaches: its clock, finished uploads, the status.
    fn learn_from_answer(&mut self, st: &State, status: u16, date: Option<&str>) {
        if let Some(t) = date.and_then(parse_http_date) {
            let off = t - SystemClock.now();
            st.clocks.learn(&self.up_host, off);
            self.rec.clock_offset_s = Some(off);
        }
        if let (Some(u), true) = (&self.upload, status < 300) {
            if self.method == "POST" || self.method == "DELETE" {
                if let Ok(mut s) = st.finished_uploads.lock() {
                    if s.len() > 100_000 {
                        s.clear();
                    }
                    s.insert(u.clone());
                }
            }
        }
        self.rec.upstream_status = Some(status);
        self.rec.status = status;
    }
}

/// Reads the service's error code, message and request id from a small error body.
fn note_error_body(rec: &mut log::Record, status: u16, body: &[u8]) {
    if let Some(e) = crate::diagnose::upstream::parse_error(status, body) {
        rec.upstream_error_code = Some(e.code);
        rec.upstream_error_message = Some(e.message);
        rec.upstream_request_id = e.request_id;
    }
    rec.bytes_out = body.len() as u64;
}

/// Error bodies up to this size are read whole, so the log can name the service's error.
const SMALL_ERROR: u64 = 64 * 1024;

fn timeout_message(st: &State, upstream: &Upstream) -> String {
    format!(
        "sigtap: the upstream {} did not answer within {}s (--upstream-timeout)",
        upstream.authority,
        st.cfg.upstream_timeout.as_secs()
    )
}

/// Phase forward through hyper: any body, TLS upstreams, recording, forward mode.
async fn forward_hyper(
    st: Arc<State>,
    req: HRequest<Incoming>,
    o: Outbound,
) -> HResponse<ProxyBody> {
    let mut o = o;
    let meter = Meter::default();
    let expected_hash = o
        .outgoing
        .header("x-amz-content-sha256")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string);
    // keep the request's extensions (they carry the original header-name case)
    let (in_parts, incoming) = req.into_parts();
    let incoming: ProxyBody = match &st.cfg.recorder {
        Some(r) => {
            let cap = r.capture();
            o.rec.req_body = Some(cap.clone());
            BodyExt::boxed(crate::record::Tee::new(incoming, cap, None))
        }
        None => BodyExt::boxed(incoming.map_err(|e| -> BoxError { Box::new(e) })),
    };
    let body: ProxyBody = match o.reframe.take() {
        Some(rf) => BodyExt::boxed(Checked::new(
            body::Reframe::new(incoming, Some(rf.old), rf.new, meter.clone()),
            None,
            meter.clone(),
        )),
        None => BodyExt::boxed(Checked::new(incoming, expected_hash, meter.clone())),
    };
    let uri = format!(
        "{}://{}{}{}",
        o.upstream.scheme,
        o.connect_to.as_deref().unwrap_or(&o.upstream.authority),
        o.upstream.base_path,
        o.outgoing.origin_target()
    );
    let mut b = HRequest::builder()
        .method(o.outgoing.method.as_str())
        .uri(&uri);
    for (k, v) in &o.outgoing.headers {
        if HOP.contains(&k.to_ascii_lowercase().as_str()) {
            continue;
        }
        b = b.header(k.as_str(), v.as_str());
    }
    let up_req = match b.body(body) {
        Ok(mut r) => {
            *r.extensions_mut() = in_parts.extensions;
            r
        }
        Err(e) => {
            let msg = format!("sigtap could not build the upstream request: {e}");
            return boxed(o.failed(&st, 400, "InvalidRequest", msg));
        }
    };
    let res = tokio::time::timeout(st.cfg.upstream_timeout, st.client().request(up_req)).await;
    let resp = match res {
        Err(_) => {
            o.rec.bytes_in = meter.bytes();
            let msg = timeout_message(&st, &o.upstream);
            return boxed(o.failed(&st, 504, "GatewayTimeout", msg));
        }
        Ok(Err(e)) => {
            let why = meter
                .hash_mismatch()
                .or_else(|| {
                    meter.chunk_mismatch().map(|c| {
                        format!("{c}; the upload was aborted before the upstream stored anything")
                    })
                })
                .unwrap_or_else(|| describe_client_error(&e));
            let (status, code) = if meter.hash_mismatch().is_some() {
                (400, "XAmzContentSHA256Mismatch")
            } else if meter.chunk_mismatch().is_some() {
                (403, "SignatureDoesNotMatch")
            } else {
                (502, "BadGateway")
            };
            o.rec.bytes_in = meter.bytes();
            return boxed(o.failed(&st, status, code, format!("sigtap: {why}")));
        }
        Ok(Ok(r)) => r,
    };
    o.rec.bytes_in = meter.bytes();
    let status = resp.status().as_u16();
    let date = resp.headers().get("date").and_then(|v| v.to_str().ok());
    o.learn_from_answer(&st, status, date);
    let (parts, incoming) = resp.into_parts();
    // an answer whose body stops for --upstream-timeout is abandoned (the client sees it end)
    let incoming = body::Idle::new(incoming, st.cfg.upstream_timeout);
    let small_error = status >= 400
        && parts
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n <= SMALL_ERROR);
    let mut out = HResponse::from_parts(parts, full(Bytes::new()));
    for h in HOP {
        out.headers_mut().remove(h);
    }
    if small_error {
        match incoming.collect().await {
            Ok(c) => {
                let bytes = c.to_bytes();
                let mut rec = o.rec;
                note_error_body(&mut rec, status, &bytes);
                rec.duration_ms = o.started.elapsed().as_secs_f64() * 1000.0;
                if let Some(r) = &st.cfg.recorder {
                    let hs = header_pairs(out.headers());
                    r.write(&crate::record::exchange(&rec, &hs, r.body_json(&bytes)));
                }
                *out.body_mut() = full(bytes);
                st.cfg.sink.record(&rec);
                return out;
            }
            Err(e) => {
                // nothing went to the client yet: answer in the service's format
                o.rec.note = Some(format!("the upstream's {status} answer broke off: {e}"));
                let msg = format!("sigtap: the upstream's error body broke off ({e})");
                return boxed(o.failed(&st, 502, "BadGateway", msg));
            }
        }
    }
    let mut rec = o.rec;
    // stream the body back; log when it has been handed over (the duration covers headers)
    let out_meter = Meter::default();
    rec.duration_ms = o.started.elapsed().as_secs_f64() * 1000.0;
    rec.bytes_out = out
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body: ProxyBody = match &st.cfg.recorder {
        Some(r) => {
            // the exchange is written when the response body has been handed over
            let cap = r.capture();
            let (r2, c2, rec2, hs) = (
                r.clone(),
                cap.clone(),
                rec.clone(),
                header_pairs(out.headers()),
            );
            let on_end: Box<dyn FnOnce() + Send + Sync> = Box::new(move || {
                let body = c2
                    .lock()
                    .map(|c| c.json())
                    .unwrap_or(serde_json::Value::Null);
                r2.write(&crate::record::exchange(&rec2, &hs, body));
            });
            BodyExt::boxed(crate::record::Tee::new(incoming, cap, Some(on_end)))
        }
        None => BodyExt::boxed(Checked::new(incoming, None, out_meter.clone())),
    };
    *out.body_mut() = body;
    st.cfg.sink.record(&rec);
    out
}

fn header_pairs(h: &hyper::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn describe_client_error(e: &hyper_util::client::legacy::Error) -> String {
    let mut msg = e.to_string();
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    if e.is_connect() {
        format!("cannot connect to the upstream ({msg})")
    } else {
        format!("the upstream connection failed ({msg})")
    }
}

fn finish_local(
    st: &State,
    mut rec: log::Record,
    dialect: Dialect,
    doc: &ErrorDoc,
    now: i64,
    started: Instant,
) -> HResponse<http_body_util::Full<Bytes>> {
    let rid = errors::request_id(dialect, now, rec.id);
    let resp = errors::response(dialect, doc, &rid, &http_date(now));
    rec.action = if doc.status >= 500 {
        "failed"
    } else {
        "rejected"
    };
    rec.status = doc.status;
    let answered = format!("answered locally: {} {}", doc.code, doc.message);
    rec.note = Some(match rec.note.take() {
        Some(n) => format!("{n}; {answered}"),
        None => answered,
    });
    rec.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    st.cfg.sink.record(&rec);
    if let Some(r) = &st.cfg.recorder {
        let body = errors::body(dialect, doc, &rid);
        r.write(&crate::record::exchange(
            &rec,
            &header_pairs(resp.headers()),
            r.body_json(body.as_bytes()),
        ));
    }
    resp
}
