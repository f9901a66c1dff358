//! AWS Signature Version 4: header and presigned carriers, S3 and generic canonicalization,
//! signing key cache, signing plans. Rules: `spec/S3-SIGNATURE.md` sections 1-4 and 7.

pub mod chunked;

use super::crypto::{ct_eq, hmac_sha256, sha256, EMPTY_SHA256};
use super::encode::{decoded_text, hex, percent_decode, reencoded, split_query, uri_encode};
use super::plan::SigningPlan;
use crate::clock::UnixTime;
use crate::sig::encode::clip;
use crate::timefmt::{amz_date, parse_amz_date, parse_http_date};
use crate::wire::Request;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
pub const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// Longest presigned validity S3 accepts (7 days).
pub const MAX_EXPIRES: i64 = 604_800;
/// Header-auth clock allowance of S3 (15 minutes).
pub const MAX_SKEW: i64 = 900;

/// Which canonicalization rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rules {
    /// S3: decode then encode the path once, never normalize; presigned payload is UNSIGNED-PAYLOAD.
    S3,
    /// Every other service: encode the raw path again (double encoding), optionally normalize.
    Generic { normalize: bool },
}

impl Rules {
    /// S3 rules for service `s3`, generic (with normalization) for anything else.
    pub fn for_service(service: &str) -> Rules {
        if service == "s3" {
            Rules::S3
        } else {
            Rules::Generic { normalize: true }
        }
    }
}

/// How the canonical URI is formed from the wire path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathForm {
    /// As the rules say.
    Rules(Rules),
    /// The raw wire path, byte for byte (what a naive client signs; S3 rejects it when it differs).
    Raw,
}

/// The credential scope of a signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub date: String,
    pub region: String,
    pub service: String,
    pub terminator: String,
}

impl Scope {
    pub fn text(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }
}

/// A parsed SigV4 signature from either carrier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V4Auth {
    pub presigned: bool,
    pub access_key: String,
    pub scope: Scope,
    pub signed_headers: Vec<String>,
    pub signature: String,
    /// The request timestamp `T` (basic ISO-8601) used in the string to sign.
    pub amz_date: String,
    pub time: UnixTime,
    /// True when `T` came from a `Date` header because `X-Amz-Date` was absent.
    pub date_from_date_header: bool,
    /// `X-Amz-Expires` of a presigned URL.
    pub expires: Option<i64>,
    /// Session token as sent (header or query).
    pub security_token: Option<String>,
}

fn parse_credential(cred: &str) -> Result<(String, Scope), String> {
    let parts: Vec<&str> = cred.split('/').collect();
    if parts.len() < 5 {
        return Err(format!(
            "Credential {:?} is not <access key>/<YYYYMMDD>/<region>/<service>/aws4_request",
            clip(cred)
        ));
    }
    let n = parts.len();
    let ak = parts[..n - 4].join("/");
    let scope = Scope {
        date: parts[n - 4].to_string(),
        region: parts[n - 3].to_string(),
        service: parts[n - 2].to_string(),
        terminator: parts[n - 1].to_string(),
    };
    if ak.is_empty() {
        return Err("the Credential has an empty access key id".into());
    }
    if scope.date.len() != 8 || !scope.date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "the Credential's date {:?} is not YYYYMMDD",
            clip(&scope.date)
        ));
    }
    if scope.terminator != "aws4_request" {
        return Err(format!(
            "the Credential ends in {:?}, not aws4_request",
            clip(&scope.terminator)
        ));
    }
    if scope.region.is_empty() || scope.service.is_empty() {
        return Err("the Credential has an empty region or service".into());
    }
    Ok((ak, scope))
}

fn parse_signed_headers(s: &str) -> Result<Vec<String>, String> {
    let list: Vec<String> = s
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if list.iter().any(|h| h.is_empty()) {
        return Err(format!("SignedHeaders {:?} has an empty name", clip(s)));
    }
    Ok(list)
}

fn check_signature_text(sig: &str) -> Result<(), String> {
    if sig.len() == 64 && sig.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!(
            "Signature {:?} is not 64 hex characters",
            clip(sig)
        ))
    }
}

