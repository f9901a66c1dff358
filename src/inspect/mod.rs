//! Inspect one request: detect the scheme, re-derive and verify the signature, check time,
//! structure and body, and collect findings into a [`Report`]. Pure: `now` is an argument.
//!
//! This module holds the report and the dispatch by scheme; each scheme's checks are in
//! `check_cos`, `check_v4` and `check_v2`, and the findings they share (mismatch explanations,
//! repeated signed parameters) in `explain`.

mod check_cos;
mod check_v2;
mod check_v4;
mod explain;

use crate::clock::UnixTime;
use crate::credentials::{Credential, KeyStore};
use crate::diagnose::lints;
use crate::findings::{code, Code, Finding, Severity};
use crate::sig::encode::{decoded_text, split_query, text};
use crate::sig::v4::{self, SigningKeyCache};
use crate::sig::{cos, v2, Carrier, Scheme};
use crate::timefmt::rfc3339;
use crate::wire::Request;

/// The overall judgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Invalid,
    Unverified,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unverified => "unverified",
        }
    }
    /// The `inspect` exit status: 0 valid, 1 invalid, 3 unverified.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unverified => 3,
        }
    }
}

/// The signature's validity window (start absent for SigV2 presigned URLs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: Option<UnixTime>,
    pub end: UnixTime,
}

/// What the aws-chunked body looked like.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkStage {
    pub chunks: u64,
    pub decoded_length: u64,
    pub signed: bool,
}

/// The computation stages, for display and for error documents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stages {
    /// SigV4 canonical request.
    pub canonical_request: Option<String>,
    /// COS HttpString.
    pub http_string: Option<String>,
    pub string_to_sign: Option<String>,
    pub expected_signature: Option<String>,
    pub provided_signature: Option<String>,
    /// A non-default reading that was needed to match, in words.
    pub reading: Option<String>,
    pub chunks: Option<ChunkStage>,
}

/// Everything `inspect` found about one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub scheme: Scheme,
    pub carrier: Carrier,
    pub access_key: Option<String>,
    pub verdict: Verdict,
    pub now: UnixTime,
    pub window: Option<Window>,
    /// The client's clock minus `now` (seconds), when the request says exactly when its client
    /// signed it (a header-signed request's `X-Amz-Date` or `Date`, a COS key time that is no
    /// guess).
    pub client_offset: Option<i64>,
    pub findings: Vec<Finding>,
    pub stages: Stages,
    /// The parsed SigV4 authorization, when there was one (re-signing reuses it).
    pub v4_auth: Option<v4::V4Auth>,
    pub method: String,
    pub host: Option<String>,
    pub path: String,
}

/// The client's clock minus now, when `facts` hold the exact time its client signed at.
fn client_offset(facts: &crate::diagnose::time::TimeFacts) -> Option<i64> {
    facts
        .client_time
        .as_ref()
        .filter(|ct| ct.range.is_none())
        .map(|ct| ct.time.saturating_sub(facts.now))
}

impl Report {
    fn new(req: &Request, now: UnixTime) -> Self {
        Report {
            scheme: Scheme::None,
            carrier: Carrier::None,
            access_key: None,
            verdict: Verdict::Unverified,
            now,
            window: None,
            client_offset: None,
            findings: Vec::new(),
            stages: Stages::default(),
            v4_auth: None,
            method: req.method.clone(),
            host: req.host().map(str::to_string),
            path: req.path.clone(),
        }
    }

    pub fn has(&self, code: Code) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }

    fn push(&mut self, f: Finding) {
        self.findings.push(f);
    }
}

#[cfg(test)]
impl Report {
    /// A report as `inspect` leaves it, made from findings alone (each with the message
    /// "CODE happened"): Invalid with an error, Unverified without a scheme or a known key.
    pub(crate) fn from_findings(
        scheme: Scheme,
        carrier: Carrier,
        findings: &[(Code, Severity)],
    ) -> Report {
        let req = Request::parse(b"GET /k HTTP/1.1\r\nHost: b.example\r\n\r\n")
            .expect("a plain request parses");
        let mut r = Report::new(&req, 1_736_929_800);
        r.scheme = scheme;
        r.carrier = carrier;
        r.access_key = (scheme != Scheme::None).then(|| "AKIDEXAMPLE".into());
        r.findings = findings
            .iter()
            .map(|&(c, s)| Finding::new(c, s, format!("{c} happened")))
            .collect();
        r.verdict = if r.findings.iter().any(|f| f.severity == Severity::Error) {
            Verdict::Invalid
        } else if scheme == Scheme::None || r.has(code::UNKNOWN_ACCESS_KEY) {
            Verdict::Unverified
        } else {
            Verdict::Valid
        };
        r
    }
}

/// The engine state shared across requests: the keys and the SigV4 signing-key cache.
#[derive(Debug, Default)]
pub struct Inspector {
    pub keys: KeyStore,
    pub cache: SigningKeyCache,
}

impl Inspector {
    pub fn new(keys: KeyStore) -> Self {
        Inspector {
            keys,
            cache: SigningKeyCache::new(),
        }
    }

    /// Inspects one request at time `now`.
    pub fn inspect(&self, req: &Request, now: UnixTime) -> Report {
        self.inspect_with(req, now, true)
    }

    /// Inspects the head of a request whose body is still streaming (the proxy): body checks
    /// are left to the streaming layer.
    pub fn inspect_head(&self, req: &Request, now: UnixTime) -> Report {
        self.inspect_with(req, now, false)
    }

