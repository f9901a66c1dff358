//! Issue 12 item 17: an intermediary that percent-encodes the path again after signing
//! (`%20` -> `%2520`) or decodes it once (`%2520` -> `%20`) breaks the signature; the mismatch
//! explainer must find the variant and report cause `path-encoding` with the diff, for SigV4,
//! SigV2 and COS.

use sigtap::credentials::{Credential, KeyStore};
use sigtap::findings::{code, Finding};
use sigtap::inspect::{Inspector, Verdict};
use sigtap::sig::v4::{self, Rules, SigningKeyCache};
use sigtap::sig::{cos, v2};
use sigtap::wire::Request;

const AK: &str = "AKIDPATHENCODING00001";
const SK: &str = "pAtHeNcOdInGsEcReTkEy000000000001";
const NOW: i64 = 1_736_932_200;

#[derive(Clone, Copy, Debug)]
enum Scheme {
    Sigv4,
    Sigv2,
    Cos,
}

fn signed(scheme: Scheme, path: &str) -> Request {
    let host = match scheme {
        Scheme::Sigv4 => "examplebucket.s3.us-east-1.amazonaws.com",
        Scheme::Sigv2 => "examplebucket.s3.amazonaws.com",
        Scheme::Cos => "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com",
    };
    let req =
        Request::parse(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes()).unwrap();
    let plan = match scheme {
        Scheme::Sigv4 => {
            v4::sign(
                &req,
                &v4::V4SignParams {
                    access_key: AK,
                    secret: SK,
                    session_token: None,
                    region: "us-east-1",
                    service: "s3",
                    now: NOW,
                    rules: Rules::S3,
                    signed_headers: None,
                    presign_expires: None,
                    payload_hash: Some(v4::UNSIGNED_PAYLOAD.into()),
                },
                &SigningKeyCache::new(),
            )
            .plan
        }
        Scheme::Sigv2 => {
            v2::sign(
                &req,
                &v2::V2SignParams {
                    access_key: AK,
                    secret: SK,
                    session_token: None,
                    now: NOW,
                    presign_expires: None,
                },
            )
            .plan
        }
        Scheme::Cos => {
            cos::sign(
                &req,
                &cos::CosSignParams {
                    access_key: AK,
                    secret: SK,
                    session_token: None,
                    start: NOW - 60,
                    end: NOW + 600,
                    header_list: None,
                    presign: false,
                },
            )
            .plan
        }
    };
    plan.apply(&req)
}

/// Signs `signed_path`, sends `sent_path`, and returns the mismatch finding.
fn mismatch(scheme: Scheme, signed_path: &str, sent_path: &str) -> Finding {
    let mut req = signed(scheme, signed_path);
    let inspector = Inspector::new(KeyStore::single(Credential::new(AK, SK)));
    assert_eq!(
        inspector.inspect(&req, NOW).verdict,
        Verdict::Valid,
        "{scheme:?}: the untouched request"
    );
    req.path = sent_path.to_string();
    let r = inspector.inspect(&req, NOW);
    assert_eq!(r.verdict, Verdict::Invalid, "{scheme:?}");
    r.findings
        .iter()
        .find(|f| f.code == code::SIGNATURE_MISMATCH)
        .cloned()
        .unwrap_or_else(|| panic!("{scheme:?}: no signature-mismatch: {:#?}", r.findings))
}

fn diff_lines(f: &Finding) -> Vec<String> {
    f.evidence
        .get("diff")
        .and_then(|d| d.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_path_encoded_again_after_signing_is_explained() {
    for scheme in [Scheme::Sigv4, Scheme::Sigv2, Scheme::Cos] {
        let f = mismatch(scheme, "/my%20file%2B1.txt", "/my%2520file%252B1.txt");
        assert_eq!(f.cause, Some("path-encoding"), "{scheme:?}: {}", f.message);
        assert!(
            f.message.contains("encoded again"),
            "{scheme:?}: {}",
            f.message
        );
        let diff = diff_lines(&f);
        assert!(
            diff.iter()
                .any(|l| l.starts_with("- ") && l.contains("%2520")
                    || scheme_decodes(scheme) && l.starts_with("- ") && l.contains("%20")),
            "{scheme:?}: {diff:?}"
        );
        assert!(
            diff.iter().any(|l| l.starts_with("+ ")),
            "{scheme:?}: {diff:?}"
        );
    }
}

#[test]
fn a_path_decoded_once_after_signing_is_explained() {
    for scheme in [Scheme::Sigv4, Scheme::Sigv2, Scheme::Cos] {
        // the key itself holds "%20": the client sends it as %2520, a gateway decodes it once
        let f = mismatch(scheme, "/100%2520off.txt", "/100%20off.txt");
        assert_eq!(f.cause, Some("path-encoding"), "{scheme:?}: {}", f.message);
        assert!(f.message.contains("decoded"), "{scheme:?}: {}", f.message);
        assert!(!diff_lines(&f).is_empty(), "{scheme:?}");
    }
}

#[test]
fn sigv2_path_with_escapes_decoded_by_a_gateway_is_explained() {
    // SigV2 signs the path as sent: a gateway that decodes %28/%29 to '(' and ')' breaks it
    let f = mismatch(Scheme::Sigv2, "/report%281%29.txt", "/report(1).txt");
    assert_eq!(f.cause, Some("path-encoding"), "{}", f.message);
}

/// COS signs the decoded path, so its diff shows one level less of escaping.
fn scheme_decodes(scheme: Scheme) -> bool {
    matches!(scheme, Scheme::Cos)
}
