//! Policy in one place: what the proxy did with a request ([`Action`]) and what the service
//! answers for each finding ([`ANSWERS`]), the table behind the proxy's local answers and the
//! mock's, settled against the services' documentation (`/work/shared/spec/*-ERRORS.md`).

use crate::findings::{code, Code};
use crate::service_error::{Dialect, ErrorCode, ServiceError};
use crate::sig::Carrier;
use serde::Serialize;

/// What the proxy did with one request. Its text (`Display`, serde) is stable: the `action`
/// of JSON log lines and recordings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Action {
    /// Sent on unchanged.
    #[default]
    Forwarded,
    /// Re-signed, then sent on.
    Resigned,
    /// Answered by sigtap itself with a 4xx: the service would refuse it.
    Rejected,
    /// Answered by sigtap itself with a 5xx: forwarding failed.
    Failed,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::Forwarded,
        Action::Resigned,
        Action::Rejected,
        Action::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Forwarded => "forwarded",
            Action::Resigned => "resigned",
            Action::Rejected => "rejected",
            Action::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.as_str() == s)
    }

    /// A local answer of sigtap's status: rejected (4xx) or failed (5xx).
    pub fn local(status: u16) -> Action {
        if status >= 500 {
            Action::Failed
        } else {
            Action::Rejected
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What the service answers for one refusal, in each dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    pub s3: ServiceError,
    pub cos: ServiceError,
}

impl Answer {
    /// The same answer from both services.
    pub const fn both(e: ServiceError) -> Answer {
        Answer { s3: e, cos: e }
    }

    pub fn get(self, dialect: Dialect) -> ServiceError {
        match dialect {
            Dialect::S3 => self.s3,
            Dialect::Cos => self.cos,
        }
    }
}

/// One row of the table: a finding (in one carrier, or in any) and the service's answer.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    pub finding: Code,
    /// `None`: whatever carries the signature.
    pub carrier: Option<Carrier>,
    pub answer: Answer,
}

const fn row(finding: Code, carrier: Option<Carrier>, answer: Answer) -> Row {
    Row {
        finding,
        carrier,
        answer,
    }
}

const fn e(status: u16, code: ErrorCode, message: &'static str) -> ServiceError {
    ServiceError::new(status, code, message)
}

/// A refusal that no row names: the request is signed but not permitted.
// S3-ERRORS.md §8 "an unsigned request is simply anonymous → AccessDenied"; COS-ERRORS.md §2
// "no signature at all on a private resource / signed but not permitted | 403 | AccessDenied"
pub const ACCESS_DENIED: Answer = Answer::both(e(403, ErrorCode::AccessDenied, "Access Denied."));

/// sigtap's own answer when it has no usable upstream identity to sign with (a temporary key
/// that expired and could not be refreshed): the service is unavailable through this gateway.
// Not a row of ../shared/spec: both services answer 503 ServiceUnavailable for "try again
// later" (their public error-code lists); the message is always sigtap's own reason.
pub const NO_IDENTITY: Answer = Answer::both(e(
    503,
    ErrorCode::ServiceUnavailable,
    "Service is unable to handle request.",
));

// S3-ERRORS.md table "SignatureDoesNotMatch | 403"; COS-ERRORS.md §2 "signature does not match
// … | 403 | SignatureDoesNotMatch" (COS words the message "The Signature you specified is
// invalid."; sigtap sends S3's words in both dialects, as it always has)
const SIGNATURE_DOES_NOT_MATCH: Answer = Answer::both(e(
    403,
    ErrorCode::SignatureDoesNotMatch,
    "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
));

// S3-ERRORS.md table "RequestTimeTooSkewed | 403"; COS-ERRORS.md §2 "client clock too far off
// | 403 | RequestTimeTooSkewed", and "now < start (client clock ahead) → RequestTimeTooSkewed"
const REQUEST_TIME_TOO_SKEWED: Answer = Answer::both(e(
    403,
    ErrorCode::RequestTimeTooSkewed,
    "The difference between the request time and the current time is too large.",
));

// SigV4 only (its dialect is S3's): COS never sees these, so both columns are S3's.
const fn sigv4_only(e: ServiceError) -> Answer {
    Answer::both(e)
}

