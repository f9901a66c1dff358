//! An answer held against the recorded one: status, chosen headers and the body (XML with its
//! volatile fields masked, upload ids mapped to those the replay learned).

use super::{Ctx, Seen, HEAD_KEEP};
use crate::record::read::Exchange;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// Values the server chose in the recording and chooses anew now (upload ids).
#[derive(Default)]
pub(super) struct Learned(Mutex<HashMap<String, String>>);

impl Learned {
    pub(super) fn apply(&self, s: &str) -> String {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = s.to_string();
        for (old, new) in map.iter() {
            if out.contains(old.as_str()) {
                out = out.replace(old.as_str(), new);
            }
        }
        out
    }

    pub(super) fn learn(&self, recorded: &[u8], fresh: &[u8]) {
        for tag in ["UploadId"] {
            if let (Some(a), Some(b)) = (xml_field(recorded, tag), xml_field(fresh, tag)) {
                if a != b && !a.is_empty() {
                    let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
                    // the query carries it percent-encoded; learn both spellings
                    let enc = |s: &str| crate::sig::encode::uri_encode(s.as_bytes(), false);
                    map.insert(enc(&a), enc(&b));
                    map.insert(a, b);
                }
            }
        }
    }
}

fn xml_field(body: &[u8], tag: &str) -> Option<String> {
    let s = std::str::from_utf8(body).ok()?;
    let open = format!("<{tag}>");
    let i = s.find(&open)? + open.len();
    let j = s[i..].find("</")? + i;
    Some(s[i..j].to_string())
}

/// XML elements whose text changes from run to run and is never compared.
const VOLATILE: &[&str] = &[
    "LastModified",
    "CreationDate",
    "Initiated",
    "RequestId",
    "HostId",
    "TraceId",
    "ServerTime",
    "Expires",
    "StringToSign",
    "StringToSignBytes",
    "CanonicalRequest",
    "CanonicalRequestBytes",
    "FormatString",
    "SignatureProvided",
    "Owner",
    "Initiator",
];

/// An XML body with volatile element texts replaced by `*`.
fn mask_xml(body: &str) -> String {
    let mut s = body.to_string();
    for tag in VOLATILE {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(i) = rest.find(&open) {
            let after = i + open.len();
            match rest[after..].find(&close) {
                Some(j) => {
                    out.push_str(&rest[..after]);
                    out.push('*');
                    rest = &rest[after + j..];
                }
                None => break,
            }
        }
        out.push_str(rest);
        s = out;
    }
    s
}

fn looks_xml(content_type: Option<&str>, body: &[u8]) -> bool {
    content_type.is_some_and(|c| c.contains("xml")) || body.starts_with(b"<?xml")
}

pub(super) fn compare(
    ctx: &Ctx,
    x: &Exchange,
    status: u16,
    headers: &[(String, String)],
    seen: &Seen,
) -> Vec<String> {
    let mut d = Vec::new();
    let rec = &x.response;
    if status != rec.status {
        d.push(format!("status {status} vs recorded {}", rec.status));
    }
    // an answer recorded with secrets masked: the live one is masked the same way first
    let masked;
    let (body, live_sha) = if rec.body.redacted && seen.size as usize == seen.head.len() {
        let mut b = seen.head.clone();
        ctx.scrubber.scrub(&mut b, true);
        masked = b;
        let sha = crate::sig::encode::hex(&Sha256::digest(&masked));
        (&masked[..], sha)
    } else {
        (&seen.head[..], seen.sha256.clone())
    };
    let recorded_body = if rec.body.size <= HEAD_KEEP as u64 {
        rec.body.load(&ctx.base).ok().flatten()
    } else {
        None
    };
    if let Some(rb) = &recorded_body {
        ctx.learned.learn(rb, body);
    }
    let mut names: Vec<String> = ["content-length", "etag", "content-type"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.extend(ctx.cfg.compare_headers.iter().cloned());
    for n in &names {
        let now = Exchange::header(headers, n);
        let then = Exchange::header(&rec.headers, n);
        if n == "content-length" && looks_xml(then, recorded_body.as_deref().unwrap_or(b"")) {
            continue; // an XML document's length follows its volatile fields; the body is compared instead
        }
        if now != then {
            d.push(format!(
                "{n} {} vs recorded {}",
                now.map(|v| format!("{v:?}"))
                    .unwrap_or_else(|| "absent".into()),
                then.map(|v| format!("{v:?}"))
                    .unwrap_or_else(|| "absent".into())
            ));
        }
    }
    if x.request.method.eq_ignore_ascii_case("HEAD") {
        return d;
    }
    let ct = Exchange::header(&rec.headers, "content-type");
    match recorded_body {
        Some(rb) if looks_xml(ct, &rb) && seen.size as usize == body.len() => {
            let then = mask_xml(&ctx.learned.apply(&String::from_utf8_lossy(&rb)));
            let now = mask_xml(&String::from_utf8_lossy(body));
            if then != now {
                d.push(format!(
                    "XML body differs (dates and request ids masked): {}",
                    first_difference(&now, &then)
                ));
            }
        }
        _ => {
            if let Some(want) = &rec.body.sha256 {
                let got = &live_sha;
                if !got.eq_ignore_ascii_case(want) {
                    d.push(format!(
                        "body sha256 {}… ({} bytes) vs recorded {}… ({} bytes)",
                        crate::record::read::first_chars(got, 12),
                        seen.size,
                        crate::record::read::first_chars(want, 12),
                        rec.body.size
                    ));
                }
            }
        }
    }
    d
}

fn first_difference(a: &str, b: &str) -> String {
    let i = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let show = |s: &str| {
        let start = s.floor_char_boundary_compat(i.saturating_sub(20));
        let end = s.floor_char_boundary_compat((i + 40).min(s.len()));
        s[start..end].replace('\n', " ")
    };
    format!("at byte {i}: {:?} vs recorded {:?}", show(a), show(b))
}

trait CharBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl CharBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while i > 0 && !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_xml_is_masked() {
        let a = "<R><Key>k</Key><LastModified>2025-01-01T00:00:00Z</LastModified><RequestId>1</RequestId></R>";
        let b = "<R><Key>k</Key><LastModified>2026-12-02T00:00:00Z</LastModified><RequestId>2</RequestId></R>";
        assert_eq!(mask_xml(a), mask_xml(b));
        assert_ne!(mask_xml(a), mask_xml(&b.replace("<Key>k", "<Key>j")));
    }

    #[test]
    fn upload_ids_are_learned_in_both_spellings() {
        let l = Learned::default();
        l.learn(b"<UploadId>a/b</UploadId>", b"<UploadId>c+d</UploadId>");
        assert_eq!(l.apply("/k?uploadId=a%2Fb"), "/k?uploadId=c%2Bd");
    }
}
