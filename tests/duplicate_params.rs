//! Issue 12 item 4: a signed query parameter repeated with another value after signing
//! (`?versionId=v1-approved` plus `versionId=v0-secret-draft`, appended or prepended) must be
//! judged invalid with `duplicate-signed-param`, never valid, for COS, SigV4 and SigV2.
//! Requests whose signature covers every value (the Go COS SDK's repeated tags, botocore's
//! repeated names) stay valid.

use sigtap::credentials::{Credential, KeyStore};
use sigtap::findings::{code, Severity};
use sigtap::inspect::{Inspector, Report, Verdict};
use sigtap::sig::v4::{self, Rules, SigningKeyCache};
use sigtap::sig::{cos, v2};
use sigtap::wire::Request;

const AK: &str = "AKIDDUPLICATEPARAM0001";
const SK: &str = "dUpLiCaTeSeCrEtKeY0000000000000001";
const NOW: i64 = 1_736_932_200;
const APPROVED: &str = "versionId=v1-approved";
const INJECTED: &str = "versionId=v0-secret-draft";

fn inspector() -> Inspector {
    Inspector::new(KeyStore::single(Credential::new(AK, SK)))
}

fn get(host: &str, path: &str) -> Request {
    Request::parse(format!("GET {path}?{APPROVED} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .unwrap()
}

/// The presigned request with the injected value appended, or prepended.
fn inject(signed: &Request, prepend: bool) -> Request {
    let mut r = signed.clone();
    let q = r.query.take().unwrap();
    r.query = Some(if prepend {
        format!("{INJECTED}&{q}")
    } else {
        format!("{q}&{INJECTED}")
    });
    r
}

fn assert_rejected(r: &Report, what: &str) {
    assert_eq!(r.verdict, Verdict::Invalid, "{what}: {:#?}", r.findings);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == code::DUPLICATE_SIGNED_PARAM)
        .unwrap_or_else(|| panic!("{what}: no duplicate-signed-param: {:#?}", r.findings));
    assert_eq!(f.severity, Severity::Error, "{what}");
    assert!(f.message.contains("versionId"), "{what}: {}", f.message);
}

fn cos_presigned() -> Request {
    let req = get(
        "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com",
        "/doc.txt",
    );
    let s = cos::sign(
        &req,
        &cos::CosSignParams {
            access_key: AK,
            secret: SK,
            session_token: None,
            start: NOW - 60,
            end: NOW + 3600,
            header_list: None,
            presign: true,
        },
    );
    s.plan.apply(&req)
}

fn v4_presigned() -> Request {
    let req = get("examplebucket.s3.us-east-1.amazonaws.com", "/doc.txt");
    let s = v4::sign(
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
            presign_expires: Some(3600),
            payload_hash: None,
        },
        &SigningKeyCache::new(),
    );
    s.plan.apply(&req)
}

fn v2_presigned() -> Request {
    let req = get("examplebucket.s3.amazonaws.com", "/doc.txt");
    let s = v2::sign(
        &req,
        &v2::V2SignParams {
            access_key: AK,
            secret: SK,
            session_token: None,
            now: NOW,
            presign_expires: Some(3600),
        },
    );
    s.plan.apply(&req)
}

#[test]
fn untouched_presigned_urls_are_valid() {
    for (name, req) in [
        ("cos", cos_presigned()),
        ("sigv4", v4_presigned()),
        ("sigv2", v2_presigned()),
    ] {
        let r = inspector().inspect(&req, NOW);
        assert_eq!(r.verdict, Verdict::Valid, "{name}: {:#?}", r.findings);
        assert!(!r.has(code::DUPLICATE_SIGNED_PARAM), "{name}");
    }
}

#[test]
fn cos_presigned_url_with_a_second_version_id_is_invalid() {
    for prepend in [false, true] {
        let r = inspector().inspect(&inject(&cos_presigned(), prepend), NOW);
        assert_rejected(&r, &format!("cos prepend={prepend}"));
    }
}

#[test]
fn cos_header_signed_request_with_a_second_version_id_is_invalid() {
    let req = get(
        "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com",
        "/doc.txt",
    );
    let s = cos::sign(
        &req,
        &cos::CosSignParams {
            access_key: AK,
            secret: SK,
            session_token: None,
            start: NOW - 60,
            end: NOW + 3600,
            header_list: None,
            presign: false,
        },
    );
    let signed = s.plan.apply(&req);
    for prepend in [false, true] {
        let r = inspector().inspect(&inject(&signed, prepend), NOW);
        assert_rejected(&r, &format!("cos header prepend={prepend}"));
    }
}

#[test]
fn sigv4_presigned_url_with_a_second_version_id_is_invalid() {
    for prepend in [false, true] {
        let r = inspector().inspect(&inject(&v4_presigned(), prepend), NOW);
        assert_rejected(&r, &format!("sigv4 prepend={prepend}"));
    }
}

#[test]
fn sigv2_presigned_url_with_a_second_version_id_is_invalid() {
    for prepend in [false, true] {
        let r = inspector().inspect(&inject(&v2_presigned(), prepend), NOW);
        assert_rejected(&r, &format!("sigv2 prepend={prepend}"));
    }
}

