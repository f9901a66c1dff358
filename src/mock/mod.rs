//! A strict mock upstream: an in-memory object store that checks every signature the way the
//! service does and answers failures with the service's error documents (S3 or COS XML).
//! It also backs `sigtap proxy` when no upstream is given (the embedded default).

pub mod store;

use crate::clock::{Clock, SystemClock};
use crate::findings::code;
use crate::inspect::{Inspector, Report, Verdict};
use crate::proxy::body::{full, ProxyBody};
use crate::proxy::errors::{self, Dialect, ErrorDoc};
use crate::sig::Scheme;
use crate::timefmt::{http_date, rfc3339};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request as HRequest, Response as HResponse};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use store::{Outcome, Store};

/// Largest request body the mock keeps (it holds objects in memory).
pub const MAX_BODY: usize = 256 * 1024 * 1024;

/// Mock settings.
pub struct MockConfig {
    pub inspector: Inspector,
    /// Seconds added to the mock's clock (`--clock-offset`): its checks and `Date` move.
    pub clock_offset: i64,
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
                        async move { Ok::<_, std::convert::Infallible>(handle(m, req).await) }
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

async fn handle(mock: Arc<Mock>, req: HRequest<Incoming>) -> HResponse<ProxyBody> {
    let now = mock.now();
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
    if let Some((status, code, message)) = error_for(&report) {
        let mut extra = Vec::new();
        match code {
            "SignatureDoesNotMatch" => extra = errors::signature_extras(dialect, &report.stages),
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

fn local(dialect: Dialect, doc: &ErrorDoc, now: i64, id: u64) -> HResponse<ProxyBody> {
    let rid = errors::request_id(dialect, now, id);
    let resp = errors::response(dialect, doc, &rid, &http_date(now));
    let (parts, b) = resp.into_parts();
    HResponse::from_parts(parts, b.map_err(|never| match never {}).boxed())
}
