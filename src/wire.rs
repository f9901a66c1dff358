//! The request as it was on the wire: parsing a raw HTTP/1.1 request (or a URL) into
//! method, raw target, headers and body, and writing one back. No I/O here.

use crate::sig::encode::clip;
use std::fmt;

/// One parsed request. Header names keep their wire case; values are trimmed of optional
/// whitespace and obs-folded continuation lines are joined with one space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// `http` or `https` when the target was in absolute form (or built from a URL).
    pub scheme: Option<String>,
    /// The authority of an absolute-form target (`host[:port]`).
    pub authority: Option<String>,
    /// The raw path exactly as sent (still percent-encoded), `/` when empty.
    pub path: String,
    /// The raw query without the `?`, exactly as sent; `None` when there was no `?`.
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    /// The body with any HTTP/1.1 chunked framing removed (an aws-chunked stream stays as is).
    pub body: Vec<u8>,
    /// True when the request used `Transfer-Encoding: chunked`.
    pub http_chunked: bool,
    /// False when `Content-Length` announced more bytes than the input held.
    pub body_complete: bool,
}

/// Why a raw request could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    Empty,
    BadRequestLine(String),
    BadHeader(usize, String),
    BadContentLength(String),
    BadChunkedBody(String),
    BadUrl(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Empty => f.write_str("the input is empty: expected a raw HTTP/1.1 request (request line, headers, blank line, body) or a URL"),
            WireError::BadRequestLine(why) => write!(f, "bad request line: {why}"),
            WireError::BadHeader(line, why) => write!(f, "bad header on line {line}: {why}"),
            WireError::BadContentLength(v) => write!(f, "bad Content-Length value {v:?}"),
            WireError::BadChunkedBody(why) => write!(f, "bad HTTP chunked body: {why}"),
            WireError::BadUrl(why) => write!(f, "bad URL: {why}"),
        }
    }
}

impl std::error::Error for WireError {}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits a raw message at the blank line that ends its head (CRLF or LF line ends).
fn split_head(raw: &[u8]) -> (&[u8], &[u8]) {
    match (find(raw, b"\r\n\r\n"), find(raw, b"\n\n")) {
        (Some(a), Some(b)) if b < a => (&raw[..b], &raw[b + 2..]),
        (Some(a), _) => (&raw[..a], &raw[a + 4..]),
        (None, Some(b)) => (&raw[..b], &raw[b + 2..]),
        (None, None) => (raw, &raw[raw.len()..]),
    }
}

/// Splits `http(s)://authority/path?query` into its parts.
fn split_absolute(target: &str) -> Option<(String, String, &str)> {
    let (scheme, rest) = target.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest[..end].to_string();
    Some((scheme, authority, &rest[end..]))
}

fn split_path_query(origin: &str) -> (String, Option<String>) {
    let origin = origin.split('#').next().unwrap_or("");
    let (path, query) = match origin.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (origin, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    (path.to_string(), query)
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// Removes HTTP/1.1 chunked framing (extensions and trailer fields are dropped).
pub fn decode_http_chunked(mut data: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(data.len());
    loop {
        let eol = find(data, b"\n")
            .ok_or_else(|| WireError::BadChunkedBody("a chunk-size line without its end".into()))?;
        let line = String::from_utf8_lossy(&data[..eol]);
        let line = line.trim_end_matches('\r');
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_text, 16).map_err(|_| {
            WireError::BadChunkedBody(format!("chunk size {size_text:?} is not hex"))
        })?;
        data = &data[eol + 1..];
        if size == 0 {
            return Ok(out);
        }
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s <= data.len())
            .ok_or_else(|| {
                WireError::BadChunkedBody(format!(
                    "a chunk announces {size} bytes but only {} remain",
                    data.len()
                ))
            })?;
        out.extend_from_slice(&data[..size]);
        data = &data[size..];
        data = data
            .strip_prefix(b"\r\n")
            .or_else(|| data.strip_prefix(b"\n"))
            .ok_or_else(|| WireError::BadChunkedBody("chunk data not followed by CRLF".into()))?;
    }
}

