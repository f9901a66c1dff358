//! The proxy log and `inspect`'s human report as people read them: redaction never panics and
//! never cuts an object name, signature and token values are shortened wherever they appear,
//! and nothing a client sends can drive the terminal (escape sequences, BEL, CR, bidi overrides).

mod common;

use common::real::{start_mock, start_plain, tempdir};
use sigtap::credentials::{Credential, KeyStore};
use sigtap::findings::{code, Finding};
use sigtap::inspect::Inspector;
use sigtap::proxy::log::{redact, Record};
use sigtap::wire::Request;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const NOW: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z
const HEX64: &str = "0a64ae62da0fdde29f179d3f674ee45e4c879572d844163340384ec2810602ea";
const HEX40: &str = "3b8851a11a569213c17ba8fa7dcf2abec6935172";

fn record(target: &str) -> Record {
    Record {
        id: 1,
        method: "GET".into(),
        target: target.into(),
        scheme: "sigv4".into(),
        carrier: "query".into(),
        verdict: "invalid".into(),
        action: sigtap::policy::Action::Rejected,
        status: 403,
        ..Default::default()
    }
}

/// Both writers' output for `r` (human without colour, and the JSON line).
fn both(r: &Record) -> [String; 2] {
    [r.to_human(false), r.to_json().to_string()]
}

/// Characters a terminal acts on or that hide text: none may reach a human line raw.
fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

fn assert_terminal_safe(what: &str, text: &str) {
    if let Some(c) = text.chars().find(|c| unsafe_char(*c)) {
        panic!("{what} holds the raw character {c:?}:\n{text:?}");
    }
}

// ------------------------------------------------------------------ item 7: no panic, bytes shown

#[test]
fn a_signature_value_with_multibyte_characters_is_logged_without_a_panic() {
    for target in [
        "/obj?Signature=a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
        "/obj?Signature=a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
        "/obj?X-Amz-Signature=\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}",
        "/obj?sign=\u{4e2d}\u{6587}\u{4e2d}\u{6587}\u{4e2d}\u{6587}\u{4e2d}\u{6587}\u{4e2d}",
    ] {
        let _ = redact(target);
        let [human, json] = both(&record(target));
        assert!(human.starts_with("✗ #1 GET /obj?"), "{human}");
        assert!(json.contains("/obj?"), "{json}");
    }
    // short enough to be shown: the human line shows its bytes, the JSON line the string
    let r = record("/obj?Signature=a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}");
    let [human, _] = both(&r);
    assert!(
        human.contains("/obj?Signature=a\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9 →"),
        "{human}"
    );
    assert_eq!(
        r.to_json()["target"],
        "/obj?Signature=a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"
    );
    // longer: cut after 8 characters, never inside one
    let r = record("/obj?Signature=a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}");
    assert_eq!(
        r.to_json()["target"],
        "/obj?Signature=a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}…"
    );
}

#[test]
fn the_human_target_shows_the_bytes_received_with_non_ascii_and_controls_escaped() {
    let r = record("/caf\u{e9}/a\u{1b}[2J\u{7f}b\\c?x=\u{202e}1");
    let [human, json] = both(&r);
    assert!(
        human.contains(" /caf\\xc3\\xa9/a\\x1b[2J\\x7fb\\x5cc?x=\\xe2\\x80\\xae1 → "),
        "{human}"
    );
    assert_terminal_safe("the human line", &human);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["target"], "/caf\u{e9}/a\u{1b}[2J\u{7f}b\\c?x=\u{202e}1");
}

/// End to end: the lean path used to lose the record of such a request in a panic.
#[test]
fn the_proxy_logs_a_request_whose_signature_value_is_not_ascii() {
    let dir = tempdir::Dir::new("log-multibyte");
    let log = dir.0.join("proxy.log");
    let (_mock, maddr) = start_mock(&[]);
    let (_proxy, addr) = start_plain(
        &[
            "proxy",
            "--upstream",
            &format!("http://{maddr}"),
            "--port",
            "0",
            "--log-file",
            log.to_str().unwrap(),
        ],
        None,
    );
    let mut c = TcpStream::connect(&addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(
        "GET /obj?Signature=a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9} HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n"
            .as_bytes(),
    )
    .unwrap();
    let mut answer = Vec::new();
    let _ = c.read_to_end(&mut answer);
    assert!(answer.starts_with(b"HTTP/1.1 "), "{answer:?}");
    let mut text = String::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(" #1 ") {
            break;
        }
    }
    assert!(
        text.contains("/obj?Signature=a\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9 → "),
        "the log holds no line for the request:\n{text}"
    );
}

// ------------------------------------------------------------------ item 8: terminal injection

