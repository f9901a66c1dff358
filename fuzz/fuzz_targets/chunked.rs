//! aws-chunked framing, fed in pieces of varying size through the streaming verifier.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigtap::sig::v4::chunked::{ChainSigner, ChunkVerifier};

fuzz_target!(|data: &[u8]| {
    let split = 1 + data.first().copied().unwrap_or(0) as usize;
    let key = [7u8; 32];
    let chain = ChainSigner::new(key, "20250101T000000Z", "20250101/us-east-1/s3/aws4_request", "seed");
    for signed in [true, false] {
        let mut v = ChunkVerifier::new(signed.then(|| chain.clone()));
        for part in data.chunks(split) {
            v.feed(part);
        }
        let _ = v.finish();
    }
});
