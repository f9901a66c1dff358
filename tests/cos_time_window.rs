//! A COS signature's time is judged against the window it actually signs. With q-key-time in
//! the StringToSign (the doc formula, the Go SDK) q-sign-time is covered by nothing: editing its
//! end to 2027 must not make a signature that expired yesterday valid, and the proxy must never
//! re-sign such a request (a fresh signature would authorise a time the client never signed).

use sigtap::credentials::{Credential, KeyStore};
use sigtap::findings::{code, Severity};
use sigtap::inspect::{Inspector, Report, Verdict, Window};
use sigtap::proxy::decide::{decide, Decision, ResignMode, SignAs};
use sigtap::sig::cos;
use sigtap::wire::Request;

const AK: &str = "AKIDCOSTIMEWINDOW000001";
const SK: &str = "cOsTiMeWiNdOwSeCrEt00000000000001";
const HOST: &str = "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com";
/// 2026-12-01T08:30:00Z: the signature is made for one hour from here.
const MADE: i64 = 1_796_113_800;
const HOUR: i64 = 3600;
/// 2027-06-30T00:00:00Z: the edited end of q-sign-time.
const EDITED_END: i64 = 1_814_313_600;
const NEXT_DAY: i64 = MADE + 24 * HOUR;

fn inspector() -> Inspector {
    Inspector::new(KeyStore::single(Credential::new(AK, SK)))
}

/// A GET signed at `MADE` for one hour, in the header or (presign) in `q-*` parameters.
fn signed(presign: bool) -> Request {
    let req =
        Request::parse(format!("GET /report.pdf HTTP/1.1\r\nHost: {HOST}\r\n\r\n").as_bytes())
            .unwrap();
    let s = cos::sign(
        &req,
        &cos::CosSignParams {
            access_key: AK,
            secret: SK,
            session_token: None,
            start: MADE,
            end: MADE + HOUR,
            header_list: Some(vec!["host".into()]),
            presign,
        },
    );
    s.plan.apply(&req)
}

/// Replaces the value of one time field (`q-sign-time` or `q-key-time`) wherever it travels.
fn edit(req: &Request, field: &str, value: &str) -> Request {
    let mut out = req.clone();
    let old = format!("{};{}", MADE, MADE + HOUR);
    if let Some(a) = req.header("authorization") {
        let edited = a.replace(&format!("{field}={old}"), &format!("{field}={value}"));
        assert_ne!(edited, a, "{field} not found in {a}");
        out.set_header("Authorization", &edited);
    } else {
        let q = req.query.clone().unwrap();
        let enc = |s: &str| s.replace(';', "%3B");
        let edited = q.replace(
            &format!("{field}={}", enc(&old)),
            &format!("{field}={}", enc(value)),
        );
        assert_ne!(edited, q, "{field} not found in {q}");
        out.query = Some(edited);
    }
    out
}

fn sign_time_extended(presign: bool) -> Request {
    edit(
        &signed(presign),
        "q-sign-time",
        &format!("{MADE};{EDITED_END}"),
    )
}

