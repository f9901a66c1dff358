//! Findings: the stable codes users' scripts match on, and the catalog that explains them.

use serde::Serialize;
use serde_json::{Map, Value};

/// How bad a finding is. Errors are what the real service rejects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One observation about a request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'static str>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub evidence: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    pub fn new(code: Code, severity: Severity, message: impl Into<String>) -> Self {
        Finding {
            code,
            severity,
            message: message.into(),
            cause: None,
            evidence: Map::new(),
            fix: entry(code).map(|e| e.fix.to_string()),
        }
    }
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, message)
    }
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Warning, message)
    }
    pub fn info(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Info, message)
    }
    pub fn with_cause(mut self, cause: &'static str) -> Self {
        self.cause = Some(cause);
        self
    }
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.evidence.insert(key.to_string(), value.into());
        self
    }
    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// A finding code. Its text (`Display`, serde) is stable: add, never rename.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    NoSignature,
    MalformedAuth,
    UnknownAccessKey,
    SignatureMismatch,
    Expired,
    NotYetValid,
    ClockSkew,
    ExpiresTooLong,
    MissingSignedHeader,
    UnsignedHeader,
    PayloadHashMismatch,
    ChunkSignatureMismatch,
    CredentialScopeMismatch,
    MissingContentSha256,
    MalformedChunkedBody,
    DecodedLengthMismatch,
    BodyIncomplete,
    InvalidToken,
    MissingToken,
    SignatureReading,
    HostNotSigned,
    TempKeyWindowTooLong,
    EmptyWindow,
    BatchDeleteLeadingSlash,
    CopySourceMalformed,
    UnsignedResponseParam,
    NoSuchUpload,
    UpstreamError,
    UpstreamClock,
    DuplicateSignedParam,
    UnsignedSignTime,
}

impl Code {
    /// Every code, in catalog order.
    pub const ALL: &'static [Code] = &[
        Code::NoSignature,
        Code::MalformedAuth,
        Code::UnknownAccessKey,
        Code::SignatureMismatch,
        Code::Expired,
        Code::NotYetValid,
        Code::ClockSkew,
        Code::ExpiresTooLong,
        Code::MissingSignedHeader,
        Code::UnsignedHeader,
        Code::PayloadHashMismatch,
        Code::ChunkSignatureMismatch,
        Code::CredentialScopeMismatch,
        Code::MissingContentSha256,
        Code::MalformedChunkedBody,
        Code::DecodedLengthMismatch,
        Code::BodyIncomplete,
        Code::InvalidToken,
        Code::MissingToken,
        Code::SignatureReading,
        Code::HostNotSigned,
        Code::TempKeyWindowTooLong,
        Code::EmptyWindow,
        Code::BatchDeleteLeadingSlash,
        Code::CopySourceMalformed,
        Code::UnsignedResponseParam,
        Code::NoSuchUpload,
        Code::UpstreamError,
        Code::UpstreamClock,
        Code::DuplicateSignedParam,
        Code::UnsignedSignTime,
    ];

    /// The stable text users' scripts match on.
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::NoSignature => "no-signature",
            Code::MalformedAuth => "malformed-auth",
            Code::UnknownAccessKey => "unknown-access-key",
            Code::SignatureMismatch => "signature-mismatch",
            Code::Expired => "expired",
            Code::NotYetValid => "not-yet-valid",
            Code::ClockSkew => "clock-skew",
            Code::ExpiresTooLong => "expires-too-long",
            Code::MissingSignedHeader => "missing-signed-header",
            Code::UnsignedHeader => "unsigned-header",
            Code::PayloadHashMismatch => "payload-hash-mismatch",
            Code::ChunkSignatureMismatch => "chunk-signature-mismatch",
            Code::CredentialScopeMismatch => "credential-scope-mismatch",
            Code::MissingContentSha256 => "missing-content-sha256",
            Code::MalformedChunkedBody => "malformed-chunked-body",
            Code::DecodedLengthMismatch => "decoded-length-mismatch",
            Code::BodyIncomplete => "body-incomplete",
            Code::InvalidToken => "invalid-token",
            Code::MissingToken => "missing-token",
            Code::SignatureReading => "signature-reading",
            Code::HostNotSigned => "host-not-signed",
            Code::TempKeyWindowTooLong => "temp-key-window-too-long",
            Code::EmptyWindow => "empty-window",
            Code::BatchDeleteLeadingSlash => "batch-delete-leading-slash",
            Code::CopySourceMalformed => "copy-source-malformed",
            Code::UnsignedResponseParam => "unsigned-response-param",
            Code::NoSuchUpload => "no-such-upload",
            Code::UpstreamError => "upstream-error",
            Code::UpstreamClock => "upstream-clock",
            Code::DuplicateSignedParam => "duplicate-signed-param",
            Code::UnsignedSignTime => "unsigned-sign-time",
        }
    }

    /// The code whose text is `s`.
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The codes by their old names, so call sites read `code::EXPIRED`.
pub mod code {
    use super::Code;

