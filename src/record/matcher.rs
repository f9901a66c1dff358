//! Matching a live request to a recorded exchange (the mock serving a recording).
//!
//! A request matches on method, path, the query without signature parameters, the payload's
//! SHA-256 and a few headers (`Range`, `Content-Type`, `If-*`, plus `--match-header`). Never on
//! Host, User-Agent, SDK headers, Authorization, dates, signature parameters or tokens: those
//! change every run. Several matches are served in recorded order.

use super::read::{first_chars, BodySource, Exchange, Recording};
use crate::sig::encode::{decoded_text, split_query};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Query parameters that carry signatures, credentials or tokens (compared lower-case).
fn is_signature_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("x-amz-")
        || n.starts_with("q-")
        || crate::redact::record::is_secret_param(&n)
        || matches!(n.as_str(), "awsaccesskeyid" | "expires")
}

/// Headers matched by default, besides every `If-*`.
const DEFAULT_HEADERS: &[&str] = &["range", "content-type"];

/// What a request is matched on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub method: String,
    pub path: String,
    /// Decoded `name=value` pairs, sorted, signature parameters left out.
    pub query: Vec<(String, String)>,
    /// SHA-256 of the payload (an aws-chunked body's decoded data); `None`: not known.
    pub body: Option<String>,
    pub headers: BTreeMap<String, String>,
}

/// The payload hash of a body: aws-chunked framing is removed first, because its chunk
/// signatures change every time the request is signed.
pub fn payload_sha256(headers: &[(String, String)], body: &[u8]) -> String {
    let streaming = Exchange::header(headers, "x-amz-content-sha256")
        .is_some_and(|v| v.trim().starts_with("STREAMING-"));
    let mut h = Sha256::new();
    if streaming {
        let mut d = crate::sig::v4::chunked::Decoder::new();
        let ok = d
            .feed(body, &mut |e| {
                if let crate::sig::v4::chunked::Event::Data(b) = e {
                    h.update(b);
                }
            })
            .is_ok();
        if ok {
            return crate::sig::encode::hex(&h.finalize());
        }
        h = Sha256::new();
    }
    h.update(body);
    crate::sig::encode::hex(&h.finalize())
}

impl Key {
    pub fn new(
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: Option<String>,
        extra_headers: &[String],
    ) -> Key {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut q: Vec<(String, String)> = split_query(query)
            .iter()
            .filter(|p| !p.name.is_empty())
            .map(|p| {
                (
                    decoded_text(p.name).into_owned(),
                    crate::sig::encode::text(&crate::sig::encode::form_decode(p.value)),
                )
            })
            .filter(|(n, _)| !is_signature_param(n))
            .collect();
        q.sort();
        let mut hs = BTreeMap::new();
        for (k, v) in headers {
            let n = k.to_ascii_lowercase();
            if n.starts_with("if-")
                || DEFAULT_HEADERS.contains(&n.as_str())
                || extra_headers.contains(&n)
            {
                hs.insert(n, v.trim().to_string());
            }
        }
        Key {
            method: method.to_ascii_uppercase(),
            path: decoded_text(path).into_owned(),
            query: q,
            body,
            headers: hs,
        }
    }

    /// The fields in which `self` (live) differs from `rec` (recorded), in words.
    pub fn differences(&self, rec: &Key) -> Vec<String> {
        let mut d = Vec::new();
        if self.method != rec.method {
            d.push(format!("method {} vs recorded {}", self.method, rec.method));
        }
        if self.path != rec.path {
            d.push(format!("path {:?} vs recorded {:?}", self.path, rec.path));
        }
        if self.query != rec.query {
            let show = |q: &[(String, String)]| {
                q.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&")
            };
            d.push(format!(
                "query {:?} vs recorded {:?}",
                show(&self.query),
                show(&rec.query)
            ));
        }
        if let (Some(a), Some(b)) = (&self.body, &rec.body) {
            if a != b {
                d.push(format!(
                    "body sha256 {}… vs recorded {}…",
                    first_chars(a, 12),
                    first_chars(b, 12)
                ));
            }
        }
        let names: std::collections::BTreeSet<&String> =
            self.headers.keys().chain(rec.headers.keys()).collect();
        for n in names {
            let (a, b) = (self.headers.get(n), rec.headers.get(n));
            if a != b {
                d.push(format!(
                    "header {n} {} vs recorded {}",
                    a.map(|v| format!("{v:?}"))
                        .unwrap_or_else(|| "absent".into()),
                    b.map(|v| format!("{v:?}"))
                        .unwrap_or_else(|| "absent".into())
                ));
            }
        }
        d
    }

    /// How far apart two keys are, for "closest": a different method or path weighs most.
    fn distance(&self, rec: &Key) -> usize {
        let mut n = 0;
        if self.method != rec.method {
            n += 100;
        }
        if self.path != rec.path {
            n += 50 + common_suffix_gap(&self.path, &rec.path);
        }
        n + self.differences(rec).len()
    }
}

fn common_suffix_gap(a: &str, b: &str) -> usize {
    let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    a.len().max(b.len()) - common
}

/// The result of matching one request.
pub enum Match<'a> {
    Found {
        exchange: &'a Exchange,
        /// True when every exchange with this key was already served and the last one repeats.
        repeated: bool,
    },
    NotFound {
        /// The closest recorded exchange and what differs.
        closest: Option<(&'a Exchange, Vec<String>)>,
    },
}

