//! Raw request files: parse, then inspect whatever parses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigtap::credentials::{Credential, KeyStore};
use sigtap::inspect::Inspector;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = sigtap::wire::Request::parse(data) {
        let insp = Inspector::new(KeyStore::single(Credential::new("AK", "SK")));
        let _ = insp.inspect(&req, 1_750_000_000);
        let _ = sigtap::wire::Request::parse(&req.to_bytes());
    }
});
