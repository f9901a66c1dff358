//! A strict mock upstream: an in-memory object store that checks every signature the way the
//! service does and answers failures with the service's error documents (S3 or COS XML).
//! It also backs `sigtap proxy` when no upstream is given (the embedded default).

pub mod fail;
pub mod store;

use crate::clock::{Clock, SystemClock};
use crate::errordoc::{self as errors, Dialect, ErrorDoc};
use crate::findings::code;
use crate::inspect::{Inspector, Report, Verdict};
use crate::net::body::{full, ProxyBody};
use crate::record::matcher::{Match, Matcher};
use crate::sig::Scheme;
use crate::timefmt::{http_date, rfc3339};
use bytes::Bytes;
use fail::{Faults, Kind};
use http_body_util::BodyExt;
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

/// Default of `--max-memory`: the bytes of objects, parts and request bodies the mock holds.
/// It is also the largest single body.
pub const DEFAULT_MAX_MEMORY: u64 = 1 << 30;

/// Reads a byte size: a number with an optional unit (`B`, `K`/`KiB`, `M`/`MiB`, `G`/`GiB`,
/// `T`/`TiB` in powers of 1024; `KB`, `MB`, `GB`, `TB` in powers of 1000), case-insensitive.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let mul: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// Mock settings.
pub struct MockConfig {
    pub inspector: Inspector,
    /// What the mock's checks and `Date` read as now (before `clock_offset`).
    pub clock: Arc<dyn Clock>,
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
    /// `--max-memory`: the bytes held at most (objects, parts, bodies being read), which is
    /// also the largest single body.
    pub max_memory: u64,
}

