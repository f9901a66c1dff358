//! The commands behind the CLI: validate flags into settings, run, return an exit code.

mod admin;
mod keys;
pub use keys::key_store;
use keys::{identity_provider, key_files, upstream_identity};
mod tls;
mod ui;
use crate::cli::{
    Cli, Command, ExplainArgs, Format, InspectArgs, KeyArgs, MockArgs, ProxyArgs, ResignArg,
    SchemeArg, SignArgs, SignAsArg,
};
use crate::clock::{Clock, SystemClock, UnixTime};
use crate::credentials::{self, Credential};
use crate::findings::CATALOG;
use crate::inspect::Inspector;
use crate::report;
use crate::sig::v4::{self, Rules, SigningKeyCache};
use crate::sig::{cos, v2};
use crate::timefmt::{human_duration, parse_user_time};
use crate::wire::Request;
use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;

/// Exit status for bad usage or bad input.
pub const EXIT_USAGE: i32 = 2;
/// Exit status for a command that was right but failed while running.
pub const EXIT_RUNTIME: i32 = 1;

/// Why a command failed, printed on stderr after `sigtap: `; the variant says whose fault it
/// is, and so the exit status.
///
/// The rule: [`Usage`](CommandError::Usage) (exit 2) is what the user fixes by changing the
/// command line or what it names: a flag that does not parse or combine, an input, recording,
/// credentials or CA file that cannot be read or is malformed, a path to write that cannot be
/// opened (missing folder, no permission, a symbolic link refused). [`Runtime`](CommandError::Runtime)
/// (exit 1) is a right command that failed while running: the async runtime could not start,
/// a port could not be bound, output could not be written once its file was open
/// (`proxy::run` answers by the same rule). Verdicts (`inspect`) and replay differences are
/// results with their own statuses, not errors.
#[derive(Debug)]
pub enum CommandError {
    Usage(String),
    Runtime(String),
}

impl CommandError {
    /// 2 for bad usage or input, 1 for a runtime failure.
    pub fn exit_status(&self) -> i32 {
        match self {
            CommandError::Usage(_) => EXIT_USAGE,
            CommandError::Runtime(_) => EXIT_RUNTIME,
        }
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Usage(m) | CommandError::Runtime(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CommandError {}

fn usage(msg: impl Into<String>) -> CommandError {
    CommandError::Usage(msg.into())
}

fn runtime(msg: impl Into<String>) -> CommandError {
    CommandError::Runtime(msg.into())
}

/// A multi-threaded async runtime for the commands that serve or send.
fn runtime_for_io() -> Result<tokio::runtime::Runtime, CommandError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| runtime(format!("cannot start the runtime: {e}")))
}

/// Runs a parsed command line and returns the process exit status.
pub fn run(cli: Cli) -> i32 {
    // the one system clock, handed to whatever needs the time
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let result = match cli.command {
        Command::Inspect(a) => inspect(a, &*clock),
        Command::Sign(a) => sign(a, false, &*clock),
        Command::Presign(a) => sign(a, true, &*clock),
        Command::Explain(a) => explain(a),
        Command::Proxy(a) => proxy(*a, clock),
        Command::Mock(a) => mock(a, clock),
        Command::Demo(a) => crate::demo::run(&*clock, a.ui.as_deref()).map_err(usage),
        Command::Replay(a) => replay(a, clock),
        Command::Export(a) => export(a),
        Command::Import(a) => import(a),
        Command::Ca(a) => tls::ca(a, &*clock),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sigtap: {e}");
            e.exit_status()
        }
    }
}

/// A time flag's value, or the clock's now when the flag is absent.
fn parse_time_flag(
    flag: &str,
    value: Option<&str>,
    clock: &dyn Clock,
) -> Result<UnixTime, CommandError> {
    match value {
        None => Ok(clock.now()),
        Some(v) => parse_user_time(v).ok_or_else(|| {
            usage(format!(
                "{flag} {v:?} is not a time: use RFC 3339 (2025-01-15T08:30:00Z) or unix seconds"
            ))
        }),
    }
}

