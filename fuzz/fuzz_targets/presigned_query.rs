//! Presigned query strings (SigV4, SigV2, COS q-* and sign=).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigtap::credentials::{Credential, KeyStore};
use sigtap::inspect::Inspector;
use sigtap::wire::Request;

fuzz_target!(|data: &[u8]| {
    let q: String = String::from_utf8_lossy(data)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '#')
        .collect();
    let Ok(req) = Request::from_url(&format!("https://b.s3.amazonaws.com/k?{q}")) else {
        return;
    };
    let insp = Inspector::new(KeyStore::single(Credential::new("AK", "SK")));
    let _ = insp.inspect(&req, 1_735_689_600);
    let _ = sigtap::sig::v4::parse_presigned(&req, sigtap::sig::v4::Rules::S3);
    let _ = sigtap::sig::v2::parse_presigned(&req);
    let _ = sigtap::sig::cos::extract(&req);
});
