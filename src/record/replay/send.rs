//! One exchange sent again: the recorded request rebuilt (redacted values replaced by
//! stand-ins, a stored body streamed from its file and checked), re-signed with fresh time, sent,
//! and its answer read as it streams.

use super::{Answer, Ctx, Seen, HEAD_KEEP};
use crate::net::body::{full, ProxyBody};
use crate::record::read::Exchange;
use crate::resign::{self, ResignParams, SignAs};
use crate::wire::{Request, Target};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

/// Stand-ins for redacted signature values, so the recorded request parses again and the
/// signer knows the recorded scheme, carrier and signed headers.
fn unredact(req: &mut Request) {
    use crate::redact::record::MARK;
    if let Some(a) = req.header("authorization").map(str::to_string) {
        let a = a
            .replace(
                "q-signature=<redacted>",
                &format!("q-signature={}", "0".repeat(40)),
            )
            .replace(
                "Signature=<redacted>",
                &format!("Signature={}", "0".repeat(64)),
            )
            .replace(":<redacted>", ":AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        req.set_header("Authorization", a);
    }
    for t in crate::redact::TOKEN_NAMES {
        if req.header(t) == Some(MARK) {
            req.remove_header(t);
        }
    }
    if let Some(q) = req.query.take() {
        let pieces: Vec<String> = q
            .split('&')
            .filter_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                if v != MARK {
                    return Some(p.to_string());
                }
                let name = crate::sig::encode::decoded_text(k).to_ascii_lowercase();
                match name.as_str() {
                    "x-amz-signature" => Some(format!("{k}={}", "0".repeat(64))),
                    "q-signature" => Some(format!("{k}={}", "0".repeat(40))),
                    "signature" => Some(format!("{k}=AAAAAAAAAAAAAAAAAAAAAAAAAAA%3D")),
                    _ => None, // tokens and `sign=`: signed anew
                }
            })
            .collect();
        req.query = (!pieces.is_empty()).then(|| pieces.join("&"));
    }
}

/// A request body read from a stored body file while it is sent (memory stays one piece).
/// The last piece is held back until the bytes are known to be the recorded ones, so a file
/// changed since the recording never reaches the upstream whole.
struct FileBody {
    file: tokio::fs::File,
    buf: Vec<u8>,
    left: u64,
    check: Option<crate::record::read::HashCheck>,
}

impl hyper::body::Body for FileBody {
    type Data = bytes::Bytes;
    type Error = crate::net::body::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        if this.left == 0 {
            return Poll::Ready(None);
        }
        let mut rb = tokio::io::ReadBuf::new(&mut this.buf);
        match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut this.file), cx, &mut rb) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(Ok(())) if rb.filled().is_empty() => Poll::Ready(Some(Err(
                "the stored body file is shorter than recorded".into(),
            ))),
            Poll::Ready(Ok(())) => {
                let n = (rb.filled().len() as u64).min(this.left) as usize;
                this.left -= n as u64;
                let piece = &rb.filled()[..n];
                if let Some(c) = &mut this.check {
                    c.update(piece);
                }
                if this.left == 0 {
                    if let Some(c) = this.check.take() {
                        if let Err(e) = c.finish() {
                            return Poll::Ready(Some(Err(e.into())));
                        }
                    }
                }
                let chunk = bytes::Bytes::copy_from_slice(piece);
                Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.left)
    }
}