/// Reads INPUT: a URL, `-` (stdin) or a file holding one raw request.
pub fn read_request(input: &str) -> Result<Request, CommandError> {
    let lower = input.trim_start().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Request::from_url(input).map_err(|e| usage(format!("{input}: {e}")));
    }
    let mut raw = Vec::new();
    let name = if input == "-" {
        std::io::stdin()
            .read_to_end(&mut raw)
            .map_err(|e| usage(format!("cannot read stdin: {e}")))?;
        "stdin".to_string()
    } else {
        std::fs::File::open(input)
            .and_then(|mut f| f.read_to_end(&mut raw))
            .map_err(|e| usage(format!("cannot read {input}: {e}")))?;
        input.to_string()
    };
    Request::parse(&raw).map_err(|e| usage(format!("{name}: {e}")))
}

fn inspect(a: InspectArgs, clock: &dyn Clock) -> Result<i32, CommandError> {
    let now = parse_time_flag("--now", a.now.as_deref(), clock)?;
    let keys = key_store(&a.keys)?;
    let req = read_request(&a.input)?;
    let response = match &a.response {
        None => None,
        Some(path) => {
            let raw = std::fs::read(path)
                .map_err(|e| usage(format!("cannot read --response {}: {e}", path.display())))?;
            Some(
                crate::wire::Response::parse(&raw)
                    .map_err(|e| usage(format!("--response {}: {e}", path.display())))?,
            )
        }
    };
    let inspector = Inspector::new(keys);
    let mut r = inspector.inspect(&req, now);
    if let Some(resp) = &response {
        let extra = crate::diagnose::upstream::correlate(resp, &r);
        r.findings.extend(extra);
    }
    let mut stdout = std::io::stdout().lock();
    let text = match a.format {
        Format::Json => format!("{}\n", report::to_json(&r)),
        Format::Human => report::to_human(&r, std::io::stdout().is_terminal()),
    };
    // the canonical request shows a session token whole; the report shows its first 8 characters
    let mut tokens = crate::redact::request_tokens(&req);
    tokens.extend(
        inspector
            .keys
            .all()
            .iter()
            .filter_map(|c| c.session_token.as_ref().map(|t| t.expose().to_string())),
    );
    let text = crate::redact::redact_tokens(&text, &tokens);
    // A closed pipe (e.g. `| head`) is not an error worth a panic.
    let _ = stdout.write_all(text.as_bytes());
    Ok(r.verdict.exit_code())
}

fn pick_key(k: &KeyArgs) -> Result<Credential, CommandError> {
    let store = key_store(k)?;
    if let Some(ak) = &k.access_key {
        return store.get(ak).cloned().ok_or_else(|| {
            usage(format!(
                "no secret for access key {ak}: pass --secret-key, or --credentials with a section for it"
            ))
        });
    }
    match store.all() {
        [one] => Ok(one.clone()),
        [] => Err(usage(
            "no key to sign with: pass --access-key and --secret-key (or --credentials, or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or COS_SECRET_ID/COS_SECRET_KEY)",
        )),
        many => Err(usage(format!(
            "{} keys are known; choose one with --access-key",
            many.len()
        ))),
    }
}

