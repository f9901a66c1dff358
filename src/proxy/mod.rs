//! The proxy: the only part of sigtap that does I/O. Each request goes through the same named
//! phases: inspect -> decide -> re-sign -> forward -> log.

pub use crate::net::body;
pub mod clients;
mod conn;
pub mod decide;
pub use crate::errordoc as errors;
mod framing;
pub mod guard;
pub mod head;
pub mod hop;
pub mod keyring;
mod lean;
pub mod log;
mod pipeline;
mod tunnel;
pub mod upstream;
mod via_hyper;

use crate::credentials::{Credential, KeyStore};
use crate::inspect::Inspector;
use decide::{ResignMode, SignAs};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use upstream::{Clocks, HttpsClient, Upstream};

/// A client connection's byte stream: plain TCP, or TLS (the listener's or inside a CONNECT
/// tunnel). Transports are written once for all of them.
pub(crate) trait ClientIo:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> ClientIo for T {}

/// How requests on a connection arrived: what the pipeline needs to know about the connection
/// (nothing else about the transport reaches it).
#[derive(Clone, Debug, Default)]
pub(crate) struct Arrival {
    /// `https` when the client spoke TLS to sigtap (the TLS listener or an intercepted tunnel).
    pub transport: crate::outcome::Transport,
    /// Inside an intercepted CONNECT tunnel: the host and port the client connected to. Every
    /// request on the connection goes there, over TLS.
    pub tunnel: Option<upstream::Authority>,
}

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
    /// The wall clock every request is judged and signed by.
    pub clock: Arc<dyn crate::clock::Clock>,
    /// TLS: the listener's certificate (`--tls`) and the local CA for interception.
    pub tls: TlsOptions,
    /// Where `keys` and `identity` came from, when they can be loaded again (SIGHUP, a key
    /// file changing).
    pub key_source: Option<keyring::KeySource>,
    /// A temporary upstream identity's source and its first answer (then `identity` is that
    /// answer's key); refreshed before it expires.
    pub identity_source: Option<(
        Box<dyn crate::provider::Provider>,
        crate::provider::Temporary,
    )>,
    /// The web view's URL (`--ui`), announced on stdout right after the address line.
    pub ui: Option<String>,
    /// The admin endpoints (`--admin`): their URL, announced after the web view's, and their
    /// state, told when the proxy accepts and stops accepting.
    pub admin: Option<(String, Arc<crate::admin::Admin>)>,
}

/// TLS settings as validated from the command line.
#[derive(Default)]
pub struct TlsOptions {
    /// `--tls`: serve HTTPS on the listen address with this configuration.
    pub listener: Option<Arc<rustls::ServerConfig>>,
    /// The local CA (forward mode: HTTPS interception), or why it could not be opened.
    pub ca: Option<Result<Arc<crate::tls::Ca>, String>>,
}

