//! The search for each scheme: other known keys' secrets, then the request's variants, each
//! re-signed and compared with the provided signature; the first that reproduces it explains.

use super::variants::request_variants;
use super::{
    cause, fallback, line_diff, other_keys, request_suspects, wrong_secret_detail, Context,
    Explanation,
};
use crate::sig::crypto::ct_eq;
use crate::sig::v4::{self, PathForm, QueryForm, Rules, SigningKeyCache, V4Auth};
use crate::sig::{cos, v2};
use crate::timefmt::amz_date;
use crate::wire::Request;

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