/// True when an `Authorization` value claims SigV4 (or a SigV4 variant such as SigV4a).
pub fn looks_like_v4(value: &str) -> bool {
    value.trim_start().starts_with("AWS4-")
}

/// True when the query carries a presigned SigV4 signature.
pub fn has_presigned_params(req: &Request) -> bool {
    req.query.as_deref().is_some_and(|q| {
        split_query(q).iter().any(|p| {
            let n = decoded_text(p.name);
            n == "X-Amz-Signature" || n == "X-Amz-Algorithm" || n == "X-Amz-Credential"
        })
    })
}

/// The request's timestamp for header auth: `X-Amz-Date`, else a `Date` header.
fn header_time(req: &Request) -> Result<(String, UnixTime, bool), String> {
    if let Some(d) = req.header("x-amz-date") {
        let t = parse_amz_date(d.trim()).ok_or_else(|| {
            format!(
                "X-Amz-Date {:?} is not in the ISO 8601 basic format YYYYMMDDTHHMMSSZ",
                clip(d)
            )
        })?;
        return Ok((d.trim().to_string(), t, false));
    }
    if let Some(d) = req.header("date") {
        let t = parse_http_date(d)
            .ok_or_else(|| format!("the Date header {:?} is not an HTTP date", clip(d)))?;
        return Ok((amz_date(t), t, true));
    }
    Err("a SigV4 header-signed request needs an X-Amz-Date (or Date) header".into())
}

/// Parses a SigV4 `Authorization` header.
pub fn parse_header(req: &Request, value: &str) -> Result<V4Auth, String> {
    let v = value.trim();
    let rest = match v.strip_prefix(ALGORITHM) {
        Some(r) if r.starts_with([' ', '\t']) => r,
        _ => {
            let alg = v.split_whitespace().next().unwrap_or("");
            return Err(format!(
                "algorithm {:?} is not supported (only {ALGORITHM}; SigV4a is not)",
                clip(alg)
            ));
        }
    };
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, val) = part.split_once('=').unwrap_or((part, ""));
        match k.trim() {
            "Credential" => cred = Some(val.trim()),
            "SignedHeaders" => signed = Some(val.trim()),
            "Signature" => sig = Some(val.trim()),
            _ => {}
        }
    }
    let (Some(cred), Some(signed), Some(sig)) = (cred, signed, sig) else {
        return Err(
            "the Authorization header requires three components: Credential, SignedHeaders, and Signature"
                .into(),
        );
    };
    let (access_key, scope) = parse_credential(cred)?;
    let signed_headers = parse_signed_headers(signed)?;
    check_signature_text(sig)?;
    let (amz, time, from_date) = header_time(req)?;
    Ok(V4Auth {
        presigned: false,
        access_key,
        scope,
        signed_headers,
        signature: sig.to_ascii_lowercase(),
        amz_date: amz,
        time,
        date_from_date_header: from_date,
        expires: None,
        security_token: req.header("x-amz-security-token").map(str::to_string),
    })
}

/// Decoded query parameters (name, value) in wire order.
pub fn decoded_query(req: &Request) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    req.query
        .as_deref()
        .map(|q| {
            split_query(q)
                .iter()
                .map(|p| (decoded_text(p.name), decoded_text(p.value)))
                .collect()
        })
        .unwrap_or_default()
}