    pub const NO_SIGNATURE: Code = Code::NoSignature;
    pub const MALFORMED_AUTH: Code = Code::MalformedAuth;
    pub const UNKNOWN_ACCESS_KEY: Code = Code::UnknownAccessKey;
    pub const SIGNATURE_MISMATCH: Code = Code::SignatureMismatch;
    pub const EXPIRED: Code = Code::Expired;
    pub const NOT_YET_VALID: Code = Code::NotYetValid;
    pub const CLOCK_SKEW: Code = Code::ClockSkew;
    pub const EXPIRES_TOO_LONG: Code = Code::ExpiresTooLong;
    pub const MISSING_SIGNED_HEADER: Code = Code::MissingSignedHeader;
    pub const UNSIGNED_HEADER: Code = Code::UnsignedHeader;
    pub const PAYLOAD_HASH_MISMATCH: Code = Code::PayloadHashMismatch;
    pub const CHUNK_SIGNATURE_MISMATCH: Code = Code::ChunkSignatureMismatch;
    pub const CREDENTIAL_SCOPE_MISMATCH: Code = Code::CredentialScopeMismatch;
    pub const MISSING_CONTENT_SHA256: Code = Code::MissingContentSha256;
    pub const MALFORMED_CHUNKED_BODY: Code = Code::MalformedChunkedBody;
    pub const DECODED_LENGTH_MISMATCH: Code = Code::DecodedLengthMismatch;
    pub const BODY_INCOMPLETE: Code = Code::BodyIncomplete;
    pub const INVALID_TOKEN: Code = Code::InvalidToken;
    pub const MISSING_TOKEN: Code = Code::MissingToken;
    pub const SIGNATURE_READING: Code = Code::SignatureReading;
    pub const HOST_NOT_SIGNED: Code = Code::HostNotSigned;
    pub const TEMP_KEY_WINDOW_TOO_LONG: Code = Code::TempKeyWindowTooLong;
    pub const EMPTY_WINDOW: Code = Code::EmptyWindow;
    pub const BATCH_DELETE_LEADING_SLASH: Code = Code::BatchDeleteLeadingSlash;
    pub const COPY_SOURCE_MALFORMED: Code = Code::CopySourceMalformed;
    pub const UNSIGNED_RESPONSE_PARAM: Code = Code::UnsignedResponseParam;
    pub const NO_SUCH_UPLOAD: Code = Code::NoSuchUpload;
    pub const UPSTREAM_ERROR: Code = Code::UpstreamError;
    pub const UPSTREAM_CLOCK: Code = Code::UpstreamClock;
    pub const DUPLICATE_SIGNED_PARAM: Code = Code::DuplicateSignedParam;
    pub const UNSIGNED_SIGN_TIME: Code = Code::UnsignedSignTime;
}

/// One catalog entry: what a code means and how to fix it.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub code: Code,
    pub title: &'static str,
    pub explanation: &'static str,
    pub fix: &'static str,
}