pub(super) async fn send(ctx: &Ctx, x: &Exchange) -> Result<Answer, String> {
    let r = &x.request;
    let target = ctx.learned.apply(&r.target);
    // a stored body streams from its file (a signed aws-chunked one is re-framed on the way);
    // one edited when recorded is read whole, as its hash headers are computed from it
    let (body, file) = match r.body.source(&ctx.base)? {
        crate::record::read::BodySource::Inline(b) => (b, None),
        crate::record::read::BodySource::File(_) if r.body.redacted => {
            (r.body.load(&ctx.base)?.unwrap_or_default(), None)
        }
        crate::record::read::BodySource::File(_) => (Vec::new(), Some(r.body.open(&ctx.base)?)),
        crate::record::read::BodySource::Missing => return Err("the recording kept only the hash of this request's body (--record-large hash); it cannot be sent again".into()),
    };
    let fields = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes()));
    let mut req = Request::from_parts(&r.method, Target::origin(&target), fields);
    req.body = body;
    req.remove_header("transfer-encoding");
    unredact(&mut req);
    if r.body.redacted {
        // the body was edited when recorded: its hash headers must describe the edited bytes
        let hex_hash = req
            .header("x-amz-content-sha256")
            .is_some_and(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()));
        if hex_hash {
            let h = crate::sig::encode::hex(&Sha256::digest(&req.body));
            req.set_header("x-amz-content-sha256", h);
        }
        if req.has_header("content-md5") {
            use base64::Engine;
            let md5 = <md5::Md5 as md5::Digest>::digest(&req.body);
            req.set_header(
                "Content-MD5",
                base64::engine::general_purpose::STANDARD.encode(md5),
            );
        }
    }
    let up = &ctx.cfg.upstream;
    let now = ctx
        .cfg
        .now
        .unwrap_or_else(|| ctx.cfg.clock.now() + ctx.clocks.offset(&up.authority));
    let recorded_scheme = x.resigned_as.as_deref().unwrap_or(&x.client.scheme);
    let report = ctx.inspector.inspect_head(&req, now);
    let mut new_chain = None;
    let outgoing = if x.client.scheme == "none" && x.resigned_as.is_none() {
        let mut req = req;
        req.set_header("Host", &up.authority);
        req
    } else {
        let ak = x.client.access_key.as_deref().unwrap_or("");
        let cred = ctx
            .cfg
            .keys
            .get(ak)
            .or_else(|| (ctx.cfg.keys.len() == 1).then(|| &ctx.cfg.keys.all()[0]))
            .ok_or_else(|| {
                format!("no secret for access key {ak:?}: give it with --credentials or --access-key/--secret-key")
            })?;
        // explicit even when it is the client's own scheme: a redacted `sign=` carrier no
        // longer reads as COS, and must not fall back to SigV4
        let sign_as = match recorded_scheme {
            "sigv2" => SignAs::Sigv2,
            "cos" => SignAs::Cos,
            "sigv4" => SignAs::Sigv4,
            _ => SignAs::Keep,
        };
        let (signed, _, rf) = resign::resign(
            &req,
            &report,
            &ResignParams {
                cred,
                upstream_host: &up.authority,
                now,
                region: None,
                sign_as,
                fresh: false,
            },
            &ctx.inspector.cache,
        )?;
        new_chain = rf.map(|rf| rf.new);
        signed
    };
    let uri = format!(
        "{}://{}{}{}",
        up.scheme,
        up.authority,
        up.base_path,
        outgoing.origin_target()
    );
    let mut b = hyper::Request::builder()
        .method(outgoing.method.as_str())
        .uri(&uri);
    for (k, v) in &outgoing.headers {
        let n = k.to_ascii_lowercase();
        if matches!(
            n.as_str(),
            "connection" | "keep-alive" | "proxy-connection" | "te" | "upgrade" | "content-length"
        ) {
            continue;
        }
        b = b.header(k.as_str(), v.as_str());
    }
    let body: ProxyBody = match file {
        Some(f) => {
            b = b.header("content-length", r.body.size);
            http_body_util::BodyExt::boxed(FileBody {
                file: tokio::fs::File::from_std(f),
                buf: vec![0; 256 * 1024],
                left: r.body.size,
                check: Some(r.body.hash_check()),
            })
        }
        None => {
            if !outgoing.body.is_empty() || outgoing.header("content-length").is_some() {
                b = b.header("content-length", outgoing.body.len());
            }
            full(outgoing.body)
        }
    };
    // a signed aws-chunked body gets the new signature's chain, chunk by chunk (same sizes, so
    // the same length); its recorded chunk signatures cannot be checked (the seed was redacted)
    let body = match new_chain {
        Some(chain) => http_body_util::BodyExt::boxed(crate::net::body::Reframe::new(
            body,
            None,
            chain,
            crate::net::body::Meter::default(),
        )),
        None => body,
    };
    let hreq: hyper::Request<ProxyBody> = b
        .body(body)
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let resp = tokio::time::timeout(ctx.cfg.timeout, ctx.client.request(hreq))
        .await
        .map_err(|_| format!("no answer within {}s", ctx.cfg.timeout.as_secs()))?
        .map_err(|e| format!("the upstream connection failed: {}", with_causes(&e)))?;
    if let Some(t) = resp
        .headers()
        .get("date")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::timefmt::parse_http_date)
    {
        ctx.clocks.learn(&up.authority, t - ctx.cfg.clock.now());
    }
    let status = resp.status().as_u16();
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut seen = Seen::default();
    let mut hasher = Sha256::new();
    let mut incoming = resp.into_body();
    loop {
        let frame = tokio::time::timeout(ctx.cfg.timeout, incoming.frame())
            .await
            .map_err(|_| {
                format!(
                    "the response body stalled for {}s",
                    ctx.cfg.timeout.as_secs()
                )
            })?;
        match frame {
            None => break,
            Some(Err(e)) => return Err(format!("the response body broke off: {e}")),
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    hasher.update(d);
                    seen.size += d.len() as u64;
                    let room = HEAD_KEEP.saturating_sub(seen.head.len());
                    seen.head.extend_from_slice(&d[..d.len().min(room)]);
                }
            }
        }
    }
    seen.sha256 = crate::sig::encode::hex(&hasher.finalize());
    Ok((status, headers, seen))
}

/// An error and its causes, `a: b: c` (hyper wraps a failed request body as its source).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_values_become_parsable_stand_ins() {
        let mut r = Request::parse(b"GET /b/k?X-Amz-Signature=<redacted>&X-Amz-Security-Token=<redacted>&a=1 HTTP/1.1\r\nHost: h\r\nX-Amz-Security-Token: <redacted>\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AK/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=<redacted>\r\n\r\n").unwrap();
        unredact(&mut r);
        assert_eq!(
            r.query.as_deref(),
            Some(format!("X-Amz-Signature={}&a=1", "0".repeat(64)).as_str())
        );
        assert!(r.header("x-amz-security-token").is_none());
        assert!(r
            .header("authorization")
            .unwrap()
            .ends_with(&"0".repeat(64)));
    }
}
