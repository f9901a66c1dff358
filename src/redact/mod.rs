//! What people get to read: signature and token values cut to their first 8 characters, and
//! text escaped so that nothing a client or an upstream sends can drive a terminal.
//!
//! Redaction goes by name: the values of the query parameters and header fields that carry a
//! signature or a session token, wherever such a `name=value` (or `name%3Dvalue`,
//! `name: value`, SigV2's `AWS AK:signature`) appears. Paths and other values are left whole.
//! The names are listed once, here ([`TOKEN_NAMES`], [`SIGNATURE_PARAMS`]), for every output:
//! the log, error documents and reports cut values to 8 characters; a recording (and HAR)
//! replaces them by a marker and masks bodies ([`record`]).
//!
//! Escaping has one form: C0 controls, DEL and (in byte form, for targets and hosts) every
//! non-ASCII byte, the space and the backslash as `\xNN`; C1 controls, line and paragraph separators and invisible format
//! characters (bidi overrides and isolates, zero-width characters, BOM) as `\u{NNNN}`.

pub mod record;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::ops::Range;

/// How many characters of a signature or token value stay visible.
pub const KEEP: usize = 8;

/// Headers and query parameters that carry a session token (lower-case).
pub const TOKEN_NAMES: [&str; 3] = [
    "x-amz-security-token",
    "x-cos-security-token",
    "x-ci-security-token",
];

/// Query parameters that carry a signature (lower-case).
pub const SIGNATURE_PARAMS: [&str; 4] = ["x-amz-signature", "signature", "q-signature", "sign"];

/// `value` cut to its first 8 characters and `…` when longer.
pub fn shorten(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(KEEP) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &value[..cut])),
        None => Cow::Borrowed(value),
    }
}

/// `text` with every signature and token value cut to 8 characters (see the module doc).
pub fn redact(text: &str) -> String {
    redacted(text).into_owned()
}

/// `redact`, appended to `out`.
pub fn redact_into(out: &mut String, text: &str) {
    out.push_str(&redacted(text));
}

/// `redact` without a copy when there is nothing to cut.
pub fn redacted(text: &str) -> Cow<'_, str> {
    redacted_hiding(text, [])
}

/// `redact`, also cutting every occurrence of the `hidden` values (a request's session tokens,
/// the signatures a finding names).
pub fn redacted_hiding<'h>(text: &str, hidden: impl IntoIterator<Item = &'h str>) -> Cow<'_, str> {
    let tails = tails(text, hidden);
    if tails.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for t in tails {
        out.push_str(&text[copied..t.start]);
        out.push('…');
        copied = t.end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// `redacted_hiding`, escaped for a terminal and appended to `out`. The `…` that marks a cut
/// is sigtap's own and stays as it is; everything else is escaped in `form`.
pub fn shown_into<'h>(
    out: &mut String,
    text: &str,
    hidden: impl IntoIterator<Item = &'h str>,
    form: Form,
) {
    let mut copied = 0;
    for t in tails(text, hidden) {
        escape_into(out, &text[copied..t.start], form);
        out.push('…');
        copied = t.end;
    }
    escape_into(out, &text[copied..], form);
}

/// The byte ranges of `text` that redaction replaces by `…`, in order and apart: each
/// signature or token value after its first 8 characters, for values found by name and for
/// every occurrence of a `hidden` value. Every bound is a character boundary.
pub fn tails<'h>(text: &str, hidden: impl IntoIterator<Item = &'h str>) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut i = 0;
    // every index the scan stops at is an ASCII byte, hence a character boundary
    while i < b.len() {
        let Some((start, quoted)) = value_start(text, i) else {
            i += 1;
            continue;
        };
        let end = if quoted {
            quoted_end(b, start)
        } else {
            value_end(b, start)
        };
        let value = &text[start..end];
        match value.char_indices().nth(KEEP) {
            Some((cut, _)) if !is_cos_auth_value(value) => {
                out.push(start + cut..end);
                i = end;
            }
            _ => i += 1,
        }
    }
    let by_name = out.len();
    for h in hidden {
        let Some((cut, _)) = h.char_indices().nth(KEEP) else {
            continue;
        };
        for (pos, _) in text.match_indices(h) {
            out.push(pos + cut..pos + h.len());
        }
    }
    if out.len() > by_name {
        out.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(out.len());
        for r in out {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        out = merged;
    }
    out
}

