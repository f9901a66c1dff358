//! The mismatch explainer: when a signature does not verify, search the likely variants of
//! what the client may have signed and report the one that reproduces the provided signature,
//! with a cause id and a line diff between the canonical text the wire implies and the one the
//! client signed. The search is bounded (tens of variants, well under a millisecond).

use crate::credentials::KeyStore;
use crate::sig::crypto::ct_eq;
use crate::sig::encode::{clip, decoded_text, form_decode, percent_decode, text, uri_encode};
use crate::sig::v4::{self, PathForm, QueryForm, Rules, SigningKeyCache, V4Auth};
use crate::sig::{cos, v2};
use crate::timefmt::{amz_date, http_date, parse_http_date};
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

/// A candidate: a changed copy of the request and what the change means.
struct Variant {
    cause: &'static str,
    detail: String,
    req: Request,
    added_param: Option<AddedParam>,
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
fn request_variants(req: &Request, signed: &[String], scheme_cos: bool) -> Vec<Variant> {
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

/// Explains a SigV4 mismatch.
pub fn explain_v4(
    req: &Request,
    auth: &V4Auth,
    rules: Rules,
    payload: &str,
    secret: &str,
    ctx: &Context<'_>,
    cache: &SigningKeyCache,
) -> Explanation {
    let (keys, others) = (ctx.keys, ctx.others);
    let key = cache.get(
        secret,
        &auth.scope.date,
        &auth.scope.region,
        &auth.scope.service,
    );
    let (wire_creq, _) = v4::stages(
        req,
        auth,
        payload,
        PathForm::Rules(rules),
        QueryForm::Reencode,
    );
    let found = |creq: &str, detail: String, c: &'static str, tried: usize, mk: Option<String>| {
        Explanation {
            cause: c,
            detail,
            diff: line_diff(&wire_creq.text, creq),
            certainty: mk.is_some().then_some("certain"),
            matching_key: mk,
            tried,
            added_param: None,
            compare: Vec::new(),
        }
    };
    let mut tried = 0;
    // another key's secret
    for (ak, sk) in other_keys(keys, &auth.access_key) {
        tried += 1;
        let k = v4::signing_key(
            sk,
            &auth.scope.date,
            &auth.scope.region,
            &auth.scope.service,
        );
        let (c, sts) = v4::stages(
            req,
            auth,
            payload,
            PathForm::Rules(rules),
            QueryForm::Reencode,
        );
        if ct_eq(&v4::signature(&k, &sts), &auth.signature) {
            return found(
                &c.text,
                wrong_secret_detail(&auth.access_key, ak, keys),
                cause::WRONG_SECRET,
                tried,
                Some(ak.to_string()),
            );
        }
    }
    // path and query encodings that need another canonical form rather than another request
    for (path, query, c, detail) in [
        (PathForm::Raw, QueryForm::Reencode, cause::PATH_ENCODING, "the client signed the raw path bytes as sent; S3 decodes and re-encodes the path"),
        (PathForm::Rules(Rules::Generic { normalize: false }), QueryForm::Reencode, cause::PATH_ENCODING, "the client encoded the path twice (the generic SigV4 rule; S3 encodes it once), or an intermediary decoded the path once after signing (%2520 became %20)"),
        (PathForm::Rules(Rules::Generic { normalize: true }), QueryForm::Reencode, cause::PATH_ENCODING, "the client normalized the path ('//', '.', '..') and encoded it twice (the generic SigV4 rules); S3 does neither"),
        (PathForm::Rules(rules), QueryForm::Raw, cause::QUERY_CHANGED, "the client signed the query as sent, without S3's decode and re-encode"),
    ] {
        tried += 1;
        let (creq, sts) = v4::stages(req, auth, payload, path, query);
        if creq.text != wire_creq.text && ct_eq(&v4::signature(&key, &sts), &auth.signature) {
            return found(&creq.text, detail.to_string(), c, tried, None);
        }
    }
    // changed requests
    for v in request_variants(req, &auth.signed_headers, false) {
        tried += 1;
        // a presigned URL whose X-Amz-* parameters changed: read them from the variant
        let reread = (auth.presigned && v.req.query != req.query)
            .then(|| v4::parse_presigned(&v.req, Rules::Generic { normalize: true }).ok())
            .flatten();
        let (a, k) = match &reread {
            Some(a) if a.scope != auth.scope => (
                a,
                v4::signing_key(secret, &a.scope.date, &a.scope.region, &a.scope.service),
            ),
            Some(a) => (a, key),
            None => (auth, key),
        };
        let (creq, sts) = v4::stages(
            &v.req,
            a,
            payload,
            PathForm::Rules(rules),
            QueryForm::Reencode,
        );
        if ct_eq(&v4::signature(&k, &sts), &auth.signature) {
            let mut e = found(&creq.text, v.detail, v.cause, tried, None);
            e.added_param = v.added_param;
            return e;
        }
    }
    // X-Amz-Date re-stamped after signing (the scope date stays)
    if !auth.presigned && !auth.date_from_date_header {
        for back in 1..=60 {
            tried += 1;
            let t = auth.time - back;
            let d = amz_date(t);
            let mut r = req.clone();
            r.set_header("x-amz-date", d.clone());
            let mut a = auth.clone();
            a.amz_date = d.clone();
            let (creq, sts) =
                v4::stages(&r, &a, payload, PathForm::Rules(rules), QueryForm::Reencode);
            if ct_eq(&v4::signature(&key, &sts), &auth.signature) {
                return found(
                    &creq.text,
                    format!("X-Amz-Date was re-stamped {back}s after signing (a retry that did not re-sign): the client signed {d}"),
                    cause::HEADER_CHANGED,
                    tried,
                    None,
                );
            }
        }
    }
    // another scope (region, service or date) than the Credential now says
    let mut regions: Vec<String> = [
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "eu-west-2",
        "eu-central-1",
        "ap-northeast-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-south-1",
        "sa-east-1",
        "ap-guangzhou",
        "ap-shanghai",
        "ap-beijing",
        "ap-chengdu",
        "ap-hongkong",
        "auto",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(r) = req.host().and_then(v4::endpoint_region) {
        regions.insert(0, r);
    }
    let mut scopes: Vec<(v4::Scope, String)> = Vec::new();
    for r in regions.iter().filter(|r| **r != auth.scope.region) {
        let mut s = auth.scope.clone();
        s.region = r.clone();
        scopes.push((
            s,
            format!(
                "the client signed for region {r}; the Credential says {}",
                auth.scope.region
            ),
        ));
    }
    for svc in ["s3", "execute-api", "sts"] {
        if svc != auth.scope.service {
            let mut s = auth.scope.clone();
            s.service = svc.into();
            scopes.push((
                s,
                format!(
                    "the client signed for service {svc}; the Credential says {}",
                    auth.scope.service
                ),
            ));
        }
    }
    if let Some(day) = crate::timefmt::parse_amz_date(&format!("{}T000000Z", auth.scope.date)) {
        for delta in [-86_400, 86_400] {
            let mut s = auth.scope.clone();
            s.date = amz_date(day + delta)[..8].to_string();
            scopes.push((
                s.clone(),
                format!(
                    "the client signed with scope date {}; the Credential says {}",
                    s.date, auth.scope.date
                ),
            ));
        }
    }
    for (scope, detail) in scopes {
        tried += 1;
        let k = v4::signing_key(secret, &scope.date, &scope.region, &scope.service);
        let mut a = auth.clone();
        a.scope = scope;
        let (creq, sts) = v4::stages(
            req,
            &a,
            payload,
            PathForm::Rules(rules),
            QueryForm::Reencode,
        );
        if ct_eq(&v4::signature(&k, &sts), &auth.signature) {
            let mut e = found(&creq.text, detail, cause::SCOPE_MISMATCH, tried, None);
            e.diff = line_diff(
                &v4::stages(
                    req,
                    auth,
                    payload,
                    PathForm::Rules(rules),
                    QueryForm::Reencode,
                )
                .1,
                &sts,
            );
            return e;
        }
    }
    fallback(
        tried,
        &auth.access_key,
        request_suspects(req, &auth.signed_headers, false),
        others,
        vec![("canonical_request", wire_creq.text)],
    )
}

/// Explains a COS mismatch.
pub fn explain_cos(
    req: &Request,
    auth: &cos::CosAuth,
    secret: &str,
    ctx: &Context<'_>,
) -> Explanation {
    let (keys, others) = (ctx.keys, ctx.others);
    let (wire_hs, wire_sts) = cos::stages(req, auth);
    let mut tried = 0;
    let check = |r: &Request, sk: &str| -> Option<String> {
        let hs = cos::http_string(
            r,
            &auth.header_list,
            &auth.param_list,
            cos::ParamReading::AllValues,
        );
        let sts = cos::string_to_sign(&auth.sign_time, &hs.text);
        let sig = cos::signature(&cos::sign_key(sk, &auth.key_time), &sts);
        ct_eq(&sig, &auth.signature).then_some(hs.text)
    };
    for (ak, sk) in other_keys(keys, &auth.access_key) {
        tried += 1;
        if let Some(hs) = check(req, sk) {
            return Explanation {
                cause: cause::WRONG_SECRET,
                detail: wrong_secret_detail(&auth.access_key, ak, keys),
                diff: line_diff(&wire_hs.text, &hs),
                matching_key: Some(ak.to_string()),
                tried,
                added_param: None,
                certainty: Some("certain"),
                compare: Vec::new(),
            };
        }
    }
    for v in request_variants(req, &auth.header_list, true) {
        tried += 1;
        if let Some(hs) = check(&v.req, secret) {
            return Explanation {
                cause: v.cause,
                detail: v.detail,
                diff: line_diff(&wire_hs.text, &hs),
                matching_key: None,
                tried,
                added_param: v.added_param,
                certainty: None,
                compare: Vec::new(),
            };
        }
    }
    fallback(
        tried,
        &auth.access_key,
        request_suspects(req, &auth.header_list, true),
        others,
        vec![("http_string", wire_hs.text), ("string_to_sign", wire_sts)],
    )
}

/// Explains a SigV2 mismatch.
pub fn explain_v2(
    req: &Request,
    auth: &v2::V2Auth,
    secret: &str,
    ctx: &Context<'_>,
) -> Explanation {
    let (keys, others) = (ctx.keys, ctx.others);
    let wire = v2::string_to_sign(
        req,
        auth,
        v2::DateLine::Documented,
        v2::BucketFrom::Endpoint,
    )
    .unwrap_or_default();
    let mut tried = 0;
    for (ak, sk) in other_keys(keys, &auth.access_key) {
        tried += 1;
        let c = v2::verify(req, auth, sk);
        if c.matched {
            return Explanation {
                cause: cause::WRONG_SECRET,
                detail: wrong_secret_detail(&auth.access_key, ak, keys),
                diff: line_diff(&wire, &c.string_to_sign),
                matching_key: Some(ak.to_string()),
                tried,
                added_param: None,
                certainty: Some("certain"),
                compare: Vec::new(),
            };
        }
    }
    let signed: Vec<String> = ["content-md5", "content-type", "date"]
        .iter()
        .map(|s| s.to_string())
        .chain(
            req.headers
                .iter()
                .map(|(k, _)| k.to_ascii_lowercase())
                .filter(|k| k.starts_with("x-amz-")),
        )
        .collect();
    for v in request_variants(req, &signed, false) {
        tried += 1;
        // a presigned URL whose Expires changed: read it from the variant
        let reread = (auth.presigned && v.req.query != req.query)
            .then(|| v2::parse_presigned(&v.req).ok())
            .flatten()
            .map(|a| v2::V2Auth {
                signature: auth.signature.clone(),
                ..a
            });
        let c = v2::verify(&v.req, reread.as_ref().unwrap_or(auth), secret);
        if c.matched {
            return Explanation {
                cause: v.cause,
                detail: v.detail,
                diff: line_diff(&wire, &c.string_to_sign),
                matching_key: None,
                tried,
                added_param: v.added_param,
                certainty: None,
                compare: Vec::new(),
            };
        }
    }
    fallback(
        tried,
        &auth.access_key,
        request_suspects(req, &signed, false),
        others,
        vec![("string_to_sign", wire)],
    )
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

    #[test]
    fn ports_are_split_off() {
        assert_eq!(host_without_port("h:80"), Some("h"));
        assert_eq!(host_without_port("[::1]:9000"), Some("[::1]"));
        assert_eq!(host_without_port("h"), None);
    }
}
