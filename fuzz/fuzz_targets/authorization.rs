//! Authorization header values of every scheme.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigtap::credentials::{Credential, KeyStore};
use sigtap::inspect::Inspector;
use sigtap::wire::Request;

fuzz_target!(|data: &[u8]| {
    let value = String::from_utf8_lossy(data).replace(['\r', '\n'], " ");
    let base = Request::parse(
        b"PUT /b/k HTTP/1.1\r\nHost: b.s3.us-east-1.amazonaws.com\r\nX-Amz-Date: 20250101T000000Z\r\nDate: Wed, 01 Jan 2025 00:00:00 GMT\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\r\n",
    )
    .unwrap();
    let _ = sigtap::sig::v4::parse_header(&base, &value);
    let _ = sigtap::sig::v2::parse_header(&value);
    let mut req = base.clone();
    req.set_header("Authorization", value.clone());
    let _ = sigtap::sig::cos::extract(&req);
    let insp = Inspector::new(KeyStore::single(Credential::new("AK", "SK")));
    let _ = insp.inspect(&req, 1_735_689_600);
});