/// Where a value to shorten starts when the byte at `i` ends a signature or token name
/// (`=`, `%3D`, `:`, or the `"` of a quoted value after such a name), and whether it is quoted.
fn value_start(text: &str, i: usize) -> Option<(usize, bool)> {
    let b = text.as_bytes();
    match b[i] {
        b'=' => secret_param(name_before(b, i)).then_some((i + 1, false)),
        b'%' if b.get(i + 1) == Some(&b'3') && matches!(b.get(i + 2), Some(b'D' | b'd')) => {
            secret_param(name_before(b, i)).then_some((i + 3, false))
        }
        b':' => {
            let name = name_before(b, i);
            if secret_header(name) {
                let spaces = b[i + 1..].iter().take_while(|c| **c == b' ').count();
                Some((i + 1 + spaces, false))
            } else {
                sigv2_key_before(b, i).then_some((i + 1, false))
            }
        }
        // `signature "…"`: a parser's message quoting a value it could not use
        b'"' if i > 0 && b[i - 1] == b' ' => {
            ends_with_ci(name_before(b, i - 1), b"signature").then_some((i + 1, true))
        }
        _ => None,
    }
}

/// The run of name characters (`A-Z a-z 0-9 - _`) that ends at `i`, without the two hex
/// digits of a `%26` or `%3F` just before it.
fn name_before(b: &[u8], i: usize) -> &[u8] {
    let len = b[..i]
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-' || **c == b'_')
        .count();
    let start = i - len;
    if start > 0
        && b[start - 1] == b'%'
        && len > 2
        && b[start].is_ascii_hexdigit()
        && b[start + 1].is_ascii_hexdigit()
    {
        &b[start + 2..i]
    } else {
        &b[start..i]
    }
}

fn ends_with_ci(name: &[u8], suffix: &[u8]) -> bool {
    name.len() >= suffix.len() && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// Query parameters (and `name=value` fields of Authorization values) that carry a signature
/// or a token: those of [`SIGNATURE_PARAMS`] and [`TOKEN_NAMES`], and in text people read also
/// any other name that ends like them (`chunk-signature`, `x-amz-trailer-signature`).
fn secret_param(name: &[u8]) -> bool {
    ends_with_ci(name, b"signature")
        || ends_with_ci(name, b"security-token")
        || name.eq_ignore_ascii_case(b"sign")
}

/// Header fields written `name:value` (canonical requests, trailers) that carry one: the
/// [`TOKEN_NAMES`] and any name ending in `-signature`.
fn secret_header(name: &[u8]) -> bool {
    ends_with_ci(name, b"security-token") || ends_with_ci(name, b"-signature")
}

/// True when the `:` at `i` ends the access key of a SigV2 `AWS AK:signature` value.
fn sigv2_key_before(b: &[u8], i: usize) -> bool {
    let key = b[..i]
        .iter()
        .rev()
        .take_while(|c| !c.is_ascii_whitespace() && **c != b':')
        .count();
    let start = i - key;
    key > 0
        && start >= 4
        && &b[start - 4..start] == b"AWS "
        && (start == 4 || !b[start - 5].is_ascii_alphanumeric())
}

/// A COS `sign` parameter holds a whole encoded Authorization value: its `q-signature` is cut
/// on its own, the rest (algorithm, key, times) stays readable.
fn is_cos_auth_value(value: &str) -> bool {
    value
        .as_bytes()
        .get(..16)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"q-sign-algorithm"))
}

/// The end of an unquoted value: the next separator, space, quote, bracket or control byte,
/// or an encoded `&` (`%26`).
fn value_end(b: &[u8], start: usize) -> usize {
    let mut j = start;
    while j < b.len() {
        match b[j] {
            b'&' | b',' | b';' | b'"' | b'\'' | b'<' | b'>' | b'(' | b')' | b'[' | b']' | b'{'
            | b'}' | b'|' | b'\\' | b'`' => break,
            c if c.is_ascii_whitespace() || c.is_ascii_control() => break,
            b'%' if b.get(j + 1) == Some(&b'2') && matches!(b.get(j + 2), Some(b'6')) => break,
            _ => j += 1,
        }
    }
    j
}