#[test]
fn control_characters_from_the_client_and_the_upstream_are_escaped_in_the_human_log() {
    let mut r = record("/b/k");
    r.method = "GET\u{1b}[1A".into();
    r.findings = vec![
        Finding::warning(
            code::UNKNOWN_ACCESS_KEY,
            "no secret for access key AK\u{1b}]0;owned\u{7} (no keys were given)",
        ),
        Finding::error(
            code::MALFORMED_AUTH,
            "bad\r✓ #99 GET /forged → forwarded 200\u{2028}and\u{202e}reversed\u{85}",
        ),
        Finding::error(
            code::SIGNATURE_MISMATCH,
            "two\n✓ #98 GET /forged → forwarded 200",
        )
        .with(
            "diff",
            serde_json::json!(["-x-amz-meta-a:\u{1b}[2J", "+x-amz-meta-a:ok"]),
        ),
    ];
    r.note = Some("upstream said\r\u{1b}[2K✓ #97 GET /forged".into());
    r.upstream_error_code = Some("NoSuchKey\u{1b}[2J\u{7}".into());
    let human = r.to_human(false);
    assert_terminal_safe("the human record", &human);
    for shown in [
        "GET\\x1b[1A",
        "access key AK\\x1b]0;owned\\x07 (",
        "bad\\x0d✓ #99",
        "\\u{2028}and\\u{202e}reversed\\u{85}",
        "-x-amz-meta-a:\\x1b[2J",
        "upstream said\\x0d\\x1b[2K✓ #97",
        "upstream NoSuchKey\\x1b[2J\\x07",
    ] {
        assert!(human.contains(shown), "{shown:?} missing in\n{human}");
    }
    // a line break inside a message continues the finding, indented: no forged record line
    for line in human.lines().skip(1) {
        assert!(
            line.starts_with("    "),
            "a line not indented: {line:?}\n{human}"
        );
    }
    // the JSON line keeps the strings, escaped by JSON
    let v = r.to_json();
    assert_eq!(v["upstream"]["error_code"], "NoSuchKey\u{1b}[2J\u{7}");
    assert_eq!(
        v["client"]["findings"][0]["message"],
        "no secret for access key AK\u{1b}]0;owned\u{7} (no keys were given)"
    );
}

#[test]
fn inspect_human_output_escapes_what_the_request_carries() {
    // an access key with an escape sequence (percent-encoded in X-Amz-Credential), a path with
    // a bidi override, and a signed header value with ESC that the canonical request shows
    let raw = "GET /b/\u{202e}kcatta?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%1B%5D0%3Bpwned%07%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-amz-meta-a&X-Amz-Signature=0a64ae62da0fdde29f179d3f674ee45e4c879572d844163340384ec2810602ea HTTP/1.1\r\nHost: b.s3.us-east-1.amazonaws.com\r\nx-amz-meta-a: x\u{1b}[2Jy\r\n\r\n";
    let req = Request::parse(raw.as_bytes()).unwrap();
    let report = Inspector::new(KeyStore::new()).inspect(&req, NOW);
    assert_eq!(report.access_key.as_deref(), Some("AK\u{1b}]0;pwned\u{7}"));
    let human = sigtap::report::to_human(&report, false);
    assert_terminal_safe("inspect's report", &human);
    for shown in [
        "key AK\\x1b]0;pwned\\x07",
        "/b/\\xe2\\x80\\xaekcatta",
        "x-amz-meta-a:x\\x1b[2Jy",
    ] {
        assert!(human.contains(shown), "{shown:?} missing in\n{human}");
    }
    // colour codes are sigtap's own: still written when asked for
    assert!(sigtap::report::to_human(&report, true).contains("\u{1b}[1;"));
}

#[test]
fn an_upstream_error_code_with_controls_is_escaped_in_inspect_output() {
    let raw = "GET /b/k HTTP/1.1\r\nHost: b.example\r\n\r\n";
    let req = Request::parse(raw.as_bytes()).unwrap();
    let mut report = Inspector::new(KeyStore::new()).inspect(&req, NOW);
    let resp = sigtap::wire::Response::parse(
        b"HTTP/1.1 403 Forbidden\r\n\r\n<Error><Code>Denied\x1b]0;x\x07</Code><Message>no\rway</Message></Error>\r\n",
    )
    .unwrap();
    report
        .findings
        .extend(sigtap::diagnose::upstream::correlate(&resp, &report));
    let human = sigtap::report::to_human(&report, false);
    assert!(human.contains("Denied\\x1b]0;x\\x07"), "{human}");
    assert_terminal_safe("inspect's report", &human);
}

// ------------------------------------------------------------------ item 9: SigV2 '+' and '/'

