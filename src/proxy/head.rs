//! Request heads as every transport reads them: one parser (httparse), one set of target and
//! framing rules, so that a request is accepted or refused the same way whichever transport
//! then moves its bytes (docs/ARCHITECTURE.md, "Target rules").

use super::upstream::Authority;
use crate::service_error::ErrorCode;

/// The longest request head read (request line and headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// Headers per request head at most.
pub const MAX_HEADERS: usize = 100;

/// How a request's body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head that passed the rules. It keeps positions, not copies: a request the
/// lean transport answers from its memo never allocates for its head.
#[derive(Clone, Debug)]
pub struct Head {
    /// Bytes of the head in the buffer (up to and including the empty line).
    pub len: usize,
    /// `HTTP/1.x`: 0 or 1.
    pub minor: u8,
    pub body: BodyFraming,
    /// The client will not send another request on this connection.
    pub close: bool,
    /// Nothing in the head needs more than the lean transport does: HTTP/1.1, an origin-form
    /// target, no `Expect`, `Upgrade` or aws-chunked body (which is verified and re-framed).
    pub plain: bool,
    method: std::ops::Range<usize>,
    /// The target without a fragment.
    target: std::ops::Range<usize>,
}

impl Head {
    pub fn method<'b>(&self, buf: &'b [u8]) -> &'b str {
        std::str::from_utf8(&buf[self.method.clone()]).unwrap_or("")
    }

    /// The target without its fragment (ASCII, as the rules ensure).
    pub fn target<'b>(&self, buf: &'b [u8]) -> &'b str {
        std::str::from_utf8(&buf[self.target.clone()]).unwrap_or("")
    }

    /// The request as the engine sees it (no body: the transports stream it), through the one
    /// conversion every server of sigtap uses (`wire::Request::from_parts`). `buf` holds the
    /// head this was parsed from.
    pub fn to_wire(&self, buf: &[u8]) -> crate::wire::Request {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        // the same bytes parsed whole before
        let _ = req.parse(&buf[..self.len]);
        let text = self.target(buf);
        let absolute = (!text.starts_with('/'))
            .then(|| text.split_once("://"))
            .flatten();
        let scheme = absolute.map(|(s, _)| s.to_ascii_lowercase());
        let target = match absolute {
            Some((_, r)) => {
                let end = r.find(['/', '?']).unwrap_or(r.len());
                let origin = crate::wire::Target::origin(&r[end..]);
                crate::wire::Target {
                    scheme: scheme.as_deref(),
                    authority: Some(&r[..end]),
                    ..origin
                }
            }
            None => crate::wire::Target::origin(text),
        };
        crate::wire::Request::from_parts(
            self.method(buf),
            target,
            req.headers.iter().map(|h| (h.name, h.value)),
        )
    }
}

/// Why a head is refused, for the service-format answer and the log record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    /// The method and target as received (lossy text; the log escapes them), when they could
    /// be read at all.
    pub method: String,
    pub target: Vec<u8>,
    /// The `Host` header as received, when it could be read.
    pub host: Option<String>,
}

/// What the bytes at the start of a buffer are.
#[derive(Debug)]
pub enum Parsed {
    Complete(Head),
    /// More bytes are needed.
    Partial,
    Refused(Refusal),
}

fn refuse(status: u16, code: ErrorCode, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        code,
        message: message.into(),
        method: String::new(),
        target: Vec::new(),
        host: None,
    }
}