/// The end of a quoted value (Rust `Debug` quoting): the next `"` not escaped by `\`.
fn quoted_end(b: &[u8], start: usize) -> usize {
    let mut j = start;
    while j < b.len() {
        match b[j] {
            b'"' => break,
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
    j.min(b.len())
}

/// Replaces each token in `text` by its first 8 characters and `…`.
pub fn redact_tokens(text: &str, tokens: &[String]) -> String {
    let mut out = text.to_string();
    for t in tokens {
        if t.len() >= KEEP && out.contains(t.as_str()) {
            out = out.replace(t.as_str(), &shorten(t));
        }
    }
    out
}

/// Session tokens (and their percent-encoded spelling) that a request carries: header
/// `X-Amz-Security-Token` / `x-cos-security-token` / `x-ci-security-token` and the same names
/// in the query. Used to keep them out of logs, error documents and recordings.
pub fn request_tokens(req: &crate::wire::Request) -> Vec<String> {
    use crate::sig::encode;
    let mut out = Vec::new();
    for (k, v) in &req.headers {
        if TOKEN_NAMES.iter().any(|n| k.eq_ignore_ascii_case(n)) {
            out.push(v.clone());
        }
    }
    // most requests carry none: look before parsing the query
    let in_query = req.query.as_deref().is_some_and(|q| {
        q.as_bytes()
            .windows(14)
            .any(|w| w.eq_ignore_ascii_case(b"security-token"))
    });
    if out.is_empty() && !in_query {
        return out;
    }
    if let Some(q) = req.query.as_deref().filter(|_| in_query) {
        for p in encode::split_query(q) {
            let name = encode::decoded_text(p.name).to_ascii_lowercase();
            if TOKEN_NAMES.contains(&name.as_str()) {
                out.push(p.value.to_string());
                out.push(encode::text(&encode::form_decode(p.value)));
            }
        }
    }
    out.retain(|t| t.len() >= KEEP && t != record::MARK);
    // canonical texts show them percent-encoded (SigV4 query, COS HttpString)
    let mut out: Vec<String> = out.iter().flat_map(|t| spellings(t)).collect();
    out.sort();
    out.dedup();
    out
}

/// The spellings a token takes in requests and in the texts services echo: as given,
/// percent-decoded, form-decoded, SigV4-encoded and COS-encoded.
pub fn spellings(token: &str) -> Vec<String> {
    use crate::sig::encode;
    let decoded = encode::text(&encode::percent_decode(token));
    let mut out = vec![
        token.to_string(),
        encode::text(&encode::form_decode(token)),
        encode::uri_encode(decoded.as_bytes(), false),
        crate::sig::cos::cos_encode(decoded.as_bytes()),
        decoded,
    ];
    out.sort();
    out.dedup();
    out
}

/// How `escape_into` writes a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// Messages and values: printable Unicode stays as it is.
    Text,
    /// What arrived on the wire (request targets, hosts): only visible ASCII stays; every other
    /// byte (space included) and the backslash is shown as `\xNN`, so the bytes can be read back
    /// and the field never looks like two.
    Bytes,
}

/// Appends `text` to `out` for a terminal (see the module doc for the form). A line break is
/// escaped too: callers that show several lines split them first.
pub fn escape_into(out: &mut String, text: &str, form: Form) {
    let plain = match form {
        Form::Text => text.bytes().all(|c| (0x20..0x7f).contains(&c)),
        Form::Bytes => text.bytes().all(|c| c.is_ascii_graphic() && c != b'\\'),
    };
    if plain {
        out.push_str(text);
        return;
    }
    let mut copied = 0;
    for (i, c) in text.char_indices() {
        let as_bytes = c.is_ascii_control()
            || (form == Form::Bytes && (!c.is_ascii() || c == '\\' || c == ' '));
        if !as_bytes && !invisible(c) {
            continue;
        }
        out.push_str(&text[copied..i]);
        if as_bytes {
            for b in text[i..i + c.len_utf8()].bytes() {
                let _ = write!(out, "\\x{b:02x}");
            }
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        copied = i + c.len_utf8();
    }
    out.push_str(&text[copied..]);
}

/// `text` escaped as [`Form::Text`].
pub fn escape(text: &str) -> Cow<'_, str> {
    escaped(text, Form::Text)
}

/// `text` escaped as [`Form::Bytes`].
pub fn escape_bytes(text: &str) -> Cow<'_, str> {
    escaped(text, Form::Bytes)
}