    fn inspect_with(&self, req: &Request, now: UnixTime, check_body: bool) -> Report {
        let mut r = Report::new(req, now);
        let mut verified = false;
        if let Some(auth) = req.header("authorization") {
            r.carrier = Carrier::Header;
            if cos::looks_like_cos(auth) {
                r.scheme = Scheme::Cos;
                verified = self.cos(req, &mut r);
            } else if v4::looks_like_v4(auth) {
                r.scheme = Scheme::Sigv4;
                verified = self.sigv4(req, false, check_body, &mut r);
            } else if v2::looks_like_v2(auth) {
                r.scheme = Scheme::Sigv2;
                verified = self.sigv2(req, false, &mut r);
            } else {
                let scheme = auth.split_whitespace().next().unwrap_or("");
                let shown: String = scheme.chars().take(32).collect();
                r.push(Finding::error(
                    code::MALFORMED_AUTH,
                    format!(
                        "the Authorization header uses an unknown scheme {shown:?} (expected AWS4-HMAC-SHA256, AWS, or a COS q-sign-algorithm value)"
                    ),
                ));
            }
        } else if v4::has_presigned_params(req) {
            r.scheme = Scheme::Sigv4;
            r.carrier = Carrier::Query;
            verified = self.sigv4(req, true, check_body, &mut r);
        } else if cos::detect(req).is_some() {
            r.scheme = Scheme::Cos;
            r.carrier = Carrier::Query;
            verified = self.cos(req, &mut r);
        } else if v2::has_presigned_params(req) {
            r.scheme = Scheme::Sigv2;
            r.carrier = Carrier::Query;
            verified = self.sigv2(req, true, &mut r);
        } else {
            r.push(Finding::info(
                code::NO_SIGNATURE,
                "no Authorization header and no presigned query parameters: an anonymous request",
            ));
        }
        let cos_params = (r.scheme == Scheme::Cos)
            .then(|| cos::extract(req).ok().flatten().map(|a| a.param_list))
            .flatten();
        r.findings.extend(lints::lint(req, cos_params.as_deref()));
        r.verdict = if r.findings.iter().any(|f| f.severity == Severity::Error) {
            Verdict::Invalid
        } else if verified {
            Verdict::Valid
        } else {
            Verdict::Unverified
        };
        r
    }

    fn lookup(&self, access_key: &str, r: &mut Report) -> Option<&Credential> {
        r.access_key = Some(access_key.to_string());
        let c = self.keys.get(access_key);
        if c.is_none() {
            let known = if self.keys.is_empty() {
                "no keys were given".to_string()
            } else {
                format!("{} other key(s) are known", self.keys.len())
            };
            r.push(Finding::warning(
                code::UNKNOWN_ACCESS_KEY,
                format!(
                    "no secret for access key {access_key} ({known}); time and structure were checked, the signature was not"
                ),
            ));
        }
        c
    }

    fn check_token(cred: &Credential, sent: Option<&str>, header: &str, r: &mut Report) {
        let Some(expected) = &cred.session_token else {
            return;
        };
        match sent {
            None => r.push(Finding::error(
                code::MISSING_TOKEN,
                format!(
                    "key {} is a temporary key but the request carries no {header}",
                    cred.access_key
                ),
            )),
            Some(t) if !crate::sig::crypto::ct_eq(t, expected.expose()) => r.push(Finding::error(
                code::INVALID_TOKEN,
                format!(
                    "the {header} sent differs from the session token configured for key {}",
                    cred.access_key
                ),
            )),
            Some(_) => {}
        }
    }
}

/// The first value of a query parameter (name decoded, any case), form-decoded.
fn query_value(req: &Request, name: &str) -> Option<String> {
    let q = req.query.as_deref()?;
    split_query(q)
        .iter()
        .find(|p| decoded_text(p.name).eq_ignore_ascii_case(name))
        .map(|p| text(&crate::sig::encode::form_decode(p.value)))
}

/// Formats a window for humans.
pub fn window_text(w: &Window) -> String {
    match w.start {
        Some(s) => format!("{} – {}", rfc3339(s), rfc3339(w.end)),
        None => format!("until {}", rfc3339(w.end)),
    }
}

#[cfg(test)]
mod offset_tests {
    use super::*;
    use crate::sig::v4::Rules;

    fn signed(presign: Option<i64>, at: UnixTime) -> Request {
        let req = Request::parse(b"GET /b/k HTTP/1.1\r\nHost: s3.amazonaws.com\r\n\r\n").unwrap();
        let s = v4::sign(
            &req,
            &v4::V4SignParams {
                access_key: "AKIDEXAMPLE",
                secret: "secret",
                session_token: None,
                region: "us-east-1",
                service: "s3",
                now: at,
                rules: Rules::S3,
                signed_headers: None,
                presign_expires: presign,
                payload_hash: None,
            },
            &SigningKeyCache::new(),
        );
        s.plan.apply(&req)
    }

    #[test]
    fn the_client_offset_is_what_the_signing_time_says() {
        let mut keys = KeyStore::new();
        keys.add(Credential::new("AKIDEXAMPLE", "secret"));
        let i = Inspector::new(keys);
        const T: UnixTime = 1_736_929_800;
        // header-signed: X-Amz-Date is the client's clock, valid or not
        assert_eq!(
            i.inspect(&signed(None, T), T + 100).client_offset,
            Some(-100)
        );
        assert_eq!(
            i.inspect(&signed(None, T), T - 3600).client_offset,
            Some(3600)
        );
        // a presigned URL says when it was made, not when it is used
        assert_eq!(
            i.inspect(&signed(Some(600), T), T + 100).client_offset,
            None
        );
    }
}
