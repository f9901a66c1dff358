//! Conformance with the public SDK vectors in `../shared/vectors/`, asserted stage by stage:
//! COS HttpString / StringToSign / signature, SigV4 canonical request / string to sign /
//! signature, SigV2 string to sign, aws-chunked chains, and each vector's accept/reject verdict.

mod common;

use common::*;
use serde_json::Value;
use sigtap::credentials::{Credential, KeyStore};
use sigtap::findings::code;
use sigtap::inspect::{Inspector, Verdict};
use sigtap::sig::{Carrier, Scheme};
use sigtap::timefmt::parse_user_time;
use sigtap::wire::Request;

fn inspector(ak: &str, sk: &str, token: Option<&str>) -> Inspector {
    Inspector::new(KeyStore::single(
        Credential::new(ak, sk).with_token(token.map(str::to_string)),
    ))
}

fn cos_body(v: &Value) -> Vec<u8> {
    if let Some(s) = v.get("body_utf8").and_then(Value::as_str) {
        return s.as_bytes().to_vec();
    }
    match v.pointer("/sdk_call/args/Body") {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(Value::Object(o)) => o
            .get("base64")
            .and_then(Value::as_str)
            .map(b64)
            .unwrap_or_default(),
        _ if v["name"] == "doc-7778-upload-put-object" => b"ObjectContent".to_vec(),
        _ => Vec::new(),
    }
}

