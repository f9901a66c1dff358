//! A strict mock upstream: an in-memory object store that checks every signature the way the
//! service does and answers failures with the service's error documents (S3 or COS XML).
//! It also backs `sigtap proxy` when no upstream is given (the embedded default).

pub mod fail;
mod server;
pub mod store;
pub use server::serve;

use crate::clock::Clock;
use crate::errordoc::{self as errors, Dialect, ErrorCode, ErrorDoc};
use crate::findings::{code, Code};
use crate::inspect::{Inspector, Report, Verdict};
use crate::net::body::{full, ProxyBody};
use crate::policy;
use crate::record::matcher::{Match, Matcher};
use crate::sig::{Carrier, Scheme};
use crate::timefmt::{http_date, rfc3339};
use bytes::Bytes;
use fail::{Faults, Kind};
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::{Request as HRequest, Response as HResponse};
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
    /// A plain strict mock on `clock`: no recording, no faults, any region.
    pub fn new(inspector: Inspector, clock_offset: i64, clock: Arc<dyn Clock>) -> MockConfig {
        MockConfig {
            inspector,
            clock,
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

/// The service's answer to one finding, in the dialect the client speaks.
fn service(c: Code, carrier: Carrier, dialect: Dialect) -> Option<(u16, ErrorCode, String)> {
    let e = policy::answer(c, carrier).get(dialect);
    Some((e.status, e.code, e.message.to_string()))
}

/// What the service answers for a report, in the order it checks: the signature's shape, the
/// key, the time, the signature, the body, then anything else wrong.
fn error_for(report: &Report, dialect: Dialect) -> Option<(u16, ErrorCode, String)> {
    let has = |c: Code| report.has(c);
    let carrier = report.carrier;
    if has(code::MALFORMED_AUTH) {
        return service(code::MALFORMED_AUTH, carrier, dialect);
    }
    if report.scheme == Scheme::None {
        return service(code::NO_SIGNATURE, carrier, dialect);
    }
    if report.verdict == Verdict::Unverified {
        return service(code::UNKNOWN_ACCESS_KEY, carrier, dialect);
    }
    for c in [
        code::EXPIRED,
        code::CLOCK_SKEW,
        code::NOT_YET_VALID,
        code::SIGNATURE_MISMATCH,
        code::CHUNK_SIGNATURE_MISMATCH,
        code::MISSING_SIGNED_HEADER,
        code::PAYLOAD_HASH_MISMATCH,
        code::EXPIRES_TOO_LONG,
        code::CREDENTIAL_SCOPE_MISMATCH,
    ] {
        if has(c) {
            return service(c, carrier, dialect);
        }
    }
    let f = report
        .findings
        .iter()
        .find(|f| f.severity == crate::findings::Severity::Error)?;
    let e = policy::answer(f.code, carrier).get(dialect);
    // a plain refusal says which finding it is about
    let message = if e == policy::ACCESS_DENIED.get(dialect) {
        format!("{} ({})", e.message, f.message)
    } else {
        e.message.to_string()
    };
    Some((e.status, e.code, message))
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
    let refuse = |status: u16, code: ErrorCode, message: String, extra| {
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
                ErrorCode::EntityTooLarge,
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
                ErrorCode::ServiceUnavailable,
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
            ErrorCode::ServiceUnavailable,
            store::full_message(budget, announced.unwrap_or(0)),
            vec![],
        );
    }
    let mut incoming = incoming;
    while let Some(frame) = incoming.frame().await {
        let Ok(frame) = frame else {
            return refuse(
                400,
                ErrorCode::IncompleteBody,
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
                    ErrorCode::EntityTooLarge,
                    too_large_message(budget.limit()),
                    vec![("MaxSizeAllowed", budget.limit().to_string())],
                );
            }
            if !held.grow(data.len() as u64) {
                return refuse(
                    503,
                    ErrorCode::ServiceUnavailable,
                    store::full_message(budget, 0),
                    vec![],
                );
            }
        }
        if body.try_reserve(data.len()).is_err() {
            return refuse(
                503,
                ErrorCode::ServiceUnavailable,
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
        Some((Kind::Skew, _)) => service(code::CLOCK_SKEW, report.carrier, dialect),
        Some((Kind::Expired, _)) => service(code::EXPIRED, report.carrier, dialect),
        Some((Kind::SlowDown, _)) => Some((
            503,
            ErrorCode::SlowDown,
            "Please reduce your request rate.".to_string(),
        )),
        Some((Kind::Internal, _)) => Some((
            500,
            ErrorCode::InternalError,
            "We encountered an internal error. Please try again.".to_string(),
        )),
        _ => None,
    };
    let verdict = injected
        .or_else(|| error_for(&report, dialect))
        .or_else(|| wrong_region(&wire, &report, mock.cfg.region.as_deref()));
    if let Some((status, code, message)) = verdict {
        let expired = policy::answer(code::EXPIRED, report.carrier).get(dialect);
        let mut extra = Vec::new();
        match code {
            ErrorCode::SignatureDoesNotMatch => {
                let tokens = crate::redact::request_tokens(&wire);
                extra = errors::signature_extras(dialect, &report.stages, &tokens)
            }
            ErrorCode::RequestTimeTooSkewed => {
                extra.push(("ServerTime", rfc3339(now)));
                extra.push(("MaxAllowedSkewMilliseconds", "900000".into()));
            }
            ErrorCode::AccessDenied if message == expired.message => {
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
                        code: ErrorCode::NoSuchKey,
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
) -> Option<(u16, ErrorCode, String)> {
    use crate::sig::v4;
    let want = want?;
    if report.scheme != Scheme::Sigv4 {
        return None;
    }
    let auth = match report.carrier {
        Carrier::Query => v4::parse_presigned(req, v4::Rules::S3).ok()?,
        _ => v4::parse_header(req, req.header("authorization")?).ok()?,
    };
    (auth.scope.region != want).then(|| {
        // S3-ERRORS.md §4: the header and the query form of the wrong-region message
        let e = policy::answer(code::CREDENTIAL_SCOPE_MISMATCH, report.carrier).s3;
        let what = match report.carrier {
            Carrier::Query => "Error parsing the X-Amz-Credential parameter",
            _ => "The authorization header is malformed",
        };
        (
            e.status,
            e.code,
            format!(
                "{what}; the region '{}' is wrong; expecting '{want}'",
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
                code: ErrorCode::InternalError,
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

    /// What the mock answers for a report, in each dialect: the policy table's rows, picked in
    /// the order the service checks.
    #[test]
    fn reports_get_the_services_answer() {
        use crate::findings::Severity::{Error as E, Info as I, Warning as W};
        use ErrorCode::*;
        use Scheme::{Cos, Sigv2, Sigv4};
        type Want = Option<(u16, ErrorCode, &'static str)>;
        const SDNM: Want = Some((
            403,
            SignatureDoesNotMatch,
            "The request signature we calculated",
        ));
        type Findings = &'static [(Code, crate::findings::Severity)];
        #[rustfmt::skip]
        let cases: &[(&str, Scheme, Carrier, Findings, Want, Want)] = &[
            ("valid", Sigv4, Carrier::Header, &[], None, None),
            ("warnings only", Cos, Carrier::Header, &[(code::HOST_NOT_SIGNED, W)], None, None),
            ("anonymous", Scheme::None, Carrier::None, &[(code::NO_SIGNATURE, I)],
                Some((403, AccessDenied, "Access Denied.")), Some((403, AccessDenied, "Access Denied."))),
            // settled (S3-ERRORS.md §4, COS-ERRORS.md §2): a header of an unknown scheme is
            // malformed, not anonymous; a malformed presigned URL is a query-parameter error
            ("unknown scheme", Scheme::None, Carrier::Header, &[(code::MALFORMED_AUTH, E)],
                Some((400, AuthorizationHeaderMalformed, "The authorization header is malformed.")),
                Some((403, InvalidSecurity, "Signature string is invalid"))),
            ("malformed presigned", Sigv4, Carrier::Query, &[(code::MALFORMED_AUTH, E)],
                Some((400, AuthorizationQueryParametersError, "")), Some((403, InvalidSecurity, ""))),
            ("unknown key", Sigv2, Carrier::Header, &[(code::UNKNOWN_ACCESS_KEY, W)],
                Some((403, InvalidAccessKeyId, "does not exist")), Some((403, InvalidAccessKeyId, "does not exist"))),
            ("expired before a mismatch", Cos, Carrier::Query, &[(code::SIGNATURE_MISMATCH, E), (code::EXPIRED, E)],
                Some((403, AccessDenied, "Request has expired")), Some((403, AccessDenied, "Request has expired"))),
            ("not yet valid", Cos, Carrier::Header, &[(code::NOT_YET_VALID, E)],
                Some((403, RequestTimeTooSkewed, "too large")), Some((403, RequestTimeTooSkewed, "too large"))),
            ("missing signed header", Sigv4, Carrier::Header, &[(code::MISSING_SIGNED_HEADER, E)], SDNM, SDNM),
            ("payload hash", Sigv4, Carrier::Header, &[(code::PAYLOAD_HASH_MISMATCH, E)],
                Some((400, XAmzContentSHA256Mismatch, "x-amz-content-sha256")), None),
            ("expires too long", Sigv4, Carrier::Query, &[(code::EXPIRES_TOO_LONG, E)],
                Some((400, AuthorizationQueryParametersError, "less than 604800 seconds")), None),
            // settled (S3-ERRORS.md §4): the header form of a scope error is the header's
            ("scope in the header", Sigv4, Carrier::Header, &[(code::CREDENTIAL_SCOPE_MISMATCH, E)],
                Some((400, AuthorizationHeaderMalformed, "")), None),
            ("scope in the query", Sigv4, Carrier::Query, &[(code::CREDENTIAL_SCOPE_MISMATCH, E)],
                Some((400, AuthorizationQueryParametersError, "X-Amz-Credential")), None),
            // settled (S3-ERRORS.md §9, §6; the catalog said so): 400 InvalidRequest, InvalidToken
            ("no x-amz-content-sha256", Sigv4, Carrier::Header, &[(code::MISSING_CONTENT_SHA256, E)],
                Some((400, InvalidRequest, "x-amz-content-sha256")), None),
            ("wrong token", Sigv4, Carrier::Header, &[(code::INVALID_TOKEN, E)],
                Some((400, InvalidToken, "token is malformed")),
                Some((403, AccessDenied, "Access Denied. (invalid-token happened)"))),
            ("repeated signed param", Sigv2, Carrier::Query, &[(code::DUPLICATE_SIGNED_PARAM, E)],
                Some((403, AccessDenied, "Access Denied. (duplicate-signed-param happened)")),
                Some((403, AccessDenied, "Access Denied. (duplicate-signed-param happened)"))),
            ("anything else", Cos, Carrier::Header, &[(code::MISSING_TOKEN, E)],
                Some((403, AccessDenied, "Access Denied. (missing-token happened)")),
                Some((403, AccessDenied, "Access Denied. (missing-token happened)"))),
        ];
        for &(name, scheme, carrier, findings, s3, cos) in cases {
            let r = Report::from_findings(scheme, carrier, findings);
            for (dialect, want) in [(Dialect::S3, s3), (Dialect::Cos, cos)] {
                // `None` for COS on a SigV4-only finding: the dialect is never COS there
                if want.is_none() && dialect == Dialect::Cos && scheme == Sigv4 {
                    continue;
                }
                let got = error_for(&r, dialect);
                let ok = match (want, &got) {
                    (None, None) => true,
                    (Some((st, c, text)), Some((gst, gc, gm))) => {
                        (st, c) == (*gst, *gc) && gm.contains(text)
                    }
                    _ => false,
                };
                assert!(ok, "{name} {dialect:?}: want {want:?}, got {got:?}");
            }
        }
    }

    /// `--region`: S3's wrong-region answer, in the form of the signature's carrier.
    #[test]
    fn wrong_region_speaks_the_carriers_form() {
        use crate::sig::v4;
        let req =
            crate::wire::Request::parse(b"GET /b/k HTTP/1.1\r\nHost: s3.amazonaws.com\r\n\r\n")
                .unwrap();
        for presign in [None, Some(600)] {
            let s = v4::sign(
                &req,
                &v4::V4SignParams {
                    access_key: "AKIDEXAMPLE",
                    secret: "secret",
                    session_token: None,
                    region: "us-east-1",
                    service: "s3",
                    now: 1_736_929_800,
                    rules: v4::Rules::S3,
                    signed_headers: None,
                    presign_expires: presign,
                    payload_hash: None,
                },
                &v4::SigningKeyCache::new(),
            );
            let signed = s.plan.apply(&req);
            let report = Inspector::default().inspect(&signed, 1_736_929_800);
            let (status, code, message) =
                wrong_region(&signed, &report, Some("eu-west-1")).unwrap();
            let (want_code, want_text) = match presign {
                None => (ErrorCode::AuthorizationHeaderMalformed, "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'"),
                Some(_) => (ErrorCode::AuthorizationQueryParametersError, "Error parsing the X-Amz-Credential parameter; the region 'us-east-1' is wrong; expecting 'eu-west-1'"),
            };
            assert_eq!(
                (status, code, message.as_str()),
                (400, want_code, want_text)
            );
            assert!(wrong_region(&signed, &report, Some("us-east-1")).is_none());
        }
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