fn sign(a: SignArgs, presign: bool, clock: &dyn Clock) -> Result<i32, CommandError> {
    let now = parse_time_flag("--now", a.now.as_deref(), clock)?;
    if a.expires < 0 {
        return Err(usage("--expires must be zero or more seconds"));
    }
    let cred = pick_key(&a.keys)?;
    let token = cred.session_token.as_ref().map(|t| t.expose().to_string());
    let req = read_request(&a.input)?;
    let signed_headers: Option<Vec<String>> = a.signed_headers.as_deref().map(|s| {
        s.split(';')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect()
    });
    let (plan, window_len) = match a.scheme {
        SchemeArg::Cos => {
            if a.region.is_some() {
                eprintln!("sigtap: note: --region is not used by COS signatures");
            }
            let start = match &a.start {
                Some(s) => parse_time_flag("--start", Some(s), clock)?,
                None => now,
            };
            let end = match &a.end {
                Some(e) => parse_time_flag("--end", Some(e), clock)?,
                None => start.saturating_add(a.expires),
            };
            if end < start {
                return Err(usage("--end is before --start"));
            }
            let s = cos::sign(
                &req,
                &cos::CosSignParams {
                    access_key: &cred.access_key,
                    secret: cred.secret.expose(),
                    session_token: token.as_deref(),
                    start,
                    end,
                    header_list: signed_headers,
                    presign,
                },
            );
            (s.plan, end - start)
        }
        SchemeArg::Sigv4 => {
            if a.start.is_some() || a.end.is_some() {
                return Err(usage(
                    "--start/--end apply to COS; SigV4 uses --now and --expires",
                ));
            }
            if presign && !(1..=v4::MAX_EXPIRES).contains(&a.expires) {
                eprintln!(
                    "sigtap: warning: --expires {} is outside 1..604800; S3 rejects such presigned URLs",
                    a.expires
                );
            }
            let region = a
                .region
                .clone()
                .or_else(|| req.host().and_then(v4::endpoint_region))
                .unwrap_or_else(|| "us-east-1".into());
            let cache = SigningKeyCache::new();
            let s = v4::sign(
                &req,
                &v4::V4SignParams {
                    access_key: &cred.access_key,
                    secret: cred.secret.expose(),
                    session_token: token.as_deref(),
                    region: &region,
                    service: &a.service,
                    now,
                    rules: Rules::for_service(&a.service),
                    signed_headers,
                    presign_expires: presign.then_some(a.expires),
                    payload_hash: None,
                },
                &cache,
            );
            (s.plan, if presign { a.expires } else { 0 })
        }
        SchemeArg::Sigv2 => {
            if signed_headers.is_some() {
                return Err(usage(
                    "--signed-headers does not apply to SigV2 (it signs fixed fields)",
                ));
            }
            let s = v2::sign(
                &req,
                &v2::V2SignParams {
                    access_key: &cred.access_key,
                    secret: cred.secret.expose(),
                    session_token: token.as_deref(),
                    now,
                    presign_expires: presign.then_some(a.expires),
                },
            );
            (s.plan, if presign { a.expires } else { 0 })
        }
    };
    if token.is_some() && window_len > crate::diagnose::time::TEMP_KEY_LIFETIME {
        eprintln!(
            "sigtap: warning: this signature is valid for {} but was made with a session token; temporary keys usually live at most 2h (COS root account; sub-accounts up to 36h), so it will stop working when the token expires",
            human_duration(window_len)
        );
    }
    let out = plan.apply(&req);
    let mut stdout = std::io::stdout().lock();
    let bytes = if presign {
        format!("{}\n", out.url("https")).into_bytes()
    } else {
        out.to_bytes()
    };
    let _ = stdout.write_all(&bytes);
    Ok(0)
}

fn explain(a: ExplainArgs) -> Result<i32, CommandError> {
    match a.code {
        None => {
            for e in CATALOG {
                println!("{:28} {}", e.code, e.title);
            }
            Ok(0)
        }
        Some(c) => match crate::findings::Code::parse(&c).and_then(crate::findings::entry) {
            Some(e) => {
                println!(
                    "{} — {}\n\n{}\n\nHow to fix: {}",
                    e.code, e.title, e.explanation, e.fix
                );
                Ok(0)
            }
            None => Err(usage(format!(
                "unknown finding code {c:?}; `sigtap explain` lists them all"
            ))),
        },
    }
}

/// Servers hold two sockets per proxied connection: lift the soft open-files limit to the hard
/// one (as nginx's `worker_rlimit_nofile` does), so a 1024 default does not cap them at ~500.
fn raise_open_files_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!("cannot raise the open-files limit: {e}");
    }
}