/// The catalog of every finding code.
pub const CATALOG: &[Entry] = &[
    Entry {
        code: code::NO_SIGNATURE,
        title: "The request carries no signature",
        explanation: "No Authorization header and no presigned query parameters: an anonymous request. The service allows it only on public buckets and objects.",
        fix: "Sign the request (or let `sigtap proxy --resign always` sign it) unless anonymous access is intended.",
    },
    Entry {
        code: code::MALFORMED_AUTH,
        title: "The signature cannot be parsed",
        explanation: "The Authorization header or the presigned parameters are not in the shape the scheme defines (missing fields, a bad date, a signature that is not hex/base64, an unknown algorithm). S3 answers 400 AuthorizationHeaderMalformed (header) / AuthorizationQueryParametersError (presigned URL); COS answers 403 InvalidSecurity.",
        fix: "Check the client's signing code or version; compare with the output of `sigtap sign` for the same request.",
    },
    Entry {
        code: code::UNKNOWN_ACCESS_KEY,
        title: "No secret is known for this access key",
        explanation: "sigtap was not given the secret for the access key the request names, so it can check time and structure but not the signature itself.",
        fix: "Pass --access-key/--secret-key, --credentials FILE, or the usual AWS_*/COS_* variables and profiles.",
    },
    Entry {
        code: code::SIGNATURE_MISMATCH,
        title: "The signature does not match the request",
        explanation: "Re-deriving the signature from the bytes actually sent gives a different value: the client signed something else (another secret, another host, a header or path that changed on the way) or signs wrongly. The service answers 403 SignatureDoesNotMatch.",
        fix: "Compare the canonical request / HttpString below with the one the client logged; look at the cause and the diff.",
    },
    Entry {
        code: code::EXPIRED,
        title: "The signature's validity window has closed",
        explanation: "The service answers 403 AccessDenied \"Request has expired\". Either the signature was used after its window closed (a presigned URL shared too long ago, a cached signature, a window too short for a slow upload) or the client's clock is behind.",
        fix: "Sign closer to the time of use or with a longer window; if the cause is the clock, synchronise it (NTP).",
    },
    Entry {
        code: code::NOT_YET_VALID,
        title: "The signature's validity window has not opened yet",
        explanation: "The window starts after the service's current time: the signer's clock is ahead (often a local time taken as UTC). S3 rejects presigned URLs dated more than 15 minutes ahead; COS answers RequestTimeTooSkewed or AccessDenied.",
        fix: "Synchronise the signing machine's clock and make sure it signs with UTC.",
    },
    Entry {
        code: code::CLOCK_SKEW,
        title: "The request time is too far from the service's clock",
        explanation: "A header-signed SigV4/SigV2 request must be dated within 15 minutes of the service's clock; otherwise the service answers 403 RequestTimeTooSkewed.",
        fix: "Synchronise the client clock (NTP), or let `sigtap proxy` re-sign with its own clock.",
    },
    Entry {
        code: code::EXPIRES_TOO_LONG,
        title: "X-Amz-Expires is longer than seven days",
        explanation: "S3 accepts presigned SigV4 URLs valid for at most 604800 seconds and rejects longer ones with AuthorizationQueryParametersError.",
        fix: "Presign for 604800 seconds or less.",
    },
    Entry {
        code: code::MISSING_SIGNED_HEADER,
        title: "A signed header is missing from the request",
        explanation: "The signature lists a header that the request does not carry (an intermediary removed it, or the client signed a header it did not send). The service cannot reproduce the signature.",
        fix: "Send every header the signature lists, or sign only the headers that are sent.",
    },
    Entry {
        code: code::UNSIGNED_HEADER,
        title: "An x-amz-*/x-cos-* header is not covered by the signature",
        explanation: "The header could be changed on the way without breaking the signature. S3 rejects some unsigned headers (x-amz-acl, x-amz-meta-*, x-amz-copy-source*, x-amz-grant-*) with AccessDenied \"There were headers present in the request which were not signed\".",
        fix: "Sign every x-amz-* / x-cos-* header the request carries.",
    },
    Entry {
        code: code::PAYLOAD_HASH_MISMATCH,
        title: "The body does not match x-amz-content-sha256",
        explanation: "The SHA-256 of the body differs from the hash the client signed: the body changed after signing or was hashed wrongly. S3 answers 400 XAmzContentSHA256Mismatch.",
        fix: "Hash exactly the bytes that are sent, or use UNSIGNED-PAYLOAD over HTTPS.",
    },
    Entry {
        code: code::CHUNK_SIGNATURE_MISMATCH,
        title: "An aws-chunked chunk (or trailer) signature does not verify",
        explanation: "In a STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload every chunk is signed in a chain starting from the request signature; the first failing chunk is named with its index and byte offset.",
        fix: "Check the chunk signing chain (previous signature, chunk data hash) and that no intermediary re-chunked the body.",
    },
    Entry {
        code: code::CREDENTIAL_SCOPE_MISMATCH,
        title: "The credential scope does not fit the request",
        explanation: "The scope date differs from X-Amz-Date, or the scope's region is not the region of the endpoint the request was sent to. S3 answers AuthorizationHeaderMalformed naming the expected region.",
        fix: "Sign with the bucket's region (and the request date); check the client's region setting.",
    },
    Entry {
        code: code::MISSING_CONTENT_SHA256,
        title: "x-amz-content-sha256 is missing",
        explanation: "S3 requires the x-amz-content-sha256 header on every SigV4 header-signed request and answers 400 InvalidRequest without it.",
        fix: "Send x-amz-content-sha256 (the body hash, UNSIGNED-PAYLOAD or a STREAMING-* mode) and sign it.",
    },
    Entry {
        code: code::MALFORMED_CHUNKED_BODY,
        title: "The aws-chunked body is not well framed",
        explanation: "A chunk size line is not hex, a chunk is shorter or longer than announced, the stream is truncated, or the trailer is malformed.",
        fix: "Check the client's aws-chunked encoder and any intermediary that buffers or re-frames the body.",
    },
    Entry {
        code: code::DECODED_LENGTH_MISMATCH,
        title: "x-amz-decoded-content-length disagrees with the chunks",
        explanation: "The sum of the aws-chunked data sizes differs from the announced decoded length.",
        fix: "Announce the exact object size in x-amz-decoded-content-length.",
    },
    Entry {
        code: code::BODY_INCOMPLETE,
        title: "The body is shorter than Content-Length",
        explanation: "The input holds fewer body bytes than Content-Length announces, so body checks (payload hash, chunk signatures) were skipped.",
        fix: "Capture the whole request, body included.",
    },
    Entry {
        code: code::INVALID_TOKEN,
        title: "The session token differs from the key's token",
        explanation: "The request carries a session token other than the one configured for this temporary access key. S3 answers 400 InvalidToken.",
        fix: "Use the session token issued together with the temporary key.",
    },
    Entry {
        code: code::MISSING_TOKEN,
        title: "A temporary key is used without its session token",
        explanation: "The configured key has a session token, but the request carries none (x-amz-security-token / x-cos-security-token).",
        fix: "Send the session token with every request signed by a temporary key.",
    },
    Entry {
        code: code::SIGNATURE_READING,
        title: "The signature verified under a non-default reading",
        explanation: "The specifications leave some details open (repeated query names, a `+` in the query, SigV2's Date line when x-amz-date is present); the signature matched one of the readings real SDKs use, which this finding names.",
        fix: "Nothing to do unless the service rejects the request; then sign the documented way.",
    },
    Entry {
        code: code::HOST_NOT_SIGNED,
        title: "The Host header is not signed",
        explanation: "SigV4 requires host among the signed headers; COS signatures without host can be replayed against another bucket host.",
        fix: "Sign the host header.",
    },
    Entry {
        code: code::TEMP_KEY_WINDOW_TOO_LONG,
        title: "A temporary key signs a window longer than the key can live",
        explanation: "Temporary keys (session tokens) expire: COS root-account temporary keys live at most 2 hours (sub-account keys up to 36 hours), so a longer signature window stops working early.",
        fix: "Sign windows no longer than the temporary key's lifetime, or use a permanent key for long-lived links.",
    },
    Entry {
        code: code::EMPTY_WINDOW,
        title: "The signature window is empty",
        explanation: "The window ends before it starts (or lasts zero seconds), so no request can be valid with it.",
        fix: "Check how the client computes the start and end of q-sign-time / X-Amz-Expires.",
    },
    Entry {
        code: code::BATCH_DELETE_LEADING_SLASH,
        title: "A batch delete lists keys that start with '/'",
        explanation: "Object keys have no leading slash. COS answers a multi-object delete (POST ?delete) whose XML names `/dir/file` with success, but deletes nothing for that key (a case from the COS FAQ).",
        fix: "List keys without the leading '/' in the <Key> elements.",
    },
    Entry {
        code: code::COPY_SOURCE_MALFORMED,
        title: "The copy source is not of the documented shape",
        explanation: "x-cos-copy-source must be <bucket>-<appid>.cos.<region>.myqcloud.com/<url-encoded key> (optionally ?versionId=...); x-amz-copy-source must be [/]<bucket>/<url-encoded key> or an access-point ARN. Unencoded keys and missing parts make the copy fail or copy the wrong object.",
        fix: "Build the copy source from the bucket, region and the URL-encoded key.",
    },
    Entry {
        code: code::UNSIGNED_RESPONSE_PARAM,
        title: "response-* parameters are not covered by the signature",
        explanation: "A COS signature covers only the parameters in q-url-param-list; unsigned response-content-type / response-content-disposition can be changed by anyone who has the link.",
        fix: "Sign the response-* parameters (pass them as Params when presigning).",
    },
    Entry {
        code: code::NO_SUCH_UPLOAD,
        title: "An upload part for a finished multipart upload",
        explanation: "The proxy saw this uploadId completed or aborted earlier; the service will answer NoSuchUpload (proxy log only).",
        fix: "Start a new multipart upload, or stop retrying parts after completing it.",
    },
    Entry {
        code: code::UPSTREAM_ERROR,
        title: "What the upstream answered, tied to sigtap's diagnosis",
        explanation: "The service's error document (Code, Message, RequestId, StringToSign, ServerTime, ...) compared with sigtap's own stages and time analysis, e.g. whether the service's StringToSign equals sigtap's.",
        fix: "Read it together with the other findings of the request.",
    },
    Entry {
        code: code::UPSTREAM_CLOCK,
        title: "The upstream's clock",
        explanation: "The service's time, read from its Date header, <ServerTime>, or (COS, a heuristic) the first field of x-cos-request-id, compared with now and the signature window.",
        fix: "If the upstream's clock and the client's disagree, synchronise the client (NTP).",
    },
    Entry {
        code: code::DUPLICATE_SIGNED_PARAM,
        title: "A signed query parameter arrived twice with different values",
        explanation: "The signature covers only one of the values (the other was added before or after the signed one, e.g. a second versionId appended to a presigned URL), so services and SDKs that read the first, the last or every value disagree about what was authorised. sigtap judges such a request invalid: a fresh signature over it would authorise the added value.",
        fix: "Send each signed parameter once; if several values are meant, sign every one of them (the request must be signed again).",
    },
    Entry {
        code: code::UNSIGNED_SIGN_TIME,
        title: "A COS q-sign-time that nothing signs",
        explanation: "q-sign-time differs from q-key-time and the signature matches only when q-key-time is put in the StringToSign (the doc formula, the Go SDK), so q-sign-time is covered by nothing: someone may have moved its end after signing. Every SDK sends the two equal. sigtap judges time in the window both fields allow and the request invalid; the proxy never re-signs it, since a fresh signature would authorise a time the client never signed.",
        fix: "Send q-sign-time equal to q-key-time (what every SDK does); if the client signs them differently, put q-sign-time in the StringToSign.",
    },
];

