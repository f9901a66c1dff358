//! Property tests over the log writers, the same functions `fuzz/fuzz_targets/log_writers.rs`
//! fuzzes: redaction and escaping never panic, cut only by name, never leave a signature or
//! token whole, and a human record cannot carry a terminal control or a forged line.

use proptest::prelude::*;
use sigtap::findings::{code, Finding};
use sigtap::proxy::log::Record;
use sigtap::redact::{escape, escape_into, redact, redacted_hiding, Form};

/// Any text, weighted towards what matters here: separators, percent escapes, controls,
/// multi-byte and invisible characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "([ -~]|é|中|😀|\u{1b}|\r|\n|\u{7}|\u{7f}|\u{85}|\u{202e}|\u{2028}|%3D|%26|=|:|\"|Signature=|q-signature=|sign=|AWS |security-token: ){0,16}",
    ]
}

/// A signature or token value: base64 or hex characters, some percent-encoded.
fn secret() -> impl Strategy<Value = String> {
    "([A-Za-z0-9+/=]|%2B|%2F|%3D){9,40}"
}

/// A session token or signature as compared whole (no percent-encoding).
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9+/=]{9,40}"
}

/// The same without the characters an escape is written with (`x`, `u`, hex digits), so that
/// an escape next to other text cannot spell one in a human line.
fn plain_token() -> impl Strategy<Value = String> {
    "[A-Zg-tvwyz+/=]{9,40}"
}

fn record(f: Vec<String>, tok: String, pick: u8) -> Record {
    let mut error = Finding::error(code::SIGNATURE_MISMATCH, f[12].clone())
        .with("provided", f[14].clone())
        .with("expected", f[15].clone())
        .with(
            "diff",
            serde_json::json!([f[13].clone(), format!("+{}", f[13])]),
        );
    error.cause = Some("unexplained");
    Record {
        id: u64::from(pick),
        method: f[0].clone(),
        host: Some(f[1].clone()).filter(|_| pick & 1 == 1),
        target: f[2].clone(),
        scheme: f[3].clone(),
        carrier: f[4].clone(),
        verdict: f[5].clone(),
        access_key: Some(f[6].clone()),
        resigned_as: Some(f[7].clone()).filter(|_| pick & 2 == 2),
        note: Some(f[8].clone()),
        upstream_error_code: Some(f[9].clone()),
        upstream_error_message: Some(f[10].clone()),
        findings: vec![
            error,
            Finding::warning(code::UNKNOWN_ACCESS_KEY, f[11].clone()),
        ],
        action: sigtap::policy::Action::ALL[usize::from(pick % 4)],
        status: u16::from(pick) * 3,
        tokens: vec![tok],
        ..Default::default()
    }
}

/// Reads a `Form::Bytes` field back into the bytes it shows.
fn unescape_bytes(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            assert_eq!(b[i + 1], b'x', "{s}");
            out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap());
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn redaction_cuts_only_after_a_separator(t in text()) {
        let out = redact(&t);
        if !t.contains(['=', ':', '"', '%']) {
            prop_assert_eq!(&out, &t);
        }
        // idempotent: a cut value is not cut again
        prop_assert_eq!(redact(&out), out);
    }

    #[test]
    fn named_values_never_appear_whole(
        before in text(),
        after in text(),
        value in secret(),
        name in prop::sample::select(vec![
            "X-Amz-Signature=", "Signature=", "&q-signature=", "q-signature%3D", "&sign=",
            "X-Amz-Security-Token=", "x-cos-security-token=", "x-ci-security-token:",
            "x-amz-security-token: ", " AWS AKID:", "chunk-signature=", "%26q-signature%3D",
        ]),
    ) {
        let t = format!("{before}{name}{value}&{after}");
        let out = redact(&t);
        prop_assert!(!out.contains(&format!("{name}{value}")), "{:?} → {:?}", t, out);
    }

    #[test]
    fn hidden_values_never_appear_whole(t in text(), tok in token(), at in 0usize..40) {
        let mut s = t.clone();
        let at = s.char_indices().nth(at).map(|(i, _)| i).unwrap_or(s.len());
        s.insert_str(at, &tok);
        let out = redacted_hiding(&s, [tok.as_str()]);
        prop_assert!(!out.contains(tok.as_str()), "{:?} → {:?}", s, out);
    }

    #[test]
    fn escaped_text_holds_no_control_and_bytes_read_back(t in text()) {
        let shown = escape(&t);
        prop_assert!(!shown.chars().any(|c| c.is_control()), "{:?}", shown);
        let mut bytes = String::new();
        escape_into(&mut bytes, &t, Form::Bytes);
        prop_assert!(bytes.bytes().all(|b| b.is_ascii_graphic()), "{:?}", bytes);
        prop_assert_eq!(unescape_bytes(&bytes), t.as_bytes());
    }

    #[test]
    fn records_are_safe_in_both_formats(
        f in prop::collection::vec(text(), 16),
        tok in plain_token(),
        named in prop::collection::vec(plain_token(), 2),
        pick in any::<u8>(),
    ) {
        let mut f = f;
        f[12] = format!("{} {} {} {}", f[12], named[0], named[1], tok);
        f[14].clone_from(&named[0]);
        f[15].clone_from(&named[1]);
        f[2] = format!("{}{}", f[2], tok);
        let r = record(f, tok.clone(), pick);
        let human = r.to_human(false);
        for c in human.chars() {
            let one = c.to_string();
            prop_assert!(c == '\n' || (!c.is_control() && escape(&one) == one), "raw {:?} in {:?}", c, human);
        }
        // further lines are indented: only the writer starts a line at column 0 or 4
        for line in human.lines().skip(1) {
            prop_assert!(line.starts_with("    "), "{:?}", human);
        }
        let _ = r.to_human(true);
        let v: serde_json::Value = serde_json::from_str(&r.to_json().to_string()).unwrap();
        let target = v["target"].as_str().unwrap();
        let want = redacted_hiding(&r.target, [tok.as_str()]);
        prop_assert_eq!(target, want.as_ref());
        prop_assert!(!target.contains(tok.as_str()), "{:?}", target);
        let message = v["client"]["findings"][0]["message"].as_str().unwrap();
        // the signature-mismatch finding as printed: its line, continuation and diff lines
        let mut lines = human.lines().skip_while(|l| !l.starts_with("    error signature-mismatch"));
        let first = lines.next().unwrap_or("").to_string();
        let printed: Vec<&str> = std::iter::once(first.as_str())
            .chain(lines.take_while(|l| l.starts_with("        ")))
            .collect();
        for hidden in [&named[0], &named[1], &tok] {
            prop_assert!(!message.contains(hidden.as_str()), "{:?} whole in {:?}", hidden, message);
            for l in &printed {
                prop_assert!(!l.contains(hidden.as_str()), "{:?} whole in {:?}", hidden, l);
            }
        }
    }
}