fn proxy(a: ProxyArgs, clock: Arc<dyn Clock>) -> Result<i32, CommandError> {
    raise_open_files_limit();
    use crate::net::client::Upstream;
    use crate::proxy::upstream::{HostPattern, DEFAULT_ALLOWED};
    use crate::proxy::{decide, log, ProxyConfig};
    let mode = match (&a.upstream, a.forward) {
        (Some(up), false) => {
            if !a.allow_host.is_empty() {
                return Err(usage("--allow-host applies to --forward"));
            }
            crate::proxy::Mode::Reverse(Upstream::parse(up).map_err(usage)?)
        }
        (None, true) => {
            let pats: Vec<String> = if a.allow_host.is_empty() {
                DEFAULT_ALLOWED.iter().map(|s| s.to_string()).collect()
            } else {
                a.allow_host.clone()
            };
            crate::proxy::Mode::Forward(
                pats.iter()
                    .map(|p| HostPattern::parse(p))
                    .collect::<Result<_, _>>()
                    .map_err(usage)?,
            )
        }
        (None, false) => crate::proxy::Mode::EmbeddedMock,
        (Some(_), true) => return Err(usage("--upstream and --forward exclude each other")),
    };
    let listen = match a.port {
        Some(p) => format!("127.0.0.1:{p}"),
        None => a.listen.clone(),
    };
    let listen: std::net::SocketAddr = listen.parse().map_err(|_| {
        usage(format!(
            "--listen {listen:?} is not HOST:PORT (e.g. 127.0.0.1:8080)"
        ))
    })?;
    let mut keys = key_store(&a.keys)?;
    if matches!(mode, crate::proxy::Mode::EmbeddedMock) && keys.is_empty() {
        keys.add(credentials::demo_key());
    }
    let named = a.upstream_access_key.clone();
    // a temporary identity from a profile or an endpoint, fetched once now (a source that does
    // not answer at start is an error the operator sees at once)
    let provider = identity_provider(&a)?;
    let first = match &provider {
        Some(p) => Some(p.fetch().map_err(|e| {
            CommandError::Runtime(format!("the upstream identity ({}): {e}", p.describe()))
        })?),
        None => None,
    };
    let always = a.resign == ResignArg::Always && provider.is_none();
    let identity = match &first {
        Some(t) => Some(t.cred.clone()),
        None => upstream_identity(&keys, named.as_deref(), always).map_err(usage)?,
    };
    // keys that come from files are loaded again on SIGHUP and when a file changes
    let key_files = key_files(&a.keys);
    let key_source = (!key_files.is_empty()).then(|| {
        let args = a.keys.clone();
        crate::proxy::keyring::KeySource {
            files: key_files,
            load: Box::new(move || {
                let store = key_store(&args).map_err(|e| e.to_string())?;
                let identity = upstream_identity(&store, named.as_deref(), always)?;
                Ok((store, identity))
            }),
        }
    });
    let out: Box<dyn Write + Send> = match &a.log_file {
        Some(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| usage(format!("--log-file {}: {e}", p.display())))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let color = a.log_file.is_none() && std::io::stdout().is_terminal();
    let json = a.log_format == Format::Json;
    let sink = log::Sink::new(out, json, color, clock.clone()).buffered();
    // the web view: its store sees every record the log writes; it runs until `proxy` returns
    let ui = (a.ui.as_deref())
        .map(|spec| ui::start(spec, a.ui_keep, a.record.clone()))
        .transpose()?;
    let sink = match &ui {
        Some((store, _)) => sink.observe(store.observer()),
        None => sink,
    };
    // the admin endpoints: the log counts every record for them; they run until `proxy` returns
    let admin = a.admin.as_deref().map(admin::start).transpose()?;
    let sink = match &admin {
        Some((state, _)) => sink.count(state.metrics()),
        None => sink,
    };
    let resolve = a
        .resolve
        .iter()
        .map(|r| crate::proxy::upstream::Resolve::parse(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage)?;
    // session tokens sigtap holds: a recording masks them wherever an answer echoes them
    let held_tokens: Vec<String> = keys
        .all()
        .iter()
        .filter_map(|c| c.session_token.as_ref().map(|t| t.expose().to_string()))
        .collect();
    let tls = tls::proxy_tls(&a, &mode, clock.now())?;
    let cfg = ProxyConfig {
        tls,
        listen,
        mode,
        resolve,
        resign: match a.resign {
            ResignArg::Auto => decide::ResignMode::Auto,
            ResignArg::Always => decide::ResignMode::Always,
            ResignArg::Never => decide::ResignMode::Never,
        },
        sign_as: match a.sign_as {
            SignAsArg::Keep => decide::SignAs::Keep,
            SignAsArg::Sigv4 => decide::SignAs::Sigv4,
            SignAsArg::Sigv2 => decide::SignAs::Sigv2,
            SignAsArg::Cos => decide::SignAs::Cos,
        },
        region: a.region.clone(),
        keys,
        identity,
        key_source,
        identity_source: provider.zip(first),
        upstream_timeout: std::time::Duration::from_secs(a.upstream_timeout.max(1)),
        upstream_ca: a.upstream_ca.clone(),
        upstream_idle: std::time::Duration::from_secs(a.upstream_idle.max(1)),
        header_timeout: std::time::Duration::from_secs(a.header_timeout.max(1)),
        sink,
        json_log: json,
        embedded: false,
        threads: match a.threads {
            Some(0) => return Err(usage("--threads must be at least 1")),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
        clock,
        vouch: crate::proxy::guard::Vouch {
            listen: None,
            serve_hosts: a
                .serve_host
                .iter()
                .map(|h| {
                    crate::net::client::Authority::parse(h)
                        .map_err(|e| usage(format!("--serve-host {e}")))
                })
                .collect::<Result<_, _>>()?,
            allow_origins: a
                .allow_origin
                .iter()
                .map(|o| o.trim().to_string())
                .collect(),
        },
        // an environment switch, not a flag: it exists to compare the two paths
        lean: std::env::var("SIGTAP_LEAN").map_or(true, |v| v != "0"),
        recorder: match &a.record {
            Some(p) => {
                let mut r = crate::record::Recorder::open(p, a.record_inline_limit)
                    .map_err(|e| usage(format!("--record {}: {e}", p.display())))?;
                r.redact = a
                    .redact_header
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect();
                r.redact_body = a.redact_body_field.clone();
                r.keep_out(held_tokens);
                if a.record_large == crate::cli::RecordLarge::Hash {
                    r.bodies = None;
                }
                Some(std::sync::Arc::new(r))
            }
            None if !a.redact_header.is_empty() || !a.redact_body_field.is_empty() => {
                return Err(usage(
                    "--redact-header and --redact-body-field apply to --record",
                ))
            }
            None => None,
        },
        ui: ui.as_ref().map(|(_, server)| server.url()),
        admin: admin
            .as_ref()
            .map(|(state, server)| (server.url(), state.clone())),
    };
    let code = crate::proxy::run(cfg);
    drop(ui);
    drop(admin);
    Ok(code)
}

/// The demo key of the embedded mock (printed for users to paste; not a real credential).
/// Parses `20m`, `-90s`, `2h`, `1d` or plain seconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, 's'),
    };
    let n: i64 = num.parse().ok()?;
    let mul = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    n.checked_mul(mul)
}

fn mock(a: MockArgs, clock: Arc<dyn Clock>) -> Result<i32, CommandError> {
    raise_open_files_limit();
    let listen = match a.port {
        Some(p) => format!("127.0.0.1:{p}"),
        None => a.listen.clone(),
    };
    let listen: std::net::SocketAddr = listen.parse().map_err(|_| {
        usage(format!(
            "--listen {listen:?} is not HOST:PORT (e.g. 127.0.0.1:9000)"
        ))
    })?;
    let tls = tls::listener_tls(&a.tls, clock.now())?;
    let offset = match &a.clock_offset {
        Some(c) => parse_duration(c).ok_or_else(|| {
            usage(format!(
                "--clock-offset {c:?}: use e.g. 20m, -90s, 2h or seconds"
            ))
        })?,
        None => 0,
    };
    let max_memory = match &a.max_memory {
        Some(m) => crate::mock::parse_size(m)
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                usage(format!(
                    "--max-memory {m:?}: use a positive size such as 512MiB, 2GiB or 1000000"
                ))
            })?,
        None => crate::mock::DEFAULT_MAX_MEMORY,
    };
    let faults = a
        .fail
        .iter()
        .map(|r| crate::mock::fail::Rule::parse(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage)?;
    let recording = match &a.recording {
        Some(p) => {
            let rec = crate::record::read::Recording::load(p).map_err(usage)?;
            let m = crate::record::matcher::Matcher::new(rec, &a.match_header)
                .map_err(|e| usage(format!("--recording {}: {e}", p.display())))?;
            eprintln!(
                "sigtap mock: serving {} recorded exchanges from {}{}",
                m.len(),
                p.display(),
                if a.store {
                    " (others go to the in-memory store)"
                } else {
                    ""
                }
            );
            Some(m)
        }
        None => None,
    };
    let mut keys = key_store(&a.keys)?;
    if keys.is_empty() {
        let d = credentials::demo_key();
        eprintln!("sigtap mock: no keys given; using the demo key:\n  export AWS_ACCESS_KEY_ID={}\n  export AWS_SECRET_ACCESS_KEY={}", d.access_key, d.secret.expose());
        keys.add(d);
    }
    let rt = runtime_for_io()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| runtime(format!("cannot listen on {listen}: {e}")))?;
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{addr}");
            let _ = out.flush();
        }
        let mut cfg = crate::mock::MockConfig::new(Inspector::new(keys), offset, clock);
        cfg.recording = recording;
        cfg.store_fallback = a.store;
        cfg.faults = crate::mock::fail::Faults::new(faults, a.seed);
        cfg.region = a.region.clone();
        cfg.max_memory = max_memory;
        let m = crate::mock::Mock::new(cfg);
        let (tx, rx) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(crate::mock::serve(m, listener, tls, rx));
        crate::proxy::shutdown_signal().await;
        let _ = tx.send(true);
        let _ = server.await;
        Ok(0)
    })
}

