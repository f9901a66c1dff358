//! Replay as a client: re-send a recording's requests to an upstream, each re-signed with fresh
//! time in its recorded scheme and signed-header set, and compare the answers with the recording.
//!
//! Compared by default: status, `Content-Length`, `ETag`, `Content-Type` and the body's SHA-256
//! (XML bodies after masking dates and request ids, and with upload ids the replay learned
//! mapped to the new ones). Never dates, request ids or server names.

use super::read::{Exchange, Recording};
use crate::clock::Clock;
use crate::credentials::KeyStore;
use crate::inspect::Inspector;
use crate::net::body::{full, ProxyBody};
use crate::net::client::{Clocks, HttpsClient, Upstream};
use crate::resign::{self, ResignParams, SignAs};
use crate::wire::{Request, Target};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Settings of one replay run.
pub struct ReplayConfig {
    /// Signing times and durations come from here.
    pub clock: Arc<dyn Clock>,
    pub upstream: Upstream,
    pub keys: KeyStore,
    /// Sign at this fixed time instead of the clock (plus the upstream's learned offset).
    pub now: Option<i64>,
    pub concurrency: usize,
    /// Extra response headers to compare (lower-case).
    pub compare_headers: Vec<String>,
    pub json: bool,
    pub timeout: Duration,
    /// Show a progress line on stderr.
    pub progress: bool,
    pub upstream_ca: Option<std::path::PathBuf>,
}

/// The outcome of one exchange.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub id: u64,
    pub method: String,
    pub target: String,
    /// `same`, `different`, `skipped` or `error`.
    pub result: &'static str,
    pub status: Option<u16>,
    pub recorded_status: u16,
    pub differences: Vec<String>,
    pub note: Option<String>,
    pub ms: f64,
}

impl Outcome {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id, "method": self.method, "target": self.target, "result": self.result,
            "status": self.status, "recorded_status": self.recorded_status,
            "differences": self.differences, "note": self.note, "ms": (self.ms * 10.0).round() / 10.0,
        })
    }

    /// The human line: recorded and upstream text escaped as the proxy's human log escapes it.
    pub fn human(&self) -> String {
        use crate::redact::{escape_into, shown_into, Form};
        let mark = match self.result {
            "same" => "✓",
            "skipped" => "-",
            _ => "✗",
        };
        let status = self
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "---".into());
        let mut line = format!("{mark} #{} ", self.id);
        escape_into(&mut line, &self.method, Form::Text);
        line.push(' ');
        shown_into(&mut line, &self.target, [], Form::Bytes);
        line.push_str(&format!(
            " → {status} (recorded {}) {:.1}ms",
            self.recorded_status, self.ms
        ));
        for d in &self.differences {
            line.push_str("\n    differs: ");
            shown_into(&mut line, d, [], Form::Text);
        }
        if let Some(n) = &self.note {
            line.push_str("\n    note: ");
            shown_into(&mut line, n, [], Form::Text);
        }
        line
    }
}

/// Values the server chose in the recording and chooses anew now (upload ids).
#[derive(Default)]
struct Learned(Mutex<HashMap<String, String>>);

impl Learned {
    fn apply(&self, s: &str) -> String {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = s.to_string();
        for (old, new) in map.iter() {
            if out.contains(old.as_str()) {
                out = out.replace(old.as_str(), new);
            }
        }
        out
    }

    fn learn(&self, recorded: &[u8], fresh: &[u8]) {
        for tag in ["UploadId"] {
            if let (Some(a), Some(b)) = (xml_field(recorded, tag), xml_field(fresh, tag)) {
                if a != b && !a.is_empty() {
                    let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
                    // the query carries it percent-encoded; learn both spellings
                    let enc = |s: &str| crate::sig::encode::uri_encode(s.as_bytes(), false);
                    map.insert(enc(&a), enc(&b));
                    map.insert(a, b);
                }
            }
        }
    }
}

fn xml_field(body: &[u8], tag: &str) -> Option<String> {
    let s = std::str::from_utf8(body).ok()?;
    let open = format!("<{tag}>");
    let i = s.find(&open)? + open.len();
    let j = s[i..].find("</")? + i;
    Some(s[i..j].to_string())
}