/// Reads the request head at the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Parsed::Partial,
        Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
            let mut r = refuse(
                400,
                ErrorCode::RequestHeaderSectionTooLarge,
                format!(
                    "sigtap: the request head is larger than {} KiB or has more than {MAX_HEADERS} headers",
                    MAX_HEAD / 1024
                ),
            );
            r.target = first_line_target(buf);
            return Parsed::Refused(r);
        }
        Err(e) => {
            let mut r = refuse(
                400,
                ErrorCode::InvalidRequest,
                format!("sigtap: the request head does not parse as HTTP/1.1 ({e})"),
            );
            r.target = first_line_target(buf);
            return Parsed::Refused(r);
        }
    };
    let method = req.method.unwrap_or("");
    let raw_target = req.path.unwrap_or("").as_bytes();
    let refused = |mut r: Refusal| {
        r.method = method.to_string();
        r.target = raw_target.to_vec();
        r.host = req
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("host"))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string());
        Parsed::Refused(r)
    };
    let target_len = match check_target(method, raw_target) {
        Ok(n) => n,
        Err(r) => return refused(r),
    };
    let minor = req.version.unwrap_or(1);
    let mut lengths = 0usize;
    let mut length = 0u64;
    let mut chunked = false;
    let mut close = minor == 0;
    let mut plain = minor == 1 && method != "CONNECT" && raw_target.first() == Some(&b'/');
    for h in req.headers.iter() {
        let value = h.value.trim_ascii();
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            match digits(value) {
                Some(n) => {
                    lengths += 1;
                    length = n;
                }
                None => {
                    return refused(refuse(
                        400,
                        ErrorCode::InvalidRequest,
                        "sigtap: a Content-Length that is not a number",
                    ))
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value.rsplit(|b| *b == b',').next().unwrap_or(b"");
            if minor == 0 || chunked || !last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return refused(refuse(
                    400,
                    ErrorCode::InvalidRequest,
                    "sigtap: a Transfer-Encoding other than one final chunked coding on HTTP/1.1",
                ));
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for t in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if t.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") && minor == 0 {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("expect")
            || name.eq_ignore_ascii_case("upgrade")
            || name.eq_ignore_ascii_case("x-amz-decoded-content-length")
            || (name.eq_ignore_ascii_case("x-amz-content-sha256")
                && value.starts_with(b"STREAMING-"))
        {
            plain = false;
        }
    }
    // a body with two lengths, or a length and chunked, is read differently by different
    // servers (request smuggling): refused whatever the values
    let body = match (chunked, lengths) {
        (true, 0) => BodyFraming::Chunked,
        (false, 0) => BodyFraming::None,
        (false, 1) if length == 0 => BodyFraming::None,
        (false, 1) => BodyFraming::Length(length),
        _ => {
            return refused(refuse(
                400,
                ErrorCode::InvalidRequest,
                "sigtap: a request with two body lengths (Content-Length twice, or with Transfer-Encoding)",
            ))
        }
    };
    let offset = |s: &str| s.as_ptr() as usize - buf.as_ptr() as usize;
    let m = offset(method);
    let t = offset(req.path.unwrap_or(""));
    Parsed::Complete(Head {
        len: n,
        minor,
        body,
        close,
        plain,
        method: m..m + method.len(),
        target: t..t + target_len,
    })
}

/// Bytes that end a target (`#`) or are refused in it.
const TARGET_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b < 0x21 || b >= 0x7f || matches!(b, b'"' | b'<' | b'>' | b'`' | b'#');
        i += 1;
    }
    t
};

/// The target rules. A `#` and what follows it are not part of the target (as in the `http`
/// crate). The target is origin-form (`/path?query`), absolute-form (`http://host/path`, its
/// authority a plain host and port), `*` for OPTIONS or an authority for CONNECT. Control
/// bytes, spaces, bytes outside ASCII, `"`, `<`, `>` and a backtick are refused anywhere: no
/// client sends them unencoded, and servers disagree about them.
pub fn check_target(method: &str, raw: &[u8]) -> Result<usize, Refusal> {
    // one pass: the first byte that ends the target (`#`) or that the rules refuse
    let stop = raw.iter().position(|b| TARGET_STOP[*b as usize]);
    let cut = match stop {
        Some(i) if raw[i] == b'#' => i,
        _ => raw.len(),
    };
    let t = &raw[..cut];
    if let Some(b) = stop.map(|i| raw[i]).filter(|b| *b != b'#') {
        return Err(refuse(
            400,
            ErrorCode::InvalidURI,
            format!("Couldn't parse the specified URI: byte 0x{b:02x} must be percent-encoded"),
        ));
    }
    // only ASCII is left
    let text = std::str::from_utf8(t).unwrap_or("");
    let form_ok = if text.starts_with('/') {
        true
    } else if method == "CONNECT" {
        Authority::parse(text).is_ok()
    } else if text == "*" {
        method == "OPTIONS"
    } else if let Some((scheme, rest)) = text.split_once("://") {
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
            && Authority::parse(authority).is_ok()
    } else {
        false
    };
    if !form_ok {
        return Err(refuse(
            400,
            ErrorCode::InvalidURI,
            "Couldn't parse the specified URI: the target is not /path, http://host/path, * or host:port",
        ));
    }
    Ok(cut)
}