/// The recorded exchanges a mock serves, with the served counts.
pub struct Matcher {
    pub recording: Recording,
    keys: Vec<Key>,
    /// Exchanges by method and path, in recorded order (the lookup; the rest is compared).
    index: std::collections::HashMap<(String, String), Vec<usize>>,
    extra_headers: Vec<String>,
    served: Mutex<Vec<u32>>,
}

impl Matcher {
    /// Indexes a recording. Exchanges sigtap answered itself (a bad signature the proxy
    /// rejected) are left out: the mock checks signatures on its own.
    pub fn new(mut recording: Recording, extra_headers: &[String]) -> Result<Matcher, String> {
        let extra: Vec<String> = extra_headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        recording.exchanges.retain(|x| !x.answered_locally());
        let mut keys = Vec::with_capacity(recording.exchanges.len());
        for x in &recording.exchanges {
            let r = &x.request;
            let source = r
                .body
                .source(&recording.base)
                .map_err(|e| format!("line {}: request.body: {e}", x.line))?;
            let body = match source {
                _ if r.body.redacted => None,
                BodySource::Inline(b) => Some(payload_sha256(&r.headers, &b)),
                BodySource::File(_) => match r.body.load(&recording.base) {
                    Ok(b) => Some(payload_sha256(&r.headers, &b.unwrap_or_default())),
                    Err(e) => return Err(format!("line {}: request.body: {e}", x.line)),
                },
                BodySource::Missing => {
                    let streaming = Exchange::header(&r.headers, "x-amz-content-sha256")
                        .is_some_and(|v| v.starts_with("STREAMING-"));
                    if streaming {
                        None
                    } else {
                        r.body.sha256.as_deref().map(str::to_ascii_lowercase)
                    }
                }
            };
            keys.push(Key::new(&r.method, &r.target, &r.headers, body, &extra));
        }
        let served = Mutex::new(vec![0; keys.len()]);
        let mut index: std::collections::HashMap<(String, String), Vec<usize>> =
            std::collections::HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            index
                .entry((k.method.clone(), k.path.clone()))
                .or_default()
                .push(i);
        }
        Ok(Matcher {
            recording,
            keys,
            index,
            extra_headers: extra,
            served,
        })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key of a live request.
    pub fn key(
        &self,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Key {
        Key::new(
            method,
            target,
            headers,
            Some(payload_sha256(headers, body)),
            &self.extra_headers,
        )
    }

    /// Finds the exchange for `key`: the first one not yet served, else the last one again.
    pub fn find(&self, key: &Key) -> Match<'_> {
        let same = |rec: &Key| {
            rec.method == key.method
                && rec.path == key.path
                && rec.query == key.query
                && rec.headers == key.headers
                && (rec.body.is_none() || rec.body == key.body)
        };
        let hits: Vec<usize> = self
            .index
            .get(&(key.method.clone(), key.path.clone()))
            .map(|v| v.iter().copied().filter(|&i| same(&self.keys[i])).collect())
            .unwrap_or_default();
        if let Some(&last) = hits.last() {
            let mut served = self.served.lock().unwrap_or_else(|e| e.into_inner());
            let (i, repeated) = match hits.iter().find(|&&i| served[i] == 0) {
                Some(&i) => (i, false),
                None => (last, true),
            };
            served[i] += 1;
            return Match::Found {
                exchange: &self.recording.exchanges[i],
                repeated,
            };
        }
        let closest = (0..self.keys.len())
            .min_by_key(|&i| key.distance(&self.keys[i]))
            .map(|i| (&self.recording.exchanges[i], key.differences(&self.keys[i])));
        Match::NotFound { closest }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn signature_material_is_ignored_and_the_rest_compared() {
        let a = Key::new(
            "GET",
            "/b/k?X-Amz-Signature=aa&X-Amz-Date=1&response-content-type=text%2Fplain",
            &h(&[("Host", "x"), ("User-Agent", "a"), ("Range", "bytes=0-1")]),
            None,
            &[],
        );
        let b = Key::new(
            "GET",
            "/b/k?response-content-type=text/plain&q-sign-time=1&X-Amz-Signature=bb",
            &h(&[
                ("Host", "y"),
                ("range", "bytes=0-1"),
                ("Authorization", "z"),
            ]),
            None,
            &[],
        );
        assert_eq!(a, b);
        let c = Key::new("GET", "/b/k", &h(&[("Range", "bytes=0-2")]), None, &[]);
        let d = c.differences(&a);
        assert!(d.iter().any(|x| x.starts_with("query")), "{d:?}");
        assert!(d.iter().any(|x| x.starts_with("header range")), "{d:?}");
    }

    #[test]
    fn recorded_hashes_are_shown_by_characters_not_bytes() {
        let live = Key::new("GET", "/k", &[], Some("a".repeat(64)), &[]);
        let rec = Key::new("GET", "/k", &[], Some(format!("x{}", "é".repeat(40))), &[]);
        let d = live.differences(&rec);
        assert_eq!(d[0], "body sha256 aaaaaaaaaaaa… vs recorded xééééééééééé…");
    }

    #[test]
    fn aws_chunked_bodies_match_on_their_data() {
        let mut chain = None;
        let framed = [
            crate::sig::v4::chunked::encode_chunk(chain.as_mut(), b"hello"),
            crate::sig::v4::chunked::encode_final(chain.as_mut(), &[]),
        ]
        .concat();
        let hs = h(&[("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")]);
        assert_eq!(payload_sha256(&hs, &framed), payload_sha256(&[], b"hello"));
    }
}
