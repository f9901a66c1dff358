//! The lean transport: requests without a body or with a small one (GET, HEAD, DELETE, small
//! PUTs) to a plain-http upstream, moved without hyper.
//!
//! Why: on a small GET, hyper's server and client cost more CPU than verifying and re-signing
//! the request does (docs/PERFORMANCE.md has the profile). The connection loop (`conn.rs`) has
//! read and planned the request; this transport checks a small body's hash, writes the upstream
//! request in one write to a connection kept for this client connection, and streams the
//! answer back with its framing untouched. What it does not serve (`serves`) goes to hyper.

use super::errors::ErrorCode;
use super::framing::ChunkScan;
use super::head::digits;
use super::hop::Hop;
use super::pipeline::{note_error_body, timeout_message, Outbound, SMALL_ERROR};
use super::{ClientIo, State};
use crate::policy;
use bytes::{Buf, Bytes, BytesMut};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Headers per answer this path reads, as hyper (more is a malformed answer, 502).
const MAX_HEADERS: usize = super::head::MAX_HEADERS;
/// An upstream answer's head larger than this is refused (hyper's default limit is ~400 KiB,
/// but no storage service sends more than a few KiB).
const MAX_RESPONSE_HEAD: usize = 256 * 1024;
/// Request bodies up to this size are read whole (and their hash checked) before forwarding.
const MAX_LEAN_BODY: usize = 64 * 1024;
/// Body bytes moved per read while streaming an answer.
const STREAM_CHUNK: usize = 128 * 1024;

/// Whether this proxy's configuration can use the lean path.
pub(super) fn enabled(st: &State) -> bool {
    st.cfg.lean
        && !st.cfg.embedded
        && st.cfg.recorder.is_none()
        && matches!(&st.cfg.mode, super::Mode::Reverse(u) if u.scheme == "http")
}

/// The upstream's authority (the lean path serves reverse mode only).
pub(super) fn upstream_authority(st: &State) -> &str {
    match &st.cfg.mode {
        super::Mode::Reverse(u) => &u.authority,
        _ => "",
    }
}

/// The body length of a request this transport serves (its body read whole first); `None`
/// when hyper must take it: a body that is chunked, larger than `MAX_LEAN_BODY`, aws-chunked
/// (re-framed) or announced with `Expect`, an upgrade, HTTP/1.0, a target that is not
/// origin-form.
pub(super) fn serves(h: &super::head::Head) -> Option<usize> {
    use super::head::BodyFraming;
    if !h.plain {
        return None;
    }
    match h.body {
        BodyFraming::None => Some(0),
        BodyFraming::Length(n) if n <= MAX_LEAN_BODY as u64 => Some(n as usize),
        _ => None,
    }
}

/// Checks a small body against its `x-amz-content-sha256`, then forwards the request.
pub(super) async fn send(
    st: &State,
    mut o: Outbound,
    head: &[u8],
    body: &[u8],
    client: &mut impl ClientIo,
    up: &mut Option<UpConn>,
    close: bool,
) -> bool {
    o.rec.bytes_in = body.len() as u64;
    if let Some(why) = o
        .outgoing
        .header("x-amz-content-sha256")
        .and_then(|want| super::body::payload_mismatch(body, want))
    {
        let (status, code) =
            policy::body_answer(crate::findings::code::PAYLOAD_HASH_MISMATCH, o.dialect);
        let resp = o.failed(st, status, code, format!("sigtap: {why}"));
        return write_local(client, resp, close).await.is_ok();
    }
    if body.is_empty() {
        return forward(st, o, head, client, up, close).await;
    }
    let mut whole = Vec::with_capacity(head.len() + body.len());
    whole.extend_from_slice(head);
    whole.extend_from_slice(body);
    forward(st, o, &whole, client, up, close).await
}

/// The last head a connection planned and what the pipeline made of it. The pipeline is a
/// pure function of the head, the second (signing times have one-second resolution) and the
/// upstream clock offset, so an identical head within the same second (a presigned URL fetched
/// over and over) reuses the verdict and the re-signed request instead of computing both again.
/// Heads that depend on other state (multipart upload ids) are never kept.
pub(super) struct Memo {
    pub head: Vec<u8>,
    /// The body length the head announces, and whether it closes the connection.
    pub body: usize,
    pub close: bool,
    pub second: i64,
    pub offset: i64,
    pub planned: Outbound,
    pub upstream_head: Vec<u8>,
}

