//! Streaming bodies: one boxed body type for everything sigtap sends, and wrappers that check a
//! hex `x-amz-content-sha256` while the bytes flow (memory stays one frame), re-frame a signed
//! aws-chunked body, and end a body that stalls.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use sha2::{Digest, Sha256};
use std::future::Future;
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
    if body.is_empty() && header.eq_ignore_ascii_case(crate::sig::crypto::EMPTY_SHA256) {
        // a bodyless request naming the empty hash: nothing to hash
        return None;
    }
    let got = crate::sig::encode::hex(&Sha256::digest(body));
    if got.eq_ignore_ascii_case(header) {
        return None;
    }
    let want = header.to_ascii_lowercase();
    Some(mismatch_message(&got, &want))
}

/// Passes frames through, counting bytes and (optionally) hashing them; at the end, a hash
/// that differs from the expected one turns into an error, so the upstream request is aborted.
pub struct Checked<B> {
    inner: B,
    hasher: Option<(Sha256, String)>,
    /// For large bodies: the hashing runs on a helper thread.
    ahead: Option<Ahead>,
    meter: Meter,
}

/// Bodies at least this large are hashed on a helper thread, beside the forwarding (SHA-256 at
/// about 2 GB/s in series with the copying halved large hex-signed uploads).
const HASH_AHEAD_MIN: u64 = 4 * 1024 * 1024;
/// Frames queued for the helper at most (they are references to buffers already read).
const HASH_AHEAD_QUEUE: usize = 8;

/// A helper thread hashing a body's frames in order while they are forwarded.
struct Ahead {
    tx: Option<std::sync::mpsc::SyncSender<Bytes>>,
    /// Woken by the helper each time it takes a frame (the queue has room again).
    room: Arc<Mutex<Option<std::task::Waker>>>,
    /// A frame not passed on yet: waiting for room in the queue or, the last one, for the digest.
    held: Option<Frame<Bytes>>,
    /// `held` is in the helper's queue already.
    queued: bool,
    /// `held` is the body's last frame.
    last: bool,
    digest: tokio::sync::oneshot::Receiver<String>,
    want: String,
}

impl Ahead {
    fn start(want: String) -> Option<Ahead> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(HASH_AHEAD_QUEUE);
        let (done, digest) = tokio::sync::oneshot::channel();
        let room: Arc<Mutex<Option<std::task::Waker>>> = Arc::default();
        let room2 = room.clone();
        std::thread::Builder::new()
            .name("sigtap-hash".into())
            .spawn(move || {
                let mut h = Sha256::new();
                while let Ok(b) = rx.recv() {
                    if let Some(w) = room2.lock().ok().and_then(|mut w| w.take()) {
                        w.wake();
                    }
                    h.update(&b);
                }
                let _ = done.send(crate::sig::encode::hex(&h.finalize()));
            })
            .ok()?;
        Some(Ahead {
            tx: Some(tx),
            room,
            held: None,
            queued: false,
            last: false,
            digest,
            want,
        })
    }

    /// Queues a frame's data for hashing: false when the queue is full (the task is woken when
    /// the helper makes room; offer the frame again then).
    fn offer(&mut self, frame: &Frame<Bytes>, cx: &Context<'_>) -> Result<bool, BoxError> {
        let (Some(data), Some(tx)) = (frame.data_ref(), &self.tx) else {
            return Ok(true);
        };
        for attempt in 0..2 {
            match tx.try_send(data.clone()) {
                Ok(()) => return Ok(true),
                Err(std::sync::mpsc::TrySendError::Full(_)) if attempt == 0 => {
                    // register, then try again: the helper may have made room meanwhile
                    if let Ok(mut w) = self.room.lock() {
                        *w = Some(cx.waker().clone());
                    }
                }
                Err(std::sync::mpsc::TrySendError::Full(_)) => return Ok(false),
                Err(_) => return Err("the hashing thread stopped".into()),
            }
        }
        Ok(false)
    }
}

