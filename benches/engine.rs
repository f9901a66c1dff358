//! Engine micro-benchmarks: sign and verify per scheme on a typical request
//! (5 headers, 3 query parameters), with the SigV4 signing-key cache in use; the mismatch
//! explainer; the recording writer; the mock's lookup in a 10,000-exchange recording.
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

    // the recording writer: one exchange line (1 KiB body inline), written and flushed
    let dir = std::env::temp_dir().join(format!("sigtap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let recorder = sigtap::record::Recorder::open(&dir.join("bench.jsonl"), 64 * 1024).unwrap();
    let rec = sigtap::proxy::log::Record {
        id: 1,
        method: "GET".into(),
        target: v4_signed.origin_target(),
        req_headers: v4_signed.headers.clone(),
        ..Default::default()
    };
    let resp_headers = vec![
        ("content-length".to_string(), "1024".to_string()),
        ("etag".to_string(), "\"0123456789abcdef\"".to_string()),
    ];
    c.bench_function("record/write-exchange (1 KiB body, flushed)", |b| {
        b.iter(|| {
            let body = recorder.body_json(black_box(&[7u8; 1024]));
            recorder.write(&sigtap::record::exchange(&rec, &resp_headers, body));
        })
    });

    // the mock's match of one request against 10,000 recorded exchanges
    let mut text = String::from("{\"sigtap_recording\":1}\n");
    for i in 0..10_000 {
        text.push_str(&format!(
            "{{\"id\":{i},\"request\":{{\"method\":\"GET\",\"target\":\"/bucket/key-{i}?x-id=GetObject\",\"headers\":[[\"host\",\"h\"]],\"body\":{{\"size\":0,\"sha256\":null,\"base64\":\"\"}}}},\"response\":{{\"status\":200,\"headers\":[],\"body\":{{\"size\":0,\"base64\":\"\"}}}}}}\n"
        ));
    }
    let recording = sigtap::record::read::Recording {
        exchanges: sigtap::record::read::parse(&text).unwrap(),
        base: dir.clone(),
    };
    let matcher = sigtap::record::matcher::Matcher::new(recording, &[]).unwrap();
    let live = vec![("Host".to_string(), "127.0.0.1:9".to_string())];
    c.bench_function("mock/match-in-10k-recording", |b| {
        b.iter(|| {
            let key = matcher.key(
                "GET",
                black_box("/bucket/key-9999?x-id=GetObject&X-Amz-Signature=00"),
                &live,
                b"",
            );
            matches!(
                matcher.find(&key),
                sigtap::record::matcher::Match::Found { .. }
            )
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