/// A kept-alive connection to the upstream, owned by one client connection.
pub(super) struct UpConn {
    io: TcpStream,
    buf: BytesMut,
    pub idle_since: Instant,
}

/// How the upstream frames its answer's body (RFC 9112 section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes (the client connection closes after it too).
    UntilClose,
}

/// An upstream answer's head, already rewritten for the client.
struct AnswerHead {
    status: u16,
    date: Option<String>,
    content_length: Option<u64>,
    framing: Framing,
    /// The upstream will not take another request on this connection.
    upstream_closes: bool,
    /// Status line and headers for the client, hop-by-hop headers left out.
    out: Vec<u8>,
}

#[derive(Debug)]
enum UpError {
    Connect(std::io::Error),
    Io(std::io::Error),
    /// The connection ended before a whole head arrived; `nothing` when no byte came at all.
    Closed {
        nothing: bool,
    },
    Malformed(String),
}

impl std::fmt::Display for UpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpError::Connect(e) => write!(f, "cannot connect to the upstream ({e})"),
            UpError::Io(e) => write!(f, "the upstream connection failed ({e})"),
            UpError::Closed { .. } => write!(
                f,
                "the upstream connection failed (it closed before a whole answer head arrived)"
            ),
            UpError::Malformed(m) => write!(f, "the upstream's answer is malformed ({m})"),
        }
    }
}

/// Sends the planned request and streams the answer to the client; false when the client
/// connection must close.
async fn forward(
    st: &State,
    mut o: Outbound,
    head: &[u8],
    client: &mut impl ClientIo,
    up: &mut Option<UpConn>,
    client_close: bool,
) -> bool {
    if up
        .as_ref()
        .is_some_and(|c| c.idle_since.elapsed() >= st.cfg.upstream_idle)
    {
        *up = None;
    }
    let addr = with_port(o.connect_to.as_deref().unwrap_or(&o.upstream.authority));
    let is_head = o.method == "HEAD";
    let idempotent = is_head || o.method == "GET";
    let answer = tokio::time::timeout(
        st.cfg.upstream_timeout,
        exchange(
            up,
            &addr,
            head,
            is_head,
            idempotent,
            client_close,
            st.cfg.clock.instant(),
        ),
    )
    .await;
    let (conn, answer) = match (answer, up.as_mut()) {
        (Ok(Ok(a)), Some(c)) => (c, a),
        (Ok(Ok(_)), None) => {
            let why = UpError::Closed { nothing: true };
            let resp = o.failed(st, 502, ErrorCode::BadGateway, format!("sigtap: {why}"));
            return write_local(client, resp, client_close).await.is_ok();
        }
        (Ok(Err(why)), _) => {
            *up = None;
            let resp = o.failed(st, 502, ErrorCode::BadGateway, format!("sigtap: {why}"));
            return write_local(client, resp, client_close).await.is_ok();
        }
        (Err(_), _) => {
            *up = None;
            let msg = timeout_message(st, &o.upstream);
            let resp = o.failed(st, 504, ErrorCode::GatewayTimeout, msg);
            return write_local(client, resp, client_close).await.is_ok();
        }
    };
    o.learn_from_answer(st, answer.status, answer.date.as_deref());
    // a small error is read whole, so the log names the service's error code; one that breaks
    // off is answered by sigtap (nothing went to the client yet), as on every transport
    if let (true, Framing::Length(n)) = (answer.status >= 400, answer.framing) {
        if n <= SMALL_ERROR {
            let whole = tokio::time::timeout(st.cfg.upstream_timeout, async {
                while (conn.buf.len() as u64) < n {
                    if conn.io.read_buf(&mut conn.buf).await? == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Ok::<_, std::io::Error>(())
            })
            .await;
            if let Ok(Ok(())) = whole {
                note_error_body(&mut o.rec, answer.status, &conn.buf[..n as usize]);
            } else {
                *up = None;
                let resp = o.error_body_broke_off(st, answer.status);
                return write_local(client, resp, client_close).await.is_ok();
            }
        }
    }
    let mut out = answer.out;
    let mut rec = o.rec;
    rec.duration_ms = o.started.elapsed().as_secs_f64() * 1000.0;
    if rec.bytes_out == 0 {
        rec.bytes_out = answer.content_length.unwrap_or(0);
    }
    // the head and whatever body already arrived go out in one write
    let mut scan = ChunkScan::default();
    let mut left = match answer.framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    let mut done = take_body(
        &mut conn.buf,
        &mut out,
        answer.framing,
        &mut left,
        &mut scan,
    );
    let written = client.write_all(&out).await;
    st.cfg.sink.record(&rec);
    if written.is_err() {
        *up = None;
        return false;
    }
    match done {
        Err(_) => {
            *up = None;
            return false;
        }
        Ok(true) => {}
        Ok(false) => {
            // stream the rest, one bounded buffer at a time, written from where it was read
            while let Ok(false) = done {
                conn.buf.reserve(STREAM_CHUNK);
                let n = match tokio::time::timeout(
                    st.cfg.upstream_timeout,
                    conn.io.read_buf(&mut conn.buf),
                )
                .await
                {
                    Ok(Ok(n)) => n,
                    _ => {
                        *up = None;
                        return false;
                    }
                };
                if n == 0 {
                    // the end of a close-delimited body; anything else broke off
                    *up = None;
                    let _ = client.flush().await;
                    return false;
                }
                let (n, finished) = match body_part(&conn.buf, answer.framing, &mut left, &mut scan)
                {
                    Ok(p) => p,
                    Err(e) => {
                        done = Err(e);
                        break;
                    }
                };
                done = Ok(finished);
                if client.write_all(&conn.buf[..n]).await.is_err() {
                    *up = None;
                    return false;
                }
                conn.buf.advance(n);
            }
            if done.is_err() {
                *up = None;
                return false;
            }
        }
    }
    // a TLS client stream holds the answer's last bytes until flushed
    if client.flush().await.is_err() {
        *up = None;
        return false;
    }
    // bytes past the answer mean the upstream and we disagree on framing: do not reuse
    if answer.upstream_closes || !conn.buf.is_empty() {
        *up = None;
    } else {
        conn.idle_since = st.cfg.clock.instant();
    }
    answer.framing != Framing::UntilClose
}

/// Moves body bytes of the current answer from `from` to `to`; `Ok(true)` once the body is
/// complete, `Err` when chunked framing is broken.
fn take_body(
    from: &mut BytesMut,
    to: &mut Vec<u8>,
    framing: Framing,
    left: &mut u64,
    scan: &mut ChunkScan,
) -> Result<bool, &'static str> {
    let (n, done) = body_part(from, framing, left, scan)?;
    to.extend_from_slice(&from[..n]);
    from.advance(n);
    Ok(done)
}

