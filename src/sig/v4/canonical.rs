//! The SigV4 stages: canonical URI, query and headers, the canonical request, the string to
//! sign, the signing key (and its cache) and the signature.

use super::{PathForm, Rules, ALGORITHM};
use crate::sig::crypto::{hmac_sha256, sha256};
use crate::sig::encode::{
    decoded_text, hex, percent_decode, push_hex, reencoded, split_query, uri_encode,
};
use crate::wire::Request;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

/// RFC 3986 dot-segment removal plus merging of repeated slashes (generic SigV4 only).
pub fn normalize_path(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut s = format!("/{}", out.join("/"));
    if trailing && s != "/" {
        s.push('/');
    }
    s
}

/// The CanonicalURI line.
pub fn canonical_uri(raw_path: &str, form: PathForm) -> String {
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    match form {
        PathForm::Raw => path.to_string(),
        PathForm::Rules(Rules::S3) => uri_encode(&percent_decode(path), true),
        PathForm::Rules(Rules::Generic { normalize }) => {
            let p = if normalize {
                normalize_path(path)
            } else {
                path.to_string()
            };
            uri_encode(p.as_bytes(), true)
        }
    }
}

/// How raw query pieces are turned into canonical pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryForm {
    /// Percent-decode (a `+` stays a plus) then encode.
    Reencode,
    /// Form-decode (`+` is a space) then encode, as some servers do.
    ReencodePlusAsSpace,
    /// The raw bytes of each piece.
    Raw,
}

/// The CanonicalQueryString line; `X-Amz-Signature` is left out for presigned requests.
pub fn canonical_query(raw_query: Option<&str>, presigned: bool, form: QueryForm) -> String {
    let Some(q) = raw_query else {
        return String::new();
    };
    // borrowed wherever the client's encoding is already the canonical one
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = split_query(q)
        .into_iter()
        .filter(|p| !(presigned && decoded_text(p.name) == "X-Amz-Signature"))
        .map(|p| match form {
            QueryForm::Raw => (Cow::Borrowed(p.name), Cow::Borrowed(p.value)),
            QueryForm::Reencode => (reencoded(p.name), reencoded(p.value)),
            QueryForm::ReencodePlusAsSpace => (
                Cow::Owned(uri_encode(&crate::sig::encode::form_decode(p.name), false)),
                Cow::Owned(uri_encode(&crate::sig::encode::form_decode(p.value), false)),
            ),
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(q.len() + 16);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Trims a header value and collapses internal whitespace runs to one space.
pub fn trim_all(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    push_trimmed(&mut out, v);
    out
}

/// Appends `v` trimmed, with internal whitespace runs collapsed to one space.
fn push_trimmed(out: &mut String, v: &str) {
    for (i, w) in v.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(w);
    }
}

/// The CanonicalHeaders block (each line ends in `\n`) and the listed headers that are absent.
pub fn canonical_headers(req: &Request, signed: &[String]) -> (String, Vec<String>) {
    let mut out = String::new();
    let missing = push_canonical_headers(&mut out, req, signed);
    (out, missing)
}

/// Appends the CanonicalHeaders block to `out` (values trimmed straight into it, several values
/// of one name joined by commas) and returns the listed headers that are absent.
fn push_canonical_headers(out: &mut String, req: &Request, signed: &[String]) -> Vec<String> {
    let mut missing = Vec::new();
    for name in signed {
        out.push_str(name);
        out.push(':');
        let mut any = false;
        for v in req.header_values(name) {
            if any {
                out.push(',');
            }
            push_trimmed(out, v);
            any = true;
        }
        if !any {
            match (name.as_str(), req.authority.as_deref()) {
                ("host", Some(a)) => {
                    let at = out.len();
                    out.push_str(a);
                    out[at..].make_ascii_lowercase();
                }
                _ => missing.push(name.clone()),
            }
        }
        out.push('\n');
    }
    missing
}

/// Canonical request text plus what was missing while building it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanonicalRequest {
    pub text: String,
    pub missing_headers: Vec<String>,
}

/// Builds the canonical request (six lines).
pub fn canonical_request(
    req: &Request,
    signed: &[String],
    payload_hash: &str,
    presigned: bool,
    path: PathForm,
    query: QueryForm,
) -> CanonicalRequest {
    let query = canonical_query(req.query.as_deref(), presigned, query);
    let uri = canonical_uri(&req.path, path);
    let mut text = String::with_capacity(
        req.method.len() + uri.len() + query.len() + payload_hash.len() + 64 * signed.len() + 8,
    );
    text.push_str(&req.method);
    text.push('\n');
    text.push_str(&uri);
    text.push('\n');
    text.push_str(&query);
    text.push('\n');
    let missing = push_canonical_headers(&mut text, req, signed);
    text.push('\n');
    for (i, name) in signed.iter().enumerate() {
        if i > 0 {
            text.push(';');
        }
        text.push_str(name);
    }
    text.push('\n');
    text.push_str(payload_hash);
    CanonicalRequest {
        text,
        missing_headers: missing,
    }
}

/// The string to sign (four lines, no trailing newline).
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let mut out = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + 67);
    out.push_str(ALGORITHM);
    out.push('\n');
    out.push_str(amz_date);
    out.push('\n');
    out.push_str(scope);
    out.push('\n');
    push_hex(&mut out, &sha256(canonical_request.as_bytes()));
    out
}