/// XML elements whose text changes from run to run and is never compared.
const VOLATILE: &[&str] = &[
    "LastModified",
    "CreationDate",
    "Initiated",
    "RequestId",
    "HostId",
    "TraceId",
    "ServerTime",
    "Expires",
    "StringToSign",
    "StringToSignBytes",
    "CanonicalRequest",
    "CanonicalRequestBytes",
    "FormatString",
    "SignatureProvided",
    "Owner",
    "Initiator",
];

/// An XML body with volatile element texts replaced by `*`.
pub fn mask_xml(body: &str) -> String {
    let mut s = body.to_string();
    for tag in VOLATILE {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(i) = rest.find(&open) {
            let after = i + open.len();
            match rest[after..].find(&close) {
                Some(j) => {
                    out.push_str(&rest[..after]);
                    out.push('*');
                    rest = &rest[after + j..];
                }
                None => break,
            }
        }
        out.push_str(rest);
        s = out;
    }
    s
}

fn looks_xml(content_type: Option<&str>, body: &[u8]) -> bool {
    content_type.is_some_and(|c| c.contains("xml")) || body.starts_with(b"<?xml")
}

/// Stand-ins for redacted signature values, so the recorded request parses again and the
/// signer knows the recorded scheme, carrier and signed headers.
fn unredact(req: &mut Request) {
    use crate::redact::record::MARK;
    if let Some(a) = req.header("authorization").map(str::to_string) {
        let a = a
            .replace(
                "q-signature=<redacted>",
                &format!("q-signature={}", "0".repeat(40)),
            )
            .replace(
                "Signature=<redacted>",
                &format!("Signature={}", "0".repeat(64)),
            )
            .replace(":<redacted>", ":AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        req.set_header("Authorization", a);
    }
    for t in crate::redact::TOKEN_NAMES {
        if req.header(t) == Some(MARK) {
            req.remove_header(t);
        }
    }
    if let Some(q) = req.query.take() {
        let pieces: Vec<String> = q
            .split('&')
            .filter_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                if v != MARK {
                    return Some(p.to_string());
                }
                let name = crate::sig::encode::decoded_text(k).to_ascii_lowercase();
                match name.as_str() {
                    "x-amz-signature" => Some(format!("{k}={}", "0".repeat(64))),
                    "q-signature" => Some(format!("{k}={}", "0".repeat(40))),
                    "signature" => Some(format!("{k}=AAAAAAAAAAAAAAAAAAAAAAAAAAA%3D")),
                    _ => None, // tokens and `sign=`: signed anew
                }
            })
            .collect();
        req.query = (!pieces.is_empty()).then(|| pieces.join("&"));
    }
}

struct Ctx {
    cfg: ReplayConfig,
    /// Masks a live answer as the recorder masked the recorded one (the keys' tokens and
    /// signature values), for answers recorded `redacted`.
    scrubber: crate::redact::record::Scrubber,
    client: HttpsClient,
    inspector: Inspector,
    clocks: Clocks,
    learned: Learned,
    base: std::path::PathBuf,
}

/// Builds, signs and sends one exchange; compares the answer.
async fn replay_one(ctx: &Ctx, x: &Exchange) -> Outcome {
    let clock = &ctx.cfg.clock;
    let started = clock.instant();
    let mut o = Outcome {
        id: x.id,
        method: x.request.method.clone(),
        target: x.request.target.clone(),
        result: "error",
        status: None,
        recorded_status: x.response.status,
        differences: vec![],
        note: None,
        ms: 0.0,
    };
    if x.answered_locally() {
        o.result = "skipped";
        o.note = Some(format!(
            "sigtap answered this one itself when recording ({}); it never reached the upstream",
            x.action
        ));
        return o;
    }
    match send(ctx, x).await {
        Ok((status, headers, seen)) => {
            o.status = Some(status);
            o.differences = compare(ctx, x, status, &headers, &seen);
            o.result = if o.differences.is_empty() {
                "same"
            } else {
                "different"
            };
        }
        Err(e) => o.note = Some(e),
    }
    o.ms = clock.instant().duration_since(started).as_secs_f64() * 1000.0;
    o
}

