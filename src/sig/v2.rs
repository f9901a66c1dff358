//! AWS Signature Version 2 (legacy S3): header (`AWS AK:sig`) and query
//! (`AWSAccessKeyId`/`Expires`/`Signature`) carriers. Rules: `spec/S3-SIGNATURE.md` section 6.

use super::crypto::{ct_eq, hmac_sha1};
use super::encode::{percent_decode, split_query, text, uri_encode};
use super::plan::SigningPlan;
use crate::clock::UnixTime;
use crate::sig::encode::clip;
use crate::timefmt::{http_date, parse_http_date};
use crate::wire::Request;
use base64::Engine;

/// Query parameters that belong to the canonicalized resource (botocore's list).
pub const SUB_RESOURCES: [&str; 35] = [
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// A parsed SigV2 signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Auth {
    pub presigned: bool,
    pub access_key: String,
    /// Base64 signature as sent (decoded from the query for presigned URLs).
    pub signature: String,
    /// Presigned: the `Expires` value (also the Date line).
    pub expires: Option<UnixTime>,
    pub expires_text: Option<String>,
}

/// True when an `Authorization` value claims SigV2.
pub fn looks_like_v2(value: &str) -> bool {
    value.trim_start().starts_with("AWS ")
}

/// True when the query carries a presigned SigV2 signature.
pub fn has_presigned_params(req: &Request) -> bool {
    req.query.as_deref().is_some_and(|q| {
        let names: Vec<String> = split_query(q)
            .iter()
            .map(|p| text(&percent_decode(p.name)))
            .collect();
        names.iter().any(|n| n == "AWSAccessKeyId") && names.iter().any(|n| n == "Signature")
    })
}

fn valid_b64_sig(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

/// Parses `Authorization: AWS AK:signature`.
pub fn parse_header(value: &str) -> Result<V2Auth, String> {
    let rest = value
        .trim()
        .strip_prefix("AWS ")
        .ok_or("a SigV2 Authorization value starts with `AWS `")?;
    let (ak, sig) = rest
        .trim()
        .rsplit_once(':')
        .ok_or("a SigV2 Authorization value is `AWS <AccessKeyId>:<Signature>`")?;
    if ak.is_empty() {
        return Err("the SigV2 Authorization value has an empty access key id".into());
    }
    if !valid_b64_sig(sig) {
        return Err(format!(
            "the SigV2 signature {:?} is not base64 of an HMAC-SHA1",
            clip(sig)
        ));
    }
    Ok(V2Auth {
        presigned: false,
        access_key: ak.to_string(),
        signature: sig.to_string(),
        expires: None,
        expires_text: None,
    })
}

/// Parses the query form.
pub fn parse_presigned(req: &Request) -> Result<V2Auth, String> {
    let q: Vec<(String, String)> = split_query(req.query.as_deref().unwrap_or(""))
        .iter()
        .map(|p| {
            (
                text(&percent_decode(p.name)),
                text(&percent_decode(p.value)),
            )
        })
        .collect();
    let get = |n: &str| q.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let ak = get("AWSAccessKeyId").unwrap_or_default();
    let sig = get("Signature").unwrap_or_default();
    let exp = get("Expires").ok_or("a SigV2 presigned URL needs Expires")?;
    let expires: UnixTime = exp
        .trim()
        .parse()
        .map_err(|_| format!("Expires {:?} is not seconds since the epoch", clip(&exp)))?;
    if ak.is_empty() {
        return Err("AWSAccessKeyId is empty".into());
    }
    if !valid_b64_sig(&sig) {
        return Err(format!(
            "the SigV2 signature {:?} is not base64 of an HMAC-SHA1",
            clip(&sig)
        ));
    }
    Ok(V2Auth {
        presigned: true,
        access_key: ak,
        signature: sig,
        expires: Some(expires),
        expires_text: Some(exp),
    })
}

/// Which reading of the Date line (botocore and the S3 guide disagree when `x-amz-date` is set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateLine {
    /// S3 guide: with `x-amz-date` present the Date line is empty.
    Documented,
    /// botocore: the `Date` header value, whatever `x-amz-date` says.
    Botocore,
}

impl DateLine {
    pub fn describe(self) -> &'static str {
        match self {
            DateLine::Documented => "documented Date line (empty because x-amz-date is present)",
            DateLine::Botocore => {
                "botocore Date line (the Date header although x-amz-date is present)"
            }
        }
    }
}

