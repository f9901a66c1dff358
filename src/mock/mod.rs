//! A strict mock upstream: an in-memory object store that checks every signature the way the
//! service does and answers failures with the service's error documents (S3 or COS XML).
//! It also backs `sigtap proxy` when no upstream is given (the embedded default).

pub mod fail;
pub mod store;

use crate::clock::{Clock, SystemClock};
use crate::findings::code;
use crate::inspect::{Inspector, Report, Verdict};
use crate::proxy::body::{full, ProxyBody};
use crate::proxy::errors::{self, Dialect, ErrorDoc};
use crate::record::matcher::{Match, Matcher};
use crate::sig::Scheme;
use crate::timefmt::{http_date, rfc3339};
use bytes::Bytes;
use fail::{Faults, Kind};
use http_body_util::{BodyExt, Limited};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request as HRequest, Response as HResponse};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use store::{Outcome, Store};

/// The connection is closed without an answer (`--fail reset`).
#[derive(Debug)]
pub struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by --fail")
    }
}

impl std::error::Error for Reset {}

/// Largest request body the mock keeps (it holds objects in memory).
pub const MAX_BODY: usize = 256 * 1024 * 1024;

/// Mock settings.
pub struct MockConfig {
    pub inspector: Inspector,
    /// Seconds added to the mock's clock (`--clock-offset`): its checks and `Date` move.
    pub clock_offset: i64,
    /// Serve these recorded exchanges (`--recording`).
    pub recording: Option<Matcher>,
    /// With a recording: requests it lacks go to the in-memory store (`--store`).
    pub store_fallback: bool,
    /// `--fail` rules.
    pub faults: Faults,
    /// Accept only this SigV4 region (`--region`); any region otherwise.
    pub region: Option<String>,
    /// Where "why no match" lines go (stderr by default).
    pub log: Box<dyn Fn(&str) + Send + Sync>,
}

impl MockConfig {
    /// A plain strict mock: no recording, no faults, any region.
    pub fn new(inspector: Inspector, clock_offset: i64) -> MockConfig {
        MockConfig {
            inspector,
            clock_offset,
            recording: None,
            store_fallback: false,
            faults: Faults::new(Vec::new(), 1),
            region: None,
            log: Box::new(|l| eprintln!("{l}")),
        }
    }
}

/// Shared mock state.
pub struct Mock {
    cfg: MockConfig,
    store: Store,
    seq: AtomicU64,
}

impl Mock {
    pub fn new(cfg: MockConfig) -> Arc<Mock> {
        Arc::new(Mock {
            cfg,
            store: Store::default(),
            seq: AtomicU64::new(0),
        })
    }

    fn now(&self) -> i64 {
        SystemClock.now() + self.cfg.clock_offset
    }
}

