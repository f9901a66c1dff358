//! Replays every saved fuzz input (`fuzz/regressions/`) through all parsers: none may panic.

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
        // the recording target: reader and HAR import
        let _ = sigtap::record::read::parse(&String::from_utf8_lossy(&data));
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) {
            let _ = sigtap::record::har::import(&v);
        }
    }
    eprintln!("{n} saved fuzz inputs replayed");
}
