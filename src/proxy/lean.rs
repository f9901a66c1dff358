//! The lean path: requests without a body or with a small one (GET, HEAD, DELETE, small PUTs)
//! on keep-alive connections to a plain-http upstream, served without hyper.
//!
//! Why: on a small GET, hyper's server and client cost more CPU than verifying and re-signing
//! the request does (docs/PERFORMANCE.md has the profile). This path parses the head with
//! httparse, runs the same pipeline (`plan`: inspect, decide, re-sign, log record), writes the
//! upstream request in one write to a connection kept for this client connection, and streams
//! the answer back with its framing untouched. Anything it does not handle (a body over 64 KiB,
//! chunked or aws-chunked, `Expect`, `Upgrade`, HTTP/1.0, a malformed or oversized head) hands
//! the connection, with the bytes already read, to the hyper path for the rest of its life, so
//! every limit, timeout and error answer stays hyper's.

use super::{note_error_body, plan, timeout_message, Outbound, Planned, State, HOP, SMALL_ERROR};
use crate::clock::{Clock, SystemClock};
use bytes::{Buf, Bytes, BytesMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Headers per message this path parses; a message with more goes to hyper (limit 100).
const MAX_HEADERS: usize = 64;
/// An upstream answer's head larger than this is refused (hyper's default limit is ~400 KiB,
/// but no storage service sends more than a few KiB).
const MAX_RESPONSE_HEAD: usize = 256 * 1024;
/// A request head this path reads whole; a longer one goes to hyper (its limit is larger).
const MAX_LEAN_HEAD: usize = 16 * 1024;
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

/// Serves one client connection until it closes, the proxy stops, or a request needs hyper.
#[allow(clippy::disallowed_methods)] // TODO(issue 13 pipeline): clock injected
pub(super) async fn serve(st: Arc<State>, mut client: TcpStream, mut stop: watch::Receiver<bool>) {
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut up: Option<UpConn> = None;
    let mut memo: Option<Memo> = None;
    // the previous head: a head is remembered when it comes a second time in a row, so that
    // traffic whose heads all differ never pays for copying the plan
    let mut last_head: Vec<u8> = Vec::new();
    loop {
        // --header-timeout bounds the wait for the next request and its whole head, from the
        // moment the connection was opened or the previous answer went out (as hyper does)
        let head_deadline = Instant::now() + st.cfg.header_timeout;
        while buf.is_empty() {
            // idle between requests: wait for the next one or the shutdown, and let the kept
            // upstream connection go once it has been idle for --upstream-idle
            let idle_until = up.as_ref().map(|c| c.idle_since + st.cfg.upstream_idle);
            tokio::select! {
                r = client.read_buf(&mut buf) => match r {
                    Ok(n) if n > 0 => {}
                    _ => return,
                },
                _ = stop.changed() => return,
                _ = sleep_until(idle_until) => up = None,
                _ = tokio::time::sleep_until(head_deadline.into()) => return,
            }
        }
        let started = Instant::now();
        let (head_len, lean) = match read_head(&mut client, &mut buf, head_deadline).await {
            Head::Lean(n, lean) => (n, lean),
            Head::Hyper => {
                return super::serve_hyper(st, Rewind::new(buf.freeze(), client), stop).await
            }
            Head::Gone => return,
        };
        let close = lean.close;
        let request = buf.split_to(head_len + lean.body);
        let (head, body) = request.split_at(head_len);
        let second = SystemClock.now();
        let offset = st.clocks.offset(upstream_authority(&st));
        let remembered = memo
            .as_ref()
            .filter(|m| m.second == second && m.offset == offset && m.head == head);
        let keep = match remembered {
            Some(m) => {
                let mut o = m.planned.clone();
                o.rec.id = st.next_id();
                o.started = started;
                send(&st, o, &m.upstream_head, body, &mut client, &mut up, close).await
            }
            None => match plan(&st, wire_of(head), started) {
                Planned::Local(resp) => {
                    memo = None;
                    write_local(&mut client, resp, close).await.is_ok()
                }
                Planned::Forward(o) => {
                    let upstream_head = request_head(&o);
                    // upload ids depend on what the proxy saw before: never remembered
                    memo = (o.upload.is_none() && last_head == head).then(|| Memo {
                        head: head.to_vec(),
                        second,
                        offset,
                        planned: (*o).clone(),
                        upstream_head: upstream_head.clone(),
                    });
                    last_head.clear();
                    last_head.extend_from_slice(head);
                    send(&st, *o, &upstream_head, body, &mut client, &mut up, close).await
                }
            },
        };
        if close || !keep {
            return;
        }
    }
}

/// Checks a small body against its `x-amz-content-sha256`, then forwards the request.
async fn send(
    st: &State,
    mut o: Outbound,
    head: &[u8],
    body: &[u8],
    client: &mut TcpStream,
    up: &mut Option<UpConn>,
    close: bool,
) -> bool {
    o.rec.bytes_in = body.len() as u64;
    if let Some(why) = o
        .outgoing
        .header("x-amz-content-sha256")
        .and_then(|want| super::body::payload_mismatch(body, want))
    {
        let resp = o.failed(
            st,
            400,
            "XAmzContentSHA256Mismatch",
            format!("sigtap: {why}"),
        );
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

/// Resolves at `t`, or never.
async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// The upstream's authority (the lean path serves reverse mode only).
fn upstream_authority(st: &State) -> &str {
    match &st.cfg.mode {
        super::Mode::Reverse(u) => &u.authority,
        _ => "",
    }
}

/// What the next request head turned out to be.
enum Head {
    /// A request this path serves, whole in the buffer (head of this length, then the body).
    Lean(usize, Lean),
    /// One for hyper (the bytes read so far stay in the buffer).
    Hyper,
    /// The client went away, or sent too slowly (the header timeout, as hyper applies it).
    Gone,
}

/// Reads until a whole request head is in `buf` (some clients write the first one in pieces).
async fn read_head(client: &mut TcpStream, buf: &mut BytesMut, deadline: Instant) -> Head {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let whole_head = match req.parse(buf) {
            Ok(httparse::Status::Complete(n)) => match lean_check(&req) {
                Some(l) if buf.len() >= n + l.body => return Head::Lean(n, l),
                Some(_) => true,
                None => return Head::Hyper,
            },
            Ok(httparse::Status::Partial) if buf.len() < MAX_LEAN_HEAD => false,
            _ => return Head::Hyper,
        };
        match tokio::time::timeout_at(deadline.into(), client.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            // a body slower than the header timeout: hyper takes it from here
            Err(_) if whole_head => return Head::Hyper,
            _ => return Head::Gone,
        }
    }
}

/// A request the lean path serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Lean {
    /// The body's length (Content-Length; at most `MAX_LEAN_BODY`).
    body: usize,
    /// The client asked to close the connection after this request.
    close: bool,
}

/// Whether this path serves the request; `None` when the hyper path must take it: a body that
/// is chunked, larger than `MAX_LEAN_BODY`, aws-chunked (re-framed) or announced with
/// `Expect`, an upgrade, HTTP/1.0, an absolute-form target.
fn lean_check(req: &httparse::Request) -> Option<Lean> {
    let method = req.method?;
    let target = req.path?;
    if req.version != Some(1) || method == "CONNECT" || !target.starts_with('/') {
        return None;
    }
    let mut lean = Lean {
        body: 0,
        close: false,
    };
    let mut lengths = 0;
    for h in req.headers.iter() {
        let name = h.name;
        let value = h.value.trim_ascii();
        if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("expect")
            || name.eq_ignore_ascii_case("upgrade")
            || name.eq_ignore_ascii_case("x-amz-decoded-content-length")
            || (name.eq_ignore_ascii_case("x-amz-content-sha256")
                && value.starts_with(b"STREAMING-"))
        {
            return None;
        }
        if name.eq_ignore_ascii_case("content-length") {
            lengths += 1;
            lean.body = digits(value)? as usize;
            if lengths > 1 || lean.body > MAX_LEAN_BODY {
                return None;
            }
        }
        if name.eq_ignore_ascii_case("connection") {
            lean.close |= value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
    }
    Some(lean)
}

/// A Content-Length value: ASCII digits only (no sign, no spaces inside), as RFC 9110 says.
fn digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// The request as the pipeline sees it (from a head `lean_check` accepted).
fn wire_of(head: &[u8]) -> crate::wire::Request {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    // the same bytes parsed whole before
    let _ = req.parse(head);
    let target = crate::wire::Target::origin(req.path.unwrap_or("/"));
    let fields = req.headers.iter().map(|h| (h.name, h.value));
    crate::wire::Request::from_parts(req.method.unwrap_or("GET"), target, fields)
}

/// The last head a connection planned and what the pipeline made of it. The pipeline is a
/// pure function of the head, the second (signing times have one-second resolution) and the
/// upstream clock offset, so an identical head within the same second (a presigned URL fetched
/// over and over) reuses the verdict and the re-signed request instead of computing both again.
/// Heads that depend on other state (multipart upload ids) are never kept.
struct Memo {
    head: Vec<u8>,
    second: i64,
    offset: i64,
    planned: Outbound,
    upstream_head: Vec<u8>,
}

/// A kept-alive connection to the upstream, owned by one client connection.
struct UpConn {
    io: TcpStream,
    buf: BytesMut,
    idle_since: Instant,
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
#[allow(clippy::disallowed_methods)] // TODO(issue 13 pipeline): clock injected
async fn forward(
    st: &State,
    mut o: Outbound,
    head: &[u8],
    client: &mut TcpStream,
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
        exchange(up, &addr, head, is_head, idempotent, client_close),
    )
    .await;
    let (conn, answer) = match (answer, up.as_mut()) {
        (Ok(Ok(a)), Some(c)) => (c, a),
        (Ok(Ok(_)), None) => {
            let why = UpError::Closed { nothing: true };
            let resp = o.failed(st, 502, "BadGateway", format!("sigtap: {why}"));
            return write_local(client, resp, client_close).await.is_ok();
        }
        (Ok(Err(why)), _) => {
            *up = None;
            let resp = o.failed(st, 502, "BadGateway", format!("sigtap: {why}"));
            return write_local(client, resp, client_close).await.is_ok();
        }
        (Err(_), _) => {
            *up = None;
            let msg = timeout_message(st, &o.upstream);
            let resp = o.failed(st, 504, "GatewayTimeout", msg);
            return write_local(client, resp, client_close).await.is_ok();
        }
    };
    o.learn_from_answer(st, answer.status, answer.date.as_deref());
    let mut out = answer.out;
    let mut rec = o.rec;
    // a small error is read whole, so the log names the service's error code
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
            match whole {
                Ok(Ok(())) => note_error_body(&mut rec, answer.status, &conn.buf[..n as usize]),
                _ => rec.note = Some("the upstream's error body broke off".into()),
            }
        }
    }
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
    // bytes past the answer mean the upstream and we disagree on framing: do not reuse
    if answer.upstream_closes || !conn.buf.is_empty() {
        *up = None;
    } else {
        conn.idle_since = Instant::now();
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
/// A kept connection the upstream closed meanwhile is replaced once, but a request is sent a
/// second time only when no byte of it was written, or when it is a GET or HEAD
/// (`idempotent`) and no byte of an answer arrived: a POST or PUT the upstream may have acted
/// on is never repeated (hyper's pool retries on the same terms).
#[allow(clippy::disallowed_methods)] // TODO(issue 13 pipeline): clock injected
async fn exchange(
    up: &mut Option<UpConn>,
    addr: &str,
    head: &[u8],
    is_head: bool,
    idempotent: bool,
    client_close: bool,
) -> Result<AnswerHead, UpError> {
    for attempt in 0..2 {
        let reused = up.is_some();
        let conn = match up {
            Some(c) => c,
            None => {
                let io = TcpStream::connect(addr).await.map_err(UpError::Connect)?;
                let _ = io.set_nodelay(true);
                up.insert(UpConn {
                    io,
                    buf: BytesMut::with_capacity(16 * 1024),
                    idle_since: Instant::now(),
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
            Err(_) if reused && attempt == 0 && (written == 0 || (idempotent && nothing_back)) => {
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
        if HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop)) {
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
fn request_head(o: &Outbound) -> Vec<u8> {
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
    for (k, v) in &r.headers {
        if HOP.iter().any(|hop| k.eq_ignore_ascii_case(hop)) {
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
async fn write_local(
    client: &mut TcpStream,
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
    client.write_all(&out).await
}

/// Finds where a chunked body ends without decoding it (the bytes pass through as they are).
#[derive(Default)]
struct ChunkScan {
    state: ChunkState,
    size: u64,
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum ChunkState {
    #[default]
    Size,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    FinalLf,
}

impl ChunkScan {
    /// Feeds the next bytes; `Some(n)` when the body ends after `data[..n]`.
    fn feed(&mut self, data: &[u8]) -> Result<Option<usize>, &'static str> {
        use ChunkState::*;
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            match self.state {
                Size => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                        if self.size > (u64::MAX >> 4) {
                            return Err("a chunk size that overflows");
                        }
                        self.size = self.size * 16 + d;
                    }
                    b';' | b' ' | b'\t' => self.state = Extension,
                    b'\r' => self.state = SizeLf,
                    b'\n' => self.after_size(),
                    _ => return Err("a chunk size that is not hex"),
                },
                Extension => match b {
                    b'\r' => self.state = SizeLf,
                    b'\n' => self.after_size(),
                    _ => {}
                },
                SizeLf if b == b'\n' => self.after_size(),
                SizeLf => return Err("a chunk size line without LF"),
                Data => {
                    let n = (self.size).min((data.len() - i) as u64) as usize;
                    self.size -= n as u64;
                    i += n;
                    if self.size == 0 {
                        self.state = DataCr;
                    }
                    continue;
                }
                DataCr => match b {
                    b'\r' => self.state = DataLf,
                    b'\n' => self.state = Size,
                    _ => return Err("chunk data longer than its size"),
                },
                DataLf if b == b'\n' => self.state = Size,
                DataLf => return Err("chunk data longer than its size"),
                TrailerStart => match b {
                    b'\r' => self.state = FinalLf,
                    b'\n' => return Ok(Some(i + 1)),
                    _ => self.state = TrailerLine,
                },
                TrailerLine if b == b'\n' => self.state = TrailerStart,
                TrailerLine => {}
                FinalLf if b == b'\n' => return Ok(Some(i + 1)),
                FinalLf => return Err("a chunked body that does not end with CRLF"),
            }
            i += 1;
        }
        Ok(None)
    }

    fn after_size(&mut self) {
        self.state = if self.size == 0 {
            ChunkState::TrailerStart
        } else {
            ChunkState::Data
        };
    }
}

/// A connection handed to hyper: the bytes already read come first.
pub(super) struct Rewind {
    pre: Bytes,
    io: TcpStream,
}

impl Rewind {
    fn new(pre: Bytes, io: TcpStream) -> Self {
        Rewind { pre, io }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(buf.remaining());
            let head = self.pre.split_to(n);
            buf.put_slice(&head);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(parts: &[&[u8]]) -> Result<Option<usize>, &'static str> {
        let mut s = ChunkScan::default();
        let mut total = 0;
        for p in parts {
            if let Some(end) = s.feed(p)? {
                return Ok(Some(total + end));
            }
            total += p.len();
        }
        Ok(None)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Any well-formed chunked body, cut anywhere and followed by more bytes: the scan
        /// ends exactly after it; arbitrary bytes never panic it.
        #[test]
        fn chunked_scan_finds_the_end_of_any_body(
            sizes in proptest::collection::vec(1usize..300, 0..6),
            ext in proptest::bool::ANY,
            trailers in proptest::collection::vec("[A-Za-z-]{1,12}: [ -~]{0,20}", 0..3),
            cut in 0usize..4000,
            garbage in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            let mut body = Vec::new();
            for (i, n) in sizes.iter().enumerate() {
                body.extend_from_slice(format!("{n:x}").as_bytes());
                if ext {
                    body.extend_from_slice(b";name=value");
                }
                body.extend_from_slice(b"\r\n");
                body.extend((0..*n).map(|j| (i * 31 + j) as u8));
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"0\r\n");
            for t in &trailers {
                body.extend_from_slice(t.as_bytes());
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"\r\n");
            let end = body.len();
            body.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
            let cut = cut % (body.len() + 1);
            let (a, b) = body.split_at(cut);
            proptest::prop_assert_eq!(scan_all(&[a, b]), Ok(Some(end)));
            let _ = scan_all(&[&garbage]);
        }
    }

    #[test]
    fn chunked_ends_are_found_across_any_split() {
        let body = b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
        let end = body.len() - 4;
        for cut in 0..body.len() {
            let (a, b) = body.split_at(cut);
            assert_eq!(scan_all(&[a, b]), Ok(Some(end)), "cut at {cut}");
        }
        assert_eq!(scan_all(&[b"0\r\n\r\n"]), Ok(Some(5)));
        assert_eq!(scan_all(&[b"3\r\nabc\r\n"]), Ok(None));
        assert!(scan_all(&[b"zz\r\n"]).is_err());
        assert!(scan_all(&[b"3\r\nabcd\r\n"]).is_err());
        assert!(scan_all(&[b"ffffffffffffffffff\r\n"]).is_err());
    }

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
        let lean = |raw: &[u8]| {
            let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut r = httparse::Request::new(&mut h);
            r.parse(raw).unwrap();
            lean_check(&r).map(|l| {
                let w = wire_of(raw);
                (w.path, w.query, l.close)
            })
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