/// A Content-Length value: ASCII digits only (no sign, no spaces inside), as RFC 9110 says.
pub fn digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// The target of a request line that did not parse as a whole, best effort, for the log.
fn first_line_target(buf: &[u8]) -> Vec<u8> {
    let line = buf.split(|b| *b == b'\n').next().unwrap_or(b"");
    let line = &line[..line.len().min(8 * 1024)];
    let mut parts = line.splitn(3, |b| *b == b' ');
    let _ = parts.next();
    parts.next().unwrap_or(b"").to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Parsed {
        parse(raw.as_bytes())
    }

    #[test]
    fn a_fragment_is_not_part_of_the_target() {
        let raw = "GET /b/k?x=1#frag HTTP/1.1\r\nHost: h\r\n\r\n";
        let Parsed::Complete(h) = head(raw) else {
            panic!()
        };
        assert_eq!(h.target(raw.as_bytes()), "/b/k?x=1");
        let w = h.to_wire(raw.as_bytes());
        assert_eq!((w.path.as_str(), w.query.as_deref()), ("/b/k", Some("x=1")));
        assert_eq!(w.header("host"), Some("h"));
        assert_eq!(h.body, BodyFraming::None);
    }

    #[test]
    fn odd_bytes_in_the_target_are_refused() {
        for t in [
            "/a<b", "/a>b", "/a`b", "/a\"b", "/a\x7fb", "/a\x01b", "/?q=<",
        ] {
            match head(&format!("GET {t} HTTP/1.1\r\nHost: h\r\n\r\n")) {
                Parsed::Refused(r) => {
                    // httparse itself stops at a control byte in the request line
                    assert_eq!(r.status, 400, "{t:?}");
                    assert!(
                        matches!(r.code, ErrorCode::InvalidURI | ErrorCode::InvalidRequest),
                        "{t:?}"
                    );
                    assert_eq!(r.target, t.as_bytes());
                }
                other => panic!("{t:?}: {other:?}"),
            }
        }
        match parse(b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n") {
            Parsed::Refused(r) => assert_eq!(r.target, b"/caf\xc3\xa9"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn target_forms() {
        for ok in [
            "/",
            "/b/k?acl",
            "http://b.example.com/k",
            "http://127.0.0.1:9000/k?x",
        ] {
            assert!(check_target("GET", ok.as_bytes()).is_ok(), "{ok}");
        }
        assert!(check_target("OPTIONS", b"*").is_ok());
        assert!(check_target("CONNECT", b"b.example.com:443").is_ok());
        for bad in ["b/k", "*", "http://a@b/k", "http://a:b/k", "http:///k"] {
            assert!(check_target("GET", bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn framing_rules() {
        let framing =
            |extra: &str| match head(&format!("PUT /k HTTP/1.1\r\nHost: h\r\n{extra}\r\n")) {
                Parsed::Complete(h) => Ok(h.body),
                Parsed::Refused(r) => Err(r.status),
                Parsed::Partial => panic!(),
            };
        assert_eq!(framing("Content-Length: 5\r\n"), Ok(BodyFraming::Length(5)));
        assert_eq!(framing("Content-Length: 0\r\n"), Ok(BodyFraming::None));
        assert_eq!(
            framing("Transfer-Encoding: chunked\r\n"),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(framing("Content-Length: +5\r\n"), Err(400));
        assert_eq!(
            framing("Content-Length: 5\r\nContent-Length: 5\r\n"),
            Err(400)
        );
        assert_eq!(
            framing("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
            Err(400)
        );
        assert_eq!(framing("Transfer-Encoding: gzip\r\n"), Err(400));
    }

    #[test]
    fn heads_too_large_are_refused() {
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        match head(&format!("GET / HTTP/1.1\r\n{many}\r\n")) {
            Parsed::Refused(r) => assert_eq!(r.code, ErrorCode::RequestHeaderSectionTooLarge),
            other => panic!("{other:?}"),
        }
        let big = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD));
        assert!(matches!(
            head(&big),
            Parsed::Refused(Refusal { status: 400, .. })
        ));
        assert!(matches!(
            head("GET / HTTP/1.1\r\nHost: h\r\n"),
            Parsed::Partial
        ));
        assert!(matches!(
            head("GARBAGE\r\n\r\n"),
            Parsed::Refused(Refusal { status: 400, .. })
        ));
    }
}
