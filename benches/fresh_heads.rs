//! Distinct signed request heads for `benches/fresh.sh`: SDK-like traffic in which no head ever
//! repeats (each request its own object name and its own signature), signed now with one of
//! KEYS keys, as boto3 and cos-python-sdk-v5 send them.
//!
//!   fresh_heads VARIANT HOST COUNT KEYS NOW OUT_FILE
//!     VARIANT: v4-header | v4-presigned | cos-header
//!     HOST:    the Host the clients sign for (the proxy's address)
//!     NOW:     unix seconds to sign at
//!   fresh_heads keys KEYS OUT_FILE     the matching credentials file (INI, one section per key)
//!
//! OUT_FILE holds one request per line, its CRLFs written as TABs (the wrk script turns them
//! back). Signing uses sigtap's own signers, which the public test vectors check.

use sigtap::sig::{cos, v4};
use sigtap::wire::Request;
use std::io::Write;

fn key(i: usize) -> (String, String) {
    (
        format!("AKIDFRESH{i:011}"),
        format!("fReShSeCrEt{i:08}/K7MDENG+bPxRfiCYEXAMPLE"),
    )
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("keys") {
        let n: usize = args[1].parse().expect("KEYS");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&args[2]).expect("OUT_FILE"));
        for i in 0..n {
            let (ak, sk) = key(i);
            writeln!(
                out,
                "[k{i}]\naws_access_key_id = {ak}\naws_secret_access_key = {sk}\n"
            )
            .unwrap();
        }
        return;
    }
    let [variant, host, count, keys, now, file] = &args[..] else {
        panic!("fresh_heads VARIANT HOST COUNT KEYS NOW OUT_FILE")
    };
    let count: usize = count.parse().expect("COUNT");
    let keys: usize = keys.parse().expect("KEYS");
    let now: i64 = now.parse().expect("NOW");
    let cache = v4::SigningKeyCache::new();
    let mut out = std::io::BufWriter::new(std::fs::File::create(file).expect("OUT_FILE"));
    for i in 0..count {
        let (ak, sk) = key(i % keys);
        let raw = format!(
            "GET /bucket/fresh/{i:08}.bin HTTP/1.1\r\nHost: {host}\r\n\
             User-Agent: Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.0\r\n\
             Accept-Encoding: identity\r\n\
             amz-sdk-invocation-id: 5f0c{i:08x}-8c1e-4f7a-9b1d-{i:012x}\r\n\
             amz-sdk-request: attempt=1; max=5\r\n\r\n"
        );
        let req = Request::parse(raw.as_bytes()).expect("a request");
        let signed = match variant.as_str() {
            "v4-header" | "v4-presigned" => {
                let presign = (variant == "v4-presigned").then_some(900);
                v4::sign(
                    &req,
                    &v4::V4SignParams {
                        access_key: &ak,
                        secret: &sk,
                        session_token: None,
                        region: "us-east-1",
                        service: "s3",
                        now,
                        rules: v4::Rules::S3,
                        signed_headers: None,
                        presign_expires: presign,
                        payload_hash: None,
                    },
                    &cache,
                )
                .plan
                .apply(&req)
            }
            "cos-header" => cos::sign(
                &req,
                &cos::CosSignParams {
                    access_key: &ak,
                    secret: &sk,
                    session_token: None,
                    start: now - 60,
                    end: now + 3600,
                    header_list: None,
                    presign: false,
                },
            )
            .plan
            .apply(&req),
            other => panic!("unknown variant {other}"),
        };
        let bytes = signed.to_bytes();
        let text = String::from_utf8(bytes).expect("ASCII");
        let line = text.trim_end_matches("\r\n").replace("\r\n", "\t");
        // the empty line that ends the head comes back in the wrk script
        writeln!(out, "{line}").unwrap();
    }
}
