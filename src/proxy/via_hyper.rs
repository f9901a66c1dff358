//! The hyper transport: hyper serves exactly one request whose head the connection loop has
//! already read and judged (`conn.rs`). It sees the head bytes again and this request's body,
//! bounded by the framing the head announced, then an end of input; it streams the body to
//! the upstream through the hyper client and frames the answer. The connection is handed back
//! afterwards (hyper never shuts it), so the next request is read by the same loop again.

use super::body::{self, full, BoxError, Checked, Meter, ProxyBody};
use super::errors::ErrorCode;
use super::framing::ChunkScan;
use super::head::{BodyFraming, Head};
use super::hop;
use super::pipeline::Planned;
use super::pipeline::{
    boxed, header_pairs, note_error_body, timeout_message, Outbound, SMALL_ERROR,
};
use super::State;
use crate::policy;
use bytes::Bytes;
use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request as HRequest, Response as HResponse};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most a body read takes from the client while hyper's own buffer is still smaller.
const READ_AHEAD: usize = 128 * 1024;

/// Request body bytes joined into one upstream write (`body::Coalesce`).
const COALESCE: usize = 128 * 1024;

/// What is left of the request hyper reads.
enum Left {
    Length(u64),
    Chunked(ChunkScan),
    Done,
}

/// One request's bytes out of the connection: the head, then the body up to its end, then the
/// end of input; writes go straight to the client. Bytes read past the request stay in `buf`.
struct OneRequest<'a, S> {
    client: &'a mut S,
    buf: &'a mut BytesMut,
    head_left: usize,
    body: Left,
}

