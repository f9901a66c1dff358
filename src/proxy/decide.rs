//! Decide: a pure function from a request's report to what the proxy does with it.

use crate::findings::{code, Severity};
use crate::inspect::{Report, Verdict};
use crate::policy::{self, Answer};
/// Re-signing lives in [`crate::resign`] (replay uses it too); these paths stay for existing callers.
pub use crate::resign::{resign, Reframing, ResignParams, SignAs};
#[cfg(test)]
use crate::sig::Carrier;
use crate::sig::Scheme;

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;

/// `--resign`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResignMode {
    Auto,
    Always,
    Never,
}

/// What happens to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send it on unchanged.
    Forward { note: Option<String> },
    /// Re-sign with this key (the client's own, or the upstream identity) and send it on.
    Resign { reason: String, identity: bool },
    /// Answer locally with the service's error document, in the dialect the client speaks.
    Reject {
        answer: Answer,
        /// sigtap's own words; `None`: the service's message.
        message: Option<String>,
    },
}

fn time_broken(r: &Report) -> bool {
    r.findings.iter().any(|f| {
        matches!(
            f.code,
            code::EXPIRED | code::NOT_YET_VALID | code::CLOCK_SKEW
        )
    })
}

/// Chooses the action for one request. `host_changed`: the client addressed another host than
/// the upstream's; `have_identity`: an upstream identity exists for `--resign always`.
pub fn decide(
    r: &Report,
    mode: ResignMode,
    sign_as: SignAs,
    host_changed: bool,
    have_identity: bool,
) -> Decision {
    if mode == ResignMode::Never {
        return Decision::Forward { note: None };
    }
    // a signed parameter repeated with another value, or a COS q-sign-time nothing signs: a
    // re-signed copy would authorise the added value or the moved time, and forwarding leaves
    // the choice to the service
    if let Some(f) = r.findings.iter().find(|f| {
        matches!(
            f.code,
            code::DUPLICATE_SIGNED_PARAM | code::UNSIGNED_SIGN_TIME
        )
    }) {
        return if r.has(code::SIGNATURE_MISMATCH) {
            Decision::Reject {
                answer: policy::answer(code::SIGNATURE_MISMATCH, r.carrier),
                message: None,
            }
        } else {
            Decision::Reject {
                answer: policy::answer(f.code, r.carrier),
                message: Some(format!("sigtap: {}", f.message)),
            }
        };
    }
    let malformed = r.has(code::MALFORMED_AUTH);
    if mode == ResignMode::Always {
        return if have_identity {
            Decision::Resign {
                reason: "--resign always".into(),
                identity: true,
            }
        } else {
            Decision::Reject {
                answer: policy::ACCESS_DENIED,
                message: Some(
                    "sigtap --resign always has no upstream identity to sign with".into(),
                ),
            }
        };
    }
    if malformed {
        let why = r
            .findings
            .iter()
            .find(|f| f.code == code::MALFORMED_AUTH)
            .map(|f| f.message.clone())
            .unwrap_or_default();
        return Decision::Reject {
            answer: policy::answer(code::MALFORMED_AUTH, r.carrier),
            message: Some(format!("sigtap: {why}")),
        };
    }
    if r.scheme == Scheme::None {
        return Decision::Forward {
            note: Some("no signature: forwarded as it is (anonymous)".into()),
        };
    }
    if r.verdict == Verdict::Unverified {
        return Decision::Forward {
            note: Some(format!(
                "unverified: no secret for {} here, so it cannot be re-signed; forwarded unchanged",
                r.access_key.as_deref().unwrap_or("the access key")
            )),
        };
    }
    for c in [
        code::SIGNATURE_MISMATCH,
        code::CHUNK_SIGNATURE_MISMATCH,
        code::PAYLOAD_HASH_MISMATCH,
    ] {
        if r.has(c) {
            return Decision::Reject {
                answer: policy::answer(c, r.carrier),
                message: None,
            };
        }
    }
    let mut reasons = Vec::new();
    if host_changed {
        reasons.push("the client signed for another host".to_string());
    }
    if time_broken(r) {
        reasons.push("the signature's time is not valid now".to_string());
    }
    if r.has(code::CREDENTIAL_SCOPE_MISMATCH) {
        reasons.push("the credential scope does not fit the upstream".to_string());
    }
    let target = match (sign_as, r.scheme) {
        (SignAs::Keep, _) => None,
        (SignAs::Sigv4, Scheme::Sigv4)
        | (SignAs::Sigv2, Scheme::Sigv2)
        | (SignAs::Cos, Scheme::Cos) => None,
        (s, _) => Some(s),
    };
    if let Some(s) = target {
        reasons.push(format!("--sign-as {s:?}").to_ascii_lowercase());
    }
    // an error that re-signing does not cure
    let blocking = r.findings.iter().find(|f| {
        f.severity == Severity::Error
            && !matches!(
                f.code,
                code::EXPIRED
                    | code::NOT_YET_VALID
                    | code::CLOCK_SKEW
                    | code::CREDENTIAL_SCOPE_MISMATCH
            )
    });
    if reasons.is_empty() {
        return Decision::Forward { note: None };
    }
    if let Some(f) = blocking {
        return Decision::Reject {
            answer: policy::answer(f.code, r.carrier),
            message: Some(format!("sigtap: {}", f.message)),
        };
    }
    Decision::Resign {
        reason: reasons.join("; "),
        identity: false,
    }
}
