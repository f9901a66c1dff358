//! The services' vocabulary for failures: error codes and the two dialects (S3, COS) of the
//! error documents sigtap sends (proxy, mock) and reads (upstream answers).

use serde::Serialize;

/// An error `<Code>`. Its text (`Display`, serde) is exactly the service's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    EntityTooLarge,
    ExpiredToken,
    IncompleteBody,
    InternalError,
    InvalidAccessKeyId,
    InvalidRange,
    InvalidRequest,
    /// A request target that does not parse or holds bytes that must be percent-encoded.
    InvalidURI,
    /// A request head larger than the limit.
    RequestHeaderSectionTooLarge,
    /// COS: a signature string it cannot read.
    InvalidSecurity,
    InvalidToken,
    MethodNotAllowed,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    RequestTimeTooSkewed,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    SlowDown,
    XAmzContentSHA256Mismatch,
    /// sigtap's own: the upstream could not be reached or broke off (no service sends it).
    BadGateway,
    /// sigtap's own: the upstream did not answer in time (no service sends it).
    GatewayTimeout,
}

impl ErrorCode {
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::AccessDenied,
        ErrorCode::AuthorizationHeaderMalformed,
        ErrorCode::AuthorizationQueryParametersError,
        ErrorCode::BucketAlreadyOwnedByYou,
        ErrorCode::BucketNotEmpty,
        ErrorCode::EntityTooLarge,
        ErrorCode::ExpiredToken,
        ErrorCode::IncompleteBody,
        ErrorCode::InternalError,
        ErrorCode::InvalidAccessKeyId,
        ErrorCode::InvalidRange,
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidURI,
        ErrorCode::RequestHeaderSectionTooLarge,
        ErrorCode::InvalidSecurity,
        ErrorCode::InvalidToken,
        ErrorCode::MethodNotAllowed,
        ErrorCode::NoSuchBucket,
        ErrorCode::NoSuchKey,
        ErrorCode::NoSuchUpload,
        ErrorCode::RequestTimeTooSkewed,
        ErrorCode::ServiceUnavailable,
        ErrorCode::SignatureDoesNotMatch,
        ErrorCode::SlowDown,
        ErrorCode::XAmzContentSHA256Mismatch,
        ErrorCode::BadGateway,
        ErrorCode::GatewayTimeout,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AccessDenied => "AccessDenied",
            ErrorCode::AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            ErrorCode::AuthorizationQueryParametersError => "AuthorizationQueryParametersError",
            ErrorCode::BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            ErrorCode::BucketNotEmpty => "BucketNotEmpty",
            ErrorCode::EntityTooLarge => "EntityTooLarge",
            ErrorCode::ExpiredToken => "ExpiredToken",
            ErrorCode::IncompleteBody => "IncompleteBody",
            ErrorCode::InternalError => "InternalError",
            ErrorCode::InvalidAccessKeyId => "InvalidAccessKeyId",
            ErrorCode::InvalidRange => "InvalidRange",
            ErrorCode::InvalidRequest => "InvalidRequest",
            ErrorCode::InvalidURI => "InvalidURI",
            ErrorCode::RequestHeaderSectionTooLarge => "RequestHeaderSectionTooLarge",
            ErrorCode::InvalidSecurity => "InvalidSecurity",
            ErrorCode::InvalidToken => "InvalidToken",
            ErrorCode::MethodNotAllowed => "MethodNotAllowed",
            ErrorCode::NoSuchBucket => "NoSuchBucket",
            ErrorCode::NoSuchKey => "NoSuchKey",
            ErrorCode::NoSuchUpload => "NoSuchUpload",
            ErrorCode::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            ErrorCode::ServiceUnavailable => "ServiceUnavailable",
            ErrorCode::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ErrorCode::SlowDown => "SlowDown",
            ErrorCode::XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
            ErrorCode::BadGateway => "BadGateway",
            ErrorCode::GatewayTimeout => "GatewayTimeout",
        }
    }

    /// The code a service's `<Code>` names, if sigtap knows it.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One service answer: HTTP status, `<Code>` and the service's own `<Message>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceError {
    pub status: u16,
    pub code: ErrorCode,
    pub message: &'static str,
}

impl ServiceError {
    pub const fn new(status: u16, code: ErrorCode, message: &'static str) -> ServiceError {
        ServiceError {
            status,
            code,
            message,
        }
    }
}

/// Which service's error format to speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    S3,
    Cos,
}

impl Dialect {
    /// COS XML for COS domains, S3 XML otherwise (used when the client's scheme is unknown).
    pub fn for_host(host: &str) -> Dialect {
        let h = host.split(':').next().unwrap_or(host);
        if h.ends_with(".myqcloud.com") || h.ends_with(".tencentcos.cn") {
            Dialect::Cos
        } else {
            Dialect::S3
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_print_serialize_and_parse_as_the_services_text() {
        let mut seen = std::collections::HashSet::new();
        for &c in ErrorCode::ALL {
            assert!(seen.insert(c), "{c} twice in ALL");
            let text = c.as_str();
            assert_eq!(c.to_string(), text);
            assert_eq!(format!("{c:?}"), text, "the variant is named as the code");
            assert_eq!(serde_json::to_value(c).unwrap(), text);
            assert_eq!(ErrorCode::parse(text), Some(c));
        }
        assert_eq!(
            ErrorCode::XAmzContentSHA256Mismatch.to_string(),
            "XAmzContentSHA256Mismatch"
        );
        assert_eq!(ErrorCode::parse("accessdenied"), None);
    }

    #[test]
    fn dialect_follows_the_cos_domains() {
        for (host, d) in [
            ("b-1250000000.cos.ap-guangzhou.myqcloud.com", Dialect::Cos),
            (
                "b-1250000000.cos.ap-guangzhou.myqcloud.com:443",
                Dialect::Cos,
            ),
            ("b-1250000000.cos.ap-beijing.tencentcos.cn", Dialect::Cos),
            ("s3.us-east-1.amazonaws.com", Dialect::S3),
            ("127.0.0.1:9000", Dialect::S3),
            ("myqcloud.com.evil.example", Dialect::S3),
        ] {
            assert_eq!(Dialect::for_host(host), d, "{host}");
        }
    }
}