struct State {
    cfg: ProxyConfig,
    tls: tunnel::TlsSetup,
    /// The keys requests are judged and signed with; replaced while the proxy runs.
    keys: keyring::Keyring,
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

thread_local! {
    /// Which worker thread this is (picks its upstream client).
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl State {
    /// The next request's number (log records count from 1).
    fn next_id(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The CA certificate clients must trust, for messages.
    fn ca_shown(&self) -> String {
        match &self.cfg.tls.ca {
            Some(Ok(ca)) => ca.cert_path().display().to_string(),
            _ => "sigtap's CA".into(),
        }
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
    watch_keys(&state);
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
        let mut hangup = hangups();
        loop {
            tokio::select! {
                _ = &mut signal => break,
                Some(()) = hangup.recv() => {
                    if state.keys.is_reloadable() || !state.keys.has_provider() {
                        report_reload(&state, state.keys.reload(), "SIGHUP");
                    }
                    if state.keys.has_provider() {
                        // a fetch may take seconds: never on the accepting thread
                        let st = state.clone();
                        tokio::task::spawn_blocking(move || {
                            if let Some(r) = st.keys.refresh_identity(st.cfg.clock.now(), true) {
                                report_refresh(&st, &r);
                            }
                        });
                    }
                }
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
    if let Some((_, admin)) = &state.cfg.admin {
        admin.stopping();
    }
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
    watch_keys(&state);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let serving = accept_loop(state.clone(), Source::Listener(listener), stop_rx);
    tokio::pin!(serving);
    tokio::select! {
        _ = shutdown => {
            if let Some((_, admin)) = &state.cfg.admin {
                admin.stopping();
            }
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
        // the embedded mock keeps the proxy's clock
        let m = crate::mock::Mock::new(crate::mock::MockConfig::new(
            Inspector::new(cfg.keys.clone()),
            0,
            cfg.clock.clone(),
        ));
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(crate::mock::serve(m, ml, None, rx));
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
        let redirect = upstream::redirect(&cfg.resolve);
        match upstream::client(cfg.upstream_ca.as_deref(), cfg.upstream_idle, redirect) {
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
        if let Some(url) = &cfg.ui {
            let line = if cfg.json_log {
                serde_json::json!({ "ui": url }).to_string()
            } else {
                format!("ui: {url}")
            };
            let _ = writeln!(out, "{line}");
        }
        if let Some((url, _)) = &cfg.admin {
            let line = if cfg.json_log {
                serde_json::json!({ "admin": url }).to_string()
            } else {
                format!("admin: {url}")
            };
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }
    let target = match &cfg.mode {
        Mode::Reverse(u) => format!("{}://{}{}", u.scheme, u.authority, u.base_path),
        Mode::Forward(allow) => format!("forward proxy to {} allowed host pattern(s)", allow.len()),
        Mode::EmbeddedMock => "the embedded mock".to_string(),
    };
    if announce {
        let scheme = if cfg.tls.listener.is_some() {
            "https"
        } else {
            "http"
        };
        eprintln!(
            "sigtap: proxying {scheme}://{addr} -> {target} (resign {:?}, {} key(s) known)",
            cfg.resign,
            cfg.keys.len()
        );
        if let Some(Ok(ca)) = &cfg.tls.ca {
            eprintln!(
                "sigtap: intercepting HTTPS (CONNECT) to allowed hosts with certificates from {}; \
                 clients must trust it (`sigtap ca` shows how): HTTPS_PROXY=http://{addr}",
                ca.cert_path().display()
            );
        }
    }
    if cfg.embedded && announce {
        if let Some(k) = cfg.keys.all().first() {
            eprintln!("{}", embedded_banner(&addr, k));
        }
    }
    let tls = tunnel::TlsSetup {
        listener: cfg.tls.listener.clone(),
        leaves: match &cfg.tls.ca {
            Some(Ok(ca)) => Ok(crate::tls::LeafCache::new(ca.clone())),
            Some(Err(why)) => Err(why.clone()),
            None => tunnel::TlsSetup::none().leaves,
        },
    };
    let keys = match cfg.key_source.take() {
        Some(source) => {
            keyring::Keyring::reloadable(cfg.keys.clone(), cfg.identity.clone(), source)
        }
        None => keyring::Keyring::fixed(cfg.keys.clone(), cfg.identity.clone()),
    };
    let keys = match cfg.identity_source.take() {
        Some((provider, first)) => keys.with_provider(provider, first, cfg.clock.now()),
        None => keys,
    };
    let state = Arc::new(State {
        tls,
        keys,
        cfg,
        clients,
        clocks: Clocks::default(),
        client_clocks: Default::default(),
        seq: AtomicU64::new(0),
        finished_uploads: std::sync::Mutex::new(std::collections::HashSet::new()),
    });
    if let Some((_, admin)) = &state.cfg.admin {
        let weak = Arc::downgrade(&state);
        admin.attach(Box::new(move || match weak.upgrade() {
            Some(st) => probe(&st),
            None => crate::admin::Probed {
                unusable: Some("sigtap has stopped".into()),
                ..Default::default()
            },
        }));
    }
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
    let mut conns = tokio::task::JoinSet::new();
    let mut stopping = stop_rx.clone();
    loop {
        tokio::select! {
            _ = stopping.changed() => break,
            next = source.next() => {
                let Some(stream) = next else { break };
                let _ = stream.set_nodelay(true);
                conns.spawn(tunnel::accept(state.clone(), stream, stop_rx.clone()));
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

/// SIGHUP, one message per signal (the keys are loaded again). A proxy that cannot listen for
/// it still runs.
fn hangups() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hup) => {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    if tx.send(()).await.is_err() {
                        break;
                    }
                }
            });
        }
        Err(e) => eprintln!("sigtap: cannot listen for SIGHUP ({e}); key files are still watched"),
    }
    rx
}

/// Reloads the keys within `keyring::WATCH_EVERY` of a key file changing (replaced, rewritten,
/// removed or created), on a thread of its own, for as long as the proxy runs.
fn watch_keys(state: &Arc<State>) {
    if !state.keys.is_reloadable() && !state.keys.has_provider() {
        return;
    }
    let weak = Arc::downgrade(state);
    let spawned = std::thread::Builder::new()
        .name("sigtap-keys".into())
        .spawn(move || loop {
            std::thread::sleep(keyring::WATCH_EVERY);
            let Some(st) = weak.upgrade() else { break };
            if let Some(r) = st.keys.reload_if_changed() {
                report_reload(&st, Some(r), "file changed");
            }
            if let Some(r) = st.keys.refresh_identity(st.cfg.clock.now(), false) {
                report_refresh(&st, &r);
            }
        });
    if let Err(e) = spawned {
        eprintln!("sigtap: cannot watch the key files ({e}); SIGHUP still reloads them");
    }
}

/// Logs what a reload did; a failed one also goes to stderr.
fn report_reload(st: &State, r: Option<keyring::Reloaded>, why: &str) {
    let Some(r) = r else {
        let line = "credentials: SIGHUP: nothing to reload (the keys came from flags, not files)";
        eprintln!("sigtap: {line}");
        return;
    };
    let files = st.keys.files();
    if matches!(r, keyring::Reloaded::Kept { .. }) {
        eprintln!("sigtap: {}", keyring::reload_line(&r, why, files, false));
    }
    st.cfg
        .sink
        .write_line(&keyring::reload_line(&r, why, files, st.cfg.json_log));
    st.cfg.sink.flush();
}

/// Logs a refresh of the temporary identity; a failed one also goes to stderr.
fn report_refresh(st: &State, r: &Result<String, String>) {
    let expires = st.keys.identity_expiry();
    if r.is_err() {
        eprintln!("sigtap: {}", keyring::refresh_line(r, expires, false));
    }
    st.cfg
        .sink
        .write_line(&keyring::refresh_line(r, expires, st.cfg.json_log));
    st.cfg.sink.flush();
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

/// What `--admin` reports about the upstream identity (read when asked, never per request).
/// With `--resign always` every request needs the identity; otherwise the key store is enough.
fn probe(st: &State) -> crate::admin::Probed {
    let (refreshed, refresh_failed) = st.keys.refresh_counts();
    let unusable = match st.cfg.resign {
        decide::ResignMode::Always => {
            let keys = st.keys.current();
            match &keys.identity {
                None => Some("sigtap: no upstream identity to sign with (--resign always)".into()),
                Some(_) => keys.identity_unusable(st.cfg.clock.now()),
            }
        }
        decide::ResignMode::Auto | decide::ResignMode::Never => None,
    };
    crate::admin::Probed {
        unusable,
        identity: crate::admin::Identity {
            expiry: st.keys.identity_expiry(),
            refreshed,
            refresh_failed,
        },
    }
}
