//! The mismatch explainer: when a signature does not verify, search the likely variants of
//! what the client may have signed and report the one that reproduces the provided signature,
//! with a cause id and a line diff between the canonical text the wire implies and the one the
//! client signed. The search is bounded (tens of variants, well under a millisecond).
//!
//! This module holds the explanation and what is blamed when nothing reproduces the signature;
//! `variants` makes the candidates, `explain` searches them for each scheme.

mod explain;
mod variants;

pub use explain::{explain_cos, explain_v2, explain_v4};

use crate::credentials::KeyStore;
use crate::sig::cos;
use crate::sig::encode::{clip, decoded_text, form_decode, text};
use crate::wire::Request;

/// Cause ids on `signature-mismatch` (stable).
pub mod cause {
    pub const WRONG_SECRET: &str = "wrong-secret";
    pub const HOST_CHANGED: &str = "host-changed";
    pub const HEADER_CHANGED: &str = "header-changed";
    pub const PATH_ENCODING: &str = "path-encoding";
    pub const QUERY_CHANGED: &str = "query-changed";
    pub const SCOPE_MISMATCH: &str = "scope-mismatch";
    pub const UNEXPLAINED: &str = "unexplained";
}

/// What the client most likely signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    pub cause: &'static str,
    /// In words: what differs between what was signed and what arrived.
    pub detail: String,
    /// `- ` lines as the wire implies, `+ ` lines as the client signed.
    pub diff: Vec<String>,
    /// For `wrong-secret`: the access key whose secret reproduces the signature.
    pub matching_key: Option<String>,
    /// How many variants were tried.
    pub tried: usize,
    /// A query parameter the client signed once, repeated with another value after signing.
    pub added_param: Option<AddedParam>,
    /// For `wrong-secret`: "certain" when another key's secret reproduces the signature,
    /// "likely" when nothing does and nothing else points elsewhere.
    pub certainty: Option<&'static str>,
    /// When nothing reproduced the signature: the stages as sigtap computed them from the
    /// request as received (name, text), for the client to compare with its own.
    pub compare: Vec<(&'static str, String)>,
}

/// A second value of a signed query parameter that the signature does not cover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedParam {
    /// The name as it arrived (decoded).
    pub name: String,
    /// The decoded value that was added.
    pub value: String,
    /// The decoded values the client signed.
    pub signed: Vec<String>,
}

/// What the explainer knows besides the request.
pub struct Context<'a> {
    /// Every known key: another key's secret may reproduce the signature.
    pub keys: &'a KeyStore,
    /// In words, what other findings already point at (a time problem, a missing header):
    /// with any, a signature nothing reproduces is not blamed on the secret.
    pub others: &'a [String],
}

/// A small LCS line diff: `- ` lines only in `wire`, `+ ` lines only in `signed`.
pub fn line_diff(wire: &str, signed: &str) -> Vec<String> {
    let a: Vec<&str> = wire.split('\n').collect();
    let b: Vec<&str> = signed.split('\n').collect();
    if a.len() * b.len() > 250_000 {
        return vec!["(texts too long to diff)".into()];
    }
    let mut l = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            l[i][j] = if a[i] == b[j] {
                l[i + 1][j + 1] + 1
            } else {
                l[i + 1][j].max(l[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || l[i][j + 1] >= l[i + 1][j]) {
            out.push(format!("+ {}", b[j]));
            j += 1;
        } else {
            out.push(format!("- {}", a[i]));
            i += 1;
        }
    }
    out
}

fn other_keys<'a>(
    keys: &'a KeyStore,
    access_key: &'a str,
) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    keys.all()
        .iter()
        .filter(move |c| c.access_key != access_key)
        .map(|c| (c.access_key.as_str(), c.secret.expose()))
}

fn wrong_secret_detail(access_key: &str, other: &str, keys: &KeyStore) -> String {
    let label = keys.get(other).map(|c| c.label.as_str()).unwrap_or("");
    format!(
        "the request names key {access_key} but was signed with the secret of key {other}{}",
        if label.is_empty() || label == other {
            String::new()
        } else {
            format!(" ({label})")
        }
    )
}