/// How many bytes at the start of `buf` belong to the current answer's body, and whether the
/// body ends with them (`Err` when chunked framing is broken).
fn body_part(
    buf: &[u8],
    framing: Framing,
    left: &mut u64,
    scan: &mut ChunkScan,
) -> Result<(usize, bool), &'static str> {
    Ok(match framing {
        Framing::Empty => (0, true),
        Framing::Length(_) => {
            let n = (*left).min(buf.len() as u64) as usize;
            *left -= n as u64;
            (n, *left == 0)
        }
        Framing::Chunked => match scan.feed(buf)? {
            Some(end) => (end, true),
            None => (buf.len(), false),
        },
        Framing::UntilClose => (buf.len(), false),
    })
}

/// Writes the request on the kept connection (or a new one) and reads the answer's head.
/// A request is sent a second time, on a new connection, only when no byte of it was written,
/// or when it is a GET or HEAD (`idempotent`) and no byte of an answer arrived: a POST or PUT
/// the upstream may have acted on is never repeated (the hyper transport retries on the same
/// terms).
async fn exchange(
    up: &mut Option<UpConn>,
    addr: &str,
    head: &[u8],
    is_head: bool,
    idempotent: bool,
    client_close: bool,
    now: Instant,
) -> Result<AnswerHead, UpError> {
    for attempt in 0..2 {
        let conn = match up {
            Some(c) => c,
            None => {
                let io = TcpStream::connect(addr).await.map_err(UpError::Connect)?;
                let _ = io.set_nodelay(true);
                up.insert(UpConn {
                    io,
                    buf: BytesMut::with_capacity(16 * 1024),
                    idle_since: now,
                })
            }
        };
        conn.buf.clear();
        let mut written = 0;
        let result = match write_counted(&mut conn.io, head, &mut written).await {
            Ok(()) => read_answer_head(conn, is_head, client_close).await,
            Err(e) => Err(UpError::Io(e)),
        };
        let nothing_back = match &result {
            Err(UpError::Closed { nothing }) => *nothing,
            Err(UpError::Io(_)) => conn.buf.is_empty(),
            _ => false,
        };
        match result {
            Ok(a) => return Ok(a),
            Err(_) if attempt == 0 && (written == 0 || (idempotent && nothing_back)) => {
                *up = None;
            }
            Err(e) => return Err(e),
        }
    }
    Err(UpError::Closed { nothing: true })
}