/// Serves connections from `listener` until `stop` fires.
pub async fn serve(
    mock: Arc<Mock>,
    listener: tokio::net::TcpListener,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let m = mock.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let m = m.clone();
                        async move { handle(m, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(30))
                        .title_case_headers(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    }
}

fn error_for(report: &Report) -> Option<(u16, &'static str, String)> {
    let has = |c: &str| report.has(c);
    if report.scheme == Scheme::None {
        return Some((403, "AccessDenied", "Access Denied.".into()));
    }
    if has(code::MALFORMED_AUTH) {
        return Some((
            400,
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed.".into(),
        ));
    }
    if report.verdict == Verdict::Unverified {
        return Some((
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.".into(),
        ));
    }
    if has(code::EXPIRED) {
        return Some((403, "AccessDenied", "Request has expired".into()));
    }
    if has(code::CLOCK_SKEW) || has(code::NOT_YET_VALID) {
        return Some((
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.".into(),
        ));
    }
    if has(code::SIGNATURE_MISMATCH)
        || has(code::CHUNK_SIGNATURE_MISMATCH)
        || has(code::MISSING_SIGNED_HEADER)
    {
        return Some((
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.".into(),
        ));
    }
    if has(code::PAYLOAD_HASH_MISMATCH) {
        return Some((
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
        ));
    }
    if has(code::EXPIRES_TOO_LONG) || has(code::CREDENTIAL_SCOPE_MISMATCH) {
        return Some((
            400,
            "AuthorizationQueryParametersError",
            "The credential or expiry is not acceptable.".into(),
        ));
    }
    report
        .findings
        .iter()
        .find(|f| f.severity == crate::findings::Severity::Error)
        .map(|f| {
            (
                403,
                "AccessDenied",
                format!("Access Denied. ({})", f.message),
            )
        })
}

async fn handle(mock: Arc<Mock>, req: HRequest<Incoming>) -> Result<HResponse<ProxyBody>, Reset> {
    let now = mock.now();
    let fault = (!mock.cfg.faults.is_empty())
        .then(|| {
            let path = crate::sig::encode::decoded_text(req.uri().path()).into_owned();
            mock.cfg
                .faults
                .pick(req.method().as_str(), &path)
                .map(|r| (r.kind, r.delay_ms))
        })
        .flatten();
    if let Some((Kind::Reset, _)) = fault {
        return Err(Reset);
    }
    let resp = answer(&mock, req, now, fault).await;
    Ok(match fault {
        Some((Kind::SlowBody, delay)) => {
            let (parts, body) = resp.into_parts();
            HResponse::from_parts(parts, BodyExt::boxed(SlowBody::new(body, delay)))
        }
        _ => resp,
    })
}

async fn answer(
    mock: &Mock,
    req: HRequest<Incoming>,
    now: i64,
    fault: Option<(Kind, u64)>,
) -> HResponse<ProxyBody> {
    let id = mock.seq.fetch_add(1, Ordering::Relaxed) + 1;
    let (parts, incoming) = req.into_parts();
    let uri = &parts.uri;
    let mut wire = crate::wire::Request {
        method: parts.method.as_str().to_string(),
        scheme: None,
        authority: uri.authority().map(|a| a.as_str().to_string()),
        path: if uri.path().is_empty() {
            "/".into()
        } else {
            uri.path().to_string()
        },
        query: uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).trim().to_string(),
                )
            })
            .collect(),
        body: Vec::new(),
        http_chunked: false,
        body_complete: true,
    };
    let host = wire.host().unwrap_or("").to_string();
    let body = match Limited::new(incoming, MAX_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            let doc = ErrorDoc {
                status: 400,
                code: "EntityTooLarge",
                message: format!(
                    "the mock keeps objects in memory and takes at most {} MiB",
                    MAX_BODY >> 20
                ),
                extra: vec![],
                resource: format!("{host}{}", wire.path),
            };
            return local(Dialect::for_host(&host), &doc, now, id);
        }
    };
    wire.body = body.to_vec();
    let report = mock.cfg.inspector.inspect(&wire, now);
    let dialect = match report.scheme {
        Scheme::Cos => Dialect::Cos,
        Scheme::None => Dialect::for_host(&host),
        _ => Dialect::S3,
    };
    let injected = match fault {
        Some((Kind::Skew, _)) => Some((
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large."
                .to_string(),
        )),
        Some((Kind::Expired, _)) => Some((403, "AccessDenied", "Request has expired".to_string())),
        Some((Kind::SlowDown, _)) => Some((
            503,
            "SlowDown",
            "Please reduce your request rate.".to_string(),
        )),
        Some((Kind::Internal, _)) => Some((
            500,
            "InternalError",
            "We encountered an internal error. Please try again.".to_string(),
        )),
        _ => None,
    };
    let verdict = injected
        .or_else(|| error_for(&report))
        .or_else(|| wrong_region(&wire, &report, mock.cfg.region.as_deref()));
    if let Some((status, code, message)) = verdict {
        let mut extra = Vec::new();
        match code {
            "SignatureDoesNotMatch" => {
                let tokens = crate::proxy::log::request_tokens(&wire);
                extra = errors::signature_extras(dialect, &report.stages, &tokens)
            }
            "RequestTimeTooSkewed" => {
                extra.push(("ServerTime", rfc3339(now)));
                extra.push(("MaxAllowedSkewMilliseconds", "900000".into()));
            }
            "AccessDenied" if message == "Request has expired" => {
                if let Some(w) = report.window {
                    extra.push(("Expires", rfc3339(w.end)));
                }
                extra.push(("ServerTime", rfc3339(now)));
            }
            _ => {}
        }
        let doc = ErrorDoc {
            status,
            code,
            message,
            extra,
            resource: format!("{host}{}", wire.path),
        };
        return local(dialect, &doc, now, id);
    }
    if let Some(m) = &mock.cfg.recording {
        let key = m.key(&wire.method, &wire.origin_target(), &wire.headers, &body);
        match m.find(&key) {
            Match::Found { exchange, repeated } => {
                if repeated {
                    (mock.cfg.log)(&format!(
                        "sigtap mock: {} {} served again from recorded #{} (every recorded match was used)",
                        wire.method, wire.path, exchange.id
                    ));
                }
                return recorded(m, exchange, &wire, now, dialect, id);
            }
            Match::NotFound { closest } => {
                let why = match &closest {
                    Some((x, d)) => format!(
                        "closest recorded #{} {} {} (line {}) differs in: {}",
                        x.id,
                        x.request.method,
                        crate::proxy::log::redact(&x.request.target),
                        x.line,
                        d.join("; ")
                    ),
                    None => "the recording is empty".into(),
                };
                if !mock.cfg.store_fallback {
                    (mock.cfg.log)(&crate::proxy::log::redact_tokens(
                        &format!(
                            "sigtap mock: no recorded exchange for {} {}: {why}",
                            wire.method,
                            crate::proxy::log::redact(&wire.origin_target())
                        ),
                        &crate::proxy::log::request_tokens(&wire),
                    ));
                    let doc = ErrorDoc {
                        status: 404,
                        code: "NoSuchKey",
                        message: format!(
                            "sigtap mock: no recorded exchange matches this request; {why}"
                        ),
                        extra: vec![],
                        resource: format!("{host}{}", wire.path),
                    };
                    return local(dialect, &doc, now, id);
                }
            }
        }
    }
    match mock.store.handle(&wire, body, now) {
        Outcome::Ok {
            status,
            headers,
            body,
        } => {
            let mut b = HResponse::builder()
                .status(status)
                .header("date", http_date(now));
            let rid = errors::request_id(dialect, now, id);
            b = match dialect {
                Dialect::S3 => b.header("x-amz-request-id", rid.as_str()),
                Dialect::Cos => b
                    .header("x-cos-request-id", rid.as_str())
                    .header("server", "tencent-cos"),
            };
            for (k, v) in headers {
                b = b.header(k, v);
            }
            b.body(full(body))
                .unwrap_or_else(|_| HResponse::new(full(Bytes::new())))
        }
        Outcome::Err {
            status,
            code,
            message,
        } => {
            let doc = ErrorDoc {
                status,
                code,
                message,
                extra: vec![],
                resource: format!("{host}{}", wire.path),
            };
            local(dialect, &doc, now, id)
        }
    }
}

