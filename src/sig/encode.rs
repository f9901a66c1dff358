//! Percent-encoding and query splitting shared by the schemes.

/// The RFC 3986 unreserved set used by COS UrlEncode and SigV4 UriEncode.
pub fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Encodes every byte outside the unreserved set as `%XX` (upper-case hex);
/// `keep_slash` leaves `/` alone (path segments).
pub fn uri_encode(data: &[u8], keep_slash: bool) -> String {
    let keep = |b: u8| is_unreserved(b) || (keep_slash && b == b'/');
    let mut out = Vec::with_capacity(data.len() + data.len() / 2);
    for &b in data {
        if keep(b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[
                b'%',
                HEX_UPPER[(b >> 4) as usize],
                HEX_UPPER[(b & 15) as usize],
            ]);
        }
    }
    // only ASCII was written
    String::from_utf8(out).unwrap_or_default()
}

/// `uri_encode(percent_decode(s))`, borrowed when `s` is already in that form (every byte
/// unreserved, every escape upper-case and needed): the usual case, without allocating.
pub fn reencoded(s: &str) -> std::borrow::Cow<'_, str> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if is_unreserved(b[i]) {
            i += 1;
            continue;
        }
        let escaped = b[i] == b'%'
            && i + 2 < b.len()
            && matches!(b.get(i + 1), Some(b'0'..=b'9' | b'A'..=b'F'))
            && matches!(b.get(i + 2), Some(b'0'..=b'9' | b'A'..=b'F'));
        let needed = escaped
            && !is_unreserved(hex_val(b[i + 1]).unwrap_or(0) << 4 | hex_val(b[i + 2]).unwrap_or(0));
        if !needed {
            return std::borrow::Cow::Owned(uri_encode(&percent_decode(s), false));
        }
        i += 3;
    }
    std::borrow::Cow::Borrowed(s)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes; a `%` not followed by two hex digits stays literal (as lenient servers do).
pub fn percent_decode(s: &str) -> Vec<u8> {
    decode(s, false)
}

/// Form-decodes: `+` is a space, then percent-decoding.
pub fn form_decode(s: &str) -> Vec<u8> {
    decode(s, true)
}

fn decode(s: &str, plus_is_space: bool) -> Vec<u8> {
    let b = s.as_bytes();
    if !b.iter().any(|&c| c == b'%' || (plus_is_space && c == b'+')) {
        return b.to_vec();
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// Lossy UTF-8 text of decoded bytes (for display and string-based canonical forms).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Percent-decoded text, borrowed when there is nothing to decode.
pub fn decoded_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('%') {
        std::borrow::Cow::Owned(text(&percent_decode(s)))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Form-decoded text, borrowed when there is nothing to decode.
pub fn form_decoded_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['%', '+']) {
        std::borrow::Cow::Owned(text(&form_decode(s)))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// One `name[=value]` piece of a raw query string, still encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryPiece<'a> {
    pub name: &'a str,
    pub value: &'a str,
    pub has_eq: bool,
}

/// Splits a raw query on `&`, each piece at its first `=`; empty pieces are skipped.
pub fn split_query(q: &str) -> Vec<QueryPiece<'_>> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => QueryPiece {
                name: n,
                value: v,
                has_eq: true,
            },
            None => QueryPiece {
                name: p,
                value: "",
                has_eq: false,
            },
        })
        .collect()
}

/// Shortens user input quoted in error messages (at most 64 characters).
pub fn clip(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

/// Appends the lower-case hex of `bytes` to `out`.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_awkward_characters() {
        assert_eq!(
            uri_encode("a b+c~d*e!f'g(h)i%j=k&l/m".as_bytes(), false),
            "a%20b%2Bc~d%2Ae%21f%27g%28h%29i%25j%3Dk%26l%2Fm"
        );
        assert_eq!(uri_encode("a/b c".as_bytes(), true), "a/b%20c");
        assert_eq!(uri_encode("é".as_bytes(), false), "%C3%A9");
    }

    #[test]
    fn reencoding_borrows_only_what_is_already_canonical() {
        for s in [
            "abc-_.~", "a%2Fb", "%C3%A9", "a%2fb", "%41", "a b", "a+b", "%", "%4", "%zz", "a%2",
            "", "x%20", "%7E", "%25",
        ] {
            let r = reencoded(s);
            assert_eq!(r, uri_encode(&percent_decode(s), false), "{s:?}");
            let borrowed = matches!(r, std::borrow::Cow::Borrowed(_));
            assert_eq!(borrowed, r == s, "{s:?}");
        }
    }

    #[test]
    fn decodes_leniently() {
        assert_eq!(percent_decode("a%20b%2fc%zz%"), b"a b/c%zz%");
        assert_eq!(percent_decode("a+b"), b"a+b");
        assert_eq!(form_decode("a+b%2B"), b"a b+");
        assert_eq!(percent_decode("%4"), b"%4");
        assert_eq!(percent_decode("%41"), b"A");
    }

    #[test]
    fn splits_queries() {
        let p = split_query("acl&a=1&&b=x=y&c=");
        assert_eq!(p.len(), 4);
        assert_eq!((p[0].name, p[0].value, p[0].has_eq), ("acl", "", false));
        assert_eq!((p[2].name, p[2].value), ("b", "x=y"));
        assert!(p[3].has_eq);
    }
}
