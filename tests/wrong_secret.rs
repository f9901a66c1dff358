//! Issue 12 item 19: a request signed with a secret sigtap does not know. When no variant
//! reproduces the signature and nothing else points elsewhere, the likeliest cause is another
//! secret for that access key: cause `wrong-secret`, its certainty stated, and the canonical
//! text the client should compare with its own. When something else looks wrong (an
//! intermediary, a time problem), the secret is not blamed.

use serde_json::Value;
use sigtap::credentials::{Credential, KeyStore};
use sigtap::findings::{code, Finding};
use sigtap::inspect::{Inspector, Verdict};
use sigtap::sig::v4::{self, Rules, SigningKeyCache};
use sigtap::sig::{cos, v2};
use sigtap::wire::Request;

const AK: &str = "AKIDWRONGSECRET000001";
const CLIENT_SK: &str = "tHeClIeNtSsEcReT0000000000000001";
const KNOWN_SK: &str = "wHaTsIgTaPhOlDs0000000000000001";
const NOW: i64 = 1_736_932_200;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scheme {
    Sigv4,
    Sigv2,
    Cos,
}

const ALL: [Scheme; 3] = [Scheme::Sigv4, Scheme::Sigv2, Scheme::Cos];

/// A PUT signed by the client with its own secret, `extra` headers added before signing.
fn signed(scheme: Scheme, extra: &[(&str, &str)]) -> Request {
    let host = match scheme {
        Scheme::Sigv4 => "examplebucket.s3.us-east-1.amazonaws.com",
        Scheme::Sigv2 => "examplebucket.s3.amazonaws.com",
        Scheme::Cos => "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com",
    };
    let mut head = format!(
        "PUT /reports/q1.txt HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let req = Request::parse(format!("{head}\r\nhello").as_bytes()).unwrap();
    let plan = match scheme {
        Scheme::Sigv4 => {
            v4::sign(
                &req,
                &v4::V4SignParams {
                    access_key: AK,
                    secret: CLIENT_SK,
                    session_token: None,
                    region: "us-east-1",
                    service: "s3",
                    now: NOW,
                    rules: Rules::S3,
                    signed_headers: None,
                    presign_expires: None,
                    payload_hash: None,
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
                    secret: CLIENT_SK,
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
                    secret: CLIENT_SK,
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

fn mismatch(req: &Request, now: i64) -> Finding {
    let r = Inspector::new(KeyStore::single(Credential::new(AK, KNOWN_SK))).inspect(req, now);
    assert_eq!(r.verdict, Verdict::Invalid);
    r.findings
        .iter()
        .find(|f| f.code == code::SIGNATURE_MISMATCH)
        .cloned()
        .unwrap_or_else(|| panic!("no signature-mismatch: {:#?}", r.findings))
}

#[test]
fn an_untouched_request_signed_with_another_secret_is_likely_a_wrong_secret() {
    for scheme in ALL {
        let f = mismatch(&signed(scheme, &[]), NOW);
        assert_eq!(f.cause, Some("wrong-secret"), "{scheme:?}: {}", f.message);
        assert!(f.message.contains("likely"), "{scheme:?}: {}", f.message);
        assert!(f.message.contains(AK), "{scheme:?}: {}", f.message);
        assert_eq!(
            f.evidence.get("certainty").and_then(Value::as_str),
            Some("likely"),
            "{scheme:?}"
        );
        assert!(
            f.evidence.get("matching_key").is_none(),
            "{scheme:?}: no key was found"
        );
        let compare = f
            .evidence
            .get("compare")
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("{scheme:?}: no compare evidence: {:?}", f.evidence));
        let stages: Vec<&str> = compare.keys().map(String::as_str).collect();
        match scheme {
            Scheme::Sigv4 => {
                assert_eq!(stages, ["canonical_request"]);
                let creq = compare["canonical_request"].as_str().unwrap();
                assert!(
                    creq.starts_with("PUT\n/reports/q1.txt\n"),
                    "canonical request: {creq}"
                );
            }
            Scheme::Sigv2 => {
                assert_eq!(stages, ["string_to_sign"]);
                let sts = compare["string_to_sign"].as_str().unwrap();
                assert!(sts.starts_with("PUT\n"), "{sts}");
                assert!(sts.ends_with("/examplebucket/reports/q1.txt"), "{sts}");
            }
            Scheme::Cos => {
                assert_eq!(stages, ["http_string", "string_to_sign"]);
                let hs = compare["http_string"].as_str().unwrap();
                assert!(hs.starts_with("put\n/reports/q1.txt\n"), "{hs}");
                let sts = compare["string_to_sign"].as_str().unwrap();
                assert!(sts.starts_with("sha1\n"), "{sts}");
            }
        }
    }
}

#[test]
fn an_intermediary_on_the_way_keeps_the_secret_from_being_blamed() {
    for scheme in ALL {
        // the gateway added Via after signing; a signed header may have changed too
        let mut req = signed(scheme, &[]);
        req.headers.push(("Via".into(), "1.1 edge-gateway".into()));
        let f = mismatch(&req, NOW);
        assert_eq!(f.cause, Some("unexplained"), "{scheme:?}: {}", f.message);
        assert!(f.message.contains("Via"), "{scheme:?}: {}", f.message);
    }
}

#[test]
fn a_time_problem_keeps_the_secret_from_being_blamed() {
    for scheme in ALL {
        let f = mismatch(&signed(scheme, &[]), NOW + 3 * 3600);
        assert_eq!(f.cause, Some("unexplained"), "{scheme:?}: {}", f.message);
    }
}

#[test]
fn a_known_other_key_is_still_named_for_certain() {
    let keys = {
        let mut k = KeyStore::new();
        k.add(Credential::new(AK, KNOWN_SK));
        k.add(Credential::new("AKIDTHEOTHERKEY000001", CLIENT_SK));
        k
    };
    for scheme in ALL {
        let r = Inspector::new(keys.clone()).inspect(&signed(scheme, &[]), NOW);
        let f = r
            .findings
            .iter()
            .find(|f| f.code == code::SIGNATURE_MISMATCH)
            .unwrap();
        assert_eq!(f.cause, Some("wrong-secret"), "{scheme:?}");
        assert_eq!(
            f.evidence.get("matching_key").and_then(Value::as_str),
            Some("AKIDTHEOTHERKEY000001"),
            "{scheme:?}"
        );
        assert_eq!(
            f.evidence.get("certainty").and_then(Value::as_str),
            Some("certain"),
            "{scheme:?}"
        );
    }
}