/// What came back: status, headers and the body as seen while it streamed.
type Answer = (u16, Vec<(String, String)>, Seen);

/// A response body: its hash and size, and its first bytes (XML documents are compared whole
/// up to this size).
#[derive(Default)]
struct Seen {
    sha256: String,
    size: u64,
    head: Vec<u8>,
}

const HEAD_KEEP: usize = 1 << 20;

/// A request body read from a stored body file while it is sent (memory stays one piece).
/// The last piece is held back until the bytes are known to be the recorded ones, so a file
/// changed since the recording never reaches the upstream whole.
struct FileBody {
    file: tokio::fs::File,
    buf: Vec<u8>,
    left: u64,
    check: Option<super::read::HashCheck>,
}

impl hyper::body::Body for FileBody {
    type Data = bytes::Bytes;
    type Error = crate::net::body::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        if this.left == 0 {
            return Poll::Ready(None);
        }
        let mut rb = tokio::io::ReadBuf::new(&mut this.buf);
        match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut this.file), cx, &mut rb) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(Ok(())) if rb.filled().is_empty() => Poll::Ready(Some(Err(
                "the stored body file is shorter than recorded".into(),
            ))),
            Poll::Ready(Ok(())) => {
                let n = (rb.filled().len() as u64).min(this.left) as usize;
                this.left -= n as u64;
                let piece = &rb.filled()[..n];
                if let Some(c) = &mut this.check {
                    c.update(piece);
                }
                if this.left == 0 {
                    if let Some(c) = this.check.take() {
                        if let Err(e) = c.finish() {
                            return Poll::Ready(Some(Err(e.into())));
                        }
                    }
                }
                let chunk = bytes::Bytes::copy_from_slice(piece);
                Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.left)
    }
}

