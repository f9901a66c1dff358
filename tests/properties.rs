//! Property tests: signing then verifying succeeds for arbitrary keys, paths, parameters and
//! headers in every scheme and carrier; every parser returns an error, never panics, on
//! arbitrary input.

use proptest::prelude::*;
use sigtap::credentials::{Credential, KeyStore};
use sigtap::inspect::{Inspector, Verdict};
use sigtap::sig::encode::uri_encode;
use sigtap::sig::v4::chunked::{encode_chunk, encode_final, ChainSigner, ChunkVerifier, Decoder};
use sigtap::sig::v4::{self, Rules, SigningKeyCache};
use sigtap::sig::{cos, v2};
use sigtap::wire::Request;

const NOW: i64 = 1_750_000_000;

fn text() -> impl Strategy<Value = String> {
    // printable ASCII with the awkward characters, plus some non-ASCII
    proptest::string::string_regex("[ -~éü中文😀]{0,24}").unwrap()
}

fn token() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9+/=._-]{1,40}").unwrap()
}

fn header_value() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[!-~]([ -~]{0,20}[!-~])?").unwrap()
}

prop_compose! {
    fn request()(
        method in prop::sample::select(vec!["GET", "PUT", "POST", "DELETE", "HEAD"]),
        segments in prop::collection::vec(text(), 1..4),
        params in prop::collection::vec((proptest::string::string_regex("[a-zA-Z][a-zA-Z0-9-]{0,8}").unwrap(), text()), 0..4),
        headers in prop::collection::vec((proptest::string::string_regex("x-(amz|cos)-meta-[a-z]{1,6}").unwrap(), header_value()), 0..3),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) -> Request {
        let path: String = segments.iter().map(|s| format!("/{}", uri_encode(s.as_bytes(), false))).collect();
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", uri_encode(k.as_bytes(), false), uri_encode(v.as_bytes(), false)))
            .collect();
        let mut raw = format!("{method} /bucket{path}{} HTTP/1.1\r\nHost: bucket-1250000000.cos.ap-guangzhou.myqcloud.com\r\n",
            if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) });
        for (k, v) in &headers {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        raw.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = raw.into_bytes();
        bytes.extend_from_slice(&body);
        Request::parse(&bytes).expect("generated requests parse")
    }
}