/// How the bucket of a virtual-hosted request is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BucketFrom {
    /// Known S3/COS virtual-host patterns only; other hosts are path-style.
    Endpoint,
    /// The whole host is the bucket (CNAME).
    Cname,
    /// Path-style, the path exactly as sent: a bucket-level `/bucket` without the trailing `/`
    /// botocore adds (aws-sdk-go v1 and so rclone sign it this way).
    PathAsSent,
}

/// The bucket named by a virtual-hosted `Host` (`b.s3.amazonaws.com`, `b.s3.<r>.amazonaws.com`,
/// `b.s3-<r>.amazonaws.com`, `b-appid.cos.<r>.myqcloud.com`).
pub fn virtual_host_bucket(host: &str) -> Option<String> {
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    if let Some(i) = host.find(".s3.").or_else(|| host.find(".s3-")) {
        if host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn") {
            return Some(host[..i].to_string());
        }
    }
    if host.ends_with(".myqcloud.com") {
        if let Some(i) = host.find(".cos.") {
            return Some(host[..i].to_string());
        }
    }
    None
}

fn is_ip_or_local(host: &str) -> bool {
    let h = host.split(':').next().unwrap_or(host);
    h == "localhost" || h.parse::<std::net::Ipv4Addr>().is_ok() || host.starts_with('[')
}

/// The CanonicalizedResource.
pub fn canonical_resource(req: &Request, bucket_from: BucketFrom) -> String {
    let host = req.host().unwrap_or("");
    let bucket = match bucket_from {
        BucketFrom::Endpoint => virtual_host_bucket(host),
        BucketFrom::Cname if !is_ip_or_local(host) && !host.is_empty() => {
            Some(host.split(':').next().unwrap_or(host).to_ascii_lowercase())
        }
        BucketFrom::Cname | BucketFrom::PathAsSent => None,
    };
    let path = if req.path.is_empty() {
        "/"
    } else {
        req.path.as_str()
    };
    let mut res = String::new();
    match &bucket {
        Some(b) => {
            res.push('/');
            res.push_str(b);
            res.push_str(path);
        }
        None => {
            res.push_str(path);
            // a path-style bucket-level request signs `/bucket/` (botocore)
            if bucket_from != BucketFrom::PathAsSent
                && path.len() > 1
                && path.matches('/').count() == 1
            {
                res.push('/');
            }
        }
    }
    let mut subs: Vec<(String, Option<String>)> = Vec::new();
    if let Some(q) = &req.query {
        for p in split_query(q) {
            let name = text(&percent_decode(p.name));
            if SUB_RESOURCES.contains(&name.as_str()) {
                let v = p.has_eq.then(|| text(&percent_decode(p.value)));
                subs.push((name, v));
            }
        }
    }
    if !subs.is_empty() {
        subs.sort_by(|a, b| a.0.cmp(&b.0));
        res.push('?');
        let parts: Vec<String> = subs
            .into_iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k,
            })
            .collect();
        res.push_str(&parts.join("&"));
    }
    res
}

/// CanonicalizedAmzHeaders: `x-amz-*` headers (and, presigned, `x-amz-*` query parameters).
pub fn canonical_amz_headers(req: &Request, presigned: bool) -> String {
    let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in &req.headers {
        let k = k.to_ascii_lowercase();
        if k.starts_with("x-amz-") {
            map.entry(k).or_default().push(v.trim().to_string());
        }
    }
    if presigned {
        if let Some(q) = &req.query {
            for p in split_query(q) {
                let k = text(&percent_decode(p.name)).to_ascii_lowercase();
                if k.starts_with("x-amz-") {
                    map.entry(k)
                        .or_default()
                        .push(text(&percent_decode(p.value)).trim().to_string());
                }
            }
        }
    }
    map.iter()
        .map(|(k, v)| format!("{k}:{}\n", v.join(",")))
        .collect()
}

/// The string to sign, or `None` when the Date line reading does not apply.
pub fn string_to_sign(
    req: &Request,
    auth: &V2Auth,
    date_line: DateLine,
    bucket_from: BucketFrom,
) -> Option<String> {
    let date = if auth.presigned {
        auth.expires_text.clone().unwrap_or_default()
    } else {
        let amz = req.has_header("x-amz-date");
        match (date_line, amz) {
            (DateLine::Documented, true) => String::new(),
            (DateLine::Botocore, false) => return None, // same as Documented
            (_, _) => req.header("date").unwrap_or("").trim().to_string(),
        }
    };
    let md5 = req.header("content-md5").unwrap_or("").trim();
    let ctype = req.header("content-type").unwrap_or("").trim();
    Some(format!(
        "{}\n{md5}\n{ctype}\n{date}\n{}{}",
        req.method,
        canonical_amz_headers(req, auth.presigned),
        canonical_resource(req, bucket_from)
    ))
}