/// Parses the `X-Amz-*` parameters of a presigned URL.
pub fn parse_presigned(req: &Request, rules: Rules) -> Result<V4Auth, String> {
    let q = decoded_query(req);
    let get = |n: &str| q.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_ref());
    let alg = get("X-Amz-Algorithm").unwrap_or("");
    if alg != ALGORITHM {
        return Err(format!(
            "X-Amz-Algorithm is {:?}; only {ALGORITHM} is supported",
            clip(alg)
        ));
    }
    let missing: Vec<&str> = [
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    ]
    .into_iter()
    .filter(|n| get(n).is_none())
    .collect();
    if !missing.is_empty() {
        return Err(format!("the presigned URL lacks {}", missing.join(", ")));
    }
    let (access_key, scope) = parse_credential(get("X-Amz-Credential").unwrap_or(""))?;
    let signed_headers = parse_signed_headers(get("X-Amz-SignedHeaders").unwrap_or(""))?;
    let sig = get("X-Amz-Signature").unwrap_or("");
    check_signature_text(sig)?;
    let d = get("X-Amz-Date").unwrap_or("");
    let time = parse_amz_date(d).ok_or_else(|| {
        format!(
            "X-Amz-Date {:?} must be in the ISO8601 Long Format YYYYMMDDTHHMMSSZ",
            clip(d)
        )
    })?;
    let expires = match get("X-Amz-Expires") {
        Some(e) => {
            let n: i64 = e
                .parse()
                .map_err(|_| format!("X-Amz-Expires {:?} should be a number", clip(e)))?;
            if n < 0 {
                return Err("X-Amz-Expires must be non-negative".into());
            }
            Some(n)
        }
        None if rules == Rules::S3 => {
            return Err("the presigned URL lacks X-Amz-Expires".into());
        }
        None => None,
    };
    Ok(V4Auth {
        presigned: true,
        access_key,
        scope,
        signed_headers,
        signature: sig.to_ascii_lowercase(),
        amz_date: d.to_string(),
        time,
        date_from_date_header: false,
        expires,
        security_token: get("X-Amz-Security-Token").map(str::to_string),
    })
}

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
                Cow::Owned(uri_encode(&super::encode::form_decode(p.name), false)),
                Cow::Owned(uri_encode(&super::encode::form_decode(p.value), false)),
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
    for (i, w) in v.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// The CanonicalHeaders block (each line ends in `\n`) and the listed headers that are absent.
pub fn canonical_headers(req: &Request, signed: &[String]) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut missing = Vec::new();
    for name in signed {
        let mut values: Vec<String> = req.header_values(name).map(trim_all).collect();
        if values.is_empty() {
            match (name.as_str(), req.authority.as_deref()) {
                ("host", Some(a)) => values.push(a.to_ascii_lowercase()),
                _ => missing.push(name.clone()),
            }
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    (out, missing)
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
    let (headers, missing) = canonical_headers(req, signed);
    let text = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        canonical_uri(&req.path, path),
        canonical_query(req.query.as_deref(), presigned, query),
        headers,
        signed.join(";"),
        payload_hash
    );
    CanonicalRequest {
        text,
        missing_headers: missing,
    }
}

/// The string to sign (four lines, no trailing newline).
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&sha256(canonical_request.as_bytes()))
    )
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

/// Signing keys by (secret fingerprint, date, region, service): one derivation per day.
/// The secret itself is never a map key; its SHA-256 is, and only in memory.
#[derive(Default)]
pub struct SigningKeyCache {
    map: Mutex<HashMap<[u8; 32], [u8; 32]>>,
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
        // One digest over length-prefixed parts identifies (secret, date, region, service).
        let mut h = Sha256::new();
        for part in [secret, date, region, service] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        let id: [u8; 32] = h.finalize().into();
        let mut map = match self.map.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(k) = map.get(&id) {
            return *k;
        }
        let k = signing_key(secret, date, region, service);
        if map.len() >= Self::LIMIT {
            map.clear();
        }
        map.insert(id, k);
        k
    }
}

/// The payload line a SigV4 request uses, read from the request.
pub fn payload_hash_for(req: &Request, auth: &V4Auth, rules: Rules) -> Option<String> {
    match (auth.presigned, rules) {
        (true, Rules::S3) => Some(UNSIGNED_PAYLOAD.to_string()),
        (true, Rules::Generic { .. }) => Some(
            req.header("x-amz-content-sha256")
                .map(str::to_string)
                .unwrap_or_else(|| hex(&sha256(&req.body))),
        ),
        (false, Rules::S3) => req
            .header("x-amz-content-sha256")
            .map(|v| v.trim().to_string()),
        (false, Rules::Generic { .. }) => Some(
            req.header("x-amz-content-sha256")
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| hex(&sha256(&req.body))),
        ),
    }
}

