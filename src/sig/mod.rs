//! Pure signing and verification: canonicalization, string to sign, signatures.
//! Nothing here does I/O or reads the clock; times are arguments.

pub mod cos;
pub mod crypto;
pub mod encode;
pub mod plan;
pub mod v2;
pub mod v4;

use serde::Serialize;

/// Which signing scheme a request uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Cos,
    Sigv4,
    Sigv2,
    None,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Cos => "cos",
            Scheme::Sigv4 => "sigv4",
            Scheme::Sigv2 => "sigv2",
            Scheme::None => "none",
        }
    }
}

/// Where the signature travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Carrier {
    /// The `Authorization` header.
    Header,
    /// Query parameters (presigned URL), including COS's single `sign=` parameter.
    Query,
    None,
}

impl Carrier {
    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::Header => "header",
            Carrier::Query => "query",
            Carrier::None => "none",
        }
    }
}