async fn send(ctx: &Ctx, x: &Exchange) -> Result<Answer, String> {
    let r = &x.request;
    let target = ctx.learned.apply(&r.target);
    // a stored body streams from its file (a signed aws-chunked one is re-framed on the way);
    // one edited when recorded is read whole, as its hash headers are computed from it
    let (body, file) = match r.body.source(&ctx.base)? {
        super::read::BodySource::Inline(b) => (b, None),
        super::read::BodySource::File(_) if r.body.redacted => {
            (r.body.load(&ctx.base)?.unwrap_or_default(), None)
        }
        super::read::BodySource::File(_) => (Vec::new(), Some(r.body.open(&ctx.base)?)),
        super::read::BodySource::Missing => return Err("the recording kept only the hash of this request's body (--record-large hash); it cannot be sent again".into()),
    };
    let fields = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes()));
    let mut req = Request::from_parts(&r.method, Target::origin(&target), fields);
    req.body = body;
    req.remove_header("transfer-encoding");
    unredact(&mut req);
    if r.body.redacted {
        // the body was edited when recorded: its hash headers must describe the edited bytes
        let hex_hash = req
            .header("x-amz-content-sha256")
            .is_some_and(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()));
        if hex_hash {
            let h = crate::sig::encode::hex(&Sha256::digest(&req.body));
            req.set_header("x-amz-content-sha256", h);
        }
        if req.has_header("content-md5") {
            use base64::Engine;
            let md5 = <md5::Md5 as md5::Digest>::digest(&req.body);
            req.set_header(
                "Content-MD5",
                base64::engine::general_purpose::STANDARD.encode(md5),
            );
        }
    }
    let up = &ctx.cfg.upstream;
    let now = ctx
        .cfg
        .now
        .unwrap_or_else(|| ctx.cfg.clock.now() + ctx.clocks.offset(&up.authority));
    let recorded_scheme = x.resigned_as.as_deref().unwrap_or(&x.client.scheme);
    let report = ctx.inspector.inspect_head(&req, now);
    let mut new_chain = None;
    let outgoing = if x.client.scheme == "none" && x.resigned_as.is_none() {
        let mut req = req;
        req.set_header("Host", &up.authority);
        req
    } else {
        let ak = x.client.access_key.as_deref().unwrap_or("");
        let cred = ctx
            .cfg
            .keys
            .get(ak)
            .or_else(|| (ctx.cfg.keys.len() == 1).then(|| &ctx.cfg.keys.all()[0]))
            .ok_or_else(|| {
                format!("no secret for access key {ak:?}: give it with --credentials or --access-key/--secret-key")
            })?;
        // explicit even when it is the client's own scheme: a redacted `sign=` carrier no
        // longer reads as COS, and must not fall back to SigV4
        let sign_as = match recorded_scheme {
            "sigv2" => SignAs::Sigv2,
            "cos" => SignAs::Cos,
            "sigv4" => SignAs::Sigv4,
            _ => SignAs::Keep,
        };
        let (signed, _, rf) = resign::resign(
            &req,
            &report,
            &ResignParams {
                cred,
                upstream_host: &up.authority,
                now,
                region: None,
                sign_as,
                fresh: false,
            },
            &ctx.inspector.cache,
        )?;
        new_chain = rf.map(|rf| rf.new);
        signed
    };
    let uri = format!(
        "{}://{}{}{}",
        up.scheme,
        up.authority,
        up.base_path,
        outgoing.origin_target()
    );
    let mut b = hyper::Request::builder()
        .method(outgoing.method.as_str())
        .uri(&uri);
    for (k, v) in &outgoing.headers {
        let n = k.to_ascii_lowercase();
        if matches!(
            n.as_str(),
            "connection" | "keep-alive" | "proxy-connection" | "te" | "upgrade" | "content-length"
        ) {
            continue;
        }
        b = b.header(k.as_str(), v.as_str());
    }
    let body: ProxyBody = match file {
        Some(f) => {
            b = b.header("content-length", r.body.size);
            http_body_util::BodyExt::boxed(FileBody {
                file: tokio::fs::File::from_std(f),
                buf: vec![0; 256 * 1024],
                left: r.body.size,
                check: Some(r.body.hash_check()),
            })
        }
        None => {
            if !outgoing.body.is_empty() || outgoing.header("content-length").is_some() {
                b = b.header("content-length", outgoing.body.len());
            }
            full(outgoing.body)
        }
    };
    // a signed aws-chunked body gets the new signature's chain, chunk by chunk (same sizes, so
    // the same length); its recorded chunk signatures cannot be checked (the seed was redacted)
    let body = match new_chain {
        Some(chain) => http_body_util::BodyExt::boxed(crate::net::body::Reframe::new(
            body,
            None,
            chain,
            crate::net::body::Meter::default(),
        )),
        None => body,
    };
    let hreq: hyper::Request<ProxyBody> = b
        .body(body)
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let resp = tokio::time::timeout(ctx.cfg.timeout, ctx.client.request(hreq))
        .await
        .map_err(|_| format!("no answer within {}s", ctx.cfg.timeout.as_secs()))?
        .map_err(|e| format!("the upstream connection failed: {}", with_causes(&e)))?;
    if let Some(t) = resp
        .headers()
        .get("date")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::timefmt::parse_http_date)
    {
        ctx.clocks.learn(&up.authority, t - ctx.cfg.clock.now());
    }
    let status = resp.status().as_u16();
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut seen = Seen::default();
    let mut hasher = Sha256::new();
    let mut incoming = resp.into_body();
    loop {
        let frame = tokio::time::timeout(ctx.cfg.timeout, incoming.frame())
            .await
            .map_err(|_| {
                format!(
                    "the response body stalled for {}s",
                    ctx.cfg.timeout.as_secs()
                )
            })?;
        match frame {
            None => break,
            Some(Err(e)) => return Err(format!("the response body broke off: {e}")),
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    hasher.update(d);
                    seen.size += d.len() as u64;
                    let room = HEAD_KEEP.saturating_sub(seen.head.len());
                    seen.head.extend_from_slice(&d[..d.len().min(room)]);
                }
            }
        }
    }
    seen.sha256 = crate::sig::encode::hex(&hasher.finalize());
    Ok((status, headers, seen))
}

/// An error and its causes, `a: b: c` (hyper wraps a failed request body as its source).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

