//! Reading a SigV4 signature from its carrier: the `Authorization` header or the presigned
//! query (`X-Amz-*`), with its credential scope, signed headers and time.

use super::{Rules, ALGORITHM};
use crate::clock::UnixTime;
use crate::sig::encode::{clip, decoded_text, split_query};
use crate::timefmt::{amz_date, parse_amz_date, parse_http_date};
use crate::wire::Request;
use std::borrow::Cow;

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

#[cfg(test)]
mod tests {
    use super::*;

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