fn replay(a: crate::cli::ReplayArgs, clock: Arc<dyn Clock>) -> Result<i32, CommandError> {
    use crate::record::replay::{self, ReplayConfig};
    let upstream = crate::net::client::Upstream::parse(&a.upstream).map_err(usage)?;
    let rec = crate::record::read::Recording::load(&a.recording).map_err(usage)?;
    if rec.exchanges.is_empty() {
        return Err(usage(format!(
            "{}: the recording holds no exchange",
            a.recording.display()
        )));
    }
    if a.concurrency == 0 {
        return Err(usage("--concurrency must be at least 1"));
    }
    let now = match &a.now {
        Some(_) => Some(parse_time_flag("--now", a.now.as_deref(), &*clock)?),
        None => None,
    };
    if let Some(ca) = &a.upstream_ca {
        crate::net::client::client(Some(ca), std::time::Duration::from_secs(1), None)
            .map_err(usage)?;
    }
    let cfg = ReplayConfig {
        clock,
        upstream,
        keys: key_store(&a.keys)?,
        now,
        concurrency: a.concurrency,
        compare_headers: a
            .compare_header
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        json: a.format == Format::Json,
        timeout: std::time::Duration::from_secs(a.timeout.max(1)),
        progress: std::io::stderr().is_terminal() && rec.exchanges.len() > 20,
        upstream_ca: a.upstream_ca.clone(),
    };
    let json = cfg.json;
    let rt = runtime_for_io()?;
    // the CA file was checked above: what fails here is the machine's (TLS setup)
    let s = rt.block_on(replay::run(rec, cfg)).map_err(runtime)?;
    let rate = (s.same + s.different + s.errors) as f64 / s.seconds.max(1e-9);
    if json {
        println!(
            "{}",
            serde_json::json!({"summary": {"same": s.same, "different": s.different, "skipped": s.skipped,
                "errors": s.errors, "seconds": s.seconds, "requests_per_second": rate}})
        );
    } else {
        println!(
            "summary: {} same, {} different, {} failed, {} skipped in {:.2}s ({rate:.0} requests/s)",
            s.same, s.different, s.errors, s.skipped, s.seconds
        );
    }
    Ok(if s.ok() { 0 } else { 1 })
}