/// Finding → the service's answer. The first row for the finding whose carrier fits wins, so a
/// carrier's own row comes before the general one. Findings without a row: [`ACCESS_DENIED`].
pub static ANSWERS: &[Row] = &[
    // S3-ERRORS.md §8 (anonymous → AccessDenied "Access Denied"); COS-ERRORS.md §2 "no
    // signature at all on a private resource | 403 | AccessDenied | `Access Denied.`"
    row(code::NO_SIGNATURE, None, ACCESS_DENIED),
    // S3-ERRORS.md §4 "the same problems in a presigned URL use AuthorizationQueryParametersError";
    // COS-ERRORS.md §2 "malformed signature string | 403 | InvalidSecurity (doc) | … Signature
    // string is invalid"
    row(
        code::MALFORMED_AUTH,
        Some(Carrier::Query),
        Answer {
            s3: e(
                400,
                ErrorCode::AuthorizationQueryParametersError,
                "The authorization query parameters are malformed.",
            ),
            cos: e(403, ErrorCode::InvalidSecurity, "Signature string is invalid"),
        },
    ),
    // S3-ERRORS.md §4 "Header form problems use AuthorizationHeaderMalformed"; COS as above
    row(
        code::MALFORMED_AUTH,
        None,
        Answer {
            s3: e(
                400,
                ErrorCode::AuthorizationHeaderMalformed,
                "The authorization header is malformed.",
            ),
            cos: e(403, ErrorCode::InvalidSecurity, "Signature string is invalid"),
        },
    ),
    // S3-ERRORS.md §5 "InvalidAccessKeyId (403)"; COS-ERRORS.md §2 "unknown / disabled SecretId
    // | 403 | InvalidAccessKeyId" (COS's message lacks "AWS"; S3's words in both, as always)
    row(
        code::UNKNOWN_ACCESS_KEY,
        None,
        Answer::both(e(
            403,
            ErrorCode::InvalidAccessKeyId,
            "The AWS Access Key Id you provided does not exist in our records.",
        )),
    ),
    // S3-ERRORS.md §3 "AccessDenied — Request has expired (403)"; COS-ERRORS.md §2 "signature
    // window over | 403 | AccessDenied | `Request has expired`"
    row(
        code::EXPIRED,
        None,
        Answer::both(e(403, ErrorCode::AccessDenied, "Request has expired")),
    ),
    // S3-ERRORS.md §2 "RequestTimeTooSkewed (403)"; COS-ERRORS.md §2
    row(code::CLOCK_SKEW, None, REQUEST_TIME_TOO_SKEWED),
    // S3-ERRORS.md §3 "s3s uses RequestTimeTooSkewed for that case"; COS-ERRORS.md §2 "now <
    // start (client clock ahead) → RequestTimeTooSkewed"
    row(code::NOT_YET_VALID, None, REQUEST_TIME_TOO_SKEWED),
    // S3-ERRORS.md §1 "SignatureDoesNotMatch (403)"; COS-ERRORS.md §2
    row(code::SIGNATURE_MISMATCH, None, SIGNATURE_DOES_NOT_MATCH),
    // S3-SIGNATURE.md "s3s errors the stream" on a failing chunk: the request signature chain
    row(code::CHUNK_SIGNATURE_MISMATCH, None, SIGNATURE_DOES_NOT_MATCH),
    // S3-ERRORS.md §1 "(also, per Swift, when a header named in SignedHeaders is absent)"
    row(code::MISSING_SIGNED_HEADER, None, SIGNATURE_DOES_NOT_MATCH),
    // S3-ERRORS.md §7 "XAmzContentSHA256Mismatch (400)"
    row(
        code::PAYLOAD_HASH_MISMATCH,
        None,
        sigv4_only(e(
            400,
            ErrorCode::XAmzContentSHA256Mismatch,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )),
    ),
    // S3-ERRORS.md §4 "X-Amz-Expires: … `X-Amz-Expires must be less than a week (in seconds);
    // that is, the given X-Amz-Expires must be less than 604800 seconds`"
    row(
        code::EXPIRES_TOO_LONG,
        None,
        sigv4_only(e(
            400,
            ErrorCode::AuthorizationQueryParametersError,
            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds",
        )),
    ),
    // S3-ERRORS.md §4 "query form: `Error parsing the X-Amz-Credential parameter; the region
    // '<got>' is wrong; …`"
    row(
        code::CREDENTIAL_SCOPE_MISMATCH,
        Some(Carrier::Query),
        sigv4_only(e(
            400,
            ErrorCode::AuthorizationQueryParametersError,
            "Error parsing the X-Amz-Credential parameter; the credential scope does not fit the request.",
        )),
    ),
    // S3-ERRORS.md §4 "Wrong region … AuthorizationHeaderMalformed", "Invalid credential date"
    row(
        code::CREDENTIAL_SCOPE_MISMATCH,
        None,
        sigv4_only(e(
            400,
            ErrorCode::AuthorizationHeaderMalformed,
            "The authorization header is malformed; the credential scope does not fit the request.",
        )),
    ),
    // S3-ERRORS.md §9 "Missing `x-amz-content-sha256` on a SigV4 header-auth request → 400
    // `InvalidRequest`"
    row(
        code::MISSING_CONTENT_SHA256,
        None,
        sigv4_only(e(
            400,
            ErrorCode::InvalidRequest,
            "Missing required header for this request: x-amz-content-sha256",
        )),
    ),
    // S3-ERRORS.md §6 "InvalidToken | 400"; COS-ERRORS.md names no code for a wrong token
    row(
        code::INVALID_TOKEN,
        None,
        Answer {
            s3: e(
                400,
                ErrorCode::InvalidToken,
                "The provided token is malformed or otherwise invalid.",
            ),
            cos: ACCESS_DENIED.cos,
        },
    ),
    // sigtap's own judgement (findings catalog): no service documents an answer
    row(code::DUPLICATE_SIGNED_PARAM, None, ACCESS_DENIED),
    row(code::UNSIGNED_SIGN_TIME, None, ACCESS_DENIED),
];