fn inspector(ak: &str, sk: &str, tok: Option<&str>) -> Inspector {
    Inspector::new(KeyStore::single(
        Credential::new(ak, sk).with_token(tok.map(str::to_string)),
    ))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    #[test]
    fn cos_sign_then_verify(req in request(), sk in token(), tok in prop::option::of(token()), presign in any::<bool>()) {
        let s = cos::sign(&req, &cos::CosSignParams {
            access_key: "AKIDprop", secret: &sk, session_token: tok.as_deref(),
            start: NOW - 60, end: NOW + 600, header_list: None, presign,
        });
        let signed = s.plan.apply(&req);
        let r = inspector("AKIDprop", &sk, tok.as_deref()).inspect(&signed, NOW);
        prop_assert_eq!(r.verdict, Verdict::Valid, "{:?}\n{:?}", r.findings, r.stages.http_string);
        let r = inspector("AKIDprop", &format!("{sk}x"), tok.as_deref()).inspect(&signed, NOW);
        prop_assert_eq!(r.verdict, Verdict::Invalid);
    }

    #[test]
    fn sigv4_sign_then_verify(req in request(), sk in token(), tok in prop::option::of(token()), presign in any::<bool>()) {
        let mut req = req;
        // S3 rejects unsigned x-amz-meta headers; for a presign they must be signed too
        let signed_headers = if presign {
            let mut h: Vec<String> = req.headers.iter().map(|(k, _)| k.to_ascii_lowercase()).filter(|k| k.starts_with("x-")).collect();
            h.push("host".into());
            Some(h)
        } else { None };
        req.remove_header("x-cos-meta-a"); // keep the request S3-shaped
        let s = v4::sign(&req, &v4::V4SignParams {
            access_key: "AKIAPROP", secret: &sk, session_token: tok.as_deref(), region: "ap-guangzhou",
            service: "s3", now: NOW, rules: Rules::S3, signed_headers, presign_expires: presign.then_some(900),
            payload_hash: None,
        }, &SigningKeyCache::new());
        let signed = s.plan.apply(&req);
        let r = inspector("AKIAPROP", &sk, tok.as_deref()).inspect(&signed, NOW + 30);
        prop_assert_eq!(r.verdict, Verdict::Valid, "{:?}\n{:?}", r.findings, r.stages.canonical_request);
    }

    #[test]
    fn sigv2_sign_then_verify(req in request(), sk in token(), tok in prop::option::of(token()), presign in any::<bool>()) {
        let s = v2::sign(&req, &v2::V2SignParams {
            access_key: "AKIAPROP2", secret: &sk, session_token: tok.as_deref(), now: NOW,
            presign_expires: presign.then_some(900),
        });
        let signed = s.plan.apply(&req);
        let r = inspector("AKIAPROP2", &sk, tok.as_deref()).inspect(&signed, NOW + 30);
        prop_assert_eq!(r.verdict, Verdict::Valid, "{:?}\n{:?}", r.findings, r.stages.string_to_sign);
    }

    #[test]
    fn chunked_encode_then_verify(pieces in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..5), split in 1usize..50) {
        let key = v4::signing_key("secret", "20250101", "us-east-1", "s3");
        let seed = "a".repeat(64);
        let mk = || ChainSigner::new(key, "20250101T000000Z", "20250101/us-east-1/s3/aws4_request", &seed);
        let mut signer = mk();
        let mut body = Vec::new();
        for p in &pieces {
            body.extend(encode_chunk(Some(&mut signer), p));
        }
        body.extend(encode_final(Some(&mut signer), &[("x-amz-checksum-crc32".into(), "AAAAAA==".into())]));
        let mut v = ChunkVerifier::new(Some(mk()));
        for part in body.chunks(split) {
            v.feed(part);
        }
        let rep = v.finish();
        prop_assert_eq!(rep.framing_error, None);
        prop_assert_eq!(rep.first_bad, None);
        prop_assert_eq!(rep.trailer_signature_ok, Some(true));
        prop_assert_eq!(rep.decoded_length as usize, pieces.iter().map(Vec::len).sum::<usize>());
    }

    #[test]
    fn parsers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Request::parse(&bytes);
        let mut d = Decoder::new();
        let _ = d.feed(&bytes, &mut |_| {});
        let _ = d.finish();
        let mut v = ChunkVerifier::new(None);
        v.feed(&bytes);
        let _ = v.finish();
    }

    #[test]
    fn inspect_never_panics_on_garbage_auth(auth in "[ -~]{0,200}", prefix in prop::sample::select(vec!["", "AWS4-HMAC-SHA256 ", "AWS ", "q-sign-algorithm=sha1&", "Credential="]), q in "[ -~]{0,80}") {
        let q = q.replace([' ', '#'], "");
        let raw = format!("GET /b/k?{q} HTTP/1.1\r\nHost: s3.amazonaws.com\r\nX-Amz-Date: 20250101T000000Z\r\nDate: x\r\nAuthorization: {prefix}{auth}\r\n\r\n");
        if let Ok(req) = Request::parse(raw.as_bytes()) {
            let r = inspector("AK", "SK", None).inspect(&req, NOW);
            prop_assert!(r.verdict != Verdict::Valid || prefix.is_empty() && auth.is_empty());
        }
        let presigned = format!("GET /b/k?{q}&{auth} HTTP/1.1\r\nHost: h\r\n\r\n").replace(' ', "");
        let presigned = presigned.replacen("GET/b/k", "GET /b/k ", 1).replacen("HTTP/1.1", " HTTP/1.1", 1);
        if let Ok(req) = Request::parse(presigned.as_bytes()) {
            let _ = inspector("AK", "SK", None).inspect(&req, NOW);
        }
    }
}
