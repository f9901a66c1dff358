//! Streaming bodies: one boxed body type for everything the proxy sends, and a wrapper that
//! checks a hex `x-amz-content-sha256` while the bytes flow (memory stays one frame).

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use sha2::{Digest, Sha256};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// A body from bytes already in memory.
pub fn full(b: impl Into<Bytes>) -> ProxyBody {
    http_body_util::Full::new(b.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Counts the bytes that passed, for the log.
#[derive(Clone, Debug, Default)]
pub struct Meter(Arc<Mutex<MeterState>>);

#[derive(Debug, Default)]
pub struct MeterState {
    pub bytes: u64,
    /// Set when the body failed its payload check (the upstream request was aborted).
    pub hash_mismatch: Option<String>,
}

impl Meter {
    pub fn bytes(&self) -> u64 {
        self.0.lock().map(|s| s.bytes).unwrap_or(0)
    }
    pub fn hash_mismatch(&self) -> Option<String> {
        self.0.lock().ok().and_then(|s| s.hash_mismatch.clone())
    }
}

/// Passes frames through, counting bytes and (optionally) hashing them; at the end, a hash
/// that differs from the expected one turns into an error, so the upstream request is aborted.
pub struct Checked<B> {
    inner: B,
    hasher: Option<(Sha256, String)>,
    meter: Meter,
}

impl<B> Checked<B> {
    pub fn new(inner: B, expected_sha256: Option<String>, meter: Meter) -> Self {
        Checked {
            inner,
            hasher: expected_sha256.map(|h| (Sha256::new(), h.to_ascii_lowercase())),
            meter,
        }
    }
}

impl<B> Body for Checked<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if let Ok(mut m) = this.meter.0.lock() {
                        m.bytes += data.len() as u64;
                    }
                    if let Some((h, _)) = this.hasher.as_mut() {
                        h.update(data);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                if let Some((h, want)) = this.hasher.take() {
                    let got = crate::sig::encode::hex(&h.finalize());
                    if got != want {
                        let why = format!(
                            "the body hashes to {got} but x-amz-content-sha256 says {want}; the upstream request was aborted"
                        );
                        if let Ok(mut m) = this.meter.0.lock() {
                            m.hash_mismatch = Some(why.clone());
                        }
                        return Poll::Ready(Some(Err(why.into())));
                    }
                }
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream() && self.hasher.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
