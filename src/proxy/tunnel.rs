//! TLS from the client: the HTTPS listener (`--tls`) and intercepted `CONNECT` tunnels. Each
//! accepted connection starts here; after the TLS handshake the connection runs the same loop
//! (`conn.rs`) and the same pipeline as plain HTTP, with an [`Arrival`] saying how it came. A
//! tunnel's leaf certificate is issued by the local CA for the CONNECT host (`tls::LeafCache`);
//! nothing here judges requests.

use super::conn::{self, After};
use super::upstream::Authority;
use super::{Arrival, State};
use crate::outcome::Transport;

use bytes::{Buf, BytesMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// What the proxy serves TLS with.
pub(super) struct TlsSetup {
    /// The HTTPS listener's configuration (`--tls`): every connection starts with TLS.
    pub listener: Option<Arc<rustls::ServerConfig>>,
    /// Leaves for intercepted hosts (forward mode), or why interception is unavailable.
    pub leaves: Result<crate::tls::LeafCache, String>,
}

impl TlsSetup {
    pub fn none() -> TlsSetup {
        TlsSetup {
            listener: None,
            leaves: Err("no local CA (HTTPS interception is for --forward)".into()),
        }
    }
}

/// Serves one accepted connection until it closes.
pub(super) async fn accept(st: Arc<State>, mut tcp: TcpStream, stop: watch::Receiver<bool>) {
    if let Some(cfg) = st.tls.listener.clone() {
        let peer = "the client";
        if let Some(mut tls) = handshake(&st, cfg, Early::new(BytesMut::new(), tcp), peer).await {
            let arrival = Arrival {
                transport: Transport::Https,
                tunnel: None,
            };
            let _ = conn::serve(st, &mut tls, &arrival, stop).await;
            linger(&mut tls).await;
        }
        return;
    }
    match conn::serve(st.clone(), &mut tcp, &Arrival::default(), stop.clone()).await {
        After::Closed => linger(&mut tcp).await,
        After::Tunnel { to, early } => intercept(st, Early::new(early, tcp), to, stop).await,
    }
}

/// How long a closing connection keeps reading what the client still sends, and how much.
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);
const LINGER_BYTES: usize = 256 * 1024;

/// Closes a client connection the way HTTP servers must (a "lingering close"): the write side
/// first (FIN, or TLS close_notify), then the rest of what the client is still sending is read
/// and dropped for a moment. Closing a socket with unread bytes makes the kernel answer with a
/// reset, which can destroy the answer just written: a client still sending the end of a body
/// the answer did not wait for (an early 403, or an upstream's 404 to an upload) would see a
/// broken connection instead of the answer.
async fn linger<S: super::ClientIo>(io: &mut S) {
    use tokio::io::AsyncReadExt;
    let _ = tokio::time::timeout(LINGER, async {
        let _ = io.shutdown().await;
        let mut buf = [0u8; 8192];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// Speaks TLS as `to` inside an accepted CONNECT, then serves the requests that come through.
async fn intercept(
    st: Arc<State>,
    io: Early<TcpStream>,
    to: Authority,
    stop: watch::Receiver<bool>,
) {
    let Ok(leaves) = &st.tls.leaves else { return };
    let name = to.host.trim_start_matches('[').trim_end_matches(']');
    let cfg = match leaves.get(name, st.cfg.clock.now()) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("cannot issue a certificate for {to}: {e}");
            return;
        }
    };
    let peer = to.to_string();
    if let Some(mut tls) = handshake(&st, cfg, io, &peer).await {
        let arrival = Arrival {
            transport: Transport::Https,
            tunnel: Some(to),
        };
        let _ = conn::serve(st, &mut tls, &arrival, stop).await;
        linger(&mut tls).await;
    }
}

/// The server side of a TLS handshake, bounded by `--header-timeout`. A client that refuses
/// sigtap's certificate is told about on stderr: it is the first thing to fix.
async fn handshake<S: super::ClientIo>(
    st: &State,
    cfg: Arc<rustls::ServerConfig>,
    io: S,
    what: &str,
) -> Option<tokio_rustls::server::TlsStream<S>> {
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    match tokio::time::timeout(st.cfg.header_timeout, acceptor.accept(io)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            let hint = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                Some(rustls::Error::AlertReceived(alert)) => format!(
                    "the client refused sigtap's certificate ({alert:?}): make it trust {} \
                     (`sigtap ca` shows how)",
                    st.ca_shown()
                ),
                _ => e.to_string(),
            };
            tracing::warn!("TLS handshake for {what} failed: {hint}");
            None
        }
        Err(_) => None,
    }
}

/// A stream whose first bytes were already read (a client that sent its TLS hello right
/// behind the CONNECT head, without waiting for the answer).
pub(super) struct Early<S> {
    early: BytesMut,
    io: S,
}

impl<S> Early<S> {
    fn new(early: BytesMut, io: S) -> Early<S> {
        Early { early, io }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Early<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.early.is_empty() {
            let n = self.early.len().min(out.remaining());
            out.put_slice(&self.early[..n]);
            self.early.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, out)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Early<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