/// The request-target of a head in parts (RFC 9112 section 3.2): the origin form gives a path
/// and maybe a query; the absolute form also a scheme and an authority.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Target<'a> {
    pub scheme: Option<&'a str>,
    pub authority: Option<&'a str>,
    /// The raw path, still percent-encoded (empty reads as `/`).
    pub path: &'a str,
    /// The raw query without the `?`.
    pub query: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// An origin-form target exactly as sent (`/path?query`), split at its first `?`.
    pub fn origin(target: &'a str) -> Target<'a> {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        Target {
            path,
            query,
            ..Target::default()
        }
    }
}

impl Request {
    /// A request head as a server (hyper, the lean path's parser) or a recording hands it over:
    /// the one conversion of such parts into a [`Request`]. Header values are read as UTF-8
    /// (lossily) and trimmed. The body is not part of the head: it starts empty and complete,
    /// for the caller to fill once read.
    pub fn from_parts<'h>(
        method: &str,
        target: Target<'_>,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    ) -> Request {
        Request {
            method: method.to_string(),
            scheme: target.scheme.map(str::to_string),
            authority: target.authority.map(str::to_string),
            path: if target.path.is_empty() {
                "/".into()
            } else {
                target.path.to_string()
            },
            query: target.query.map(str::to_string),
            headers: headers
                .into_iter()
                .map(|(k, v)| {
                    // almost every value is ASCII: checked in one pass, copied once
                    let v = match std::str::from_utf8(v) {
                        Ok(text) => text.trim().to_string(),
                        Err(_) => String::from_utf8_lossy(v).trim().to_string(),
                    };
                    (k.to_string(), v)
                })
                .collect(),
            body: Vec::new(),
            http_chunked: false,
            body_complete: true,
        }
    }

    /// Parses one raw HTTP/1.1 request (CRLF or LF line ends).
    pub fn parse(raw: &[u8]) -> Result<Request, WireError> {
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(WireError::Empty);
        }
        // tolerate leading blank lines, as HTTP servers do
        let start = raw
            .iter()
            .position(|b| *b != b'\r' && *b != b'\n')
            .unwrap_or(0);
        let raw = &raw[start..];
        let (head, body) = split_head(raw);
        let head = String::from_utf8_lossy(head);
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let request_line = lines.next().unwrap_or("");
        let (method, rest) = request_line.split_once(' ').ok_or_else(|| {
            WireError::BadRequestLine(format!("{:?} has no target", clip(request_line)))
        })?;
        if method.is_empty() || !method.bytes().all(is_token_char) {
            return Err(WireError::BadRequestLine(format!(
                "method {:?} is not an HTTP token",
                clip(method)
            )));
        }
        // The target may itself contain spaces (the official SigV4 suite sends `/example space/`).
        let target = match rest.rsplit_once(' ') {
            Some((t, v)) if v.starts_with("HTTP/") => t,
            _ => rest,
        };
        let target = target.trim();
        if target.is_empty() {
            return Err(WireError::BadRequestLine("empty request target".into()));
        }
        let (scheme, authority, origin) = match split_absolute(target) {
            Some((s, a, o)) => (Some(s), Some(a), o.to_string()),
            None if target.starts_with('/') || target == "*" => (None, None, target.to_string()),
            None => {
                return Err(WireError::BadRequestLine(format!(
                "target {:?} is neither origin-form (/path) nor absolute-form (http://host/path)",
                clip(target)
            )))
            }
        };
        let (path, query) = split_path_query(&origin);

        let mut headers: Vec<(String, String)> = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                continue; // a head that ends without the blank line (`...\n` then EOF)
            }
            if line.starts_with([' ', '\t']) {
                match headers.last_mut() {
                    Some((_, v)) => {
                        let cont = trim_ows(line);
                        if !cont.is_empty() {
                            if !v.is_empty() {
                                v.push(' ');
                            }
                            v.push_str(cont);
                        }
                        continue;
                    }
                    None => {
                        return Err(WireError::BadHeader(
                            i + 2,
                            "a continuation line before any header".into(),
                        ))
                    }
                }
            }
            let (name, value) = line.split_once(':').ok_or_else(|| {
                WireError::BadHeader(i + 2, format!("{:?} has no ':'", clip(line)))
            })?;
            if name.is_empty() || !name.bytes().all(is_token_char) {
                return Err(WireError::BadHeader(
                    i + 2,
                    format!("header name {:?} is not an HTTP token", clip(name)),
                ));
            }
            headers.push((name.to_string(), trim_ows(value).to_string()));
        }

        let mut req = Request {
            method: method.to_string(),
            scheme,
            authority,
            path,
            query,
            headers,
            body: Vec::new(),
            http_chunked: false,
            body_complete: true,
        };
        let te_chunked = req
            .header_values("transfer-encoding")
            .any(|v| v.to_ascii_lowercase().contains("chunked"));
        if te_chunked {
            req.http_chunked = true;
            req.body = decode_http_chunked(body)?;
        } else if let Some(cl) = req.header("content-length") {
            let n: usize = cl
                .trim()
                .parse()
                .map_err(|_| WireError::BadContentLength(clip(cl).to_string()))?;
            if body.len() >= n {
                req.body = body[..n].to_vec();
            } else {
                req.body = body.to_vec();
                req.body_complete = false;
            }
        } else {
            req.body = body.to_vec();
        }
        Ok(req)
    }

    /// A GET of a URL (how a presigned link is opened), with the Host header a client sends.
    pub fn from_url(url: &str) -> Result<Request, WireError> {
        let url = url.trim();
        let (scheme, authority, origin) = split_absolute(url)
            .ok_or_else(|| WireError::BadUrl("expected http://... or https://...".into()))?;
        if authority.is_empty() {
            return Err(WireError::BadUrl("no host".into()));
        }
        let host = default_port_stripped(&scheme, &authority);
        let (path, query) = split_path_query(origin);
        Ok(Request {
            method: "GET".into(),
            scheme: Some(scheme),
            authority: Some(authority),
            path,
            query,
            headers: vec![("Host".into(), host)],
            body: Vec::new(),
            http_chunked: false,
            body_complete: true,
        })
    }

    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header, in wire order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// The host the client addressed: the `Host` header, else the absolute-form authority.
    pub fn host(&self) -> Option<&str> {
        self.header("host").or(self.authority.as_deref())
    }

    /// Sets a header, replacing every existing occurrence (keeps the first one's position).
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        let mut placed = false;
        self.headers.retain_mut(|(k, v)| {
            if !k.eq_ignore_ascii_case(name) {
                return true;
            }
            if placed {
                return false;
            }
            *v = value.clone();
            placed = true;
            true
        });
        if !placed {
            self.headers.push((name.to_string(), value));
        }
    }

    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// The request target in origin form: `/path?query`.
    pub fn origin_target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{}", self.path, q),
            None => self.path.clone(),
        }
    }

    /// The full URL (`scheme://host/path?query`), for presigned links.
    pub fn url(&self, default_scheme: &str) -> String {
        let scheme = self.scheme.as_deref().unwrap_or(default_scheme);
        let host = self.host().unwrap_or("localhost");
        format!("{scheme}://{host}{}", self.origin_target())
    }

    /// Writes the request back as raw HTTP/1.1 bytes. A request that came HTTP-chunked is
    /// written chunked again (one chunk), so the output parses back to the same body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let target = match (&self.scheme, &self.authority) {
            (Some(s), Some(a)) => format!("{s}://{a}{}", self.origin_target()),
            _ => self.origin_target(),
        };
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, target).into_bytes();
        for (k, v) in &self.headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if self.http_chunked {
            if !self.body.is_empty() {
                out.extend_from_slice(format!("{:x}\r\n", self.body.len()).as_bytes());
                out.extend_from_slice(&self.body);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// `host:80` over http and `host:443` over https are written without the port by clients.
pub fn default_port_stripped(scheme: &str, authority: &str) -> String {
    let lower = authority.to_ascii_lowercase();
    match (scheme, lower.rsplit_once(':')) {
        ("http", Some((h, "80"))) | ("https", Some((h, "443"))) => h.to_string(),
        _ => lower,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_origin_form_with_body() {
        let r = Request::parse(
            b"PUT /b/k?acl HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-A:  v  \r\n\r\nabcEXTRA",
        )
        .unwrap();
        assert_eq!(r.method, "PUT");
        assert_eq!(r.path, "/b/k");
        assert_eq!(r.query.as_deref(), Some("acl"));
        assert_eq!(r.header("x-a"), Some("v"));
        assert_eq!(r.body, b"abc");
        assert!(r.body_complete);
    }

    #[test]
    fn parses_lf_only_and_spaces_in_target() {
        let r = Request::parse(b"GET /example space/ HTTP/1.1\nHost:example.amazonaws.com\n\n")
            .unwrap();
        assert_eq!(r.path, "/example space/");
        assert_eq!(r.header("Host"), Some("example.amazonaws.com"));
    }

    #[test]
    fn joins_obs_fold() {
        let r =
            Request::parse(b"GET / HTTP/1.1\nMy-Header1:value1\n  value2\n     value3\n").unwrap();
        assert_eq!(r.header("my-header1"), Some("value1 value2 value3"));
    }

    #[test]
    fn absolute_form() {
        let r =
            Request::parse(b"PUT http://b.cos.ap-guangzhou.myqcloud.com/k?x=1 HTTP/1.1\r\n\r\n")
                .unwrap();
        assert_eq!(
            r.authority.as_deref(),
            Some("b.cos.ap-guangzhou.myqcloud.com")
        );
        assert_eq!(r.host(), Some("b.cos.ap-guangzhou.myqcloud.com"));
        assert_eq!(r.path, "/k");
    }

    #[test]
    fn http_chunked_body() {
        let r = Request::parse(
            b"PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"abcde");
        assert!(r.http_chunked);
        assert_eq!(Request::parse(&r.to_bytes()).unwrap(), r);
    }

    #[test]
    fn short_body_is_marked_incomplete() {
        let r = Request::parse(b"PUT /k HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc").unwrap();
        assert!(!r.body_complete);
    }

    #[test]
    fn errors_are_named() {
        assert_eq!(Request::parse(b"").unwrap_err(), WireError::Empty);
        assert!(matches!(
            Request::parse(b"GARBAGE"),
            Err(WireError::BadRequestLine(_))
        ));
        assert!(matches!(
            Request::parse(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n"),
            Err(WireError::BadHeader(2, _))
        ));
    }

    #[test]
    fn heads_from_parts() {
        let r = Request::from_parts(
            "PUT",
            Target::origin("/b/k?acl&x=1"),
            [("Host", &b"h"[..]), ("X-A", b"  v \xff ")],
        );
        assert_eq!(
            (r.path.as_str(), r.query.as_deref()),
            ("/b/k", Some("acl&x=1"))
        );
        assert_eq!(r.header("x-a"), Some("v \u{fffd}"));
        assert!(r.body.is_empty() && r.body_complete && r.scheme.is_none());
        let r = Request::from_parts(
            "GET",
            Target {
                scheme: Some("http"),
                authority: Some("b.example.com"),
                ..Target::default()
            },
            [],
        );
        assert_eq!((r.path.as_str(), r.host()), ("/", Some("b.example.com")));
    }

    #[test]
    fn url_to_request() {
        let r = Request::from_url("https://b.s3.amazonaws.com:443/k%20x?X-Amz-Date=1").unwrap();
        assert_eq!(r.header("host"), Some("b.s3.amazonaws.com"));
        assert_eq!(r.path, "/k%20x");
        let r = Request::from_url("http://127.0.0.1:9000/b").unwrap();
        assert_eq!(r.header("host"), Some("127.0.0.1:9000"));
    }
}

/// One raw HTTP/1.1 response (status line, headers, body), e.g. an upstream error captured
/// next to the request that caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn parse(raw: &[u8]) -> Result<Response, WireError> {
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(WireError::Empty);
        }
        let (head, body) = split_head(raw);
        let head = String::from_utf8_lossy(head);
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.split_whitespace();
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/") {
            return Err(WireError::BadRequestLine(format!(
                "{:?} is not an HTTP status line",
                clip(status_line)
            )));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|s| (100..1000).contains(s))
            .ok_or_else(|| {
                WireError::BadRequestLine(format!("no status code in {:?}", clip(status_line)))
            })?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                if let Some((_, v)) = headers.last_mut() {
                    v.push(' ');
                    v.push_str(trim_ows(line));
                }
                continue;
            }
            let (k, v) = line.split_once(':').ok_or_else(|| {
                WireError::BadHeader(i + 2, format!("{:?} has no ':'", clip(line)))
            })?;
            headers.push((k.trim().to_string(), trim_ows(v).to_string()));
        }
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        };
        let body = if get("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            decode_http_chunked(body)?
        } else if let Some(n) = get("content-length").and_then(|v| v.trim().parse::<usize>().ok()) {
            body[..n.min(body.len())].to_vec()
        } else {
            body.to_vec()
        };
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