/// kSigning derived from the secret and the scope.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k = Vec::with_capacity(4 + secret.len());
    k.extend_from_slice(b"AWS4");
    k.extend_from_slice(secret.as_bytes());
    let k_date = hmac_sha256(&k, date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// Lower-case hex HMAC-SHA256 of the string to sign.
pub fn signature(key: &[u8; 32], string_to_sign: &str) -> String {
    hex(&hmac_sha256(key, string_to_sign.as_bytes()))
}

/// Signing keys by (secret, date, region, service): one derivation per day and scope, shared by
/// every connection. Looked up by a keyed (per-process random) hash of the four parts, then
/// compared in full; the entries live only in memory and `Debug` shows none of them.
#[derive(Default)]
pub struct SigningKeyCache {
    map: Mutex<Cached>,
}

#[derive(Default)]
struct Cached {
    hasher: std::collections::hash_map::RandomState,
    by_hash: HashMap<u64, Vec<CachedKey>>,
    len: usize,
}

struct CachedKey {
    parts: [Box<str>; 4],
    key: [u8; 32],
}

impl std::fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKeyCache")
    }
}

impl SigningKeyCache {
    const LIMIT: usize = 4096;

    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
        use std::hash::BuildHasher;
        let parts = [secret, date, region, service];
        let mut map = match self.map.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let id = map.hasher.hash_one(parts);
        if let Some(k) = map.by_hash.get(&id).and_then(|bucket| {
            bucket
                .iter()
                .find(|e| e.parts.iter().zip(parts).all(|(a, b)| **a == *b))
        }) {
            return k.key;
        }
        let key = signing_key(secret, date, region, service);
        if map.len >= Self::LIMIT {
            map.by_hash.clear();
            map.len = 0;
        }
        map.by_hash.entry(id).or_default().push(CachedKey {
            parts: parts.map(Box::from),
            key,
        });
        map.len += 1;
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_rfc3986() {
        assert_eq!(normalize_path("/a/./b/../c.txt"), "/a/c.txt");
        assert_eq!(normalize_path("//a//b/"), "/a/b/");
        assert_eq!(normalize_path("/.."), "/");
        assert_eq!(normalize_path("/a/.."), "/");
    }

    #[test]
    fn s3_uri_is_decoded_then_encoded_once() {
        assert_eq!(
            canonical_uri(
                "/b/state=fl/caf%c3%a9@home(1).txt",
                PathForm::Rules(Rules::S3)
            ),
            "/b/state%3Dfl/caf%C3%A9%40home%281%29.txt"
        );
        assert_eq!(
            canonical_uri(
                "/b/a%20b",
                PathForm::Rules(Rules::Generic { normalize: false })
            ),
            "/b/a%2520b"
        );
        assert_eq!(
            canonical_uri("/dir//x/./y", PathForm::Rules(Rules::S3)),
            "/dir//x/./y"
        );
    }

    #[test]
    fn query_sorted_by_encoded_name_then_value() {
        assert_eq!(
            canonical_query(
                Some("versionId=v1&tagging&a=2&B=1&a=1&empty="),
                false,
                QueryForm::Reencode
            ),
            "B=1&a=1&a=2&empty=&tagging=&versionId=v1"
        );
        assert_eq!(
            canonical_query(Some("a=b&X-Amz-Signature=00"), true, QueryForm::Reencode),
            "a=b"
        );
    }

    #[test]
    fn signing_key_cache_answers_per_secret_and_scope() {
        let cache = SigningKeyCache::new();
        let k = |s: &str, d: &str, r: &str, v: &str| cache.get(s, d, r, v);
        // a hit is the derivation itself, and every part of the tuple tells keys apart, even
        // where the parts joined would read the same
        for _ in 0..2 {
            assert_eq!(
                k("sec", "20150830", "us-east-1", "s3"),
                signing_key("sec", "20150830", "us-east-1", "s3")
            );
            assert_eq!(
                k("se", "c20150830", "us-east-1", "s3"),
                signing_key("se", "c20150830", "us-east-1", "s3")
            );
            assert_eq!(
                k("sec", "20150831", "us-east-1", "s3"),
                signing_key("sec", "20150831", "us-east-1", "s3")
            );
            assert_eq!(
                k("sec", "20150830", "us-east-1s", "3"),
                signing_key("sec", "20150830", "us-east-1s", "3")
            );
        }
        assert_ne!(
            k("sec", "20150830", "us-east-1", "s3"),
            k("se", "c20150830", "us-east-1", "s3")
        );
        assert_eq!(format!("{cache:?}"), "SigningKeyCache");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        let r =
            Request::parse(b"GET / HTTP/1.1\r\nHost: h\r\nX-A:  a   b \r\nx-a: c\r\n\r\n").unwrap();
        let (h, missing) = canonical_headers(&r, &["host".into(), "x-a".into(), "x-b".into()]);
        assert_eq!(h, "host:h\nx-a:a b,c\nx-b:\n");
        assert_eq!(missing, vec!["x-b".to_string()]);
    }
}