/// Writes `text` to the file named (a path that cannot be opened is bad usage) or to stdout.
fn write_out(path: Option<&std::path::Path>, text: &str) -> Result<(), CommandError> {
    match path {
        Some(p) => {
            let mut f = crate::record::create_private(p)
                .map_err(|e| usage(format!("{}: {e}", p.display())))?;
            f.write_all(text.as_bytes())
                .and_then(|_| f.flush())
                .map_err(|e| runtime(format!("writing {}: {e}", p.display())))
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|e| runtime(format!("writing stdout: {e}")))
        }
    }
}

fn export(a: crate::cli::ExportArgs) -> Result<i32, CommandError> {
    let rec = crate::record::read::Recording::load(&a.recording).map_err(usage)?;
    let har = crate::record::har::export(&rec).map_err(usage)?;
    let text = serde_json::to_string_pretty(&har).map_err(|e| runtime(e.to_string()))?;
    write_out(a.output.as_deref(), &format!("{text}\n"))?;
    Ok(0)
}

fn import(a: crate::cli::ImportArgs) -> Result<i32, CommandError> {
    let text = if a.input.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| usage(format!("stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(&a.input)
            .map_err(|e| usage(format!("{}: {e}", a.input.display())))?
    };
    let har: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| usage(format!("{}: not JSON: {e}", a.input.display())))?;
    let lines = crate::record::har::import(&har)
        .map_err(|e| usage(format!("{}: {e}", a.input.display())))?;
    let out: String = lines.iter().map(|l| format!("{l}\n")).collect();
    write_out(a.output.as_deref(), &out)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whose_fault_decides_the_exit_status() {
        let missing = std::path::Path::new("/nonexistent-sigtap-folder/out.jsonl");
        let e = write_out(Some(missing), "x").unwrap_err();
        assert_eq!(e.exit_status(), EXIT_USAGE, "{e}");
        assert_eq!(runtime("cannot listen").exit_status(), EXIT_RUNTIME);
    }
}