/// S3's answer to a SigV4 scope naming another region than the service's (`--region`).
fn wrong_region(
    req: &crate::wire::Request,
    report: &Report,
    want: Option<&str>,
) -> Option<(u16, &'static str, String)> {
    use crate::sig::{v4, Carrier};
    let want = want?;
    if report.scheme != Scheme::Sigv4 {
        return None;
    }
    let auth = match report.carrier {
        Carrier::Query => v4::parse_presigned(req, v4::Rules::S3).ok()?,
        _ => v4::parse_header(req, req.header("authorization")?).ok()?,
    };
    (auth.scope.region != want).then(|| {
        (
            400,
            "AuthorizationHeaderMalformed",
            format!(
                "The authorization header is malformed; the region '{}' is wrong; expecting '{want}'",
                auth.scope.region
            ),
        )
    })
}

/// A recorded answer: its status, headers (a fresh `Date`) and body.
fn recorded(
    m: &Matcher,
    x: &crate::record::read::Exchange,
    req: &crate::wire::Request,
    now: i64,
    dialect: Dialect,
    id: u64,
) -> HResponse<ProxyBody> {
    let body = match x.response.body.load(&m.recording.base) {
        Ok(Some(b)) => b,
        Ok(None) if req.method == "HEAD" => Vec::new(),
        failed => {
            let why = match failed {
                Err(e) => e,
                _ => "the recording kept only the hash of this body (--record-large hash)".into(),
            };
            let doc = ErrorDoc {
                status: 500,
                code: "InternalError",
                message: format!("sigtap mock: recorded #{} cannot be served: {why}", x.id),
                extra: vec![],
                resource: req.path.clone(),
            };
            return local(dialect, &doc, now, id);
        }
    };
    let mut b = HResponse::builder()
        .status(x.response.status)
        .header("date", http_date(now));
    for (k, v) in &x.response.headers {
        let n = k.to_ascii_lowercase();
        if matches!(
            n.as_str(),
            "date" | "connection" | "keep-alive" | "transfer-encoding" | "content-length"
        ) {
            continue;
        }
        b = b.header(k.as_str(), v.as_str());
    }
    let len = if req.method == "HEAD" {
        crate::record::read::Exchange::header(&x.response.headers, "content-length")
            .map(str::to_string)
            .unwrap_or_else(|| "0".into())
    } else {
        body.len().to_string()
    };
    b = b.header("content-length", len);
    b.body(full(Bytes::from(body)))
        .unwrap_or_else(|_| HResponse::new(full(Bytes::new())))
}

/// A body handed out 1 KiB at a time with a pause before each piece (`--fail slow-body`).
struct SlowBody {
    inner: ProxyBody,
    held: Bytes,
    delay: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl SlowBody {
    fn new(inner: ProxyBody, delay_ms: u64) -> SlowBody {
        SlowBody {
            inner,
            held: Bytes::new(),
            delay: Duration::from_millis(delay_ms),
            sleep: None,
        }
    }
}

impl hyper::body::Body for SlowBody {
    type Data = Bytes;
    type Error = crate::proxy::body::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        loop {
            if !this.held.is_empty() {
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(this.delay)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
                let n = this.held.len().min(1024);
                return Poll::Ready(Some(Ok(Frame::data(this.held.split_to(n)))));
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(f))) => match f.into_data() {
                    Ok(d) => this.held = d,
                    Err(f) => return Poll::Ready(Some(Ok(f))),
                },
                other => return other,
            }
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

fn local(dialect: Dialect, doc: &ErrorDoc, now: i64, id: u64) -> HResponse<ProxyBody> {
    let rid = errors::request_id(dialect, now, id);
    let resp = errors::response(dialect, doc, &rid, &http_date(now));
    let (parts, b) = resp.into_parts();
    HResponse::from_parts(parts, b.map_err(|never| match never {}).boxed())
}