#[test]
fn cos_public_vectors_stage_by_stage() {
    let Some(dir) = shared_dir() else { return };
    let doc = load_json(&dir.join("vectors/cos_public.json"));
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 34, "cos_public.json should hold 34 vectors");
    let mut failures = Vec::new();
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let target = match v["raw_query"].as_str().unwrap() {
            "" => v["path"].as_str().unwrap().to_string(),
            q => format!("{}?{q}", v["path"].as_str().unwrap()),
        };
        let raw = raw_request(
            v["method"].as_str().unwrap(),
            &target,
            &header_pairs(&v["headers"]),
            &cos_body(v),
        );
        let req = Request::parse(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let now = v["sdk_now"].as_i64().unwrap();
        let r = inspector(
            v["secret_id"].as_str().unwrap(),
            v["secret_key"].as_str().unwrap(),
            v["token"].as_str(),
        )
        .inspect(&req, now);
        let status = v["wire_rederivation"]["status"].as_str().unwrap_or("match");
        let carrier = if v["mode"] == "header" {
            Carrier::Header
        } else {
            Carrier::Query
        };
        if r.scheme != Scheme::Cos || r.carrier != carrier {
            failures.push(format!(
                "{name}: scheme/carrier {:?}/{:?}",
                r.scheme, r.carrier
            ));
            continue;
        }
        if name.ends_with("case-colliding-params") {
            // COS-SIGNATURE.md 2.2: either reading is acceptable; the report must say which.
            assert!(
                r.verdict == Verdict::Invalid || r.has(code::SIGNATURE_READING),
                "{name}"
            );
            continue;
        }
        if status == "match" {
            if r.verdict != Verdict::Valid {
                failures.push(format!(
                    "{name}: verdict {:?}, findings {:?}",
                    r.verdict, r.findings
                ));
            }
            if r.stages.http_string.as_deref() != v["http_string"].as_str() {
                failures.push(format!(
                    "{name}: stage HttpString differs:\n ours {:?}\n sdk  {:?}",
                    r.stages.http_string, v["http_string"]
                ));
            }
            if r.stages.string_to_sign.as_deref() != v["string_to_sign"].as_str() {
                failures.push(format!("{name}: stage StringToSign differs"));
            }
            if r.stages.expected_signature.as_deref() != v["signature"].as_str() {
                failures.push(format!("{name}: stage signature differs"));
            }
        } else if r.verdict != Verdict::Invalid || !r.has(code::SIGNATURE_MISMATCH) {
            failures.push(format!(
                "{name}: a wire mismatch vector was not rejected: {:?}",
                r.findings
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} COS vector failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn aws_request(v: &Value) -> Request {
    let headers = header_pairs(&v["headers"]);
    let mut body = if let Some(b) = v.get("body_b64").and_then(Value::as_str) {
        b64(b)
    } else if let Some(s) = v.get("body_utf8").and_then(Value::as_str) {
        s.as_bytes().to_vec()
    } else {
        Vec::new()
    };
    let te = headers.iter().any(|(k, val)| {
        k.eq_ignore_ascii_case("transfer-encoding") && val.eq_ignore_ascii_case("chunked")
    });
    if te {
        body = http_chunked(&body, 48);
    }
    let raw = raw_request(
        v["method"].as_str().unwrap(),
        &origin_form(v["url"].as_str().unwrap()),
        &headers,
        &body,
    );
    Request::parse(&raw).unwrap_or_else(|e| panic!("{}: {e}", v["name"]))
}

#[test]
fn s3_public_vectors_stage_by_stage() {
    let Some(dir) = shared_dir() else { return };
    let doc = load_json(&dir.join("vectors/s3_public.json"));
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 44, "s3_public.json should hold 44 vectors");
    let mut failures = Vec::new();
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let req = aws_request(v);
        let now = parse_user_time(v["time"].as_str().unwrap()).unwrap();
        let r = inspector(
            v["access_key"].as_str().unwrap(),
            v["secret_key"].as_str().unwrap(),
            v["session_token"].as_str(),
        )
        .inspect(&req, now);
        let (scheme, carrier) = v["scheme"].as_str().unwrap().split_once('-').unwrap();
        if r.scheme.as_str() != scheme || r.carrier.as_str() != carrier {
            failures.push(format!(
                "{name}: scheme/carrier {:?}/{:?}",
                r.scheme, r.carrier
            ));
        }
        let expect = v["expect"].as_str().unwrap_or("accept");
        if expect == "accept" {
            if r.verdict != Verdict::Valid {
                failures.push(format!("{name}: verdict {:?}: {:?}", r.verdict, r.findings));
                continue;
            }
            if scheme == "sigv4" && v.get("signed_url_form").is_none() {
                if r.stages.canonical_request.as_deref() != v["canonical_request"].as_str() {
                    failures.push(format!(
                        "{name}: stage canonical request differs:\n ours {:?}\n boto {:?}",
                        r.stages.canonical_request, v["canonical_request"]
                    ));
                }
                if r.stages.string_to_sign.as_deref() != v["string_to_sign"].as_str() {
                    failures.push(format!("{name}: stage string to sign differs"));
                }
            }
            if scheme == "sigv2" {
                let botocore = v["string_to_sign"].as_str();
                let doc_variant = v
                    .pointer("/s3_doc_variant/string_to_sign")
                    .and_then(Value::as_str);
                let ours = r.stages.string_to_sign.as_deref();
                if ours != botocore && ours != doc_variant {
                    failures.push(format!(
                        "{name}: stage string to sign differs:\n ours {ours:?}\n boto {botocore:?}"
                    ));
                }
            }
            if r.stages.expected_signature.as_deref() != v["signature"].as_str() {
                failures.push(format!("{name}: stage signature differs"));
            }
        } else {
            let want = match expect {
                "reject:SignatureDoesNotMatch" => code::SIGNATURE_MISMATCH,
                other => panic!("{name}: unknown expectation {other}"),
            };
            if r.verdict != Verdict::Invalid || !r.has(want) {
                failures.push(format!(
                    "{name}: expected rejection with {want}, got {:?}: {:?}",
                    r.verdict, r.findings
                ));
            }
        }
        // the S3-documented SigV2 variant must verify too, and say which Date line matched
        if let Some(doc_auth) = v
            .pointer("/s3_doc_variant/authorization")
            .and_then(Value::as_str)
        {
            let mut alt = req.clone();
            alt.set_header("Authorization", doc_auth);
            let r2 = inspector(
                v["access_key"].as_str().unwrap(),
                v["secret_key"].as_str().unwrap(),
                None,
            )
            .inspect(&alt, now);
            if r2.verdict != Verdict::Valid || r2.has(code::SIGNATURE_READING) {
                failures.push(format!(
                    "{name}: s3_doc_variant should verify with the documented reading: {:?}",
                    r2.findings
                ));
            }
            if !r.has(code::SIGNATURE_READING) {
                failures.push(format!(
                    "{name}: botocore's Date line matched without saying so"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} S3 vector failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn s3_generic_contrast_is_rejected_under_s3_rules() {
    // Vectors with `generic_sigv4_contrast`: the generic signer's signature must NOT verify for S3.
    let Some(dir) = shared_dir() else { return };
    let doc = load_json(&dir.join("vectors/s3_public.json"));
    let mut seen = 0;
    for v in doc["vectors"].as_array().unwrap() {
        let Some(sig) = v
            .pointer("/generic_sigv4_contrast/signature")
            .and_then(Value::as_str)
        else {
            continue;
        };
        seen += 1;
        let mut req = aws_request(v);
        let auth = req.header("authorization").unwrap().to_string();
        let provided = auth.rsplit_once("Signature=").unwrap().1.to_string();
        req.set_header("Authorization", auth.replace(&provided, sig));
        let now = parse_user_time(v["time"].as_str().unwrap()).unwrap();
        let r = inspector(
            v["access_key"].as_str().unwrap(),
            v["secret_key"].as_str().unwrap(),
            None,
        )
        .inspect(&req, now);
        assert!(
            r.has(code::SIGNATURE_MISMATCH),
            "{}: the generic-rule signature verified under S3 rules",
            v["name"]
        );
    }
    assert!(seen >= 3, "expected the contrast vectors, found {seen}");
}

#[test]
fn chunked_public_vectors_verify_chunk_by_chunk() {
    let Some(dir) = shared_dir() else { return };
    let doc = load_json(&dir.join("vectors/s3_chunked_public.json"));
    let mut count = 0;
    for group in ["reference", "public"] {
        for v in doc[group].as_array().unwrap() {
            if v.get("body_b64").is_none() || v.get("method").is_none() {
                continue;
            }
            count += 1;
            let name = v["name"].as_str().unwrap();
            let req = aws_request(v);
            let now = parse_user_time(v["time"].as_str().unwrap()).unwrap();
            let insp = inspector(
                v["access_key"].as_str().unwrap(),
                v["secret_key"].as_str().unwrap(),
                v["session_token"].as_str(),
            );
            let r = insp.inspect(&req, now);
            assert_eq!(r.verdict, Verdict::Valid, "{name}: {:?}", r.findings);
            let chunks = r.stages.chunks.as_ref().expect("chunk stage");
            assert!(chunks.signed && chunks.chunks >= 2, "{name}: {chunks:?}");
            // flip one hex digit of every chunk signature in turn: the index must be reported
            let body = req.body.clone();
            let marks: Vec<usize> = body
                .windows(17)
                .enumerate()
                .filter(|(_, w)| *w == b";chunk-signature=")
                .map(|(i, _)| i + 17)
                .collect();
            for (index, at) in marks.iter().enumerate() {
                let mut bad = req.clone();
                bad.body[*at] = if bad.body[*at] == b'0' { b'1' } else { b'0' };
                let r = insp.inspect(&bad, now);
                let f = r
                    .findings
                    .iter()
                    .find(|f| f.code == code::CHUNK_SIGNATURE_MISMATCH)
                    .unwrap_or_else(|| {
                        panic!("{name}: chunk {index} change not caught: {:?}", r.findings)
                    });
                assert_eq!(f.evidence["chunk_index"], index as u64, "{name}");
            }
        }
    }
    assert_eq!(
        count, 3,
        "expected 3 wire requests in s3_chunked_public.json"
    );
}

#[test]
fn chunked_trailer_reference_value() {
    let Some(dir) = shared_dir() else { return };
    let doc = load_json(&dir.join("vectors/s3_chunked_public.json"));
    let text = doc.to_string();
    assert!(
        text.contains("df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c"),
        "the aws-c-auth trailer reference value moved"
    );
    let key = sigtap::sig::v4::signing_key(
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "20130524",
        "us-east-1",
        "s3",
    );
    let mut chain = sigtap::sig::v4::chunked::ChainSigner::new(
        key,
        "20130524T000000Z",
        "20130524/us-east-1/s3/aws4_request",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    );
    chain.advance("b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9");
    let trailers: Vec<(String, String)> = [("first", "1st"), ("second", "2nd"), ("third", "3rd")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(
        chain.trailer_signature(&trailers),
        "df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c"
    );
}
