//! Replays every saved fuzz input (`fuzz/regressions/`) through all parsers and the log
//! writers: none may panic.

use sigtap::credentials::{Credential, KeyStore};
use sigtap::inspect::Inspector;
use sigtap::sig::v4::chunked::ChunkVerifier;
use sigtap::wire::Request;

#[test]
fn saved_fuzz_inputs_do_not_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let insp = Inspector::new(KeyStore::single(Credential::new("AK", "SK")));
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("fuzz/regressions exists") {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            continue;
        }
        let data = std::fs::read(&p).unwrap();
        n += 1;
        if let Ok(req) = Request::parse(&data) {
            let _ = insp.inspect(&req, 1_750_000_000);
        }
        let mut v = ChunkVerifier::new(None);
        v.feed(&data);
        let _ = v.finish();
        let value = String::from_utf8_lossy(&data).replace(['\r', '\n'], " ");
        let _ = sigtap::sig::v2::parse_header(&value);
        // the recording target: reader, match keys, HAR export and import, redaction
        let text = String::from_utf8_lossy(&data);
        if let Ok(exchanges) = sigtap::record::read::parse(&text) {
            let keys: Vec<_> = exchanges
                .iter()
                .map(|x| {
                    let r = &x.request;
                    let body = r.body.sha256.clone();
                    sigtap::record::matcher::Key::new(&r.method, &r.target, &r.headers, body, &[])
                })
                .collect();
            for k in &keys {
                let _ = keys[0].differences(k);
            }
            let rec = sigtap::record::read::Recording {
                exchanges,
                base: "/nonexistent-sigtap".into(),
            };
            let _ = sigtap::record::har::export(&rec);
        }
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) {
            let _ = sigtap::record::har::import(&v);
        }
        // the log_writers target: the text in every field of a record
        let text = String::from_utf8_lossy(&data).into_owned();
        let _ = sigtap::proxy::log::redact(&text);
        let r = sigtap::proxy::log::Record {
            method: text.clone(),
            host: Some(text.clone()),
            target: text.clone(),
            note: Some(text.clone()),
            upstream_error_code: Some(text.clone()),
            findings: vec![sigtap::findings::Finding::error(
                sigtap::findings::code::SIGNATURE_MISMATCH,
                text.clone(),
            )
            .with("provided", text.clone())],
            tokens: vec![text.clone()],
            action: sigtap::policy::Action::Rejected,
            ..Default::default()
        };
        let _ = r.to_human(false);
        let _ = r.to_json();
        let token: String = text.chars().take(12).collect();
        let s = sigtap::record::redact::Scrubber::new(&[token], true);
        let _ = s.scrub(&mut data.clone(), true);
        let _ = sigtap::record::redact::scrub_stream(&s, &mut &data[..], &mut Vec::new());
    }
    eprintln!("{n} saved fuzz inputs replayed");
}
