//! Re-signing: a request and its report in, the request signed anew for the upstream out
//! (with the client's key or the upstream identity, in the client's scheme or `--sign-as`).
//! Pure: the proxy and replay both call it and apply what it returns.

use crate::credentials::Credential;
use crate::inspect::Report;
use crate::sig::v4::{self, Rules, SigningKeyCache};
use crate::sig::{cos, v2, Carrier, Scheme};
use crate::wire::Request;

/// `--sign-as`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignAs {
    Keep,
    Sigv4,
    Sigv2,
    Cos,
}

/// Inputs of a re-signing.
pub struct ResignParams<'a> {
    pub cred: &'a Credential,
    pub upstream_host: &'a str,
    pub now: i64,
    pub region: Option<&'a str>,
    pub sign_as: SignAs,
    /// Sign as a fresh client (upstream identity): the scheme's default header set.
    pub fresh: bool,
}

/// The two chunk-signature chains of a signed aws-chunked upload that was re-signed:
/// the client's (to verify) and the new one (to re-frame with).
#[derive(Clone)]
pub struct Reframing {
    pub old: crate::sig::v4::chunked::ChainSigner,
    pub new: crate::sig::v4::chunked::ChainSigner,
}

/// Re-signs a request for the upstream. Returns the new request, the scheme signed with and,
/// for signed aws-chunked uploads, the chains to re-frame the body with.
pub fn resign(
    req: &Request,
    r: &Report,
    p: &ResignParams<'_>,
    cache: &SigningKeyCache,
) -> Result<(Request, Scheme, Option<Reframing>), String> {
    let mut work = req.clone();
    work.set_header("Host", p.upstream_host);
    work.authority = None;
    work.scheme = None;
    let scheme = match p.sign_as {
        SignAs::Keep if r.scheme != Scheme::None => r.scheme,
        SignAs::Keep | SignAs::Sigv4 => Scheme::Sigv4,
        SignAs::Sigv2 => Scheme::Sigv2,
        SignAs::Cos => Scheme::Cos,
    };
    let presign = r.carrier == Carrier::Query;
    let token = p
        .cred
        .session_token
        .as_ref()
        .map(|t| t.expose().to_string());
    let window = r.window.map(|w| (w.end - w.start.unwrap_or(w.end)).max(0));
    // Drop every old signature, whatever its scheme, before signing anew.
    work.remove_header("authorization");
    if scheme != r.scheme || p.fresh {
        let mut stale: Vec<String> = v4::QUERY_PARAMS.iter().map(|s| s.to_string()).collect();
        stale.extend(cos::Q_FIELDS.iter().map(|s| s.to_string()));
        stale.extend(["sign", "AWSAccessKeyId", "Signature", "Expires"].map(String::from));
        work = crate::sig::plan::SigningPlan {
            remove_params: stale,
            ..Default::default()
        }
        .apply(&work);
        if work.query.as_deref() == Some("") {
            work.query = None;
        }
    }
    match scheme {
        Scheme::Sigv4 | Scheme::None => {
            // the client's authorization as inspect parsed it
            let client_auth = r
                .v4_auth
                .as_ref()
                .filter(|_| r.scheme == Scheme::Sigv4 && !p.fresh);
            let region = p
                .region
                .map(str::to_string)
                .or_else(|| v4::endpoint_region(p.upstream_host))
                .or_else(|| client_auth.as_ref().map(|a| a.scope.region.clone()))
                .unwrap_or_else(|| "us-east-1".into());
            let service = client_auth
                .as_ref()
                .map(|a| a.scope.service.clone())
                .unwrap_or_else(|| "s3".into());
            let mut signed = client_auth.as_ref().map(|a| a.signed_headers.clone());
            let streaming_signed = work
                .header("x-amz-content-sha256")
                .is_some_and(|v| v.trim().starts_with("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"));
            if streaming_signed && (presign || client_auth.is_none() || p.fresh) {
                return Err("a signed aws-chunked body can be re-framed only when the client's own SigV4 header signature is re-signed".into());
            }
            let payload = match work.header("x-amz-content-sha256").map(str::trim) {
                Some(v) => Some(v.to_string()),
                None if !presign => Some(v4::UNSIGNED_PAYLOAD.to_string()),
                None => None,
            };
            if r.scheme != Scheme::Sigv4 || p.fresh {
                // converted or fresh: never sign hop-by-hop or proxy-added headers
                signed = None;
            }
            if let Some(list) = signed.as_mut() {
                list.retain(|h| h != "x-amz-date" || !presign);
            }
            let expires = presign.then(|| window.unwrap_or(900).clamp(900, v4::MAX_EXPIRES));
            // `work` becomes the signed request
            let s = v4::sign_in_place(
                &mut work,
                &v4::V4SignParams {
                    access_key: &p.cred.access_key,
                    secret: p.cred.secret.expose(),
                    session_token: token.as_deref(),
                    region: &region,
                    service: &service,
                    now: p.now,
                    rules: Rules::for_service(&service),
                    signed_headers: signed,
                    presign_expires: expires,
                    payload_hash: if presign { None } else { payload },
                },
                cache,
            );
            let reframe = match (&client_auth, streaming_signed) {
                (Some(a), true) => {
                    let old_key = cache.get(
                        p.cred.secret.expose(),
                        &a.scope.date,
                        &a.scope.region,
                        &a.scope.service,
                    );
                    let date = crate::timefmt::amz_date(p.now);
                    let scope = format!("{}/{region}/{service}/aws4_request", &date[..8]);
                    let new_key = cache.get(p.cred.secret.expose(), &date[..8], &region, &service);
                    Some(Reframing {
                        old: crate::sig::v4::chunked::ChainSigner::new(
                            old_key,
                            &a.amz_date,
                            &a.scope.text(),
                            &a.signature,
                        ),
                        new: crate::sig::v4::chunked::ChainSigner::new(
                            new_key,
                            &date,
                            &scope,
                            &s.signature,
                        ),
                    })
                }
                _ => None,
            };
            Ok((work, Scheme::Sigv4, reframe))
        }
        Scheme::Cos => {
            let client = if r.scheme == Scheme::Cos && !p.fresh {
                cos::extract(req).ok().flatten()
            } else {
                None
            };
            let list = client.as_ref().map(|a| a.header_list.clone());
            let len = window.unwrap_or(0).max(600);
            let s = cos::sign(
                &work,
                &cos::CosSignParams {
                    access_key: &p.cred.access_key,
                    secret: p.cred.secret.expose(),
                    session_token: if work.has_header(cos::TOKEN_HEADER) {
                        None
                    } else {
                        token.as_deref()
                    },
                    start: p.now - 60,
                    end: p.now + len,
                    header_list: list,
                    presign,
                },
            );
            {
                s.plan.apply_to(&mut work);
                Ok((work, Scheme::Cos, None))
            }
        }
        Scheme::Sigv2 => {
            // sign the resource the way the client did (botocore adds '/' to a bucket-level
            // path, aws-sdk-go does not), so a server that reads it like the client accepts it
            let reading = if r.scheme == Scheme::Sigv2 && !p.fresh {
                let parsed = if presign {
                    v2::parse_presigned(req)
                } else {
                    v2::parse_header(req.header("authorization").unwrap_or(""))
                };
                parsed
                    .ok()
                    .map(|a| v2::verify(req, &a, p.cred.secret.expose()))
                    .filter(|c| c.matched && c.bucket_from == v2::BucketFrom::PathAsSent)
                    .map(|c| c.bucket_from)
                    .unwrap_or(v2::BucketFrom::Endpoint)
            } else {
                v2::BucketFrom::Endpoint
            };
            let s = v2::sign_with(
                &work,
                &v2::V2SignParams {
                    access_key: &p.cred.access_key,
                    secret: p.cred.secret.expose(),
                    session_token: token.as_deref(),
                    now: p.now,
                    presign_expires: presign.then(|| window.unwrap_or(900).max(900)),
                },
                reading,
            );
            {
                s.plan.apply_to(&mut work);
                Ok((work, Scheme::Sigv2, None))
            }
        }
    }
}

#[cfg(test)]
#[path = "resign_tests.rs"]
mod tests;