/// `write_all` that counts what went out, so a failed request knows whether any of it did.
async fn write_counted(
    io: &mut TcpStream,
    bytes: &[u8],
    written: &mut usize,
) -> std::io::Result<()> {
    while *written < bytes.len() {
        match io.write(&bytes[*written..]).await? {
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            n => *written += n,
        }
    }
    Ok(())
}

async fn read_answer_head(
    conn: &mut UpConn,
    is_head: bool,
    client_close: bool,
) -> Result<AnswerHead, UpError> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&conn.buf) {
            Ok(httparse::Status::Complete(n)) => {
                let code = resp.code.unwrap_or(0);
                if (100..200).contains(&code) && code != 101 {
                    // an interim answer (100 Continue, 103 Early Hints): wait for the final one
                    conn.buf.advance(n);
                    continue;
                }
                let head = answer_head(&resp, is_head, client_close)?;
                conn.buf.advance(n);
                return Ok(head);
            }
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => {
                return Err(UpError::Malformed(format!(
                    "more than {MAX_HEADERS} headers"
                )))
            }
            Err(e) => return Err(UpError::Malformed(e.to_string())),
        }
        if conn.buf.len() > MAX_RESPONSE_HEAD {
            return Err(UpError::Malformed("the head is larger than 256 KiB".into()));
        }
        conn.buf.reserve(8 * 1024);
        match conn.io.read_buf(&mut conn.buf).await {
            Ok(0) => {
                return Err(UpError::Closed {
                    nothing: conn.buf.is_empty(),
                })
            }
            Ok(_) => {}
            Err(e) => return Err(UpError::Io(e)),
        }
    }
}

