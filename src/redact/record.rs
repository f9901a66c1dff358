//! What a recording must never hold whole: session tokens (the client's and the upstream
//! identity's) and signature values, in headers, the query and bodies. The token and signature
//! parameter names are those of the parent module, listed once for every output.
//!
//! Headers and query values that carry them are replaced by [`MARK`]. In bodies (an upstream
//! may echo the request it got) each known token, in every spelling, and each signature value
//! after a `Signature=`-like marker keeps its first 8 characters and the rest becomes `*`:
//! the length stays, so sizes, ranges and aws-chunked framing still hold.

use super::{spellings, KEEP, SIGNATURE_PARAMS, TOKEN_NAMES};
use crate::sig::encode;

/// What replaces a secret header or query value.
pub const MARK: &str = "<redacted>";

/// Headers replaced whole (besides `Authorization`, whose signature alone is replaced).
const SECRET_HEADERS: [&str; 2] = ["cookie", "proxy-authorization"];

/// True for a query parameter (lower-case) whose value a recording never keeps.
pub fn is_secret_param(lower: &str) -> bool {
    TOKEN_NAMES.contains(&lower) || SIGNATURE_PARAMS.contains(&lower)
}

/// Header values that are replaced by markers (keeping what matching and re-signing need).
pub fn redact_header(name: &str, value: &str) -> String {
    let n = name.to_ascii_lowercase();
    if n == "authorization" {
        return redact_authorization(value);
    }
    if TOKEN_NAMES.contains(&n.as_str()) || SECRET_HEADERS.contains(&n.as_str()) {
        return MARK.to_string();
    }
    value.to_string()
}

/// Keeps the scheme, access key and signed header list; drops the signature.
pub fn redact_authorization(v: &str) -> String {
    if let Some(i) = v.find("Signature=") {
        return format!("{}Signature={MARK}", &v[..i]);
    }
    if let Some(i) = v.find("q-signature=") {
        let end = v[i..].find('&').map(|e| i + e).unwrap_or(v.len());
        return format!("{}q-signature={MARK}{}", &v[..i], &v[end..]);
    }
    if let Some(rest) = v.strip_prefix("AWS ") {
        if let Some((ak, _)) = rest.rsplit_once(':') {
            return format!("AWS {ak}:{MARK}");
        }
    }
    MARK.to_string()
}

/// Replaces signature and token query values in a target (names compared decoded, any case).
pub fn redact_target(target: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let pieces: Vec<String> = query
        .split('&')
        .map(|p| {
            let (k, _) = p.split_once('=').unwrap_or((p, ""));
            let name = encode::decoded_text(k).to_ascii_lowercase();
            if is_secret_param(&name) {
                format!("{k}={MARK}")
            } else {
                p.to_string()
            }
        })
        .collect();
    format!("{path}?{}", pieces.join("&"))
}

/// Shorter secrets are not searched for: they would match ordinary text.
const MIN_SECRET: usize = 8;
/// A signature value after a marker is this long at least (SigV2: 28, COS: 40, SigV4: 64) and
/// at most this long (a longer run is something else).
const SIG_MIN: usize = 16;
const SIG_MAX: usize = 256;

/// Finds and masks secrets in bytes: exact strings (tokens) and, when asked, signature values
/// after `signature=`, `signature%3D`, `<SignatureProvided>`, `"signature": "`, and in
/// SigV2's `AWS KEY:SIGNATURE`.
pub struct Scrubber {
    needles: Vec<Vec<u8>>,
    signatures: bool,
}

impl Scrubber {
    /// A scrubber for these secrets (each in every spelling, see [`spellings`]).
    pub fn new(secrets: &[String], signatures: bool) -> Scrubber {
        let mut needles: Vec<Vec<u8>> = secrets
            .iter()
            .flat_map(|s| spellings(s))
            .filter(|s| s.len() >= MIN_SECRET && s != MARK)
            .map(String::into_bytes)
            .collect();
        // longest first: a spelling that contains another is masked whole
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        needles.dedup();
        Scrubber {
            needles,
            signatures,
        }
    }

    /// True when there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty() && !self.signatures
    }

    /// The bytes a stream keeps back between pieces so that a secret cut in two is found.
    pub fn overlap(&self) -> usize {
        let longest = self.needles.first().map_or(0, Vec::len);
        longest.max(if self.signatures { 512 } else { 0 })
    }

    /// Masks every secret in `buf` in place; returns how many were masked. `at_end`: nothing
    /// follows `buf` (else a signature value that runs to its end is left for the next call).
    pub fn scrub(&self, buf: &mut [u8], at_end: bool) -> usize {
        let mut n = 0;
        for needle in &self.needles {
            let mut from = 0;
            while let Some(i) = find(&buf[from..], needle) {
                let at = from + i;
                mask(&mut buf[at..at + needle.len()]);
                n += 1;
                from = at + needle.len();
            }
        }
        if self.signatures {
            n += scrub_signatures(buf, at_end);
        }
        n
    }

    /// [`Scrubber::scrub`] over a string (masks fall on character boundaries).
    pub fn scrub_str(&self, s: &str) -> Option<String> {
        let mut b = s.as_bytes().to_vec();
        if self.scrub(&mut b, true) == 0 {
            return None;
        }
        String::from_utf8(b).ok()
    }
}

