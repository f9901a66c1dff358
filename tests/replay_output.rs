//! `sigtap replay`'s human output shows recorded targets and methods, upstream answers and
//! notes: none of it may drive a terminal (ESC, BEL, CR, bidi overrides are shown escaped, as
//! in the proxy's human log), and signature values stay cut.

use sigtap::record::replay::Outcome;

const SIG: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn outcome() -> Outcome {
    Outcome {
        id: 7,
        method: "GET\x1b[2J".into(),
        target: format!("/b/k\x1b]0;owned\x07\r?X-Amz-Signature={SIG}"),
        result: "different",
        status: Some(404),
        recorded_status: 200,
        differences: vec![
            "status 404 vs recorded 200".into(),
            "XML body differs: <Code>NoSuchKey\x1b[8m</Code>".into(),
        ],
        note: Some("the upstream said \x07\r\u{202e}done".into()),
        ms: 1.25,
    }
}

#[test]
fn replay_human_lines_escape_recorded_and_upstream_text() {
    let line = outcome().human();
    assert!(
        !line.contains(['\x1b', '\x07', '\r', '\u{202e}']),
        "a control reached the output: {line:?}"
    );
    assert!(!line.contains(SIG), "a whole signature: {line}");
    assert_eq!(
        line,
        "✗ #7 GET\\x1b[2J /b/k\\x1b]0;owned\\x07\\x0d?X-Amz-Signature=01234567… → 404 (recorded 200) 1.2ms\n    \
         differs: status 404 vs recorded 200\n    \
         differs: XML body differs: <Code>NoSuchKey\\x1b[8m</Code>\n    \
         note: the upstream said \\x07\\x0d\\u{202e}done"
    );
}

#[test]
fn plain_replay_lines_are_unchanged() {
    let o = Outcome {
        id: 1,
        method: "PUT".into(),
        target: "/b/k?uploadId=a%2Fb".into(),
        result: "same",
        status: Some(200),
        recorded_status: 200,
        differences: vec![],
        note: None,
        ms: 3.0,
    };
    assert_eq!(
        o.human(),
        "✓ #1 PUT /b/k?uploadId=a%2Fb → 200 (recorded 200) 3.0ms"
    );
}