fn answer_head(
    resp: &httparse::Response,
    is_head: bool,
    client_close: bool,
) -> Result<AnswerHead, UpError> {
    let status = resp.code.unwrap_or(0);
    if status == 101 {
        return Err(UpError::Malformed(
            "101 Switching Protocols to a request that asked for no upgrade".into(),
        ));
    }
    let mut content_length = None;
    let mut chunked = None;
    let mut conn_close = resp.version == Some(0);
    let mut date = None;
    let hop = Hop::new(
        resp.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .map(|h| h.value),
    );
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(resp.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in resp.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = digits(h.value.trim_ascii())
                .ok_or_else(|| UpError::Malformed("a Content-Length that is no number".into()))?;
            if content_length.is_some_and(|c| c != n) {
                return Err(UpError::Malformed(
                    "two different Content-Length values".into(),
                ));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // chunked only when it is the last coding
            let last = h.value.split(|b| *b == b',').next_back().unwrap_or(b"");
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for t in h.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if t.eq_ignore_ascii_case(b"close") {
                    conn_close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") && resp.version == Some(0) {
                    conn_close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("date") {
            date = std::str::from_utf8(h.value).ok().map(str::to_string);
        }
        if hop.is_hop(name) {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    let framing = if is_head || status == 204 || status == 304 {
        Framing::Empty
    } else {
        match (chunked, content_length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::UntilClose,
            (None, Some(0)) => Framing::Empty,
            (None, Some(n)) => Framing::Length(n),
            (None, None) => Framing::UntilClose,
        }
    };
    if framing == Framing::UntilClose || client_close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(AnswerHead {
        status,
        date,
        content_length,
        framing,
        upstream_closes: conn_close || framing == Framing::UntilClose,
        out,
    })
}

/// The upstream request head: the re-signed request, hop-by-hop headers left out.
pub(super) fn request_head(o: &Outbound) -> Vec<u8> {
    let r = &o.outgoing;
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(r.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(o.upstream.base_path.as_bytes());
    out.extend_from_slice(r.path.as_bytes());
    if let Some(q) = &r.query {
        out.push(b'?');
        out.extend_from_slice(q.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !r.has_header("host") {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(o.upstream.authority.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let hop = Hop::of_pairs(r.headers.iter().map(|(k, v)| (k.as_str(), v)));
    for (k, v) in &r.headers {
        if hop.is_hop(k) {
            continue;
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `host[:port]` with the http default port made explicit, for connecting.
fn with_port(authority: &str) -> String {
    let after_bracket = authority.rsplit(']').next().unwrap_or(authority);
    if after_bracket.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    }
}

/// Writes an answer sigtap made itself (header names title-cased, as hyper writes them).
pub(super) async fn write_local(
    client: &mut impl ClientIo,
    resp: hyper::Response<http_body_util::Full<Bytes>>,
    close: bool,
) -> std::io::Result<()> {
    use http_body_util::BodyExt;
    let (parts, body) = resp.into_parts();
    let body = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(never) => match never {},
    };
    let mut out = Vec::with_capacity(512 + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(parts.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (k, v) in &parts.headers {
        let mut upper = true;
        for b in k.as_str().bytes() {
            out.push(if upper { b.to_ascii_uppercase() } else { b });
            upper = b == b'-';
        }
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    client.write_all(&out).await?;
    // a TLS stream holds what it encrypted until flushed (a no-op on plain TCP)
    client.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_follows_rfc_9112() {
        let parse = |raw: &[u8], is_head: bool| {
            let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut r = httparse::Response::new(&mut h);
            r.parse(raw).unwrap();
            answer_head(&r, is_head, false)
        };
        let a = parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
            false,
        )
        .unwrap();
        assert_eq!((a.framing, a.upstream_closes), (Framing::Length(5), false));
        assert!(!String::from_utf8_lossy(&a.out)
            .to_ascii_lowercase()
            .contains("keep-alive"));
        let a = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true).unwrap();
        assert_eq!(a.framing, Framing::Empty);
        let a = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            false,
        )
        .unwrap();
        assert_eq!(a.framing, Framing::Chunked);
        assert!(String::from_utf8_lossy(&a.out).contains("Transfer-Encoding: gzip, chunked"));
        let a = parse(b"HTTP/1.0 200 OK\r\n\r\n", false).unwrap();
        assert_eq!((a.framing, a.upstream_closes), (Framing::UntilClose, true));
        assert!(String::from_utf8_lossy(&a.out).contains("Connection: close"));
        let a = parse(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            false,
        )
        .unwrap();
        assert_eq!(a.framing, Framing::Empty);
        assert!(parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            false
        )
        .is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false).is_err());
    }

    #[test]
    fn requests_with_a_body_or_an_upgrade_go_to_hyper() {
        let lean = |raw: &[u8]| match super::super::head::parse(raw) {
            super::super::head::Parsed::Complete(h) => serves(&h).map(|_| {
                let w = h.to_wire(raw);
                (w.path, w.query, h.close)
            }),
            _ => None,
        };
        assert_eq!(
            lean(b"GET /b/k?x=1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n"),
            Some(("/b/k".into(), Some("x=1".into()), true))
        );
        assert!(lean(b"DELETE /b/k HTTP/1.1\r\nContent-Length: 0\r\n\r\n").is_some());
        assert!(lean(b"PUT /b/k HTTP/1.1\r\nContent-Length: 65536\r\n\r\n").is_some());
        for raw in [
            &b"PUT /b/k HTTP/1.1\r\nContent-Length: 65537\r\n\r\n"[..],
            b"PUT /b/k HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            b"PUT /b/k HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"PUT /b/k HTTP/1.1\r\nContent-Length: +3\r\n\r\n",
            b"PUT /b/k HTTP/1.1\r\nx-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\n\r\n",
            b"PUT /b/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"PUT /b/k HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            b"GET /b/k HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            b"GET /b/k HTTP/1.0\r\n\r\n",
            b"GET http://h/b/k HTTP/1.1\r\n\r\n",
            b"CONNECT h:443 HTTP/1.1\r\n\r\n",
        ] {
            assert!(lean(raw).is_none(), "{}", String::from_utf8_lossy(raw));
        }
        assert_eq!(with_port("127.0.0.1:9000"), "127.0.0.1:9000");
        assert_eq!(with_port("example.com"), "example.com:80");
        assert_eq!(with_port("[::1]"), "[::1]:80");
        assert_eq!(with_port("[::1]:8080"), "[::1]:8080");
    }
}