/// Looks a code up in the catalog.
pub fn entry(code: Code) -> Option<&'static Entry> {
    CATALOG.iter().find(|e| e.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_has_unique_codes_and_fixes() {
        let mut seen = std::collections::BTreeSet::new();
        for e in CATALOG {
            assert!(seen.insert(e.code), "duplicate {}", e.code);
            assert!(!e.fix.is_empty() && !e.explanation.is_empty());
        }
        for &c in Code::ALL {
            assert!(entry(c).is_some(), "{c} missing from the catalog");
        }
        assert_eq!(CATALOG.len(), Code::ALL.len());
    }

    /// The texts are a contract (JSON output, `sigtap explain`, users' scripts).
    #[test]
    fn codes_print_and_serialize_as_their_stable_text() {
        for (c, text) in [
            (code::NO_SIGNATURE, "no-signature"),
            (code::MALFORMED_AUTH, "malformed-auth"),
            (code::SIGNATURE_MISMATCH, "signature-mismatch"),
            (code::EXPIRED, "expired"),
            (code::CLOCK_SKEW, "clock-skew"),
            (code::PAYLOAD_HASH_MISMATCH, "payload-hash-mismatch"),
            (code::CREDENTIAL_SCOPE_MISMATCH, "credential-scope-mismatch"),
            (code::DUPLICATE_SIGNED_PARAM, "duplicate-signed-param"),
            (code::UNSIGNED_SIGN_TIME, "unsigned-sign-time"),
        ] {
            assert_eq!(c.to_string(), text);
            assert_eq!(serde_json::to_value(c).unwrap(), text);
        }
        for &c in Code::ALL {
            assert_eq!(Code::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        assert_eq!(
            format!("{:>8}|", code::EXPIRED),
            " expired|",
            "Display pads"
        );
        assert_eq!(Code::parse("Expired"), None);
        let f = Finding::error(code::EXPIRED, "m");
        assert_eq!(serde_json::to_value(&f).unwrap()["code"], "expired");
    }
}
