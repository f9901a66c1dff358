//! The hyper transport: hyper serves exactly one request whose head the connection loop has
//! already read and judged (`conn.rs`). It sees the head bytes again and this request's body,
//! bounded by the framing the head announced, then an end of input; it streams the body to
//! the upstream through the hyper client and frames the answer. The connection is handed back
//! afterwards (hyper never shuts it), so the next request is read by the same loop again.

use super::framing::ChunkScan;
use super::head::{BodyFraming, Head};
use super::{Planned, State};
use bytes::{Buf, BytesMut};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What is left of the request hyper reads.
enum Left {
    Length(u64),
    Chunked(ChunkScan),
    Done,
}

/// One request's bytes out of the connection: the head, then the body up to its end, then the
/// end of input; writes go straight to the client. Bytes read past the request stay in `buf`.
struct OneRequest<'a> {
    client: &'a mut TcpStream,
    buf: &'a mut BytesMut,
    head_left: usize,
    body: Left,
}

impl AsyncRead for OneRequest<'_> {
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
        if this.buf.is_empty() {
            let mut tmp = [0u8; 16 * 1024];
            let mut rb = ReadBuf::new(&mut tmp);
            match Pin::new(&mut *this.client).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    if rb.filled().is_empty() {
                        // the client went away in the middle of its body
                        this.body = Left::Done;
                        return Poll::Ready(Ok(()));
                    }
                    this.buf.extend_from_slice(rb.filled());
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let avail = this.buf.len().min(out.remaining());
        let n = match &mut this.body {
            Left::Length(left) => {
                let n = (*left).min(avail as u64) as usize;
                *left -= n as u64;
                if *left == 0 {
                    this.body = Left::Done;
                }
                n
            }
            Left::Chunked(scan) => match scan.feed(&this.buf[..avail]) {
                Ok(Some(end)) => {
                    this.body = Left::Done;
                    end
                }
                Ok(None) => avail,
                // broken framing: hyper reads the bytes and refuses them itself
                Err(_) => {
                    this.body = Left::Done;
                    avail
                }
            },
            Left::Done => 0,
        };
        out.put_slice(&this.buf[..n]);
        this.buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for OneRequest<'_> {
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
pub(super) async fn serve(
    st: &Arc<State>,
    head: &Head,
    planned: Planned,
    client: &mut TcpStream,
    buf: &mut BytesMut,
) -> bool {
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
                Some(Planned::Forward(o)) => super::forward_hyper(st, req, *o).await,
                Some(Planned::Local(r)) => super::boxed(r),
                // hyper read a second request out of bytes that hold one: never happens, as
                // `OneRequest` ends the input after the first
                None => super::boxed(
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