/// Base64 HMAC-SHA1 of the string to sign.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha1(secret.as_bytes(), string_to_sign.as_bytes()))
}

/// The outcome of checking a SigV2 signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Check {
    pub string_to_sign: String,
    pub expected: String,
    pub matched: bool,
    /// Which reading matched (or, when none did, the first one tried).
    pub date_line: DateLine,
    pub bucket_from: BucketFrom,
}

/// Tries the documented reading first, then botocore's Date line, then a CNAME bucket.
pub fn verify(req: &Request, auth: &V2Auth, secret: &str) -> V2Check {
    let mut first = None;
    for bucket_from in [
        BucketFrom::Endpoint,
        BucketFrom::Cname,
        BucketFrom::PathAsSent,
    ] {
        for date_line in [DateLine::Documented, DateLine::Botocore] {
            let Some(sts) = string_to_sign(req, auth, date_line, bucket_from) else {
                continue;
            };
            let expected = signature(secret, &sts);
            let matched = ct_eq(&expected, &auth.signature);
            let c = V2Check {
                string_to_sign: sts,
                expected,
                matched,
                date_line,
                bucket_from,
            };
            if matched {
                return c;
            }
            first.get_or_insert(c);
        }
    }
    first.expect("the documented reading always applies")
}

/// The time a header-signed SigV2 request carries (`x-amz-date` wins over `Date`).
pub fn request_time(req: &Request) -> Result<UnixTime, String> {
    let (name, v) = match (req.header("x-amz-date"), req.header("date")) {
        (Some(v), _) => ("x-amz-date", v),
        (None, Some(v)) => ("Date", v),
        (None, None) => {
            return Err("AWS authentication requires a valid Date or x-amz-date header".into())
        }
    };
    parse_http_date(v)
        .or_else(|| crate::timefmt::parse_amz_date(v.trim()))
        .ok_or_else(|| format!("the {name} header {:?} is not an HTTP date", clip(v)))
}

/// Inputs of a SigV2 signing.
#[derive(Clone, Debug)]
pub struct V2SignParams<'a> {
    pub access_key: &'a str,
    pub secret: &'a str,
    pub session_token: Option<&'a str>,
    pub now: UnixTime,
    /// `Some(seconds)` presigns with `Expires = now + seconds`.
    pub presign_expires: Option<i64>,
}

/// The plan and stages of a SigV2 signing.
#[derive(Clone, Debug)]
pub struct V2Signed {
    pub plan: SigningPlan,
    pub string_to_sign: String,
    pub signature: String,
}

/// Signs with SigV2 (documented Date line); the request is not changed.
pub fn sign(req: &Request, p: &V2SignParams<'_>) -> V2Signed {
    sign_with(req, p, BucketFrom::Endpoint)
}