/// Result of checking a SigV4 signature with one secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V4Check {
    pub canonical_request: CanonicalRequest,
    pub string_to_sign: String,
    pub expected: String,
    pub matched: bool,
    /// Set when the match needed an alternative reading (e.g. a `+` read as space).
    pub reading_note: Option<String>,
}

/// Builds the canonical stages for a parsed signature (no secret needed).
pub fn stages(
    req: &Request,
    auth: &V4Auth,
    payload_hash: &str,
    path: PathForm,
    query: QueryForm,
) -> (CanonicalRequest, String) {
    let creq = canonical_request(
        req,
        &auth.signed_headers,
        payload_hash,
        auth.presigned,
        path,
        query,
    );
    let sts = string_to_sign(&auth.amz_date, &auth.scope.text(), &creq.text);
    (creq, sts)
}

/// Verifies with the given rules, trying a query `+` read as a space when the query has one.
pub fn verify(
    req: &Request,
    auth: &V4Auth,
    payload_hash: &str,
    rules: Rules,
    key: &[u8; 32],
) -> V4Check {
    let mut forms = vec![(QueryForm::Reencode, None)];
    if req.query.as_deref().is_some_and(|q| q.contains('+')) {
        forms.push((
            QueryForm::ReencodePlusAsSpace,
            Some("a '+' in the query read as a space (form encoding)"),
        ));
    }
    let mut first = None;
    for (form, note) in forms {
        let (creq, sts) = stages(req, auth, payload_hash, PathForm::Rules(rules), form);
        let expected = signature(key, &sts);
        let matched = ct_eq(&expected, &auth.signature);
        let c = V4Check {
            canonical_request: creq,
            string_to_sign: sts,
            expected,
            matched,
            reading_note: note.map(str::to_string),
        };
        if matched {
            return c;
        }
        first.get_or_insert(c);
    }
    first.expect("one form is always tried")
}

/// Headers botocore never signs (they are added or changed after signing by HTTP layers).
pub const UNSIGNABLE_HEADERS: [&str; 16] = [
    "authorization",
    "user-agent",
    "expect",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "x-amzn-trace-id",
    "traceparent",
    "tracestate",
    "baggage",
    "amz-sdk-invocation-id",
    "amz-sdk-request",
    "content-length",
];

/// What botocore would sign of this request's headers (all but the deny list), sorted.
pub fn default_signed_headers(req: &Request) -> Vec<String> {
    let mut v: Vec<String> = req
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .filter(|k| !UNSIGNABLE_HEADERS.contains(&k.as_str()) && !k.starts_with("proxy-"))
        .collect();
    if !v.iter().any(|h| h == "host") {
        v.push("host".into());
    }
    v.sort();
    v.dedup();
    v
}

/// Inputs of a SigV4 signing operation.
#[derive(Clone, Debug)]
pub struct V4SignParams<'a> {
    pub access_key: &'a str,
    pub secret: &'a str,
    pub session_token: Option<&'a str>,
    pub region: &'a str,
    pub service: &'a str,
    pub now: UnixTime,
    pub rules: Rules,
    /// Header names to sign; `None` means botocore's choice.
    pub signed_headers: Option<Vec<String>>,
    /// `Some(seconds)` presigns (query carrier) valid for that long.
    pub presign_expires: Option<i64>,
    /// Payload line for header auth; `None` hashes the body (or keeps the request's
    /// `x-amz-content-sha256` when it names a non-hex mode such as UNSIGNED-PAYLOAD).
    pub payload_hash: Option<String>,
}

/// The plan and the stages of a SigV4 signing.
#[derive(Clone, Debug)]
pub struct V4Signed {
    pub plan: SigningPlan,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
}

/// Names of the presigned parameters a (re-)signer replaces.
pub const QUERY_PARAMS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
];