#[test]
fn sigv4_presigned_url_with_a_second_expiry_is_invalid() {
    // a signed X-Amz-* parameter repeated: the first one is what a reader takes
    for prepend in [false, true] {
        let mut r = v4_presigned();
        let q = r.query.take().unwrap();
        r.query = Some(if prepend {
            format!("X-Amz-Expires=604800&{q}")
        } else {
            format!("{q}&X-Amz-Expires=604800")
        });
        let rep = inspector().inspect(&r, NOW);
        assert_eq!(rep.verdict, Verdict::Invalid, "prepend={prepend}");
        assert!(
            rep.has(code::DUPLICATE_SIGNED_PARAM),
            "prepend={prepend}: {:#?}",
            rep.findings
        );
    }
}

#[test]
fn repeated_names_signed_with_every_value_stay_valid() {
    // Go SDK style COS: every value of a repeated name is signed
    let req = Request::parse(
        b"GET /doc.txt?tag=b&tag=a HTTP/1.1\r\nHost: examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com\r\n\r\n",
    )
    .unwrap();
    let s = cos::sign(
        &req,
        &cos::CosSignParams {
            access_key: AK,
            secret: SK,
            session_token: None,
            start: NOW - 60,
            end: NOW + 3600,
            header_list: None,
            presign: true,
        },
    );
    let r = inspector().inspect(&s.plan.apply(&req), NOW);
    assert_eq!(r.verdict, Verdict::Valid, "cos: {:#?}", r.findings);
    assert!(!r.has(code::DUPLICATE_SIGNED_PARAM));
    // botocore style SigV4: both values are in the canonical query
    let req = Request::parse(
        b"GET /doc.txt?tag=2&tag=1 HTTP/1.1\r\nHost: examplebucket.s3.us-east-1.amazonaws.com\r\n\r\n",
    )
    .unwrap();
    let s = v4::sign(
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
            presign_expires: Some(600),
            payload_hash: None,
        },
        &SigningKeyCache::new(),
    );
    let r = inspector().inspect(&s.plan.apply(&req), NOW);
    assert_eq!(r.verdict, Verdict::Valid, "sigv4: {:#?}", r.findings);
    assert!(!r.has(code::DUPLICATE_SIGNED_PARAM));
}

#[test]
fn an_unsigned_repeated_parameter_is_not_this_finding() {
    // COS signs only q-url-param-list; an unlisted parameter may repeat freely
    let mut r = cos_presigned();
    r.query = Some(format!("{}&note=a&note=b", r.query.unwrap()));
    let rep = inspector().inspect(&r, NOW);
    assert!(
        !rep.has(code::DUPLICATE_SIGNED_PARAM),
        "{:#?}",
        rep.findings
    );
}

#[test]
fn sigv2_presigned_url_with_a_second_expires_is_invalid() {
    // Expires is the signed Date line; the signature checks out with the first copy
    let signed = v2_presigned();
    for prepend in [false, true] {
        let mut r = signed.clone();
        let q = r.query.take().unwrap();
        r.query = Some(if prepend {
            format!("Expires=4102444800&{q}")
        } else {
            format!("{q}&Expires=4102444800")
        });
        let rep = inspector().inspect(&r, NOW);
        assert_eq!(
            rep.verdict,
            Verdict::Invalid,
            "prepend={prepend}: {:#?}",
            rep.findings
        );
        assert!(rep.has(code::DUPLICATE_SIGNED_PARAM), "prepend={prepend}");
    }
}

#[test]
fn cos_presigned_url_with_a_second_sign_time_is_invalid() {
    // the q-* fields are read from their last copy; a first copy with another window is ambiguous
    let mut r = cos_presigned();
    r.query = Some(format!(
        "q-sign-time=1736932140%3B1999999999&{}",
        r.query.unwrap()
    ));
    let rep = inspector().inspect(&r, NOW);
    assert_eq!(rep.verdict, Verdict::Invalid, "{:#?}", rep.findings);
    assert!(rep.has(code::DUPLICATE_SIGNED_PARAM));
}

/// What the proxy's decide step does with each crafted request (`resign`, `host_changed`).
fn decisions(
    mode: sigtap::proxy::decide::ResignMode,
    host_changed: bool,
) -> Vec<(String, sigtap::proxy::decide::Decision)> {
    use sigtap::proxy::decide::{decide, SignAs};
    let mut out = Vec::new();
    for (name, signed) in [
        ("cos", cos_presigned()),
        ("sigv4", v4_presigned()),
        ("sigv2", v2_presigned()),
    ] {
        for prepend in [false, true] {
            let r = inspector().inspect(&inject(&signed, prepend), NOW);
            out.push((
                format!("{name} prepend={prepend}"),
                decide(&r, mode, SignAs::Keep, host_changed, true),
            ));
        }
    }
    out
}

#[test]
fn the_proxy_refuses_them_when_it_would_re_sign() {
    use sigtap::proxy::decide::{Decision, ResignMode};
    for (what, d) in decisions(ResignMode::Auto, true) {
        assert!(
            matches!(&d, Decision::Reject { answer, .. } if answer.s3.status == 403 && answer.cos.status == 403),
            "{what}: {d:?}"
        );
    }
}

#[test]
fn the_proxy_refuses_them_when_nothing_else_is_wrong() {
    use sigtap::proxy::decide::{Decision, ResignMode};
    for mode in [ResignMode::Auto, ResignMode::Always] {
        for (what, d) in decisions(mode, false) {
            assert!(
                matches!(&d, Decision::Reject { answer, .. } if answer.s3.status == 403 && answer.cos.status == 403),
                "{mode:?} {what}: {d:?}"
            );
        }
    }
}