fn compare(
    ctx: &Ctx,
    x: &Exchange,
    status: u16,
    headers: &[(String, String)],
    seen: &Seen,
) -> Vec<String> {
    let mut d = Vec::new();
    let rec = &x.response;
    if status != rec.status {
        d.push(format!("status {status} vs recorded {}", rec.status));
    }
    // an answer recorded with secrets masked: the live one is masked the same way first
    let masked;
    let (body, live_sha) = if rec.body.redacted && seen.size as usize == seen.head.len() {
        let mut b = seen.head.clone();
        ctx.scrubber.scrub(&mut b, true);
        masked = b;
        let sha = crate::sig::encode::hex(&Sha256::digest(&masked));
        (&masked[..], sha)
    } else {
        (&seen.head[..], seen.sha256.clone())
    };
    let recorded_body = if rec.body.size <= HEAD_KEEP as u64 {
        rec.body.load(&ctx.base).ok().flatten()
    } else {
        None
    };
    if let Some(rb) = &recorded_body {
        ctx.learned.learn(rb, body);
    }
    let mut names: Vec<String> = ["content-length", "etag", "content-type"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.extend(ctx.cfg.compare_headers.iter().cloned());
    for n in &names {
        let now = Exchange::header(headers, n);
        let then = Exchange::header(&rec.headers, n);
        if n == "content-length" && looks_xml(then, recorded_body.as_deref().unwrap_or(b"")) {
            continue; // an XML document's length follows its volatile fields; the body is compared instead
        }
        if now != then {
            d.push(format!(
                "{n} {} vs recorded {}",
                now.map(|v| format!("{v:?}"))
                    .unwrap_or_else(|| "absent".into()),
                then.map(|v| format!("{v:?}"))
                    .unwrap_or_else(|| "absent".into())
            ));
        }
    }
    if x.request.method.eq_ignore_ascii_case("HEAD") {
        return d;
    }
    let ct = Exchange::header(&rec.headers, "content-type");
    match recorded_body {
        Some(rb) if looks_xml(ct, &rb) && seen.size as usize == body.len() => {
            let then = mask_xml(&ctx.learned.apply(&String::from_utf8_lossy(&rb)));
            let now = mask_xml(&String::from_utf8_lossy(body));
            if then != now {
                d.push(format!(
                    "XML body differs (dates and request ids masked): {}",
                    first_difference(&now, &then)
                ));
            }
        }
        _ => {
            if let Some(want) = &rec.body.sha256 {
                let got = &live_sha;
                if !got.eq_ignore_ascii_case(want) {
                    d.push(format!(
                        "body sha256 {}… ({} bytes) vs recorded {}… ({} bytes)",
                        super::read::first_chars(got, 12),
                        seen.size,
                        super::read::first_chars(want, 12),
                        rec.body.size
                    ));
                }
            }
        }
    }
    d
}

fn first_difference(a: &str, b: &str) -> String {
    let i = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let show = |s: &str| {
        let start = s.floor_char_boundary_compat(i.saturating_sub(20));
        let end = s.floor_char_boundary_compat((i + 40).min(s.len()));
        s[start..end].replace('\n', " ")
    };
    format!("at byte {i}: {:?} vs recorded {:?}", show(a), show(b))
}

trait CharBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl CharBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while i > 0 && !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

/// Summary of a run.
#[derive(Debug, Default)]
pub struct Summary {
    pub same: usize,
    pub different: usize,
    pub skipped: usize,
    pub errors: usize,
    pub seconds: f64,
}

impl Summary {
    pub fn ok(&self) -> bool {
        self.different == 0 && self.errors == 0
    }
}

/// Replays `rec`, printing one line per exchange (stdout) and a summary; returns the summary.
pub async fn run(rec: Recording, cfg: ReplayConfig) -> Result<Summary, String> {
    let client = crate::net::client::client(cfg.upstream_ca.as_deref(), Duration::from_secs(30))?;
    let total = rec.exchanges.len();
    let tokens: Vec<String> = cfg
        .keys
        .all()
        .iter()
        .filter_map(|c| c.session_token.as_ref().map(|t| t.expose().to_string()))
        .collect();
    let ctx = Arc::new(Ctx {
        scrubber: crate::redact::record::Scrubber::new(&tokens, true),
        inspector: Inspector::new(KeyStore::new()),
        client,
        clocks: Clocks::default(),
        learned: Learned::default(),
        base: rec.base.clone(),
        cfg,
    });
    let clock = ctx.cfg.clock.clone();
    let started = clock.instant();
    let sem = Arc::new(tokio::sync::Semaphore::new(ctx.cfg.concurrency.max(1)));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
    let feeder = {
        let ctx = ctx.clone();
        let sem = sem.clone();
        tokio::spawn(async move {
            for x in rec.exchanges {
                let Ok(permit) = sem.clone().acquire_owned().await else {
                    break;
                };
                let (ctx, tx) = (ctx.clone(), tx.clone());
                tokio::spawn(async move {
                    // a panic is a sigtap bug: it fails this exchange instead of vanishing
                    let blank = Outcome {
                        id: x.id,
                        method: x.request.method.clone(),
                        target: x.request.target.clone(),
                        result: "error",
                        status: None,
                        recorded_status: x.response.status,
                        differences: vec![],
                        note: None,
                        ms: 0.0,
                    };
                    let o = match tokio::spawn(async move { replay_one(&ctx, &x).await }).await {
                        Ok(o) => o,
                        Err(e) => Outcome {
                            note: Some(format!("sigtap failed on this exchange (a bug): {e}")),
                            ..blank
                        },
                    };
                    drop(permit);
                    let _ = tx.send(o);
                });
            }
        })
    };
    let mut s = Summary::default();
    let mut done = 0usize;
    let mut last_progress = started;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        while let Some(o) = rx.recv().await {
            done += 1;
            match o.result {
                "same" => s.same += 1,
                "different" => s.different += 1,
                "skipped" => s.skipped += 1,
                _ => s.errors += 1,
            }
            let line = if ctx.cfg.json {
                o.to_json().to_string()
            } else {
                o.human()
            };
            let _ = writeln!(out, "{line}");
            let at = ctx.cfg.progress.then(|| clock.instant());
            if let Some(at) = at.filter(|at| *at - last_progress > Duration::from_millis(200)) {
                last_progress = at;
                eprint!(
                    "\r[{done}/{total}] {:.0}/s   ",
                    done as f64 / (at - started).as_secs_f64().max(1e-9)
                );
            }
            if done == total {
                break;
            }
        }
        let _ = out.flush();
    }
    let _ = feeder.await;
    if done < total {
        // never a silent pass: what gave no outcome counts as failed
        s.errors += total - done;
        eprintln!(
            "sigtap: {} of {total} exchanges ended without an outcome",
            total - done
        );
    }
    if ctx.cfg.progress {
        eprint!("\r{}\r", " ".repeat(40));
    }
    s.seconds = clock.instant().duration_since(started).as_secs_f64();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_xml_is_masked() {
        let a = "<R><Key>k</Key><LastModified>2025-01-01T00:00:00Z</LastModified><RequestId>1</RequestId></R>";
        let b = "<R><Key>k</Key><LastModified>2026-12-02T00:00:00Z</LastModified><RequestId>2</RequestId></R>";
        assert_eq!(mask_xml(a), mask_xml(b));
        assert_ne!(mask_xml(a), mask_xml(&b.replace("<Key>k", "<Key>j")));
    }

    #[test]
    fn redacted_values_become_parsable_stand_ins() {
        let mut r = Request::parse(b"GET /b/k?X-Amz-Signature=<redacted>&X-Amz-Security-Token=<redacted>&a=1 HTTP/1.1\r\nHost: h\r\nX-Amz-Security-Token: <redacted>\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AK/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=<redacted>\r\n\r\n").unwrap();
        unredact(&mut r);
        assert_eq!(
            r.query.as_deref(),
            Some(format!("X-Amz-Signature={}&a=1", "0".repeat(64)).as_str())
        );
        assert!(r.header("x-amz-security-token").is_none());
        assert!(r
            .header("authorization")
            .unwrap()
            .ends_with(&"0".repeat(64)));
    }

    #[test]
    fn upload_ids_are_learned_in_both_spellings() {
        let l = Learned::default();
        l.learn(b"<UploadId>a/b</UploadId>", b"<UploadId>c+d</UploadId>");
        assert_eq!(l.apply("/k?uploadId=a%2Fb"), "/k?uploadId=c%2Bd");
    }
}
