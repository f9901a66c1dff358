//! Signing anew: which headers botocore signs, the signing parameters and the plan a SigV4
//! signature (header or presigned) sets on a request, and the region an endpoint names.

use super::canonical::{canonical_request, signature, string_to_sign, QueryForm, SigningKeyCache};
use super::{PathForm, Rules, Scope, ALGORITHM, UNSIGNED_PAYLOAD};
use crate::clock::UnixTime;
use crate::sig::crypto::sha256;
use crate::sig::encode::{hex, uri_encode};
use crate::sig::plan::SigningPlan;
use crate::timefmt::amz_date;
use crate::wire::Request;

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
    let mut work = req.clone();
    sign_in_place(&mut work, p, cache)
}

/// Signs `work` itself: on return it is the signed request, the same as the returned plan
/// applied to the request as it was (the re-signer uses this to avoid copying the request).
pub fn sign_in_place(
    work: &mut Request,
    p: &V4SignParams<'_>,
    cache: &SigningKeyCache,
) -> V4Signed {
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
    plan.apply_to(work);

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
            work,
            &signed,
            &payload,
            true,
            PathForm::Rules(p.rules),
            QueryForm::Reencode,
        );
        let sts = string_to_sign(&date, &scope.text(), &creq.text);
        let key = cache.get(p.secret, &scope.date, p.region, p.service);
        let sig = signature(&key, &sts);
        let last = format!("X-Amz-Signature={sig}");
        if let Some(q) = work.query.as_mut() {
            q.push('&');
            q.push_str(&last);
        }
        plan.append_query.push(last);
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
        None => default_signed_headers(work),
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
        work,
        &signed,
        &payload,
        false,
        PathForm::Rules(p.rules),
        QueryForm::Reencode,
    );
    let sts = string_to_sign(&date, &scope.text(), &creq.text);
    let key = cache.get(p.secret, &scope.date, p.region, p.service);
    let sig = signature(&key, &sts);
    let authorization = format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={sig}",
        p.access_key,
        scope.text(),
        signed.join(";")
    );
    work.set_header("Authorization", authorization.as_str());
    plan.set_headers
        .push(("Authorization".into(), authorization));
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
