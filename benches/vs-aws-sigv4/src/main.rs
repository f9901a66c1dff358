//! sigtap's SigV4 signer vs the `aws-sigv4` crate (smithy-rs) on the same request: the same
//! headers, time, region and payload hash; both produce the signature and the headers to set.
//! Prints the median time per signature of each and the ratio, and checks both signatures
//! agree. Run: `cd benches/vs-aws-sigv4 && cargo run --release`.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use sigtap::sig::v4::{Rules, SigningKeyCache, V4SignParams};
use std::hint::black_box;
use std::time::{Duration, Instant, UNIX_EPOCH};

const AK: &str = "AKIDEXAMPLE";
const SK: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const NOW: u64 = 1_736_931_600; // 2025-01-15T09:00:00Z

fn median(mut f: impl FnMut(), n: u32) -> Duration {
    let mut runs = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        runs.push(t.elapsed() / n);
    }
    runs.sort();
    runs[3]
}

fn main() {
    let headers = [
        ("host", "examplebucket.s3.us-east-1.amazonaws.com"),
        ("content-type", "text/plain"),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ("x-amz-meta-author", "sigtap"),
        ("range", "bytes=0-1023"),
    ];
    let uri = "https://examplebucket.s3.us-east-1.amazonaws.com/photos/2025/a%20b.jpg?partNumber=1&uploadId=abc123&x-id=GetObject";
    // sigtap
    let mut raw =
        "GET /photos/2025/a%20b.jpg?partNumber=1&uploadId=abc123&x-id=GetObject HTTP/1.1\r\n"
            .to_string();
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    let req = sigtap::wire::Request::parse(raw.as_bytes()).unwrap();
    let cache = SigningKeyCache::new();
    let ours = |cache: &SigningKeyCache| {
        sigtap::sig::v4::sign(
            &req,
            &V4SignParams {
                access_key: AK,
                secret: SK,
                session_token: None,
                region: "us-east-1",
                service: "s3",
                now: NOW as i64,
                rules: Rules::S3,
                signed_headers: None,
                presign_expires: None,
                payload_hash: Some("UNSIGNED-PAYLOAD".into()),
            },
            cache,
        )
    };
    // aws-sigv4
    let identity = Credentials::new(AK, SK, None, None, "bench").into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
    settings.uri_path_normalization_mode =
        aws_sigv4::http_request::UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(UNIX_EPOCH + Duration::from_secs(NOW))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let theirs = || {
        let signable = SignableRequest::new(
            "GET",
            uri,
            headers
                .iter()
                .copied()
                .filter(|(k, _)| *k != "x-amz-content-sha256"),
            SignableBody::UnsignedPayload,
        )
        .unwrap();
        sign(signable, &params).unwrap()
    };
    let a = ours(&cache).signature;
    let b = theirs().signature().to_string();
    println!(
        "signatures: sigtap {a}\n            aws-sigv4 {b}\n            {}",
        if a == b {
            "equal"
        } else {
            "DIFFERENT (compare the signed header sets)"
        }
    );
    let n = 20_000;
    let t_ours_cached = median(
        || {
            black_box(ours(&cache));
        },
        n,
    );
    let t_ours_cold = median(
        || {
            black_box(ours(&SigningKeyCache::new()));
        },
        n,
    );
    let t_theirs = median(
        || {
            black_box(theirs());
        },
        n,
    );
    println!(
        "machine: {} cores; {n} signatures per run, median of 7 runs",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| signer | per signature | speed relative to aws-sigv4 |");
    println!("|---|---|---|");
    let row = |name: &str, t: Duration| {
        println!(
            "| {name} | {:.2} µs | {:.2}x |",
            t.as_secs_f64() * 1e6,
            t_theirs.as_secs_f64() / t.as_secs_f64()
        )
    };
    row(
        "aws-sigv4 1.x (derives the signing key each time)",
        t_theirs,
    );
    row("sigtap, signing key derived each time", t_ours_cold);
    row(
        "sigtap, signing-key cache (as the proxy runs)",
        t_ours_cached,
    );
}