#[test]
fn sigv2_signatures_starting_with_plus_or_slash_are_shortened() {
    for sig in [
        "+CD9yOwtU0j9OspAg5WF6sNpXPY=",
        "/CD9yOwtU0j9OspAg5WF6sNpXPY=",
    ] {
        let header = format!("AWS AKIDEXAMPLE:{sig}");
        let shown = redact(&header);
        assert_eq!(shown, format!("AWS AKIDEXAMPLE:{}…", &sig[..8]));
        let encoded = sig
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        let target = format!("/b/k?AWSAccessKeyId=AK&Expires=1&Signature={encoded}&x=1");
        let shown = redact(&target);
        assert_eq!(
            shown,
            format!(
                "/b/k?AWSAccessKeyId=AK&Expires=1&Signature={}…&x=1",
                &encoded[..8]
            )
        );
        let message = format!("the SigV2 signature {sig:?} is not base64 of an HMAC-SHA1");
        assert!(!redact(&message).contains(sig), "{}", redact(&message));
    }
}

/// A SigV2 request whose provided and expected signatures start with '+' or '/': neither
/// appears whole in the log record made of its report.
#[test]
fn a_sigv2_mismatch_never_shows_a_whole_signature_in_the_log() {
    let insp = Inspector::new(KeyStore::single(Credential::new("AKIDEXAMPLE", "secret")));
    let mut seen = 0;
    for provided in [
        "+CD9yOwtU0j9OspAg5WF6sNpXPY=",
        "/CD9yOwtU0j9OspAg5WF6sNpXPY=",
    ] {
        for n in 0..2000 {
            let raw = format!(
                "GET /b/k{n} HTTP/1.1\r\nHost: s3.amazonaws.com\r\nDate: Wed, 01 Jan 2025 00:00:00 GMT\r\nAuthorization: AWS AKIDEXAMPLE:{provided}\r\n\r\n"
            );
            let req = Request::parse(raw.as_bytes()).unwrap();
            let report = insp.inspect(&req, NOW);
            let expected = report.stages.expected_signature.clone().unwrap();
            if !expected.starts_with(['+', '/']) {
                continue;
            }
            assert!(report.has(code::SIGNATURE_MISMATCH), "{report:#?}");
            let mut r = record(&req.origin_target());
            r.scheme = "sigv2".into();
            r.carrier = "header".into();
            r.findings = report.findings.clone();
            for text in both(&r) {
                assert!(
                    !text.contains(provided),
                    "provided signature whole in\n{text}"
                );
                assert!(
                    !text.contains(&expected),
                    "expected signature whole in\n{text}"
                );
            }
            seen += 1;
            break;
        }
    }
    assert_eq!(
        seen, 2,
        "no expected signature starting with + or / was found"
    );
}

// ------------------------------------------------------------------ item 15: names, not paths

#[test]
fn object_names_of_hex_digits_are_never_cut() {
    for target in [
        format!("/restic/data/0a/{HEX64}"),
        format!("/bucket/{HEX40}.pack?partNumber=1&uploadId={HEX64}"),
        format!("/b/k?x-id=GetObject&versionId={HEX64}"),
    ] {
        assert_eq!(redact(&target), target);
        let [human, json] = both(&record(&target));
        assert!(human.contains(&target), "{human}");
        assert!(json.contains(&target), "{json}");
    }
}