fn summary(r: &Report) -> String {
    r.findings
        .iter()
        .map(|f| format!("{} {}: {}", f.severity.as_str(), f.code, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_edited_q_sign_time_does_not_revive_an_expired_signature() {
    for presign in [false, true] {
        let r = inspector().inspect(&sign_time_extended(presign), NEXT_DAY);
        let what = format!("presign={presign}\n{}", summary(&r));
        assert_eq!(r.verdict, Verdict::Invalid, "{what}");
        assert!(r.has(code::EXPIRED), "no expired finding: {what}");
        assert!(r.has(code::UNSIGNED_SIGN_TIME), "{what}");
        assert_eq!(
            r.window,
            Some(Window {
                start: Some(MADE),
                end: MADE + HOUR
            }),
            "the window judged is the one q-key-time signs: {what}"
        );
    }
}

#[test]
fn an_edited_q_sign_time_is_flagged_even_inside_the_signed_window() {
    let r = inspector().inspect(&sign_time_extended(false), MADE + 600);
    let what = summary(&r);
    assert_eq!(r.verdict, Verdict::Invalid, "{what}");
    assert!(!r.has(code::EXPIRED), "{what}");
    let f = r
        .findings
        .iter()
        .find(|f| f.code == code::UNSIGNED_SIGN_TIME)
        .unwrap_or_else(|| panic!("no unsigned-sign-time: {what}"));
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.message.contains(&EDITED_END.to_string()),
        "names the edited value: {}",
        f.message
    );
}

#[test]
fn an_edited_q_key_time_with_q_sign_time_kept_does_not_verify() {
    for presign in [false, true] {
        let req = edit(
            &signed(presign),
            "q-key-time",
            &format!("{MADE};{EDITED_END}"),
        );
        for now in [MADE + 600, NEXT_DAY] {
            let r = inspector().inspect(&req, now);
            let what = format!("presign={presign} now={now}\n{}", summary(&r));
            assert_eq!(r.verdict, Verdict::Invalid, "{what}");
            assert!(r.has(code::SIGNATURE_MISMATCH), "{what}");
            assert_eq!(r.window.map(|w| w.end), Some(MADE + HOUR), "{what}");
        }
    }
}

#[test]
fn equal_times_are_judged_as_before() {
    for presign in [false, true] {
        let req = signed(presign);
        let r = inspector().inspect(&req, MADE + 600);
        assert_eq!(r.verdict, Verdict::Valid, "{}", summary(&r));
        assert!(r
            .findings
            .iter()
            .all(|f| f.code != code::UNSIGNED_SIGN_TIME && f.code != code::SIGNATURE_READING));
        assert_eq!(
            r.window,
            Some(Window {
                start: Some(MADE),
                end: MADE + HOUR
            })
        );
        let r = inspector().inspect(&req, NEXT_DAY);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert!(r.has(code::EXPIRED) && !r.has(code::UNSIGNED_SIGN_TIME));
    }
}

/// A signer that puts q-sign-time in the StringToSign (the ordinary reading) and a q-key-time
/// that closes earlier: both are signed, and the signature is honoured only where both are open.
#[test]
fn two_signed_windows_are_judged_on_their_overlap() {
    let req =
        Request::parse(format!("GET /report.pdf HTTP/1.1\r\nHost: {HOST}\r\n\r\n").as_bytes())
            .unwrap();
    let sign_time = format!("{MADE};{}", MADE + 2 * HOUR);
    let key_time = format!("{MADE};{}", MADE + HOUR);
    let list = vec!["host".to_string()];
    let hs = cos::http_string(&req, &list, &[], cos::ParamReading::AllValues);
    let sts = cos::string_to_sign(&sign_time, &hs.text);
    let sig = cos::signature(&cos::sign_key(SK, &key_time), &sts);
    let mut req = req;
    req.set_header(
        "Authorization",
        format!("q-sign-algorithm=sha1&q-ak={AK}&q-sign-time={sign_time}&q-key-time={key_time}&q-header-list=host&q-url-param-list=&q-signature={sig}"),
    );
    let r = inspector().inspect(&req, MADE + 600);
    assert_eq!(r.verdict, Verdict::Valid, "{}", summary(&r));
    assert!(!r.has(code::UNSIGNED_SIGN_TIME));
    let r = inspector().inspect(&req, MADE + HOUR + 600);
    assert!(r.has(code::EXPIRED), "{}", summary(&r));
    assert_eq!(r.window.map(|w| w.end), Some(MADE + HOUR));
}

#[test]
fn the_proxy_never_re_signs_an_edited_q_sign_time() {
    for presign in [false, true] {
        for now in [MADE + 600, NEXT_DAY] {
            let r = inspector().inspect(&sign_time_extended(presign), now);
            for (mode, host_changed) in [
                (ResignMode::Auto, true),
                (ResignMode::Auto, false),
                (ResignMode::Always, true),
            ] {
                let d = decide(&r, mode, SignAs::Keep, host_changed, true);
                assert!(
                    matches!(&d, Decision::Reject { answer, .. } if answer.cos.status == 403),
                    "presign={presign} now={now} {mode:?} host_changed={host_changed}: {d:?}\n{}",
                    summary(&r)
                );
            }
            // --resign never forwards byte for byte: no signature is made either way
            assert!(matches!(
                decide(&r, ResignMode::Never, SignAs::Keep, true, true),
                Decision::Forward { .. }
            ));
        }
    }
}

#[test]
fn the_proxy_still_re_signs_an_honest_expired_signature_for_another_host() {
    let r = inspector().inspect(&signed(false), NEXT_DAY);
    let d = decide(&r, ResignMode::Auto, SignAs::Keep, true, false);
    assert!(matches!(d, Decision::Resign { .. }), "{d:?}");
}
