//! Recording files and HAR documents: the reader, the mock's match key, HAR import.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigtap::record::{har, matcher, read};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(exchanges) = read::parse(&text) {
        for x in &exchanges {
            let r = &x.request;
            let _ = matcher::Key::new(&r.method, &r.target, &r.headers, None, &[]);
            let _ = matcher::payload_sha256(&r.headers, r.target.as_bytes());
            let _ = r.body.source(std::path::Path::new("/nonexistent-sigtap"));
        }
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = har::import(&v);
    }
});
