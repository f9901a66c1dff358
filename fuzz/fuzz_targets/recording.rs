//! Recording files and HAR documents: the reader and its field checks, the mock's match key and
//! its messages, body lookup, HAR export and import, and the redaction of what is written.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigtap::record::{har, matcher, read, redact};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(exchanges) = read::parse(&text) {
        let keys: Vec<matcher::Key> = exchanges
            .iter()
            .map(|x| {
                let r = &x.request;
                let _ = matcher::payload_sha256(&r.headers, r.target.as_bytes());
                let _ = r.body.source(std::path::Path::new("/nonexistent-sigtap"));
                matcher::Key::new(&r.method, &r.target, &r.headers, r.body.sha256.clone(), &[])
            })
            .collect();
        if let [a, b, ..] = keys.as_slice() {
            let _ = a.differences(b);
        }
        let rec = read::Recording {
            exchanges,
            base: "/nonexistent-sigtap".into(),
        };
        let _ = har::export(&rec);
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = har::import(&v);
    }
    let _ = redact::redact_target(&text);
    let _ = redact::redact_authorization(&text);
    let token: String = text.chars().take(12).collect();
    let s = redact::Scrubber::new(&[token], true);
    let _ = s.scrub(&mut data.to_vec(), true);
    let _ = redact::scrub_stream(&s, &mut &data[..], &mut Vec::new());
});
