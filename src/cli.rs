//! Command-line definitions (clap only; validation lives in `commands`).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "sigtap",
    version,
    about = "Validate, explain and re-sign object-storage request signatures (Tencent COS, AWS SigV4/SigV2)",
    long_about = "sigtap re-derives the signature of a storage request from the bytes that were sent, \
says whether it is valid, and if not, why: expired windows and clock skew with numbers and a cause, \
signature mismatches with the canonical request / HttpString shown stage by stage.\n\n\
Examples:\n  sigtap inspect --format json request.http\n  sigtap inspect 'https://bucket.s3.amazonaws.com/key?X-Amz-Algorithm=...'\n  \
sigtap sign --scheme cos --access-key AKID... --secret-key ... unsigned.http\n  sigtap presign --scheme sigv4 --expires 600 https://bucket.s3.us-east-1.amazonaws.com/key\n  sigtap explain expired"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Verify a raw HTTP request (file, `-` for stdin) or a presigned URL, offline.
    ///
    /// Exit status: 0 valid, 1 invalid, 3 unverified (no secret for the access key), 2 bad usage or input.
    Inspect(InspectArgs),
    /// Sign an unsigned raw request and print it, signed, on stdout (body included).
    Sign(SignArgs),
    /// Presign a URL (or a raw request) and print the presigned URL.
    Presign(SignArgs),
    /// Explain a finding code (or list all codes).
    Explain(ExplainArgs),
    /// Run the local proxy: validate, diagnose, re-sign and forward every request.
    ///
    /// The first line on stdout is the bound address (HOST:PORT); then one record per request.
    /// SIGINT/SIGTERM stop accepting, let requests in flight finish, print a summary and exit 0.
    Proxy(Box<ProxyArgs>),
    /// Run a strict mock storage service: an in-memory bucket/object store that checks every
    /// signature like the service and answers failures with its exact error documents.
    ///
    /// The first line on stdout is the bound address; SIGINT/SIGTERM exit 0. Without keys it uses a
    /// demo key, printed on stderr. With --recording it answers from a recording made by
    /// `sigtap proxy --record` (why-no-match lines on stderr); --fail injects faults.
    ///
    /// Examples:
    ///   sigtap mock --port 0 --credentials keys.ini
    ///   sigtap mock --port 0 --recording session.jsonl --clock-offset 3d
    ///   sigtap mock --port 9000 --fail 'slowdown:method=PUT,times=2' --fail 'reset:rate=0.05'
    #[command(verbatim_doc_comment)]
    Mock(MockArgs),
    /// A short scripted tour through the proxy and the embedded mock: a valid request, an expired
    /// presigned URL, a client 20 minutes behind, a header changed after signing, a SigV2 client
    /// converted to SigV4. Needs no credentials and no network; exit 0 when all went as shown.
    Demo(DemoArgs),
    /// Re-send a recording to an upstream, re-signed with fresh time, and compare each answer
    /// with the recording (status, Content-Length, ETag, Content-Type, body hash).
    ///
    /// One line per exchange, then a summary. Exit status: 0 all the same, 1 any difference or
    /// failed request, 2 bad usage or an unreadable recording.
    ///
    /// Example: sigtap replay session.jsonl --upstream http://127.0.0.1:9000 --credentials keys.ini
    #[command(verbatim_doc_comment)]
    Replay(ReplayArgs),
    /// Convert a recording to HAR 1.2 (opens in browser devtools and HAR viewers).
    Export(ExportArgs),
    /// Convert a HAR 1.2 file into a recording (signatures and tokens redacted).
    Import(ImportArgs),
    /// The local CA that signs the certificates sigtap shows HTTPS clients: where it is and how
    /// to make each client trust it.
    ///
    /// The CA is made on first use, in --ca-dir, else $SIGTAP_HOME, else ~/.sigtap: ca.pem (the
    /// certificate to trust) and ca-key.pem (its key, mode 0600, never printed). An existing CA
    /// is kept as it is. The first line on stdout is the absolute path of ca.pem.
    ///
    /// Examples:
    ///   sigtap ca                      # the path, then how to trust it per client
    ///   sigtap ca init                 # make the CA (if absent) and print its path
    ///   export AWS_CA_BUNDLE="$(sigtap ca init)"
    #[command(verbatim_doc_comment)]
    Ca(CaArgs),
}