/// Signs a request with SigV4 (header or presigned); the request is not changed.
pub fn sign(req: &Request, p: &V4SignParams<'_>, cache: &SigningKeyCache) -> V4Signed {
    let date = amz_date(p.now);
    let scope = Scope {
        date: date[..8].to_string(),
        region: p.region.to_string(),
        service: p.service.to_string(),
        terminator: "aws4_request".into(),
    };
    let mut plan = SigningPlan {
        remove_headers: vec!["Authorization".into()],
        remove_params: QUERY_PARAMS.iter().map(|s| s.to_string()).collect(),
        ..SigningPlan::default()
    };
    let mut work = plan.apply(req);

    let payload;
    if let Some(expires) = p.presign_expires {
        work.remove_header("x-amz-date");
        plan.remove_headers.push("X-Amz-Date".into());
        let signed = p
            .signed_headers
            .clone()
            .unwrap_or_else(|| vec!["host".to_string()]);
        let mut signed: Vec<String> = signed.iter().map(|h| h.to_ascii_lowercase()).collect();
        signed.sort();
        signed.dedup();
        let mut extra = vec![
            format!("X-Amz-Algorithm={ALGORITHM}"),
            format!(
                "X-Amz-Credential={}",
                uri_encode(
                    format!("{}/{}", p.access_key, scope.text()).as_bytes(),
                    false
                )
            ),
            format!("X-Amz-Date={date}"),
            format!("X-Amz-Expires={expires}"),
            format!(
                "X-Amz-SignedHeaders={}",
                uri_encode(signed.join(";").as_bytes(), false)
            ),
        ];
        if let Some(t) = p.session_token {
            extra.push(format!(
                "X-Amz-Security-Token={}",
                uri_encode(t.as_bytes(), false)
            ));
        }
        let q = match work.query.take() {
            Some(q) if !q.is_empty() => format!("{q}&{}", extra.join("&")),
            _ => extra.join("&"),
        };
        work.query = Some(q);
        plan.append_query = extra;
        payload = match p.rules {
            Rules::S3 => UNSIGNED_PAYLOAD.to_string(),
            Rules::Generic { .. } => hex(&sha256(&work.body)),
        };
        let creq = canonical_request(
            &work,
            &signed,
            &payload,
            true,
            PathForm::Rules(p.rules),
            QueryForm::Reencode,
        );
        let sts = string_to_sign(&date, &scope.text(), &creq.text);
        let key = cache.get(p.secret, &scope.date, p.region, p.service);
        let sig = signature(&key, &sts);
        plan.append_query.push(format!("X-Amz-Signature={sig}"));
        return V4Signed {
            plan,
            canonical_request: creq.text,
            string_to_sign: sts,
            signature: sig,
        };
    }

    plan.set_headers.push(("X-Amz-Date".into(), date.clone()));
    work.set_header("X-Amz-Date", date.clone());
    payload = match &p.payload_hash {
        Some(h) => h.clone(),
        None => match work.header("x-amz-content-sha256").map(str::trim) {
            Some(v) if !(v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())) => {
                v.to_string()
            }
            _ => hex(&sha256(&work.body)),
        },
    };
    if p.rules == Rules::S3 || work.has_header("x-amz-content-sha256") {
        plan.set_headers
            .push(("x-amz-content-sha256".into(), payload.clone()));
        work.set_header("x-amz-content-sha256", payload.clone());
    }
    if let Some(t) = p.session_token {
        plan.set_headers
            .push(("X-Amz-Security-Token".into(), t.to_string()));
        work.set_header("X-Amz-Security-Token", t);
    }
    let mut signed: Vec<String> = match &p.signed_headers {
        Some(list) => list.iter().map(|h| h.trim().to_ascii_lowercase()).collect(),
        None => default_signed_headers(&work),
    };
    // what the signer itself adds is always covered
    for must in ["host", "x-amz-date"] {
        if !signed.iter().any(|h| h == must) {
            signed.push(must.into());
        }
    }
    if work.has_header("x-amz-content-sha256")
        && !signed.iter().any(|h| h == "x-amz-content-sha256")
    {
        signed.push("x-amz-content-sha256".into());
    }
    if p.session_token.is_some() && !signed.iter().any(|h| h == "x-amz-security-token") {
        signed.push("x-amz-security-token".into());
    }
    signed.retain(|h| !h.is_empty());
    signed.sort();
    signed.dedup();
    let creq = canonical_request(
        &work,
        &signed,
        &payload,
        false,
        PathForm::Rules(p.rules),
        QueryForm::Reencode,
    );
    let sts = string_to_sign(&date, &scope.text(), &creq.text);
    let key = cache.get(p.secret, &scope.date, p.region, p.service);
    let sig = signature(&key, &sts);
    plan.set_headers.push((
        "Authorization".into(),
        format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={sig}",
            p.access_key,
            scope.text(),
            signed.join(";")
        ),
    ));
    V4Signed {
        plan,
        canonical_request: creq.text,
        string_to_sign: sts,
        signature: sig,
    }
}