#[test]
fn signature_and_token_values_are_shortened_by_name() {
    let cases = [
        (
            format!("/b/k?X-Amz-Credential=AK%2F1&X-Amz-Signature={HEX64}&x=1"),
            "/b/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=0a64ae62…&x=1".to_string(),
        ),
        (
            "/b/k?X-Amz-Security-Token=FwoGZXIvYXdzEJr%2F%2F%2F%2F%2FwEaDHexample&X-Amz-Signature=abc".into(),
            "/b/k?X-Amz-Security-Token=FwoGZXIv…&X-Amz-Signature=abc".into(),
        ),
        (
            "/k?x-cos-security-token=ToKeNnEvErLeAk0001&b=1".into(),
            "/k?x-cos-security-token=ToKeNnEv…&b=1".into(),
        ),
        (
            "x-ci-security-token:ToKeNnEvErLeAk0001\nhost:b".into(),
            "x-ci-security-token:ToKeNnEv…\nhost:b".into(),
        ),
        (
            format!("q-sign-algorithm=sha1&q-ak=AKID1&q-sign-time=1;2&q-key-time=1;2&q-header-list=host&q-url-param-list=&q-signature={HEX40}"),
            "q-sign-algorithm=sha1&q-ak=AKID1&q-sign-time=1;2&q-key-time=1;2&q-header-list=host&q-url-param-list=&q-signature=3b8851a1…".into(),
        ),
        (
            // COS presigned: the whole Authorization value percent-encoded in `sign`
            format!("/k?sign=q-sign-algorithm%3Dsha1%26q-ak%3DAKID1%26q-sign-time%3D1%253B2%26q-signature%3D{HEX40}&x=1"),
            "/k?sign=q-sign-algorithm%3Dsha1%26q-ak%3DAKID1%26q-sign-time%3D1%253B2%26q-signature%3D3b8851a1…&x=1".into(),
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential=AK/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature={HEX64}"),
            "AWS4-HMAC-SHA256 Credential=AK/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0a64ae62…".into(),
        ),
        (
            format!("1000;chunk-signature={HEX64}"),
            "1000;chunk-signature=0a64ae62…".into(),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(redact(&text), want, "for {text}");
    }
}

#[test]
fn mismatch_messages_never_show_a_whole_signature() {
    let insp = Inspector::new(KeyStore::single(Credential::new("AKIDEXAMPLE", "secret")));
    let cases = [
        format!(
            "GET /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Expires=600&X-Amz-SignedHeaders=host&X-Amz-Signature={HEX64} HTTP/1.1\r\nHost: b.s3.us-east-1.amazonaws.com\r\n\r\n"
        ),
        format!(
            "GET /k HTTP/1.1\r\nHost: b-1250000000.cos.ap-guangzhou.myqcloud.com\r\nAuthorization: q-sign-algorithm=sha1&q-ak=AKIDEXAMPLE&q-sign-time=1735689000;1735693000&q-key-time=1735689000;1735693000&q-header-list=host&q-url-param-list=&q-signature={HEX40}\r\n\r\n"
        ),
    ];
    for raw in cases {
        let req = Request::parse(raw.as_bytes()).unwrap();
        let report = insp.inspect(&req, NOW);
        assert!(report.has(code::SIGNATURE_MISMATCH), "{report:#?}");
        let expected = report.stages.expected_signature.clone().unwrap();
        let provided = report.stages.provided_signature.clone().unwrap();
        let mut r = record(&req.origin_target());
        r.findings = report.findings.clone();
        for text in both(&r) {
            assert!(
                !text.contains(&provided),
                "provided signature whole in\n{text}"
            );
            assert!(
                !text.contains(&expected),
                "expected signature whole in\n{text}"
            );
            assert!(
                text.contains(&expected[..8]),
                "expected signature not named in\n{text}"
            );
        }
    }
}

/// End to end: a SigV2 request whose provided and expected signatures start with '+' and '/'
/// goes through proxies logging in both formats; neither signature is in either log.
#[test]
fn proxy_logs_never_hold_a_whole_sigv2_signature() {
    use common::real::{unix_now, AK, SK};
    let insp = Inspector::new(KeyStore::single(Credential::new(AK, SK)));
    let date = sigtap::timefmt::http_date(unix_now());
    let provided = "+CD9yOwtU0j9OspAg5WF6sNpXPY=";
    let (raw, expected) = (0..2000)
        .find_map(|n| {
            let raw = format!(
                "GET /b/k{n} HTTP/1.1\r\nHost: b.example\r\nDate: {date}\r\nAuthorization: AWS {AK}:{provided}\r\nConnection: close\r\n\r\n"
            );
            let report = insp.inspect(&Request::parse(raw.as_bytes()).unwrap(), unix_now());
            let expected = report.stages.expected_signature?;
            expected.starts_with('/').then_some((raw, expected))
        })
        .expect("an expected signature starting with /");
    let dir = tempdir::Dir::new("log-sigv2");
    let (_mock, maddr) = start_mock(&[]);
    let mut logs = Vec::new();
    for format in ["human", "json"] {
        let log = dir.0.join(format!("{format}.log"));
        let (proxy, addr) = start_plain(
            &[
                "proxy",
                "--upstream",
                &format!("http://{maddr}"),
                "--port",
                "0",
                "--access-key",
                AK,
                "--secret-key",
                SK,
                "--log-format",
                format,
                "--log-file",
                log.to_str().unwrap(),
            ],
            None,
        );
        let addr = addr
            .trim_start_matches("{\"listening\":\"")
            .trim_end_matches("\"}")
            .to_string();
        let mut c = TcpStream::connect(&addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(raw.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = c.read_to_end(&mut answer);
        assert!(answer.starts_with(b"HTTP/1.1 403"), "{answer:?}");
        logs.push((proxy, log));
    }
    for (_proxy, log) in &logs {
        let mut text = String::new();
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            text = std::fs::read_to_string(log).unwrap_or_default();
            if text.contains("signature-mismatch") {
                break;
            }
        }
        assert!(text.contains("signature-mismatch"), "{text}");
        assert!(text.contains(&expected[..8]), "{text}");
        assert!(
            !text.contains(provided),
            "provided signature whole in\n{text}"
        );
        assert!(
            !text.contains(&expected),
            "expected signature whole in\n{text}"
        );
    }
}