/// The table's row for a finding in a carrier, if it has one.
pub fn row_for(finding: Code, carrier: Carrier) -> Option<&'static Row> {
    ANSWERS
        .iter()
        .find(|r| r.finding == finding && r.carrier.is_none_or(|c| c == carrier))
}

/// What the service answers for a finding in a carrier ([`ACCESS_DENIED`] without a row).
pub fn answer(finding: Code, carrier: Carrier) -> Answer {
    row_for(finding, carrier).map_or(ACCESS_DENIED, |r| r.answer)
}

/// Status and code for a body check that failed while the body streamed (payload hash, chunk
/// signatures: SigV4 signed in the header).
pub fn body_answer(finding: Code, dialect: Dialect) -> (u16, ErrorCode) {
    let e = answer(finding, Carrier::Header).get(dialect);
    (e.status, e.code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorCode::*;

    #[test]
    fn actions_print_and_serialize_as_their_stable_text() {
        for (a, text) in [
            (Action::Forwarded, "forwarded"),
            (Action::Resigned, "resigned"),
            (Action::Rejected, "rejected"),
            (Action::Failed, "failed"),
        ] {
            assert_eq!(a.to_string(), text);
            assert_eq!(serde_json::to_value(a).unwrap(), text);
            assert_eq!(Action::parse(text), Some(a));
        }
        assert_eq!(Action::ALL.len(), 4);
        assert_eq!(Action::parse("refused"), None);
        assert_eq!(Action::local(403), Action::Rejected);
        assert_eq!(Action::local(400), Action::Rejected);
        assert_eq!(Action::local(502), Action::Failed);
        assert_eq!(Action::local(504), Action::Failed);
    }

    type Reply = (u16, ErrorCode);

    /// finding, carrier → (status, code) from S3, then from COS.
    #[test]
    fn findings_map_to_the_services_answers() {
        use Carrier::{Header, Query};
        #[rustfmt::skip]
        let cases: &[(Code, Carrier, Reply, Reply)] = &[
            (code::NO_SIGNATURE, Carrier::None, (403, AccessDenied), (403, AccessDenied)),
            (code::MALFORMED_AUTH, Header, (400, AuthorizationHeaderMalformed), (403, InvalidSecurity)),
            (code::MALFORMED_AUTH, Query, (400, AuthorizationQueryParametersError), (403, InvalidSecurity)),
            // an Authorization header of an unknown scheme: no carrier was recognised
            (code::MALFORMED_AUTH, Carrier::None, (400, AuthorizationHeaderMalformed), (403, InvalidSecurity)),
            (code::UNKNOWN_ACCESS_KEY, Header, (403, InvalidAccessKeyId), (403, InvalidAccessKeyId)),
            (code::EXPIRED, Query, (403, AccessDenied), (403, AccessDenied)),
            (code::EXPIRED, Header, (403, AccessDenied), (403, AccessDenied)),
            (code::CLOCK_SKEW, Header, (403, RequestTimeTooSkewed), (403, RequestTimeTooSkewed)),
            (code::NOT_YET_VALID, Query, (403, RequestTimeTooSkewed), (403, RequestTimeTooSkewed)),
            (code::SIGNATURE_MISMATCH, Header, (403, SignatureDoesNotMatch), (403, SignatureDoesNotMatch)),
            (code::SIGNATURE_MISMATCH, Query, (403, SignatureDoesNotMatch), (403, SignatureDoesNotMatch)),
            (code::CHUNK_SIGNATURE_MISMATCH, Header, (403, SignatureDoesNotMatch), (403, SignatureDoesNotMatch)),
            (code::MISSING_SIGNED_HEADER, Header, (403, SignatureDoesNotMatch), (403, SignatureDoesNotMatch)),
            (code::PAYLOAD_HASH_MISMATCH, Header, (400, XAmzContentSHA256Mismatch), (400, XAmzContentSHA256Mismatch)),
            (code::EXPIRES_TOO_LONG, Query, (400, AuthorizationQueryParametersError), (400, AuthorizationQueryParametersError)),
            (code::CREDENTIAL_SCOPE_MISMATCH, Query, (400, AuthorizationQueryParametersError), (400, AuthorizationQueryParametersError)),
            (code::CREDENTIAL_SCOPE_MISMATCH, Header, (400, AuthorizationHeaderMalformed), (400, AuthorizationHeaderMalformed)),
            (code::MISSING_CONTENT_SHA256, Header, (400, InvalidRequest), (400, InvalidRequest)),
            (code::INVALID_TOKEN, Header, (400, InvalidToken), (403, AccessDenied)),
            (code::DUPLICATE_SIGNED_PARAM, Query, (403, AccessDenied), (403, AccessDenied)),
            (code::UNSIGNED_SIGN_TIME, Header, (403, AccessDenied), (403, AccessDenied)),
            // no row: signed but not permitted
            (code::MISSING_TOKEN, Header, (403, AccessDenied), (403, AccessDenied)),
            (code::MALFORMED_CHUNKED_BODY, Header, (403, AccessDenied), (403, AccessDenied)),
            (code::UNSIGNED_HEADER, Header, (403, AccessDenied), (403, AccessDenied)),
        ];
        for &(finding, carrier, s3, cos) in cases {
            let a = answer(finding, carrier);
            let got = |d| {
                let e = a.get(d);
                (e.status, e.code)
            };
            assert_eq!(got(Dialect::S3), s3, "{finding} {carrier:?} S3");
            assert_eq!(got(Dialect::Cos), cos, "{finding} {carrier:?} COS");
        }
    }

    #[test]
    fn expired_and_skew_words_are_the_ones_sdks_match() {
        // COS-ERRORS.md §4: the NODE SDK corrects its clock on exactly these
        let expired = answer(code::EXPIRED, Carrier::Query).cos;
        assert_eq!(
            (expired.code, expired.message),
            (AccessDenied, "Request has expired")
        );
        assert_eq!(
            answer(code::CLOCK_SKEW, Carrier::Header).cos.code,
            RequestTimeTooSkewed
        );
        assert_eq!(ACCESS_DENIED.s3.message, "Access Denied.");
    }

    #[test]
    fn every_row_is_reachable_and_speaks_its_status() {
        for (i, r) in ANSWERS.iter().enumerate() {
            let carriers = match r.carrier {
                Some(c) => vec![c],
                None => vec![Carrier::Header, Carrier::Query, Carrier::None],
            };
            assert!(
                carriers
                    .iter()
                    .any(|&c| std::ptr::eq(row_for(r.finding, c).unwrap(), r)),
                "row {i} ({}) is shadowed by an earlier row",
                r.finding
            );
            for e in [r.answer.s3, r.answer.cos] {
                assert!((400..500).contains(&e.status), "row {i}: {}", e.status);
                assert!(!e.message.is_empty(), "row {i}");
            }
        }
    }
}