impl Left {
    /// How many of `data`'s first bytes belong to this request's body (and notes its end).
    fn take(&mut self, data: &[u8]) -> usize {
        let n = match self {
            Left::Length(left) => {
                let n = (*left).min(data.len() as u64) as usize;
                *left -= n as u64;
                if *left > 0 {
                    return n;
                }
                n
            }
            Left::Chunked(scan) => match scan.feed(data) {
                Ok(Some(end)) => end,
                Ok(None) => return data.len(),
                // broken framing: hyper reads the bytes and refuses them itself
                Err(_) => data.len(),
            },
            Left::Done => return 0,
        };
        *self = Left::Done;
        n
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for OneRequest<'_, S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.head_left > 0 {
            let n = this.head_left.min(this.buf.len()).min(out.remaining());
            out.put_slice(&this.buf[..n]);
            this.buf.advance(n);
            this.head_left -= n;
            return Poll::Ready(Ok(()));
        }
        if matches!(this.body, Left::Done) {
            return Poll::Ready(Ok(()));
        }
        if !this.buf.is_empty() {
            // bytes read with the head
            let avail = this.buf.len().min(out.remaining());
            let n = this.body.take(&this.buf[..avail]);
            out.put_slice(&this.buf[..n]);
            this.buf.advance(n);
            return Poll::Ready(Ok(()));
        }
        // hyper starts every request with a small read buffer and doubles it as reads fill it,
        // so a large body would arrive in many small reads (each one a syscall, and a chunk
        // written upstream on its own). While hyper's buffer is smaller than what is coming,
        // read ahead into the connection's buffer in large reads and hand hyper its share
        // from memory; once it is large, read straight into it.
        let coming = match &this.body {
            Left::Length(left) => (*left).min(READ_AHEAD as u64) as usize,
            _ => READ_AHEAD,
        };
        if out.remaining() < coming {
            use std::future::Future;
            use tokio::io::AsyncReadExt;
            this.buf.reserve(coming);
            let read = std::pin::pin!(this.client.read_buf(this.buf)).poll(cx);
            return match read {
                Poll::Ready(Ok(0)) => {
                    // the client went away in the middle of its body
                    this.body = Left::Done;
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Ok(_)) => {
                    let avail = this.buf.len().min(out.remaining());
                    let n = this.body.take(&this.buf[..avail]);
                    out.put_slice(&this.buf[..n]);
                    this.buf.advance(n);
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            };
        }
        // straight from the client into hyper's buffer, no copy in between; bytes past this
        // request's end (a pipelined next request) are taken back out and kept for it
        let before = out.filled().len();
        match Pin::new(&mut *this.client).poll_read(cx, out) {
            Poll::Ready(Ok(())) => {
                let got = out.filled().len() - before;
                if got == 0 {
                    // the client went away in the middle of its body
                    this.body = Left::Done;
                    return Poll::Ready(Ok(()));
                }
                let n = this.body.take(&out.filled()[before..]);
                if n < got {
                    this.buf.extend_from_slice(&out.filled()[before + n..]);
                    out.set_filled(before + n);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for OneRequest<'_, S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.client).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.client).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.client).poll_flush(cx)
    }
    /// The connection outlives this request: never shut.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Serves the request at the start of `buf` (its head already read and planned) with hyper.
/// True when the connection may carry another request.
pub(super) async fn serve<S>(
    st: &Arc<State>,
    head: &Head,
    planned: Planned,
    client: &mut S,
    buf: &mut BytesMut,
) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let io = OneRequest {
        client,
        buf,
        head_left: head.len,
        body: match head.body {
            BodyFraming::None => Left::Done,
            BodyFraming::Length(n) => Left::Length(n),
            BodyFraming::Chunked => Left::Chunked(ChunkScan::default()),
        },
    };
    let slot = Arc::new(Mutex::new(Some(planned)));
    let st2 = st.clone();
    let svc = service_fn(move |req| {
        let planned = slot.lock().ok().and_then(|mut s| s.take());
        let st = st2.clone();
        async move {
            Ok::<_, std::convert::Infallible>(match planned {
                Some(Planned::Forward(o)) => forward_hyper(st, req, *o).await,
                Some(Planned::Local(local)) => boxed(local.finish(&st)),
                // hyper read a second request out of bytes that hold one: never happens, as
                // `OneRequest` ends the input after the first
                None => boxed(
                    hyper::Response::builder()
                        .status(400)
                        .header("connection", "close")
                        .body(http_body_util::Full::new(bytes::Bytes::new()))
                        .unwrap_or_default(),
                ),
            })
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // the loop has read the head already; hyper must not read past this request's body
        // while the answer is pending, nor close the connection when its input ends
        .half_close(true)
        // SDKs read some response headers case-sensitively (cos-python-sdk-v5 looks up
        // 'Content-Length'): keep the upstream's case, title-case ours
        .preserve_header_case(true)
        .title_case_headers(true)
        .keep_alive(true)
        // a proxy passes the upstream's answer on: no Date of its own (as the lean transport)
        .auto_date_header(false)
        .serve_connection(TokioIo::new(io), svc)
        .without_shutdown();
    match conn.await {
        Ok(parts) => {
            let io = parts.io.into_inner();
            // a body hyper did not read (an answer given before it) leaves the connection
            // at an unknown place
            !matches!(io.body, Left::Length(_) | Left::Chunked(_)) && !head.close
        }
        Err(_) => false,
    }
}

/// Phase forward through hyper: any body, TLS upstreams, recording, forward mode.
pub(super) async fn forward_hyper(
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
    // a request without a body goes on without one (no Content-Length: 0 added), its claimed
    // hash checked against the empty body as on every transport
    if hyper::body::Body::is_end_stream(&incoming) {
        if let Some(why) = o
            .outgoing
            .header("x-amz-content-sha256")
            .and_then(|want| body::payload_mismatch(&[], want))
        {
            let msg = format!("sigtap: {why}");
            let (status, code) =
                policy::body_answer(crate::findings::code::PAYLOAD_HASH_MISMATCH, o.dialect);
            return boxed(o.failed(&st, status, code, msg));
        }
        if let Some(r) = &st.cfg.recorder {
            let cap = r.capture();
            if let Ok(mut c) = cap.lock() {
                c.finish();
            }
            o.rec.req_body = Some(cap);
        }
        return send_upstream(st, in_parts, empty(), true, o, meter).await;
    }
    let incoming: ProxyBody = match &st.cfg.recorder {
        Some(r) => {
            let cap = r.capture();
            o.rec.req_body = Some(cap.clone());
            BodyExt::boxed(crate::record::Tee::new(incoming, cap, None))
        }
        None => BodyExt::boxed(incoming.map_err(|e| -> BoxError { Box::new(e) })),
    };
    let incoming = BodyExt::boxed(body::Coalesce::new(incoming, COALESCE));
    let body: ProxyBody = match o.reframe.take() {
        Some(rf) => BodyExt::boxed(Checked::new(
            body::Reframe::new(incoming, Some(rf.old), rf.new, meter.clone()),
            None,
            meter.clone(),
        )),
        None => BodyExt::boxed(Checked::new(incoming, expected_hash, meter.clone())),
    };
    send_upstream(st, in_parts, body, false, o, meter).await
}

fn empty() -> ProxyBody {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}

/// Whether the upstream closed the connection before a whole answer head arrived: an end of
/// input on plain TCP (hyper's incomplete message), and under TLS also a close without
/// `close_notify`, which rustls reports as an `UnexpectedEof` io error where plain TCP just
/// ends. The same event, the same handling (the re-send, the words) on both.
fn closed_early(h: &hyper::Error) -> bool {
    h.is_incomplete_message()
        || std::error::Error::source(h)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some_and(|i| i.kind() == std::io::ErrorKind::UnexpectedEof)
}

/// Whether a failed exchange ended before any byte of an answer arrived.
fn no_answer(e: &hyper_util::client::legacy::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            return closed_early(h) || h.is_canceled();
        }
        src = s.source();
    }
    false
}

/// Sends the planned request with `body` through the hyper client and passes the answer on.
async fn send_upstream(
    st: Arc<State>,
    in_parts: hyper::http::request::Parts,
    body: ProxyBody,
    bodyless: bool,
    mut o: Outbound,
    meter: Meter,
) -> HResponse<ProxyBody> {
    let uri = format!(
        "{}://{}{}{}",
        o.upstream.scheme,
        // a TLS upstream keeps its name in the URI (SNI, certificate check, pool key): the
        // client's dialer applies --resolve for it
        match o.connect_to.as_deref() {
            Some(to) if o.upstream.scheme != "https" => to,
            _ => &o.upstream.authority,
        },
        o.upstream.base_path,
        o.outgoing.origin_target()
    );
    let hop = hop::Hop::of_pairs(o.outgoing.headers.iter().map(|(k, v)| (k.as_str(), v)));
    let build = |body: ProxyBody| {
        let mut b = HRequest::builder()
            .method(o.outgoing.method.as_str())
            .uri(&uri);
        for (k, v) in &o.outgoing.headers {
            if !hop.is_hop(k) {
                b = b.header(k.as_str(), v.as_str());
            }
        }
        b.body(body).map(|mut r| {
            // the request's extensions carry the original header-name case
            *r.extensions_mut() = in_parts.extensions.clone();
            r
        })
    };
    let up_req = match build(body) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("sigtap could not build the upstream request: {e}");
            return boxed(o.failed(&st, 400, ErrorCode::InvalidRequest, msg));
        }
    };
    // a bodyless GET or HEAD that got no answer byte is sent once more on a new connection,
    // as the lean transport does; anything else is never sent twice
    let again = bodyless && matches!(o.outgoing.method.as_str(), "GET" | "HEAD");
    let exchange = async {
        match st.client().request(up_req).await {
            Err(e) if again && !e.is_connect() && no_answer(&e) => match build(empty()) {
                Ok(r) => st.client().request(r).await,
                Err(_) => Err(e),
            },
            other => other,
        }
    };
    let res = tokio::time::timeout(st.cfg.upstream_timeout, exchange).await;
    let resp = match res {
        Err(_) => {
            o.rec.bytes_in = meter.bytes();
            let msg = timeout_message(&st, &o.upstream);
            return boxed(o.failed(&st, 504, ErrorCode::GatewayTimeout, msg));
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
                policy::body_answer(crate::findings::code::PAYLOAD_HASH_MISMATCH, o.dialect)
            } else if meter.chunk_mismatch().is_some() {
                policy::body_answer(crate::findings::code::CHUNK_SIGNATURE_MISMATCH, o.dialect)
            } else {
                (502, ErrorCode::BadGateway)
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
    let incoming = body::Idle::new(incoming, st.cfg.upstream_timeout, st.cfg.clock.clone());
    let small_error = status >= 400
        && parts
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n <= SMALL_ERROR);
    let mut out = HResponse::from_parts(parts, full(Bytes::new()));
    let hop = hop::Hop::new(
        out.headers()
            .get_all(hyper::header::CONNECTION)
            .iter()
            .map(|v| v.as_bytes()),
    );
    let names: Vec<_> = out
        .headers()
        .keys()
        .filter(|k| hop.is_hop(k.as_str()))
        .cloned()
        .collect();
    for name in names {
        out.headers_mut().remove(name);
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
            Err(_) => {
                // nothing went to the client yet: answer in the service's format
                return boxed(o.error_body_broke_off(&st, status));
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

/// A failed TLS handshake with the upstream, in words that say what to do.
fn describe_tls_error(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(why) => {
            let debug = format!("{why:?}");
            let name = debug.split(['(', '{', ' ']).next().unwrap_or("");
            let plain = match name {
                "UnknownIssuer" => "issued by a CA that is not trusted",
                n if n.starts_with("NotValidForName") => "not valid for the upstream's name",
                n if n.starts_with("Expired") => "expired",
                n if n.starts_with("NotValidYet") => "not valid yet",
                "Revoked" => "revoked",
                "BadSignature" | "BadEncoding" => "malformed or badly signed",
                _ => "not acceptable",
            };
            format!(
                "upstream TLS certificate verification failed: the certificate is {plain} \
                 ({name}); it is checked against the system roots plus --upstream-ca (pass the \
                 CA that issued it with --upstream-ca FILE)"
            )
        }
        other => format!("the TLS handshake with the upstream failed: {other}"),
    }
}

fn describe_client_error(e: &hyper_util::client::legacy::Error) -> String {
    // the same words as the lean transport's for the same failure
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut io: Option<&std::io::Error> = None;
    let mut incomplete = false;
    while let Some(s) = src {
        if let Some(i) = s.downcast_ref::<std::io::Error>() {
            io = Some(i);
            // hyper-rustls wraps tokio-rustls's io error (which holds rustls's) in another io
            // error, and an io error's `source` skips what it wraps: unwrap them by hand
            let mut inner = i.get_ref();
            while let Some(e) = inner {
                if let Some(t) = e.downcast_ref::<rustls::Error>() {
                    return describe_tls_error(t);
                }
                inner = e.downcast_ref::<std::io::Error>().and_then(|i| i.get_ref());
            }
        }
        if let Some(t) = s.downcast_ref::<rustls::Error>() {
            return describe_tls_error(t);
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            incomplete |= closed_early(h);
        }
        src = s.source();
    }
    match (e.is_connect(), io) {
        (true, Some(i)) => format!("cannot connect to the upstream ({i})"),
        (true, None) => format!("cannot connect to the upstream ({e})"),
        (false, _) if incomplete => {
            "the upstream connection failed (it closed before a whole answer head arrived)".into()
        }
        (false, Some(i)) => format!("the upstream connection failed ({i})"),
        (false, None) => {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            format!("the upstream connection failed ({msg})")
        }
    }
}