impl<B: Body> Checked<B> {
    pub fn new(inner: B, expected_sha256: Option<String>, meter: Meter) -> Self {
        let want = expected_sha256.map(|h| h.to_ascii_lowercase());
        let large = inner.size_hint().lower() >= HASH_AHEAD_MIN;
        let ahead = want.clone().filter(|_| large).and_then(Ahead::start);
        Checked {
            inner,
            hasher: want.filter(|_| ahead.is_none()).map(|h| (Sha256::new(), h)),
            ahead,
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

    /// The last data frame (the body's length known) is held back until the hash is checked,
    /// so that a body that does not match never reaches the upstream whole.
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some(a) = this.ahead.as_mut() {
                if let Some(frame) = a.held.take() {
                    if !a.queued {
                        match a.offer(&frame, cx) {
                            Ok(true) => a.queued = true,
                            Ok(false) => {
                                a.held = Some(frame);
                                return Poll::Pending;
                            }
                            Err(e) => return Poll::Ready(Some(Err(e))),
                        }
                    }
                    if !a.last {
                        a.queued = false;
                        return Poll::Ready(Some(Ok(frame)));
                    }
                    return match this.finish_ahead(cx) {
                        Poll::Pending => {
                            if let Some(a) = this.ahead.as_mut() {
                                a.held = Some(frame);
                            }
                            Poll::Pending
                        }
                        Poll::Ready(Ok(())) => Poll::Ready(Some(Ok(frame))),
                        Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                    };
                }
            }
            return match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(frame))) => {
                    let last = this.inner.is_end_stream();
                    if let Some(data) = frame.data_ref() {
                        if let Ok(mut m) = this.meter.0.lock() {
                            m.bytes += data.len() as u64;
                        }
                        if let Some((h, _)) = this.hasher.as_mut() {
                            h.update(data);
                        }
                    }
                    if let Some(a) = this.ahead.as_mut() {
                        a.held = Some(frame);
                        a.queued = false;
                        a.last = last;
                        continue;
                    }
                    if last {
                        if let Err(e) = this.finish_inline() {
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                    Poll::Ready(Some(Ok(frame)))
                }
                Poll::Ready(None) => {
                    if this.ahead.is_some() {
                        return match this.finish_ahead(cx) {
                            Poll::Pending => Poll::Pending,
                            Poll::Ready(Ok(())) => Poll::Ready(None),
                            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                        };
                    }
                    match this.finish_inline() {
                        Ok(()) => Poll::Ready(None),
                        Err(e) => Poll::Ready(Some(Err(e))),
                    }
                }
            };
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream() && self.hasher.is_none() && self.ahead.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Checked<B> {
    /// Compares the inline hash, once, at the body's end.
    fn finish_inline(&mut self) -> Result<(), BoxError> {
        match self.hasher.take() {
            Some((h, want)) => self.verdict(crate::sig::encode::hex(&h.finalize()), want),
            None => Ok(()),
        }
    }

    /// Closes the helper's queue and compares its digest when it comes.
    fn finish_ahead(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let Some(a) = self.ahead.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        a.tx = None;
        let got = match Pin::new(&mut a.digest).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(got)) => got,
            Poll::Ready(Err(_)) => return Poll::Ready(Err("the hashing thread stopped".into())),
        };
        let want = std::mem::take(&mut a.want);
        self.ahead = None;
        Poll::Ready(self.verdict(got, want))
    }