/// Signs with SigV2 using a given resource reading (e.g. the one the client's signature used,
/// so that a server that reads the resource the same way accepts it).
pub fn sign_with(req: &Request, p: &V2SignParams<'_>, bucket_from: BucketFrom) -> V2Signed {
    let mut plan = SigningPlan {
        remove_headers: vec!["Authorization".into()],
        remove_params: vec![
            "AWSAccessKeyId".into(),
            "Expires".into(),
            "Signature".into(),
        ],
        ..SigningPlan::default()
    };
    let mut work = plan.apply(req);
    if let Some(secs) = p.presign_expires {
        let expires = p.now.saturating_add(secs);
        let mut extra = vec![
            format!(
                "AWSAccessKeyId={}",
                uri_encode(p.access_key.as_bytes(), false)
            ),
            format!("Expires={expires}"),
        ];
        if let Some(t) = p.session_token {
            extra.push(format!(
                "x-amz-security-token={}",
                uri_encode(t.as_bytes(), false)
            ));
        }
        let q = match work.query.take() {
            Some(q) if !q.is_empty() => format!("{q}&{}", extra.join("&")),
            _ => extra.join("&"),
        };
        work.query = Some(q);
        let auth = V2Auth {
            presigned: true,
            access_key: p.access_key.into(),
            signature: String::new(),
            expires: Some(expires),
            expires_text: Some(expires.to_string()),
        };
        let sts =
            string_to_sign(&work, &auth, DateLine::Documented, bucket_from).unwrap_or_default();
        let sig = signature(p.secret, &sts);
        extra.push(format!("Signature={}", uri_encode(sig.as_bytes(), false)));
        plan.append_query = extra;
        return V2Signed {
            plan,
            string_to_sign: sts,
            signature: sig,
        };
    }
    if !work.has_header("x-amz-date") {
        let d = http_date(p.now);
        plan.set_headers.push(("Date".into(), d.clone()));
        work.set_header("Date", d);
    } else {
        let d = http_date(p.now);
        plan.set_headers.push(("x-amz-date".into(), d.clone()));
        work.set_header("x-amz-date", d);
    }
    if let Some(t) = p.session_token {
        plan.set_headers
            .push(("x-amz-security-token".into(), t.to_string()));
        work.set_header("x-amz-security-token", t);
    }
    let auth = V2Auth {
        presigned: false,
        access_key: p.access_key.into(),
        signature: String::new(),
        expires: None,
        expires_text: None,
    };
    let sts = string_to_sign(&work, &auth, DateLine::Documented, bucket_from).unwrap_or_default();
    let sig = signature(p.secret, &sts);
    plan.set_headers.push((
        "Authorization".into(),
        format!("AWS {}:{sig}", p.access_key),
    ));
    V2Signed {
        plan,
        string_to_sign: sts,
        signature: sig,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_guide_get_object_example() {
        // The S3 developer guide's "Object GET" example.
        let req = Request::parse(
            b"GET /photos/puppy.jpg HTTP/1.1\r\nHost: awsexamplebucket1.us-west-1.s3.amazonaws.com\r\nDate: Tue, 27 Mar 2007 19:36:42 +0000\r\n\r\n",
        )
        .unwrap();
        let auth = V2Auth {
            presigned: false,
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            signature: String::new(),
            expires: None,
            expires_text: None,
        };
        let sts = string_to_sign(&req, &auth, DateLine::Documented, BucketFrom::Cname).unwrap();
        assert_eq!(
            sts,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1.us-west-1.s3.amazonaws.com/photos/puppy.jpg"
        );
    }

    #[test]
    fn resource_rules() {
        let r = Request::parse(
            b"GET /bucket?acl&versionId=a%2Bb&prefix=x HTTP/1.1\r\nHost: s3.amazonaws.com\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            canonical_resource(&r, BucketFrom::Endpoint),
            "/bucket/?acl&versionId=a+b"
        );
        let r = Request::parse(b"GET /k HTTP/1.1\r\nHost: b.s3.us-east-1.amazonaws.com\r\n\r\n")
            .unwrap();
        assert_eq!(canonical_resource(&r, BucketFrom::Endpoint), "/b/k");
    }

    #[test]
    fn bucket_level_path_signed_as_sent_is_accepted_and_named() {
        // regression: rclone (aws-sdk-go v1) signs `/bucket`, botocore `/bucket/`
        let req = Request::parse(b"GET /rclone-v2?delimiter=%2F&max-keys=1000&prefix= HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nDate: Wed, 15 Jan 2025 09:10:00 GMT\r\n\r\n").unwrap();
        let s = sign_with(
            &req,
            &V2SignParams {
                access_key: "AK",
                secret: "SK",
                session_token: None,
                now: 1_736_932_200,
                presign_expires: None,
            },
            BucketFrom::PathAsSent,
        );
        assert!(
            s.string_to_sign.ends_with("\n/rclone-v2"),
            "{}",
            s.string_to_sign
        );
        let out = s.plan.apply(&req);
        let auth = parse_header(out.header("authorization").unwrap()).unwrap();
        let c = verify(&out, &auth, "SK");
        assert!(c.matched);
        assert_eq!(c.bucket_from, BucketFrom::PathAsSent);
    }

    #[test]
    fn sign_verify_round_trip() {
        let req = Request::parse(b"PUT /b/k?uploadId=1&partNumber=2 HTTP/1.1\r\nHost: s3.amazonaws.com\r\nContent-Type: text/plain\r\nx-amz-meta-a: 1\r\n\r\n").unwrap();
        for presign in [None, Some(60)] {
            let s = sign(
                &req,
                &V2SignParams {
                    access_key: "AK",
                    secret: "SK",
                    session_token: Some("T"),
                    now: 1_700_000_000,
                    presign_expires: presign,
                },
            );
            let out = s.plan.apply(&req);
            let auth = if presign.is_some() {
                parse_presigned(&out).unwrap()
            } else {
                parse_header(out.header("authorization").unwrap()).unwrap()
            };
            assert!(verify(&out, &auth, "SK").matched, "{presign:?}");
            assert!(!verify(&out, &auth, "SX").matched);
        }
    }
}