#[derive(Args, Debug)]
pub struct CaArgs {
    #[command(subcommand)]
    pub action: Option<CaAction>,
    /// The CA's folder (default: $SIGTAP_HOME, else ~/.sigtap). Created with mode 0700.
    #[arg(long, value_name = "DIR", global = true)]
    pub ca_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaAction {
    /// Make the CA unless it exists, and print the absolute path of ca.pem (nothing else).
    Init,
    /// Print the path of ca.pem, then how to trust it per client (the default).
    Show,
}

#[derive(Args, Debug)]
pub struct MockArgs {
    /// Address to listen on.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9000")]
    pub listen: String,
    /// Short for --listen 127.0.0.1:N (0 picks a free port).
    #[arg(long, value_name = "N", conflicts_with = "listen")]
    pub port: Option<u16>,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Move the mock's clock (its checks and Date header): e.g. 20m, -90s, 2h, 3600.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub clock_offset: Option<String>,
    /// Serve the exchanges of this recording (from `sigtap proxy --record`): a request gets the
    /// recorded answer of the exchange it matches (method, path, query without signature
    /// parameters, body hash, Range/Content-Type/If-* headers); several matches are served in
    /// recorded order. No match: a 404 error document and a line on stderr saying why.
    #[arg(long, value_name = "FILE")]
    pub recording: Option<PathBuf>,
    /// With --recording: requests the recording lacks go to the in-memory store instead of a 404.
    #[arg(long, requires = "recording")]
    pub store: bool,
    /// Also match on this request header (repeatable).
    #[arg(long, value_name = "NAME", requires = "recording")]
    pub match_header: Vec<String>,
    /// Accept only this SigV4 region in the credential scope (default: any region).
    #[arg(long)]
    pub region: Option<String>,
    /// Inject a fault: KIND[:OPTION,...]. Kinds: skew (RequestTimeTooSkewed), expired ("Request
    /// has expired"), slowdown (503 SlowDown), internal (500), reset (close the connection),
    /// slow-body (1 KiB per `delay` ms). Options: method=GET, path=/bucket/prefix*, rate=0.25,
    /// times=N, delay=MS. Example: --fail 'slowdown:method=PUT,times=2'. Repeatable; the first
    /// rule that fires wins.
    #[arg(long, value_name = "RULE")]
    pub fail: Vec<String>,
    /// Seed of the random draw behind `rate=` (same seed, same requests fail).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// The most memory the objects, upload parts and request bodies may take together, e.g.
    /// 512MiB, 2GiB, 100MB (default 1GiB). It is also the largest single body: a larger
    /// Content-Length gets 400 EntityTooLarge before the body is read; a body that would pass
    /// the total gets 503 ServiceUnavailable. Deleting objects frees it.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub max_memory: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Also serve the web view of the tour's requests (on 127.0.0.1 with a free port unless
    /// HOST:PORT is given); its URL is printed first, and it stays up after the tour until
    /// SIGINT/SIGTERM.
    #[arg(long, value_name = "HOST:PORT", num_args = 0..=1, default_missing_value = "127.0.0.1:0")]
    pub ui: Option<String>,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A recording made by `sigtap proxy --record` (or `sigtap import`).
    pub recording: PathBuf,
    /// Where to send the requests (http:// or https://).
    #[arg(long, value_name = "URL")]
    pub upstream: String,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Sign at this time (RFC 3339 or unix seconds) instead of the clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Requests in flight at once (1 keeps the recorded order strictly).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub concurrency: usize,
    /// Also compare this response header (repeatable).
    #[arg(long, value_name = "NAME")]
    pub compare_header: Vec<String>,
    /// Result lines: human or one JSON object per exchange.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// A PEM file of extra CA certificates for an https upstream.
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<PathBuf>,
    /// Seconds to wait for each answer.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write HAR 1.2 (the only export format so far).
    #[arg(long, required = true)]
    pub har: bool,
    /// The recording to export.
    pub recording: PathBuf,
    /// Output file (default: stdout).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Read HAR 1.2 (the only import format so far).
    #[arg(long, required = true)]
    pub har: bool,
    /// The HAR file to import (`-` for stdin).
    pub input: PathBuf,
    /// The recording to write (default: stdout). Signatures and tokens are redacted.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum RecordLarge {
    /// Store bodies over the inline limit in FILE.bodies/ by SHA-256 (replayable).
    Beside,
    /// Keep only their SHA-256 and size (matching still works; replaying them does not).
    Hash,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ResignArg {
    /// Re-sign when delivery needs it (host changed, time invalid, --sign-as); reject wrong signatures.
    Auto,
    /// Drop the client's auth and sign every request with the upstream identity.
    Always,
    /// Forward untouched; diagnose only.
    Never,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SignAsArg {
    Keep,
    Sigv4,
    Sigv2,
    Cos,
}

#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// Reverse proxy: every request goes to this base URL (http:// or https://).
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Forward proxy (an http_proxy and HTTPS_PROXY for clients): each request goes to the host
    /// its absolute-form target or Host names, if --allow-host allows it (default: the COS and S3
    /// endpoint domains). A CONNECT to an allowed host is intercepted: TLS with a certificate
    /// from the local CA (--ca-dir), then each request inside is verified, re-signed if needed
    /// and logged like a plain one, and sent on to https://HOST.
    #[arg(long, conflicts_with = "upstream")]
    pub forward: bool,
    /// Hosts a forward proxy may reach (`host`, `host:port`, `*.domain`; repeatable). A CONNECT
    /// is intercepted on port 443, or on the port a `host:port` pattern names; IP addresses and
    /// loopback only when a pattern names them.
    #[arg(long, value_name = "PATTERN")]
    pub allow_host: Vec<String>,
    /// Address to listen on.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Short for --listen 127.0.0.1:N (0 picks a free port).
    #[arg(long, value_name = "N", conflicts_with = "listen")]
    pub port: Option<u16>,
    /// When to re-sign.
    #[arg(long, value_enum, default_value_t = ResignArg::Auto)]
    pub resign: ResignArg,
    /// Scheme to sign with when re-signing (`keep`: the client's).
    #[arg(long, value_enum, default_value_t = SignAsArg::Keep)]
    pub sign_as: SignAsArg,
    /// SigV4 region for re-signing (default: from the upstream host, else the client's scope).
    #[arg(long)]
    pub region: Option<String>,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Read settings from a TOML file whose keys are these flags' names (`upstream = "…"`,
    /// `resign = "always"`, `serve-host = ["a", "b"]`, switches as `tls = true`); a flag on the
    /// command line replaces the file's value; an unknown key is an error.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Access key of the upstream identity for --resign always (its secret comes from the key store).
    #[arg(long, value_name = "ID", conflicts_with_all = ["upstream_profile", "upstream_credentials"])]
    pub upstream_access_key: Option<String>,
    /// The upstream identity is this profile of the AWS shared credentials and config files,
    /// resolved as botocore does: static keys, or `credential_process` (temporary keys,
    /// fetched again before they expire, their session token sent with every request).
    #[arg(long, value_name = "NAME", conflicts_with = "upstream_credentials")]
    pub upstream_profile: Option<String>,
    /// The upstream identity is a temporary key from `container` (the ECS/EKS container
    /// endpoint: AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI, with
    /// AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]) or `cvm[:ROLE]` (a Tencent Cloud CVM's
    /// instance role, from the metadata endpoint), fetched again before it expires.
    #[arg(long, value_name = "SOURCE")]
    pub upstream_credentials: Option<String>,
    /// Where the CVM instance metadata lives (for `--upstream-credentials cvm`).
    #[arg(long, value_name = "URL", default_value = crate::provider::CVM_METADATA)]
    pub cvm_metadata_url: String,
    /// With --resign always, also sign requests whose Host is NAME (repeatable; a name without a
    /// port matches any port): the names a load balancer or sidecar puts in Host. By default only
    /// requests addressed to the proxy itself (a loopback name or address with its port) are
    /// signed, so a web page cannot use the proxy through DNS rebinding.
    #[arg(long, value_name = "NAME")]
    pub serve_host: Vec<String>,
    /// With --resign always, sign requests that carry this Origin header (repeatable, e.g.
    /// http://localhost:3000). Requests from any other web page are refused with 403.
    #[arg(long, value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Connect to ADDR:PORT whenever the upstream is HOST[:PORT] (like curl --resolve); the
    /// request keeps its Host. Repeatable. Useful to test a forward proxy without DNS.
    #[arg(long, value_name = "HOST[:PORT]=ADDR:PORT")]
    pub resolve: Vec<String>,
    /// A PEM file of extra CA certificates to trust for an https upstream (besides the system roots).
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<PathBuf>,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Seconds to wait for the upstream's answer before replying 504.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub upstream_timeout: u64,
    /// Seconds an idle upstream connection is kept for reuse.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub upstream_idle: u64,
    /// Seconds a client may take to send its request headers.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub header_timeout: u64,
    /// Per-request log format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub log_format: Format,
    /// Write the per-request log to FILE instead of stdout (the address line stays on stdout).
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Record every exchange to FILE (JSON Lines, appended and flushed per exchange; secrets,
    /// tokens and signature values replaced by markers).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Also replace this header's value by a marker in the recording (repeatable).
    #[arg(long, value_name = "NAME")]
    pub redact_header: Vec<String>,
    /// Also replace this field's value by a marker in recorded XML and JSON bodies kept inline
    /// (an XML element's text, a JSON member's value at any depth; repeatable).
    #[arg(long, value_name = "NAME")]
    pub redact_body_field: Vec<String>,
    /// Bodies up to this many bytes are stored inline in the recording (base64).
    #[arg(long, value_name = "BYTES", default_value_t = 65536)]
    pub record_inline_limit: usize,
    /// Worker threads, each serving its connections start to finish (default: the number of CPUs).
    /// Requests without a body or with one up to 64 KiB, to a plain-http upstream, take a lean
    /// path without hyper (environment SIGTAP_LEAN=0 turns it off, to compare).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Larger bodies: stored beside the recording in FILE.bodies/ by SHA-256, or hash and size only.
    #[arg(long, value_enum, default_value_t = RecordLarge::Beside)]
    pub record_large: RecordLarge,
    /// Serve a live web view of the requests and their diagnoses on HOST:PORT (port 0 picks
    /// one). Name a loopback address unless other machines should reach it: the view refuses
    /// requests whose Host is not its address and data requests from other web pages. Its URL
    /// is printed on stdout right after the address line (`ui: http://HOST:PORT/`).
    #[arg(long, value_name = "HOST:PORT")]
    pub ui: Option<String>,
    /// How many requests the web view keeps (the oldest go first; default 10000).
    #[arg(long, value_name = "N", requires = "ui")]
    pub ui_keep: Option<usize>,
    /// Serve `/metrics` (Prometheus text format) and `/healthz` on HOST:PORT (a bare port means
    /// 127.0.0.1; port 0 picks one). Name another address only when other machines should reach
    /// it: requests whose Host is not its address are refused. Its URL is printed on stdout after
    /// the address line (`admin: http://HOST:PORT/`).
    #[arg(long, value_name = "HOST:PORT")]
    pub admin: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct KeyArgs {
    /// Access key id (COS: SecretId).
    #[arg(long, value_name = "ID")]
    pub access_key: Option<String>,
    /// Secret access key (COS: SecretKey). Prefer --credentials or the environment: command lines are visible to other users.
    #[arg(long, value_name = "SECRET")]
    pub secret_key: Option<String>,
    /// Session token of a temporary key.
    #[arg(long, value_name = "TOKEN")]
    pub session_token: Option<String>,
    /// An AWS shared-credentials INI file; every section is loaded (COS keys go in the same fields).
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// Profile of the AWS shared credentials/config files (default: $AWS_PROFILE or `default`).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A raw HTTP/1.1 request file, `-` for stdin, or an http(s):// URL (read as a GET of it; no network access).
    pub input: String,
    /// The time to judge at: RFC 3339 (2025-01-15T08:30:00Z) or unix seconds. Default: the system clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// The raw HTTP response the service gave to this request: its error document
    /// (Code, StringToSign, ServerTime, ...) and clock are tied to the diagnosis.
    #[arg(long, value_name = "FILE")]
    pub response: Option<std::path::PathBuf>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SchemeArg {
    Cos,
    Sigv4,
    Sigv2,
}

#[derive(Args, Debug)]
pub struct SignArgs {
    /// A raw HTTP/1.1 request file, `-` for stdin, or an http(s):// URL (a GET of it).
    pub input: String,
    /// Signing scheme.
    #[arg(long, value_enum, default_value_t = SchemeArg::Sigv4)]
    pub scheme: SchemeArg,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// SigV4 region (default: the endpoint's region when the host names one, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// SigV4 service name; `s3` applies the S3 rules, anything else the generic ones.
    #[arg(long, default_value = "s3")]
    pub service: String,
    /// Signing time: RFC 3339 or unix seconds. Default: the system clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Validity in seconds (presigned URLs, COS windows).
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub expires: i64,
    /// COS window start (RFC 3339 or unix seconds). Default: --now.
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// COS window end (RFC 3339 or unix seconds). Default: start + --expires.
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
    /// Headers to sign, `;`-separated (default: what the official SDKs sign).
    #[arg(long, value_name = "a;b;c")]
    pub signed_headers: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// A finding code such as `expired`; without it, all codes are listed.
    pub code: Option<String>,
}

/// HTTPS: the local CA and the TLS listener (`sigtap proxy`, `sigtap mock`).
#[derive(Args, Debug, Default, Clone)]
pub struct TlsArgs {
    /// Where the local CA lives (ca.pem, ca-key.pem; created on first use). It issues the
    /// certificates for intercepted HTTPS hosts (proxy --forward) and for --tls. Default:
    /// $SIGTAP_HOME, else ~/.sigtap. `sigtap ca` shows how to make clients trust it.
    #[arg(long, value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,
    /// Serve HTTPS on the listen address, with a certificate from the local CA for localhost,
    /// 127.0.0.1, ::1 and each --tls-name; or the one given by --tls-cert/--tls-key.
    #[arg(long = "tls")]
    pub on: bool,
    /// Another name (DNS or IP) the --tls certificate is valid for. Repeatable.
    #[arg(long, value_name = "NAME", requires = "on")]
    pub tls_name: Vec<String>,
    /// Serve this certificate chain (PEM) with --tls instead of one from the local CA.
    #[arg(long, value_name = "FILE", requires_all = ["on", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires_all = ["on", "tls_cert"])]
    pub tls_key: Option<PathBuf>,
}
