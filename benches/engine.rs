//! Engine micro-benchmarks: sign and verify per scheme on a typical request
//! (5 headers, 3 query parameters), with the SigV4 signing-key cache in use.
//!
//!     cargo bench --bench engine

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sigtap::credentials::{Credential, KeyStore};
use sigtap::inspect::Inspector;
use sigtap::sig::v4::{self, Rules, SigningKeyCache};
use sigtap::sig::{cos, v2};
use sigtap::wire::Request;

const NOW: i64 = 1_750_000_000;
const AK: &str = "AKIABENCHMARK0000001";
const SK: &str = "bEnChMaRkSeCrEt/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn typical() -> Request {
    Request::parse(
        b"GET /bucket/photos/2025/cat%20pic.jpg?versionId=3HL4kqtJlcpXroDTDmJ&response-content-type=image%2Fjpeg&partNumber=1 HTTP/1.1\r\n\
Host: s3.eu-west-1.amazonaws.com\r\nUser-Agent: bench/1.0\r\nRange: bytes=0-1023\r\nIf-None-Match: \"abc\"\r\nx-amz-meta-owner: bench\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let req = typical();
    let cache = SigningKeyCache::new();
    let inspector = Inspector::new(KeyStore::single(Credential::new(AK, SK)));

    let v4p = v4::V4SignParams {
        access_key: AK,
        secret: SK,
        session_token: None,
        region: "eu-west-1",
        service: "s3",
        now: NOW,
        rules: Rules::S3,
        signed_headers: None,
        presign_expires: None,
        payload_hash: None,
    };
    c.bench_function("sign/sigv4-header", |b| {
        b.iter(|| v4::sign(black_box(&req), &v4p, &cache))
    });
    let v4_signed = v4::sign(&req, &v4p, &cache).plan.apply(&req);
    c.bench_function("verify/sigv4-header (inspect)", |b| {
        b.iter(|| inspector.inspect(black_box(&v4_signed), NOW))
    });
    let presigned = v4::sign(
        &req,
        &v4::V4SignParams {
            presign_expires: Some(900),
            ..v4p.clone()
        },
        &cache,
    )
    .plan
    .apply(&req);
    c.bench_function("verify/sigv4-query (inspect)", |b| {
        b.iter(|| inspector.inspect(black_box(&presigned), NOW))
    });

    let cosp = cos::CosSignParams {
        access_key: AK,
        secret: SK,
        session_token: None,
        start: NOW - 60,
        end: NOW + 3600,
        header_list: None,
        presign: false,
    };
    c.bench_function("sign/cos-header", |b| {
        b.iter(|| cos::sign(black_box(&req), &cosp))
    });
    let cos_signed = cos::sign(&req, &cosp).plan.apply(&req);
    c.bench_function("verify/cos-header (inspect)", |b| {
        b.iter(|| inspector.inspect(black_box(&cos_signed), NOW))
    });

    let v2p = v2::V2SignParams {
        access_key: AK,
        secret: SK,
        session_token: None,
        now: NOW,
        presign_expires: None,
    };
    c.bench_function("sign/sigv2-header", |b| {
        b.iter(|| v2::sign(black_box(&req), &v2p))
    });
    let v2_signed = v2::sign(&req, &v2p).plan.apply(&req);
    c.bench_function("verify/sigv2-header (inspect)", |b| {
        b.iter(|| inspector.inspect(black_box(&v2_signed), NOW))
    });

    // The verification step alone (parse the signature, canonicalize, HMAC, compare), per scheme.
    c.bench_function("verify-only/sigv4-header", |b| {
        b.iter(|| {
            let r = black_box(&v4_signed);
            let auth = v4::parse_header(r, r.header("authorization").unwrap()).unwrap();
            let key = cache.get(
                SK,
                &auth.scope.date,
                &auth.scope.region,
                &auth.scope.service,
            );
            let payload = v4::payload_hash_for(r, &auth, Rules::S3).unwrap();
            assert!(v4::verify(r, &auth, &payload, Rules::S3, &key).matched);
        })
    });
    c.bench_function("verify-only/cos-header", |b| {
        b.iter(|| {
            let r = black_box(&cos_signed);
            let auth = cos::extract(r).unwrap().unwrap();
            assert!(cos::verify(r, &auth, SK).matched);
        })
    });
    c.bench_function("verify-only/sigv2-header", |b| {
        b.iter(|| {
            let r = black_box(&v2_signed);
            let auth = v2::parse_header(r.header("authorization").unwrap()).unwrap();
            assert!(v2::verify(r, &auth, SK).matched);
        })
    });

    // The mismatch explainer on a request whose Host gained a port after signing
    // (the variant is found after the secret, path and header variants are tried).
    let mut moved = v4_signed.clone();
    moved.set_header("Host", "s3.eu-west-1.amazonaws.com:443");
    c.bench_function("explain/sigv4-host-changed (inspect)", |b| {
        b.iter(|| {
            let r = inspector.inspect(black_box(&moved), NOW);
            assert!(r.findings.iter().any(|f| f.cause == Some("host-changed")));
        })
    });
    let mut unexplained = v4_signed.clone();
    unexplained.set_header("x-amz-meta-owner", "someone-else");
    c.bench_function("explain/sigv4-unexplained (full search)", |b| {
        b.iter(|| inspector.inspect(black_box(&unexplained), NOW))
    });

    let raw = v4_signed.to_bytes();
    c.bench_function("parse/raw-request", |b| {
        b.iter(|| Request::parse(black_box(&raw)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