/// The region an endpoint host names, when it follows a known pattern
/// (`s3.<r>.amazonaws.com`, `<b>.s3.<r>.amazonaws.com`, `s3-<r>.amazonaws.com`,
/// `s3.amazonaws.com` = us-east-1, `cos.<r>.myqcloud.com`).
pub fn endpoint_region(host: &str) -> Option<String> {
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    if host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn") {
        if host == "s3.amazonaws.com" || host.ends_with(".s3.amazonaws.com") {
            return Some("us-east-1".into());
        }
        for (i, l) in labels.iter().enumerate() {
            if let Some(r) = l.strip_prefix("s3-") {
                if r != "accelerate" && r != "external-1" && !r.starts_with("website") {
                    return Some(r.to_string());
                }
            }
            if *l == "s3" || *l == "s3-control" {
                let next = labels.get(i + 1)?;
                if *next == "dualstack" {
                    return labels.get(i + 2).map(|s| s.to_string());
                }
                if *next == "amazonaws" || *next == "accelerate" {
                    return None;
                }
                return Some(next.to_string());
            }
        }
        return None;
    }
    if host.ends_with(".myqcloud.com") || host.ends_with(".tencentcos.cn") {
        for (i, l) in labels.iter().enumerate() {
            if *l == "cos" || *l == "cos-internal" {
                let next = labels.get(i + 1)?;
                if next.contains('-') {
                    return Some(next.to_string());
                }
            }
        }
    }
    None
}

/// The empty-body payload hash, re-exported for callers building requests.
pub const EMPTY_PAYLOAD_HASH: &str = EMPTY_SHA256;

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
    fn header_values_are_trimmed_and_collapsed() {
        let r =
            Request::parse(b"GET / HTTP/1.1\r\nHost: h\r\nX-A:  a   b \r\nx-a: c\r\n\r\n").unwrap();
        let (h, missing) = canonical_headers(&r, &["host".into(), "x-a".into(), "x-b".into()]);
        assert_eq!(h, "host:h\nx-a:a b,c\nx-b:\n");
        assert_eq!(missing, vec!["x-b".to_string()]);
    }

    #[test]
    fn endpoint_regions() {
        assert_eq!(
            endpoint_region("s3.us-east-1.amazonaws.com").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            endpoint_region("b.s3.ap-northeast-1.amazonaws.com").as_deref(),
            Some("ap-northeast-1")
        );
        assert_eq!(
            endpoint_region("b.s3.amazonaws.com").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            endpoint_region("s3-eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            endpoint_region("b.s3.dualstack.eu-west-2.amazonaws.com").as_deref(),
            Some("eu-west-2")
        );
        assert_eq!(
            endpoint_region("b-125.cos.ap-guangzhou.myqcloud.com").as_deref(),
            Some("ap-guangzhou")
        );
        assert_eq!(endpoint_region("127.0.0.1:9000"), None);
        assert_eq!(endpoint_region("minio.local"), None);
    }

    #[test]
    fn malformed_header_values_are_errors() {
        let r = Request::parse(b"GET / HTTP/1.1\r\nX-Amz-Date: 20250101T000000Z\r\n\r\n").unwrap();
        for v in [
            "AWS4-HMAC-SHA256 Credential=a/20250101/r/s3/aws4_request",
            "AWS4-HMAC-SHA256 Credential=a/2025/r/s3/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-ECDSA-P256-SHA256 Credential=x",
            "AWS4-HMAC-SHA256Credential=a",
        ] {
            assert!(parse_header(&r, v).is_err(), "{v}");
        }
    }
}
