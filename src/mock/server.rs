//! The mock's listener: accepts connections (plain, or TLS with `--tls`) and serves HTTP/1.1
//! on each with the mock's handler.

use super::{handle, Mock};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;

/// Serves connections from `listener` until `stop` fires.
pub async fn serve(
    mock: Arc<Mock>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let m = mock.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        Some(a) => {
                            let handshake =
                                tokio::time::timeout(Duration::from_secs(30), a.accept(stream));
                            if let Ok(Ok(tls)) = handshake.await {
                                serve_connection(m, tls).await;
                            }
                        }
                        None => serve_connection(m, stream).await,
                    }
                });
            }
        }
    }
}

/// HTTP/1.1 on one connection (plain or TLS).
async fn serve_connection<S>(m: Arc<Mock>, io: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let m = m.clone();
        async move { handle(m, req).await }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .title_case_headers(true)
        .serve_connection(TokioIo::new(io), svc)
        .await;
}