/// Headers that intermediaries add: their presence says something stood between the client
/// and sigtap and may have changed a signed part.
const INTERMEDIARY_HEADERS: [&str; 4] = ["via", "forwarded", "x-forwarded-", "x-original-"];

/// What on the request itself suggests that something besides the secret changed after signing.
fn request_suspects(req: &Request, signed: &[String], scheme_cos: bool) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in &req.headers {
        let lower = name.to_ascii_lowercase();
        let hit = INTERMEDIARY_HEADERS.iter().any(|h| {
            if h.ends_with('-') {
                lower.starts_with(h)
            } else {
                lower == *h
            }
        });
        if hit {
            out.push(format!(
                "an intermediary handled the request ({name}: {})",
                clip(value)
            ));
        }
    }
    for name in signed {
        let n = req.header_values(name).count();
        if n > 1 {
            out.push(format!("the signed header {name} arrived {n} times"));
        }
    }
    if let Some(q) = &req.query {
        let mut seen: Vec<(String, String)> = Vec::new();
        for piece in q.split('&').filter(|s| !s.is_empty()) {
            let (n, v) = piece.split_once('=').unwrap_or((piece, ""));
            let (n, v) = if scheme_cos {
                (
                    cos::cos_encode(&form_decode(n)).to_ascii_lowercase(),
                    text(&form_decode(v)),
                )
            } else {
                (decoded_text(n).into_owned(), decoded_text(v).into_owned())
            };
            if seen.iter().any(|(sn, sv)| *sn == n && *sv != v)
                && !out.iter().any(|o| o.contains(&format!("parameter {n:?}")))
            {
                out.push(format!(
                    "query parameter {n:?} arrived with different values"
                ));
            }
            seen.push((n, v));
        }
    }
    out
}

/// When no variant reproduced the signature: blame another secret for the key (likely, not
/// certain) unless something on the request or among the other findings (`others`) points at
/// another cause. `compare` are the stages the client should compare with its own.
fn fallback(
    tried: usize,
    access_key: &str,
    mut suspects: Vec<String>,
    others: &[String],
    compare: Vec<(&'static str, String)>,
) -> Explanation {
    suspects.extend(others.iter().cloned());
    let stages = compare
        .iter()
        .map(|(n, _)| n.replace('_', " "))
        .collect::<Vec<_>>()
        .join(" and ");
    let (cause, certainty, detail) = if suspects.is_empty() {
        (
            cause::WRONG_SECRET,
            Some("likely"),
            format!(
                "likely a different secret for key {access_key} (likely, not certain): none of {tried} variants (host, headers, path, query, other known keys, scope) reproduces the signature and nothing suggests the request changed on the way; compare sigtap's {stages} with the client's own: if they are identical, the client's secret for {access_key} is not the one sigtap holds"
            ),
        )
    } else {
        (
            cause::UNEXPLAINED,
            None,
            format!(
                "none of {tried} likely variants (host, headers, path, query, other known keys, scope) reproduces the signature; the secret is not blamed because {}; compare sigtap's {stages} with the client's own",
                suspects.join("; ")
            ),
        )
    };
    Explanation {
        cause,
        detail,
        diff: Vec::new(),
        matching_key: None,
        tried,
        added_param: None,
        certainty,
        compare,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_changed_lines() {
        let d = line_diff("a\nb\nc", "a\nB\nc");
        assert_eq!(d, vec!["+ B".to_string(), "- b".to_string()]);
        assert!(line_diff("x", "x").is_empty());
    }

    #[test]
    fn intermediaries_and_repeats_are_suspects() {
        let req = Request::parse(
            b"GET /k?a=1&b=2&a=3 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\nx-amz-meta-a: 1\r\nx-amz-meta-a: 2\r\n\r\n",
        )
        .unwrap();
        let s = request_suspects(&req, &["host".into(), "x-amz-meta-a".into()], false);
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(s[0].contains("X-Forwarded-For"), "{s:?}");
        assert!(s[1].contains("x-amz-meta-a arrived 2 times"), "{s:?}");
        assert!(s[2].contains("\"a\""), "{s:?}");
        let plain = Request::parse(b"GET /k?a=1&a=1 HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        assert!(request_suspects(&plain, &["host".into()], false).is_empty());
    }
}
