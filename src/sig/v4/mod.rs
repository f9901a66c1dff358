//! AWS Signature Version 4: header and presigned carriers, S3 and generic canonicalization,
//! signing key cache, signing plans. Rules: `spec/S3-SIGNATURE.md` sections 1-4 and 7.
//!
//! This module holds the rules and verification; `auth` reads a signature from its carrier,
//! `canonical` builds the canonical request, string to sign and key, `signing` signs anew.
//! Everything is reachable as `v4::NAME`.

mod auth;
mod canonical;
pub mod chunked;
mod signing;

pub use auth::*;
pub use canonical::*;
pub use signing::*;

use super::crypto::{ct_eq, sha256, EMPTY_SHA256};
use super::encode::hex;
use crate::wire::Request;

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

/// The empty-body payload hash, re-exported for callers building requests.
pub const EMPTY_PAYLOAD_HASH: &str = EMPTY_SHA256;