/// Keeps the first [`KEEP`] bytes (when they are ASCII, so a character is never cut) and
/// writes `*` over the rest.
fn mask(secret: &mut [u8]) {
    let keep = if secret.len() > KEEP && secret[..KEEP].is_ascii() {
        KEEP
    } else {
        0
    };
    for b in &mut secret[keep..] {
        *b = b'*';
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        let j = hay[i..=hay.len() - needle.len()]
            .iter()
            .position(|&b| b == first)?;
        if hay[i + j..].starts_with(needle) {
            return Some(i + j);
        }
        i += j + 1;
    }
    None
}

fn starts_with_ci(hay: &[u8], word: &[u8]) -> bool {
    hay.len() >= word.len() && hay[..word.len()].eq_ignore_ascii_case(word)
}

/// Characters of a signature value: hex, base64, and percent-escapes of base64.
fn sig_char(b: u8, escaped: bool) -> bool {
    b.is_ascii_alphanumeric() || (!escaped && matches!(b, b'+' | b'/' | b'=' | b'%'))
}

/// Masks the value run starting at `start` if it has a signature's length; returns 1 if so.
fn mask_value(buf: &mut [u8], start: usize, escaped: bool, at_end: bool) -> usize {
    let len = buf[start..]
        .iter()
        .take(SIG_MAX + 1)
        .take_while(|&&b| sig_char(b, escaped))
        .count();
    let runs_out = start + len == buf.len() && !at_end;
    if !(SIG_MIN..=SIG_MAX).contains(&len) || runs_out {
        return 0;
    }
    mask(&mut buf[start..start + len]);
    1
}

fn scrub_signatures(buf: &mut [u8], at_end: bool) -> usize {
    const SEPARATORS: [(&[u8], bool); 5] = [
        (b"=", false),
        (b"%3d", true),
        (b">", false),
        (b"\":\"", false),
        (b"\": \"", false),
    ];
    let mut n = 0;
    let mut i = 0;
    while i < buf.len() {
        let rest = &buf[i..];
        if starts_with_ci(rest, b"signature") {
            let mut p = i + b"signature".len();
            if starts_with_ci(&buf[p..], b"provided") {
                p += b"provided".len();
            }
            if let Some((sep, escaped)) = SEPARATORS
                .iter()
                .find(|(sep, _)| starts_with_ci(&buf[p..], sep))
            {
                n += mask_value(buf, p + sep.len(), *escaped, at_end);
            }
            i = p;
            continue;
        }
        if rest.starts_with(b"AWS ") {
            // SigV2: `AWS ` + access key + `:` + base64 signature
            let p = i + 4;
            let key = buf[p..]
                .iter()
                .take(129)
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if (4..=128).contains(&key) && buf.get(p + key) == Some(&b':') {
                n += mask_value(buf, p + key + 1, false, at_end);
            }
            i = p;
            continue;
        }
        i += 1;
    }
    n
}

