//! `decide` over reports: which findings forward, re-sign or refuse, and with what answer.

use super::*;
use crate::findings::Code;
use crate::service_error::{Dialect, ErrorCode};
use ErrorCode::*;

fn report(scheme: Scheme, carrier: Carrier, findings: &[(Code, Severity)]) -> Report {
    Report::from_findings(scheme, carrier, findings)
}

/// What a case expects.
#[derive(Debug)]
enum Want {
    /// Forwarded; the note contains this text ("" for no note).
    Forward(&'static str),
    /// Re-signed with the client's key (false) or the identity (true); the reason contains this.
    Resign(bool, &'static str),
    /// Refused: (status, code) in S3's dialect, then COS's; the message sigtap's own (or the
    /// service's when `None`), containing this text.
    Reject((u16, ErrorCode), (u16, ErrorCode), Option<&'static str>),
}

struct Case {
    name: &'static str,
    scheme: Scheme,
    carrier: Carrier,
    findings: &'static [(Code, Severity)],
    mode: ResignMode,
    sign_as: SignAs,
    host_changed: bool,
    identity: bool,
    want: Want,
}

const E: Severity = Severity::Error;
const W: Severity = Severity::Warning;
const I: Severity = Severity::Info;

fn case(name: &'static str, scheme: Scheme, carrier: Carrier, want: Want) -> Case {
    Case {
        name,
        scheme,
        carrier,
        findings: &[],
        mode: ResignMode::Auto,
        sign_as: SignAs::Keep,
        host_changed: false,
        identity: false,
        want,
    }
}

impl Case {
    fn findings(mut self, f: &'static [(Code, Severity)]) -> Case {
        self.findings = f;
        self
    }
    fn mode(mut self, m: ResignMode) -> Case {
        self.mode = m;
        self
    }
    fn sign_as(mut self, s: SignAs) -> Case {
        self.sign_as = s;
        self
    }
    fn host_changed(mut self) -> Case {
        self.host_changed = true;
        self
    }
    fn identity(mut self) -> Case {
        self.identity = true;
        self
    }
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use Carrier::{Header, Query};
    use Scheme::{Cos, Sigv2, Sigv4};
    use Want::*;
    const SDNM: (u16, ErrorCode) = (403, SignatureDoesNotMatch);
    const DENIED: (u16, ErrorCode) = (403, AccessDenied);
    vec![
        // nothing to do
        case("valid, same host", Sigv4, Header, Forward("")),
        case("keep the scheme asked for", Sigv4, Header, Forward("")).sign_as(SignAs::Sigv4),
        case("anonymous", Scheme::None, Carrier::None, Forward("anonymous"))
            .findings(&[(code::NO_SIGNATURE, I)])
            .host_changed(),
        case("no secret for the key", Sigv4, Header, Forward("unverified"))
            .findings(&[(code::UNKNOWN_ACCESS_KEY, W)])
            .host_changed(),
        case("a broken signature only the service judges", Sigv4, Header, Forward(""))
            .findings(&[(code::MISSING_SIGNED_HEADER, E)]),
        case("--resign never forwards even a mismatch", Sigv4, Header, Forward(""))
            .findings(&[(code::SIGNATURE_MISMATCH, E)])
            .mode(ResignMode::Never)
            .host_changed(),
        case("--resign never forwards a repeated signed param", Sigv4, Query, Forward(""))
            .findings(&[(code::DUPLICATE_SIGNED_PARAM, E)])
            .mode(ResignMode::Never),
        // re-signed with the client's own key
        case("another host", Sigv4, Header, Resign(false, "another host")).host_changed(),
        case("expired", Sigv4, Query, Resign(false, "time is not valid"))
            .findings(&[(code::EXPIRED, E)]),
        case("skewed, another host", Sigv2, Header, Resign(false, "another host; the signature's time"))
            .findings(&[(code::CLOCK_SKEW, E)])
            .host_changed(),
        case("not yet valid", Cos, Header, Resign(false, "time is not valid"))
            .findings(&[(code::NOT_YET_VALID, E)]),
        case("scope for another region", Sigv4, Header, Resign(false, "credential scope"))
            .findings(&[(code::CREDENTIAL_SCOPE_MISMATCH, E)]),
        case("--sign-as cos", Sigv4, Header, Resign(false, "--sign-as cos")).sign_as(SignAs::Cos),
        case("--sign-as sigv4 converts SigV2", Sigv2, Query, Resign(false, "--sign-as sigv4"))
            .sign_as(SignAs::Sigv4),
        // --resign always signs with the identity, whatever the client sent
        case("--resign always", Scheme::None, Carrier::None, Resign(true, "--resign always"))
            .mode(ResignMode::Always)
            .identity(),
        case("--resign always over a malformed one", Sigv4, Header, Resign(true, "--resign always"))
            .findings(&[(code::MALFORMED_AUTH, E)])
            .mode(ResignMode::Always)
            .identity(),
        case("--resign always without an identity", Sigv4, Header, Reject(DENIED, DENIED, Some("no upstream identity")))
            .mode(ResignMode::Always),
        // refused: malformed signatures, by carrier (S3-ERRORS.md §4; COS-ERRORS.md §2)
        case("malformed header", Sigv4, Header, Reject((400, AuthorizationHeaderMalformed), (403, InvalidSecurity), Some("malformed-auth happened")))
            .findings(&[(code::MALFORMED_AUTH, E)]),
        case("malformed presigned URL", Sigv4, Query, Reject((400, AuthorizationQueryParametersError), (403, InvalidSecurity), Some("sigtap: malformed-auth")))
            .findings(&[(code::MALFORMED_AUTH, E)]),
        case("malformed COS presigned", Cos, Query, Reject((400, AuthorizationQueryParametersError), (403, InvalidSecurity), Some("sigtap: ")))
            .findings(&[(code::MALFORMED_AUTH, E)]),
        case("unknown Authorization scheme", Scheme::None, Header, Reject((400, AuthorizationHeaderMalformed), (403, InvalidSecurity), Some("sigtap: ")))
            .findings(&[(code::MALFORMED_AUTH, E)]),
        // refused: what no re-signing cures
        case("signature mismatch", Sigv4, Header, Reject(SDNM, SDNM, None))
            .findings(&[(code::SIGNATURE_MISMATCH, E)]),
        case("chunk signature mismatch", Sigv4, Header, Reject(SDNM, SDNM, None))
            .findings(&[(code::CHUNK_SIGNATURE_MISMATCH, E)])
            .host_changed(),
        case("payload hash mismatch", Sigv4, Header, Reject((400, XAmzContentSHA256Mismatch), (400, XAmzContentSHA256Mismatch), None))
            .findings(&[(code::PAYLOAD_HASH_MISMATCH, E)]),
        case("mismatch and expired", Cos, Query, Reject(SDNM, SDNM, None))
            .findings(&[(code::EXPIRED, E), (code::SIGNATURE_MISMATCH, E)]),
        // to be re-signed, but another error stays: the service's answer to that error
        case("expired, a signed header missing", Sigv4, Header, Reject(SDNM, SDNM, Some("sigtap: missing-signed-header happened")))
            .findings(&[(code::EXPIRED, E), (code::MISSING_SIGNED_HEADER, E)]),
        case("another host, no x-amz-content-sha256", Sigv4, Header, Reject((400, InvalidRequest), (400, InvalidRequest), Some("missing-content-sha256")))
            .findings(&[(code::MISSING_CONTENT_SHA256, E)])
            .host_changed(),
        case("expired, X-Amz-Expires too long", Sigv4, Query, Reject((400, AuthorizationQueryParametersError), (400, AuthorizationQueryParametersError), Some("expires-too-long")))
            .findings(&[(code::EXPIRED, E), (code::EXPIRES_TOO_LONG, E)]),
        case("another host, a wrong session token", Sigv4, Header, Reject((400, InvalidToken), DENIED, Some("invalid-token")))
            .findings(&[(code::INVALID_TOKEN, E)])
            .host_changed(),
        case("skewed, a missing token", Sigv2, Header, Reject(DENIED, DENIED, Some("sigtap: missing-token happened")))
            .findings(&[(code::CLOCK_SKEW, E), (code::MISSING_TOKEN, E)]),
        // a signed parameter twice or an unsigned q-sign-time: never re-signed (RELIABILITY.md)
        case("repeated signed param", Sigv4, Query, Reject(DENIED, DENIED, Some("duplicate-signed-param")))
            .findings(&[(code::DUPLICATE_SIGNED_PARAM, E)]),
        case("repeated signed param, --resign always", Cos, Query, Reject(DENIED, DENIED, Some("duplicate-signed-param")))
            .findings(&[(code::DUPLICATE_SIGNED_PARAM, E)])
            .mode(ResignMode::Always)
            .identity(),
        case("repeated signed param that does not match", Sigv2, Query, Reject(SDNM, SDNM, None))
            .findings(&[(code::DUPLICATE_SIGNED_PARAM, E), (code::SIGNATURE_MISMATCH, E)]),
        case("unsigned q-sign-time", Cos, Header, Reject(DENIED, DENIED, Some("unsigned-sign-time")))
            .findings(&[(code::EXPIRED, E), (code::UNSIGNED_SIGN_TIME, E)])
            .host_changed(),
    ]
}

#[test]
fn decide_maps_reports_to_decisions() {
    let mut failures = Vec::new();
    for c in cases() {
        let r = report(c.scheme, c.carrier, c.findings);
        let d = decide(&r, c.mode, c.sign_as, c.host_changed, c.identity);
        let ok = match (&c.want, &d) {
            (Want::Forward(""), Decision::Forward { note }) => note.is_none(),
            (Want::Forward(text), Decision::Forward { note: Some(n) }) => n.contains(text),
            (Want::Resign(id, text), Decision::Resign { reason, identity }) => {
                id == identity && reason.contains(text)
            }
            (Want::Reject(s3, cos, text), Decision::Reject { answer, message }) => {
                let got = |d| {
                    let e = answer.get(d);
                    (e.status, e.code)
                };
                got(Dialect::S3) == *s3
                    && got(Dialect::Cos) == *cos
                    && match (text, message) {
                        (None, None) => true,
                        (Some(t), Some(m)) => m.starts_with("sigtap") && m.contains(t),
                        _ => false,
                    }
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{}: want {:?}, got {d:?}", c.name, c.want));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The refusal names the error that blocks re-signing, not the time problem re-signing cures.
#[test]
fn a_refusal_names_the_error_that_blocks_re_signing() {
    let r = report(
        Scheme::Sigv4,
        Carrier::Header,
        &[
            (code::CLOCK_SKEW, E),
            (code::UNSIGNED_HEADER, W),
            (code::UNSIGNED_HEADER, E),
        ],
    );
    let d = decide(&r, ResignMode::Auto, SignAs::Keep, false, false);
    let Decision::Reject { answer, message } = d else {
        panic!("{d:?}")
    };
    assert_eq!(answer, policy::ACCESS_DENIED);
    assert_eq!(message.as_deref(), Some("sigtap: unsigned-header happened"));
}

/// The service's own words travel in the table, in each dialect.
#[test]
fn a_signature_mismatch_carries_the_services_words() {
    let r = report(
        Scheme::Sigv4,
        Carrier::Header,
        &[(code::SIGNATURE_MISMATCH, E)],
    );
    let Decision::Reject { answer, message } =
        decide(&r, ResignMode::Auto, SignAs::Keep, false, false)
    else {
        panic!("not refused")
    };
    assert_eq!(message, None);
    assert!(answer
        .get(Dialect::S3)
        .message
        .starts_with("The request signature we calculated does not match"));
}
