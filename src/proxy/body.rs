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
    /// Set when an aws-chunked chunk signature failed while re-framing.
    pub chunk_mismatch: Option<String>,
}

impl Meter {
    pub fn bytes(&self) -> u64 {
        self.0.lock().map(|s| s.bytes).unwrap_or(0)
    }
    pub fn hash_mismatch(&self) -> Option<String> {
        self.0.lock().ok().and_then(|s| s.hash_mismatch.clone())
    }
    pub fn chunk_mismatch(&self) -> Option<String> {
        self.0.lock().ok().and_then(|s| s.chunk_mismatch.clone())
    }
}

fn mismatch_message(got: &str, want: &str) -> String {
    format!("the body hashes to {got} but x-amz-content-sha256 says {want}; the upstream request was aborted")
}

/// For a body held whole: why it does not match a hex `x-amz-content-sha256` (`None` when it
/// matches, or the header is no hex hash, such as UNSIGNED-PAYLOAD).
pub fn payload_mismatch(body: &[u8], header: &str) -> Option<String> {
    if header.len() != 64 || !header.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let got = crate::sig::encode::hex(&Sha256::digest(body));
    let want = header.to_ascii_lowercase();
    (got != want).then(|| mismatch_message(&got, &want))
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
                        let why = mismatch_message(&got, &want);
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

use crate::sig::v4::chunked::{encode_final, ChainSigner, Decoder, Event};
use std::collections::VecDeque;

/// Largest chunk the re-framer holds in memory (S3 clients use 64 KiB to a few MiB).
pub const MAX_REFRAME_CHUNK: usize = 16 * 1024 * 1024;

enum Piece {
    /// A chunk starts: its signature and announced size.
    Start(Option<String>, u64),
    Data(Bytes),
    End,
    Trailer(String, String),
    Done,
}

/// Verifies a signed aws-chunked stream against the client's chain and re-frames it with
/// new chunk signatures (the request was re-signed, so the seed changed). Holds one chunk.
pub struct Reframe<B> {
    inner: B,
    decoder: Decoder,
    /// The client's chain, to verify each chunk with; `None` re-frames without verifying (a
    /// recorded body replayed, whose seed signature was redacted).
    old: Option<ChainSigner>,
    new: ChainSigner,
    cur: Vec<u8>,
    cur_sig: Option<String>,
    index: u64,
    trailers: Vec<(String, String)>,
    out: VecDeque<Bytes>,
    finished: bool,
    meter: Meter,
}

impl<B> Reframe<B> {
    pub fn new(inner: B, old: Option<ChainSigner>, new: ChainSigner, meter: Meter) -> Self {
        Reframe {
            inner,
            decoder: Decoder::new(),
            old,
            new,
            cur: Vec::new(),
            cur_sig: None,
            index: 0,
            trailers: Vec::new(),
            out: VecDeque::new(),
            finished: false,
            meter,
        }
    }

    fn on(&mut self, p: Piece) -> Result<(), String> {
        match p {
            Piece::Start(sig, size) => {
                self.cur = Vec::with_capacity(size.min(MAX_REFRAME_CHUNK as u64) as usize);
                self.cur_sig = sig;
            }
            Piece::Data(d) => {
                if self.cur.len() + d.len() > MAX_REFRAME_CHUNK {
                    return Err(format!(
                        "aws-chunked chunk {} is larger than {} MiB; sigtap re-frames chunk by chunk and will not hold more",
                        self.index,
                        MAX_REFRAME_CHUNK >> 20
                    ));
                }
                self.cur.extend_from_slice(&d);
            }
            Piece::End => {
                let provided = self
                    .cur_sig
                    .take()
                    .ok_or_else(|| format!("chunk {} has no chunk-signature", self.index))?;
                // one hash per chunk serves both chains: verify the client's, sign the new one
                let digest = crate::sig::encode::hex(&crate::sig::crypto::sha256(&self.cur));
                if let Some(old) = self.old.as_mut() {
                    let expected = old.peek(&digest);
                    if !crate::sig::crypto::ct_eq(&expected, &provided) {
                        if let Ok(mut m) = self.meter.0.lock() {
                            m.chunk_mismatch =
                                Some(format!("chunk {} signature does not verify", self.index));
                        }
                        return Err(format!(
                            "chunk {} carries a chunk-signature that does not verify; the upload was aborted",
                            self.index
                        ));
                    }
                    old.advance(&provided);
                }
                if !self.cur.is_empty() {
                    let sig = self.new.peek(&digest);
                    self.new.advance(&sig);
                    // size line, the data itself (moved, not copied), CRLF
                    let head = format!("{:x};chunk-signature={sig}\r\n", self.cur.len());
                    self.out.push_back(Bytes::from(head));
                    self.out
                        .push_back(Bytes::from(std::mem::take(&mut self.cur)));
                    self.out.push_back(Bytes::from_static(b"\r\n"));
                }
                self.index += 1;
            }
            Piece::Trailer(k, v) => {
                if !k.eq_ignore_ascii_case("x-amz-trailer-signature") {
                    self.trailers.push((k, v));
                }
            }
            Piece::Done => {
                self.out.push_back(Bytes::from(encode_final(
                    Some(&mut self.new),
                    &self.trailers,
                )));
                self.finished = true;
            }
        }
        Ok(())
    }
}

impl<B> Body for Reframe<B>
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
        loop {
            if let Some(b) = this.out.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(None) => {
                    let why = match this.decoder.finish() {
                        Err(e) => format!("aws-chunked body: {e}"),
                        Ok(()) => "aws-chunked body ended early".into(),
                    };
                    return Poll::Ready(Some(Err(why.into())));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    let Some(data) = frame.data_ref() else {
                        continue;
                    };
                    let mut pieces = Vec::new();
                    let fed = this.decoder.feed(data, &mut |e| {
                        pieces.push(match e {
                            Event::ChunkStart {
                                signature, size, ..
                            } => Piece::Start(signature.map(str::to_string), size),
                            // a view into the frame, not a copy
                            Event::Data(d) => Piece::Data(data.slice_ref(d)),
                            Event::ChunkEnd => Piece::End,
                            Event::Trailer { name, value } => {
                                Piece::Trailer(name.to_string(), value.to_string())
                            }
                            Event::End => Piece::Done,
                        })
                    });
                    for p in pieces {
                        if let Err(why) = this.on(p) {
                            return Poll::Ready(Some(Err(why.into())));
                        }
                    }
                    if let Err(e) = fed {
                        return Poll::Ready(Some(Err(format!("aws-chunked body: {e}").into())));
                    }
                }
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