/// Streams `from` into `to` through `scrubber`, holding back [`Scrubber::overlap`] bytes
/// between pieces; returns the SHA-256 and size of what was written and how many secrets were
/// masked.
pub fn scrub_stream(
    scrubber: &Scrubber,
    from: &mut impl std::io::Read,
    to: &mut impl std::io::Write,
) -> std::io::Result<(String, u64, usize)> {
    use sha2::{Digest, Sha256};
    let overlap = scrubber.overlap();
    let piece = 256 * 1024;
    let mut hasher = Sha256::new();
    let (mut size, mut masked) = (0u64, 0usize);
    let mut buf: Vec<u8> = Vec::with_capacity(piece + overlap);
    loop {
        let held = buf.len();
        buf.resize(held + piece, 0);
        let got = from.read(&mut buf[held..])?;
        buf.truncate(held + got);
        let at_end = got == 0;
        masked += scrubber.scrub(&mut buf, at_end);
        let out = if at_end {
            buf.len()
        } else {
            buf.len().saturating_sub(overlap)
        };
        hasher.update(&buf[..out]);
        to.write_all(&buf[..out])?;
        size += out as u64;
        buf.drain(..out);
        if at_end {
            break;
        }
    }
    Ok((encode::hex(&hasher.finalize()), size, masked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_headers_and_targets() {
        assert_eq!(
            redact_target("/b/k?a=1&X-Ci-Security-Token=t%2Fok&x-cos-security-token=t&Sign=q"),
            "/b/k?a=1&X-Ci-Security-Token=<redacted>&x-cos-security-token=<redacted>&Sign=<redacted>"
        );
        assert_eq!(
            redact_target("/b/k?x-ci-security%2Dtoken=t"),
            "/b/k?x-ci-security%2Dtoken=<redacted>"
        );
        assert_eq!(redact_header("X-Ci-Security-Token", "tok"), MARK);
        assert_eq!(redact_header("Cookie", "c"), MARK);
        assert_eq!(redact_header("ETag", "\"e\""), "\"e\"");
    }

    #[test]
    fn tokens_are_masked_in_every_spelling_keeping_the_length() {
        let s = Scrubber::new(&["Tok/en+value=0001".to_string()], false);
        let text = "a Tok/en+value=0001 b Tok%2Fen%2Bvalue%3D0001 c Tok%2Fen%2Bvalue%3D0001";
        let out = s.scrub_str(text).unwrap();
        assert_eq!(out.len(), text.len());
        assert!(
            !out.contains("value=0001") && !out.contains("value%3D0001"),
            "{out}"
        );
        assert!(out.starts_with("a Tok/en+v*********"), "{out}");
        assert!(s.scrub_str("nothing here").is_none());
        // short values are not secrets worth searching for
        assert!(Scrubber::new(&["abc".to_string()], false).is_empty());
    }

    #[test]
    fn signature_values_after_markers_are_masked() {
        let s = Scrubber::new(&[], true);
        let v4 = "ab".repeat(32);
        let cos = "cd".repeat(20);
        let v2 = "c2lnbmF0dXJlLXZhbHVlLTEyMzQ=";
        for text in [
            format!("Authorization: AWS4-HMAC-SHA256 Credential=AK/x, SignedHeaders=host, Signature={v4}\r\n"),
            format!("q-sign-algorithm=sha1&q-ak=AK&q-signature={cos}&x=1"),
            format!("/k?sign=q-sign-algorithm%3Dsha1%26q-signature%3D{cos}%26x"),
            format!("<SignatureProvided>{v4}</SignatureProvided>"),
            format!("{{\"X-Amz-Signature\": \"{v4}\"}}"),
            format!("Authorization: AWS AKIDEXAMPLE:{v2}\r\n"),
            format!("/k?Signature={}&Expires=1", v2.replace('=', "%3D")),
        ] {
            let out = s.scrub_str(&text).unwrap_or_else(|| panic!("nothing masked in {text}"));
            assert_eq!(out.len(), text.len());
            for sig in [v4.clone(), cos.clone(), v2.to_string(), v2.replace('=', "%3D")] {
                assert!(!out.contains(&sig), "{out}");
            }
        }
        // not signatures: too short, a longer run, another word
        for text in [
            "Signature=abc".to_string(),
            format!("Signature={}", "a".repeat(300)),
            "SignatureDoesNotMatch".to_string(),
            "<UploadId>0123456789abcdef0123456789abcdef0123</UploadId>".to_string(),
        ] {
            assert!(s.scrub_str(&text).is_none(), "{text}");
        }
    }

    #[test]
    fn a_stream_finds_secrets_cut_between_pieces() {
        let token = "StreamedToken/0001+xyz";
        let s = Scrubber::new(&[token.to_string()], true);
        let sig = "ef".repeat(32);
        // secrets straddle the 256 KiB piece boundary
        let mut data = vec![b'.'; 256 * 1024 - 10];
        data.extend_from_slice(token.as_bytes());
        data.extend_from_slice(b" Signature=");
        let pad = 256 * 1024 * 2 - data.len() - 20;
        data.extend(std::iter::repeat_n(b'-', pad));
        data.extend_from_slice(b"Signature=");
        data.extend_from_slice(sig.as_bytes());
        data.extend_from_slice(b"\n");
        let mut out = Vec::new();
        let (sha, size, n) = scrub_stream(&s, &mut data.as_slice(), &mut out).unwrap();
        assert_eq!(n, 2);
        assert_eq!(size as usize, data.len());
        assert_eq!(out.len(), data.len());
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(!text.contains(token) && !text.contains(&sig));
        use sha2::Digest;
        assert_eq!(sha, encode::hex(&sha2::Sha256::digest(&out)));
        let mut whole = data.clone();
        s.scrub(&mut whole, true);
        assert_eq!(whole, out, "streamed and whole agree");
    }
}
