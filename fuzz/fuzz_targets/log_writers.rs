//! The log writers: redaction by name, hiding of tokens and named signatures, and both record
//! formats, with arbitrary strings in every field. None may panic; a human record holds no raw
//! control or invisible character and starts every further line indented; the JSON line parses
//! back; a token or signature value never appears whole where the writers clean.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigtap::findings::{code, Finding};
use sigtap::policy::Action;
use sigtap::proxy::log::Record;
use sigtap::redact;


fuzz_target!(|data: &[u8]| {
    let mut f: Vec<String> = data
        .split(|b| *b == 0xff)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    f.resize(18, String::new());
    let pick = data.first().copied().unwrap_or(0);

    // the functions on their own
    let _ = redact::redact(&f[2]);
    let _ = redact::redact_tokens(&f[2], &[f[17].clone()]);
    let _ = redact::redacted_hiding(&f[12], [f[15].as_str(), f[17].as_str()]);
    let mut out = String::new();
    redact::shown_into(&mut out, &f[2], [f[17].as_str()], redact::Form::Bytes);
    assert!(!out.chars().any(|c| c.is_control()), "{out:?}");

    let mut error = Finding::error(code::SIGNATURE_MISMATCH, f[12].clone())
        .with("provided", f[15].clone())
        .with("expected", f[16].clone())
        .with(
            "diff",
            serde_json::json!([f[14].clone(), format!("+{}", f[14])]),
        );
    error.cause = Some("unexplained");
    let r = Record {
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
        upstream_request_id: Some(f[11].clone()),
        findings: vec![
            error,
            Finding::warning(code::UNKNOWN_ACCESS_KEY, f[13].clone()),
        ],
        action: Action::ALL[usize::from(pick >> 6)],
        status: u16::from(pick) * 3,
        tokens: vec![f[17].clone()],
        ..Default::default()
    };
    let human = r.to_human(false);
    let _ = r.to_human(true);
    for c in human.chars() {
        let one = c.to_string();
        assert!(
            c == '\n' || (!c.is_control() && redact::escape(&one) == one),
            "raw {c:?} in {human:?}"
        );
    }
    for line in human.lines().skip(1) {
        assert!(line.starts_with("    "), "{human:?}");
    }
    let v: serde_json::Value = serde_json::from_str(&r.to_json().to_string()).unwrap();

    // values never whole where the writers clean: the request's token in every cleaned field,
    // the signatures a finding names in that finding's message
    let secret_like = |s: &str| {
        s.chars().count() > redact::KEEP
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    };
    let named = &v["client"]["findings"][0]["message"];
    let cleaned = [
        &v["target"],
        &v["note"],
        &v["upstream"]["error_message"],
        named,
        &v["client"]["findings"][1]["message"],
    ];
    for (hidden, fields) in [
        (&f[17], &cleaned[..]),
        (&f[15], std::slice::from_ref(&named)),
        (&f[16], std::slice::from_ref(&named)),
    ] {
        if !secret_like(hidden) {
            continue;
        }
        for field in fields {
            let s = field.as_str().unwrap_or("");
            assert!(!s.contains(hidden.as_str()), "{hidden:?} whole in {s:?}");
        }
    }
});