    fn verdict(&self, got: String, want: String) -> Result<(), BoxError> {
        if got == want {
            return Ok(());
        }
        let why = mismatch_message(&got, &want);
        if let Ok(mut m) = self.meter.0.lock() {
            m.hash_mismatch = Some(why.clone());
        }
        Err(why.into())
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

/// Ends a body with an error when no frame arrives for `limit` (`--upstream-timeout`): an
/// upstream that stops sending is abandoned, while a slow but moving download never is, since
/// each frame starts the wait again.
pub struct Idle<B> {
    inner: B,
    limit: std::time::Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
}

impl<B> Idle<B> {
    /// `clock` tells the time each frame arrives (the proxy's own clock).
    pub fn new(
        inner: B,
        limit: std::time::Duration,
        clock: std::sync::Arc<dyn crate::clock::Clock>,
    ) -> Self {
        let first = tokio::time::Instant::from_std(clock.instant() + limit);
        Idle {
            inner,
            limit,
            timer: Box::pin(tokio::time::sleep_until(first)),
            clock,
        }
    }
}

impl<B> Body for Idle<B>
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
            Poll::Ready(f) => {
                let deadline = tokio::time::Instant::from_std(this.clock.instant() + this.limit);
                this.timer.as_mut().reset(deadline);
                Poll::Ready(f.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                    "the upstream sent nothing for {}s (--upstream-timeout)",
                    this.limit.as_secs()
                )
                .into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Joins small data frames into frames of about `target` bytes before they go on, so that a
/// body hyper reads in growing pieces (8, 16, 32 KiB...) reaches the upstream in a few large
/// writes. A frame that is already large passes as it is (no copy); a frame that is not data
/// (trailers) or the end lets what was joined go first. Memory: at most `target` plus a frame.
pub struct Coalesce<B> {
    inner: B,
    target: usize,
    joined: bytes::BytesMut,
    /// A trailers frame or an error that arrived while bytes were joined: after them.
    held: Option<Option<Result<Frame<Bytes>, BoxError>>>,
}

impl<B> Coalesce<B> {
    pub fn new(inner: B, target: usize) -> Self {
        Coalesce {
            inner,
            target,
            joined: bytes::BytesMut::new(),
            held: None,
        }
    }

    fn take_joined(&mut self) -> Frame<Bytes> {
        Frame::data(self.joined.split().freeze())
    }
}

impl<B> Body for Coalesce<B>
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
        if let Some(held) = this.held.take() {
            return Poll::Ready(held);
        }
        loop {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if this.joined.is_empty() && data.len() >= this.target => {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    Ok(data) => {
                        this.joined.extend_from_slice(&data);
                        if this.joined.len() >= this.target {
                            return Poll::Ready(Some(Ok(this.take_joined())));
                        }
                    }
                    Err(other) => {
                        if this.joined.is_empty() {
                            return Poll::Ready(Some(Ok(other)));
                        }
                        this.held = Some(Some(Ok(other)));
                        return Poll::Ready(Some(Ok(this.take_joined())));
                    }
                },
                Poll::Ready(end_or_error) => {
                    let end_or_error = end_or_error.map(|r| r.map_err(Into::into));
                    if this.joined.is_empty() {
                        return Poll::Ready(end_or_error);
                    }
                    this.held = Some(end_or_error);
                    return Poll::Ready(Some(Ok(this.take_joined())));
                }
                // what is joined waits for more (the client's bytes are on their way); the
                // body's end or `target` lets it go
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// True as soon as the last frame has gone (wrappers such as `Checked` ask right after a
    /// frame whether it was the last one).
    fn is_end_stream(&self) -> bool {
        self.joined.is_empty()
            && match &self.held {
                Some(None) => true,
                Some(Some(_)) => false,
                None => self.inner.is_end_stream(),
            }
    }

    fn size_hint(&self) -> SizeHint {
        let mut h = self.inner.size_hint();
        let extra = self.joined.len() as u64;
        h.set_lower(h.lower() + extra);
        if let Some(u) = h.upper() {
            h.set_upper(u + extra);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn payload_mismatch_names_only_a_real_difference() {
        let empty = crate::sig::crypto::EMPTY_SHA256;
        assert_eq!(payload_mismatch(b"", empty), None);
        assert_eq!(payload_mismatch(b"", &empty.to_ascii_uppercase()), None);
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(payload_mismatch(b"abc", abc), None);
        assert_eq!(payload_mismatch(b"abc", &abc.to_ascii_uppercase()), None);
        assert!(payload_mismatch(b"", abc).is_some());
        assert!(payload_mismatch(b"abd", abc).is_some());
        assert!(payload_mismatch(b"abc", empty).is_some());
        // not a hex hash: nothing to compare
        assert_eq!(payload_mismatch(b"abc", "UNSIGNED-PAYLOAD"), None);
    }

    /// A body that hands out the given frames, one per poll.
    struct Frames(VecDeque<Frame<Bytes>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }
        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }
    }

    fn frames(sizes: &[usize]) -> Frames {
        Frames(
            sizes
                .iter()
                .enumerate()
                .map(|(i, n)| Frame::data(Bytes::from(vec![i as u8; *n])))
                .collect(),
        )
    }

    /// Data frame sizes out of `body`, with whether the body said it ended right after each.
    async fn drain(mut body: Coalesce<Frames>) -> (Vec<usize>, Vec<bool>, Vec<u8>, bool) {
        let (mut sizes, mut ends, mut bytes, mut trailers) = (vec![], vec![], vec![], false);
        while let Some(f) = body.frame().await {
            let f = f.unwrap();
            if f.is_trailers() {
                trailers = true;
                continue;
            }
            let d = f.into_data().unwrap();
            sizes.push(d.len());
            bytes.extend_from_slice(&d);
            ends.push(body.is_end_stream());
        }
        (sizes, ends, bytes, trailers)
    }

    #[tokio::test]
    async fn coalesce_joins_small_frames_and_says_when_the_last_one_went() {
        let (sizes, ends, bytes, _) = drain(Coalesce::new(frames(&[8, 16, 32, 64, 5]), 100)).await;
        assert_eq!(sizes, vec![120, 5]);
        // the last frame is known as last when it leaves (a hash check holds it back)
        assert_eq!(ends, vec![false, true]);
        let mut want = vec![];
        for (i, n) in [8, 16, 32, 64, 5].iter().enumerate() {
            want.extend(std::iter::repeat_n(i as u8, *n));
        }
        assert_eq!(bytes, want, "bytes in order, none lost");
        // a frame already large passes as it is; what was joined goes first at the end
        let (sizes, ends, _, _) = drain(Coalesce::new(frames(&[300, 10, 20]), 100)).await;
        assert_eq!((sizes, ends), (vec![300, 30], vec![false, true]));
    }

    #[tokio::test]
    async fn coalesce_lets_joined_bytes_go_before_trailers() {
        let mut f = frames(&[10, 10]);
        f.0.push_back(Frame::trailers(hyper::HeaderMap::new()));
        let (sizes, _, _, trailers) = drain(Coalesce::new(f, 100)).await;
        assert_eq!(sizes, vec![20]);
        assert!(trailers, "the trailers were lost");
    }
}