impl MockConfig {
    /// A plain strict mock on the system clock: no recording, no faults, any region.
    pub fn new(inspector: Inspector, clock_offset: i64) -> MockConfig {
        MockConfig {
            inspector,
            clock: Arc::new(SystemClock),
            clock_offset,
            recording: None,
            store_fallback: false,
            faults: Faults::new(Vec::new(), 1),
            region: None,
            log: Box::new(|l| eprintln!("{l}")),
            max_memory: DEFAULT_MAX_MEMORY,
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
            store: Store::new(cfg.max_memory),
            cfg,
            seq: AtomicU64::new(0),
        })
    }

    fn now(&self) -> i64 {
        self.cfg.clock.now() + self.cfg.clock_offset
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
    let mut wire = crate::net::wire_head(&parts.method, &parts.uri, &parts.headers);
    let host = wire.host().unwrap_or("").to_string();
    let head_dialect = if crate::sig::cos::detect(&wire).is_some() {
        Dialect::Cos
    } else {
        Dialect::for_host(&host)
    };
    let refuse = |status: u16, code: &'static str, message: String, extra| {
        let doc = ErrorDoc {
            status,
            code,
            message,
            extra,
            resource: format!("{host}{}", wire.path),
        };
        local(head_dialect, &doc, now, id)
    };
    // the body is held in memory: refuse what does not fit before reading it
    let budget = mock.store.budget();
    let mut held = budget.reserve();
    let announced: Option<u64> = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    if let Some(n) = announced {
        if n > budget.limit() {
            return refuse(
                400,
                "EntityTooLarge",
                too_large_message(budget.limit()),
                vec![
                    ("ProposedSize", n.to_string()),
                    ("MaxSizeAllowed", budget.limit().to_string()),
                ],
            );
        }
        if !held.grow(n) {
            return refuse(
                503,
                "ServiceUnavailable",
                store::full_message(budget, n),
                vec![],
            );
        }
    }
    // allocation failures answer 503 too, never abort the process
    let mut body: Vec<u8> = Vec::new();
    if body
        .try_reserve_exact(announced.unwrap_or(0) as usize)
        .is_err()
    {
        return refuse(
            503,
            "ServiceUnavailable",
            store::full_message(budget, announced.unwrap_or(0)),
            vec![],
        );
    }
    let mut incoming = incoming;
    while let Some(frame) = incoming.frame().await {
        let Ok(frame) = frame else {
            return refuse(
                400,
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header".into(),
                vec![],
            );
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let len = (body.len() + data.len()) as u64;
        if announced.is_none() {
            // a body of unknown length is counted while it is read
            if len > budget.limit() {
                return refuse(
                    400,
                    "EntityTooLarge",
                    too_large_message(budget.limit()),
                    vec![("MaxSizeAllowed", budget.limit().to_string())],
                );
            }
            if !held.grow(data.len() as u64) {
                return refuse(
                    503,
                    "ServiceUnavailable",
                    store::full_message(budget, 0),
                    vec![],
                );
            }
        }
        if body.try_reserve(data.len()).is_err() {
            return refuse(
                503,
                "ServiceUnavailable",
                store::full_message(budget, len),
                vec![],
            );
        }
        body.extend_from_slice(&data);
    }
    wire.body = body;
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
                let tokens = crate::redact::request_tokens(&wire);
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
        let key = m.key(
            &wire.method,
            &wire.origin_target(),
            &wire.headers,
            &wire.body,
        );
        match m.find(&key) {
            Match::Found { exchange, repeated } => {
                if repeated {
                    (mock.cfg.log)(&log_line(
                        &wire,
                        "",
                        &wire.path,
                        &format!(
                            " served again from recorded #{} (every recorded match was used)",
                            exchange.id
                        ),
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
                        crate::redact::redact(&x.request.target),
                        x.line,
                        d.join("; ")
                    ),
                    None => "the recording is empty".into(),
                };
                if !mock.cfg.store_fallback {
                    (mock.cfg.log)(&log_line(
                        &wire,
                        "no recorded exchange for ",
                        &wire.origin_target(),
                        &format!(": {why}"),
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
    // the store keeps the body itself (no copy): it is what the reservation counted
    let body = Bytes::from(std::mem::take(&mut wire.body));
    match mock.store.handle(&wire, body, now, held) {
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

/// `sigtap mock: {what}METHOD TARGET{rest}` for the log, escaped as the proxy's human log is (the
/// target as the bytes received, the rest as text), with signatures and the request's session
/// tokens cut. `what` is the mock's own text; `rest` may carry recorded values.
fn log_line(wire: &crate::wire::Request, what: &str, target: &str, rest: &str) -> String {
    use crate::redact::{escape_into, request_tokens, shown_into, Form};
    let tokens = request_tokens(wire);
    let hidden = || tokens.iter().map(String::as_str);
    let mut line = format!("sigtap mock: {what}");
    escape_into(&mut line, &wire.method, Form::Text);
    line.push(' ');
    shown_into(&mut line, target, hidden(), Form::Bytes);
    shown_into(&mut line, rest, hidden(), Form::Text);
    line
}

/// The message of a 400 EntityTooLarge (S3's wording, then the mock's limit).
fn too_large_message(limit: u64) -> String {
    format!(
        "Your proposed upload exceeds the maximum allowed object size. (sigtap mock: at most --max-memory {limit} bytes, {} MiB, per body)",
        limit >> 20
    )
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
    type Error = crate::net::body::BoxError;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_escape_the_target_and_recorded_values() {
        let mut wire = crate::wire::Request::parse(
            b"GET /b/k?X-Amz-Security-Token=tokentokentoken HTTP/1.1\r\nHost: h\r\n\r\n",
        )
        .unwrap();
        wire.method = "GET\x1b[2J".into();
        wire.path = "/b/k\x1b]0;owned\x07\r".into();
        let line = log_line(
            &wire,
            "no recorded exchange for ",
            &wire.origin_target(),
            ": closest recorded #1 PUT /b/\x1b[31mk\u{202e} (line 2) differs in: method",
        );
        assert!(
            !line.contains(['\x1b', '\x07', '\r', '\u{202e}']),
            "a control reached the log: {line:?}"
        );
        assert!(
            line.starts_with("sigtap mock: no recorded exchange for GET\\x1b[2J /b/k\\x1b]0;owned\\x07\\x0d?X-Amz-Security-Token=tokentok…: closest recorded #1 PUT /b/\\x1b[31mk\\u{202e} "),
            "{line}"
        );
        let again = log_line(&wire, "", &wire.path, " served again from recorded #1");
        assert_eq!(
            again,
            "sigtap mock: GET\\x1b[2J /b/k\\x1b]0;owned\\x07\\x0d served again from recorded #1"
        );
    }

    #[test]
    fn sizes_read_with_units() {
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("512MiB"), Some(512 << 20));
        assert_eq!(parse_size("2gib"), Some(2 << 30));
        assert_eq!(parse_size("1 G"), Some(1 << 30));
        assert_eq!(parse_size("100MB"), Some(100_000_000));
        assert_eq!(parse_size("64k"), Some(64 << 10));
        for bad in ["", "MiB", "1.5GiB", "-1", "12XB", "99999999999TiB"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }
}