fn escaped(text: &str, form: Form) -> Cow<'_, str> {
    let mut out = String::new();
    escape_into(&mut out, text, form);
    if out == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(out)
    }
}

/// Characters a terminal does not print but acts on or hides: C1 controls, line and paragraph
/// separators, and the format characters that reorder or hide text (Unicode category Cf).
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{80}'..='\u{9f}'
            | '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_cut_at_character_boundaries() {
        assert_eq!(shorten("abcdefgh"), "abcdefgh");
        assert_eq!(shorten("ééééééééé"), "éééééééé…");
        assert_eq!(redact("Signature=aééééééééé&x"), "Signature=aééééééé…&x");
        assert_eq!(redact("plain text é"), "plain text é");
    }

    #[test]
    fn names_decide_what_is_cut() {
        assert_eq!(
            redact("X-Amz-SignedHeaders=host%3Bx-amz-date&design=abcdefghijkl"),
            "X-Amz-SignedHeaders=host%3Bx-amz-date&design=abcdefghijkl"
        );
        assert_eq!(redact("q-sign=abcdefghijkl"), "q-sign=abcdefghijkl");
        assert_eq!(
            redact("AWS4-HMAC-SHA256 Credential=AK:abcdefghijklmnop"),
            "AWS4-HMAC-SHA256 Credential=AK:abcdefghijklmnop"
        );
        assert_eq!(redact("Signature=<redacted>"), "Signature=<redacted>");
        // `%` + two characters is an escape only when both are hex digits
        assert_eq!(redact("%3Signature=abcdefghijk"), "%3Signature=abcdefgh…");
        assert_eq!(redact("%26Signature=abcdefghijk"), "%26Signature=abcdefgh…");
        // already cut: unchanged
        assert_eq!(redact("Signature=0a64ae62…&x"), "Signature=0a64ae62…&x");
        assert_eq!(
            redact("x-amz-trailer-signature: 0a64ae62da0fdde29f\r\n"),
            "x-amz-trailer-signature: 0a64ae62…\r\n"
        );
        assert_eq!(
            redact(r#"q-signature "0a64ae62\"da0fdde29f" is bad"#),
            r#"q-signature "0a64ae62…" is bad"#
        );
    }

    #[test]
    fn every_listed_name_is_cut_in_text() {
        for n in TOKEN_NAMES.iter().chain(&SIGNATURE_PARAMS) {
            assert!(secret_param(n.as_bytes()), "{n}");
            assert!(secret_param(n.to_ascii_uppercase().as_bytes()), "{n}");
        }
        for n in TOKEN_NAMES {
            assert!(secret_header(n.as_bytes()), "{n}");
        }
    }

    #[test]
    fn escaping_has_one_form() {
        assert_eq!(
            escape("a\u{1b}[2J\r\n\t\u{7f}b"),
            "a\\x1b[2J\\x0d\\x0a\\x09\\x7fb"
        );
        assert_eq!(
            escape("é\u{85}\u{202e}\u{2028}中\\"),
            "é\\u{85}\\u{202e}\\u{2028}中\\"
        );
        assert_eq!(escape_bytes("/é\\\u{1b} x"), "/\\xc3\\xa9\\x5c\\x1b\\x20x");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn signatures_are_cut_to_8_characters() {
        let t = "Signature=0a64ae62da0fdde29f179d3f674ee45e4c879572d844163340384ec2810602ea&x=1";
        assert_eq!(redact(t), "Signature=0a64ae62…&x=1");
        assert_eq!(
            redact("q-signature=3b8851a11a569213c17ba8fa7dcf2abec6935172"),
            "q-signature=3b8851a1…"
        );
        assert_eq!(
            redact("AWS AK:TCD9yOwtU0j9OspAg5WF6sNpXPY= ok"),
            "AWS AK:TCD9yOwt… ok"
        );
        assert_eq!(
            redact("?Signature=W%2BFLBTXkoNC6%2Fq7DauwgVFrOI1E%3D&Expires=1"),
            "?Signature=W%2BFLBT…&Expires=1"
        );
        assert_eq!(redact("plain text é"), "plain text é");
    }
}
