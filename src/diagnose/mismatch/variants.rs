//! The candidates: copies of a request changed the way intermediaries and client bugs change
//! one (host and port, headers, path encoding, query), each with the cause it would mean.

use super::{cause, AddedParam};
use crate::sig::cos;
use crate::sig::encode::{clip, decoded_text, form_decode, percent_decode, text, uri_encode};
use crate::timefmt::{http_date, parse_http_date};
use crate::wire::Request;

/// A candidate: a changed copy of the request and what the change means.
pub(super) struct Variant {
    pub(super) cause: &'static str,
    pub(super) detail: String,
    pub(super) req: Request,
    pub(super) added_param: Option<AddedParam>,
}

fn host_without_port(h: &str) -> Option<&str> {
    if h.starts_with('[') {
        return h.rsplit_once("]:").map(|(a, _)| &h[..a.len() + 1]);
    }
    h.rsplit_once(':')
        .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        .map(|(a, _)| a)
}

/// Variants of the request that intermediaries and client bugs typically produce.
/// `signed` are the header names the signature covers.
pub(super) fn request_variants(req: &Request, signed: &[String], scheme_cos: bool) -> Vec<Variant> {
    let mut out = Vec::new();
    let with = |f: &dyn Fn(&mut Request)| {
        let mut r = req.clone();
        f(&mut r);
        r
    };
    // host
    if let Some(h) = req.header("host").map(str::to_string) {
        let mut hosts: Vec<(String, String)> = Vec::new();
        match host_without_port(&h) {
            Some(bare) => hosts.push((
                bare.to_string(),
                format!("the client signed the Host without its port ({bare}); the request arrived with Host {h}"),
            )),
            None => {
                for port in ["80", "443"] {
                    hosts.push((
                        format!("{h}:{port}"),
                        format!("the client signed Host {h}:{port}; it arrived as {h}"),
                    ));
                }
            }
        }
        for fwd in ["x-forwarded-host", "x-original-host"] {
            if let Some(v) = req.header(fwd) {
                let v = v.split(',').next().unwrap_or(v).trim().to_string();
                if v != h {
                    hosts.push((
                        v.clone(),
                        format!("the client signed Host {v} (the {fwd} header keeps it); an intermediary rewrote it to {h}"),
                    ));
                }
            }
        }
        for (value, detail) in hosts {
            out.push(Variant {
                cause: cause::HOST_CHANGED,
                detail,
                req: with(&|r| r.set_header("Host", value.clone())),
                added_param: None,
            });
        }
    }
    // signed headers changed on the way
    for name in signed {
        if name == "host" {
            continue;
        }
        let values: Vec<String> = req.header_values(name).map(str::to_string).collect();
        if values.len() > 1 {
            for (keep, which) in [(0usize, "first"), (values.len() - 1, "last")] {
                let v = values[keep].clone();
                out.push(Variant {
                    cause: cause::HEADER_CHANGED,
                    detail: format!(
                        "{name} arrived {} times; the client signed only the {which} value ({v:?}): another copy was added after signing",
                        values.len()
                    ),
                    req: with(&|r| {
                        r.remove_header(name);
                        r.headers.push((name.clone(), v.clone()));
                    }),
                    added_param: None,
                });
            }
        }
        let Some(v) = values.first().cloned() else {
            continue;
        };
        if name == "content-type" {
            if let Some((base, params)) = v.split_once(';') {
                let base = base.trim().to_string();
                out.push(Variant {
                    cause: cause::HEADER_CHANGED,
                    detail: format!(
                        "the client signed Content-Type {base:?}; it arrived with ';{params}' added"
                    ),
                    req: with(&|r| r.set_header("content-type", base.clone())),
                    added_param: None,
                });
            }
        }
        if let Some((before, _)) = v.rsplit_once(',') {
            if values.len() == 1 && !name.ends_with("date") {
                let before = before.trim().to_string();
                out.push(Variant {
                    cause: cause::HEADER_CHANGED,
                    detail: format!("{name} was {before:?} when signed; a value was appended after signing ({v:?})"),
                    req: with(&|r| r.set_header(name, before.clone())),
                    added_param: None,
                });
            }
        }
        let collapsed = v.split_whitespace().collect::<Vec<_>>().join(" ");
        if scheme_cos && collapsed != v {
            out.push(Variant {
                cause: cause::HEADER_CHANGED,
                detail: format!("{name}: whitespace inside the value differs from what was signed"),
                req: with(&|r| r.set_header(name, collapsed.clone())),
                added_param: None,
            });
        }
    }
    // a Date re-stamped by a retry after signing (SigV2/COS use Date; SigV4 handled by the caller)
    if signed.iter().any(|h| h == "date") || !scheme_cos {
        if let Some(d) = req.header("date").and_then(parse_http_date) {
            for back in 1..=60 {
                let value = http_date(d - back);
                out.push(Variant {
                    cause: cause::HEADER_CHANGED,
                    detail: format!(
                        "the Date header was re-stamped {back}s after signing (a retry that did not re-sign): the client signed {value:?}"
                    ),
                    req: with(&|r| r.set_header("date", value.clone())),
                    added_param: None,
                });
            }
        }
    }
    // path
    let p = req.path.clone();
    let mut paths: Vec<(String, String)> = Vec::new();
    if p.contains('+') {
        if scheme_cos {
            paths.push((p.replace('+', "%2B"), "the client signed a literal '+' in the path; COS reads a raw '+' as a space (send %2B)".into()));
        } else {
            paths.push((p.replace('+', "%20"), "the client signed spaces (%20) in the path; they arrived as '+', which S3 reads as a literal plus".into()));
        }
    }
    if p.contains("%2F") || p.contains("%2f") {
        paths.push((
            p.replace("%2F", "%252F").replace("%2f", "%252F"),
            "the client signed an encoded slash (%2F) in the key; the service decodes it to '/'"
                .into(),
        ));
    }
    // an intermediary that encoded the path once more (every %XX became %25XX) or decoded it
    let shown = clip(&p);
    if p.contains("%25") {
        let once = p.replace("%25", "%");
        paths.push((
            once.clone(),
            format!("the path was encoded again after signing (each %XX became %25XX): the client signed {}, it arrived as {shown}", clip(&once)),
        ));
        let decoded = text(&percent_decode(&p));
        if decoded != once {
            paths.push((
                decoded.clone(),
                format!("the path was encoded again after signing: the client signed {}, it arrived as {shown}", clip(&decoded)),
            ));
        }
    }
    if p.contains('%') {
        let again = p.replace('%', "%25");
        paths.push((
            again.clone(),
            format!("the path was decoded once after signing (each %25XX became %XX): the client signed {}, it arrived as {shown}", clip(&again)),
        ));
    }
    let reencoded = uri_encode(&percent_decode(&p), true);
    if reencoded != p {
        paths.push((
            reencoded.clone(),
            format!("the path was decoded after signing (escapes such as %28 became the characters themselves): the client signed {}, it arrived as {shown}", clip(&reencoded)),
        ));
    }
    if p.len() > 1 && p.ends_with('/') {
        paths.push((
            p.trim_end_matches('/').to_string(),
            "the client signed the path without its trailing '/'".into(),
        ));
    } else {
        paths.push((
            format!("{p}/"),
            "the client signed the path with a trailing '/' (e.g. /bucket/ for /bucket)".into(),
        ));
    }
    if p.starts_with("//") {
        paths.push((
            p[1..].to_string(),
            "the client signed the path with a single leading '/'".into(),
        ));
    } else {
        paths.push((
            format!("/{p}"),
            "the client signed a key with a leading '/' (//key) but sent /key".into(),
        ));
    }
    for (np, detail) in paths {
        out.push(Variant {
            cause: cause::PATH_ENCODING,
            detail,
            req: with(&|r| r.path = np.clone()),
            added_param: None,
        });
    }
    // query parameters added after signing
    if let Some(q) = &req.query {
        let pieces: Vec<&str> = q.split('&').filter(|s| !s.is_empty()).collect();
        let is_sig = |piece: &str| {
            let n = piece.split('=').next().unwrap_or("");
            n.starts_with("X-Amz-")
                || n.starts_with("q-")
                || matches!(n, "sign" | "AWSAccessKeyId" | "Signature" | "Expires")
        };
        // names and values as the scheme compares them
        let name_of = |piece: &str| {
            let n = piece.split('=').next().unwrap_or("");
            if scheme_cos {
                cos::cos_encode(&form_decode(n)).to_ascii_lowercase()
            } else {
                decoded_text(n).into_owned()
            }
        };
        let value_of = |piece: &str| {
            let v = piece.split_once('=').map_or("", |(_, v)| v);
            if scheme_cos {
                text(&form_decode(v))
            } else {
                decoded_text(v).into_owned()
            }
        };
        let named: Vec<(String, String)> =
            pieces.iter().map(|p| (name_of(p), value_of(p))).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let (name, value) = &named[i];
            if matches!(
                name.as_str(),
                "X-Amz-Signature" | "Signature" | "q-signature" | "sign"
            ) {
                continue;
            }
            let mut signed: Vec<String> = named
                .iter()
                .enumerate()
                .filter(|(j, (n, _))| *j != i && n == name)
                .map(|(_, (_, v))| v.clone())
                .collect();
            let mut seen = std::collections::BTreeSet::new();
            signed.retain(|v| seen.insert(v.clone()));
            let repeated = signed.iter().any(|v| v != value);
            if is_sig(piece) && !repeated {
                continue;
            }
            let rest: Vec<&str> = pieces
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, s)| *s)
                .collect();
            let (detail, added_param) = if repeated {
                let shown = decoded_text(piece.split('=').next().unwrap_or("")).into_owned();
                (
                    format!(
                        "query parameter {shown:?} arrived {} times with different values; the client signed {}, and {piece} was added after signing",
                        signed.len() + 1,
                        signed
                            .iter()
                            .map(|v| format!("{shown}={v}"))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                    Some(AddedParam {
                        name: shown,
                        value: value.clone(),
                        signed,
                    }),
                )
            } else {
                let shown = piece.split('=').next().unwrap_or("");
                (
                    format!("query parameter {shown:?} was added after signing ({piece})"),
                    None,
                )
            };
            out.push(Variant {
                cause: cause::QUERY_CHANGED,
                detail,
                req: with(&|r| {
                    r.query = if rest.is_empty() {
                        None
                    } else {
                        Some(rest.join("&"))
                    }
                }),
                added_param,
            });
        }
        let sig_only: Vec<&str> = pieces.iter().copied().filter(|s| is_sig(s)).collect();
        if sig_only.len() + 1 < pieces.len() {
            out.push(Variant {
                cause: cause::QUERY_CHANGED,
                detail: "the client signed none of the request's own query parameters; they were added after signing".into(),
                req: with(&|r| r.query = if sig_only.is_empty() { None } else { Some(sig_only.join("&")) }),
                added_param: None,
            });
        }
        if scheme_cos && q.contains('+') {
            out.push(Variant {
                cause: cause::QUERY_CHANGED,
                detail: "the client signed '+' in a parameter value as a plus; form decoding reads it as a space".into(),
                req: with(&|r| r.query = Some(q.replace('+', "%2B"))),
                added_param: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_split_off() {
        assert_eq!(host_without_port("h:80"), Some("h"));
        assert_eq!(host_without_port("[::1]:9000"), Some("[::1]"));
        assert_eq!(host_without_port("h"), None);
    }
}
