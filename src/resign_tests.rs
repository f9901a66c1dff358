//! `resign` checked by the engine: every re-signed request inspects Valid with the key it was
//! signed with, at the time it was signed, for the upstream's host.

use super::*;
use crate::credentials::{Credential, KeyStore};
use crate::findings::code;
use crate::inspect::Inspector;
use crate::inspect::Verdict;
use crate::sig::v4::chunked;

const AK: &str = "AKIDEXAMPLE";
const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const ID_AK: &str = "AKIDUPSTREAMIDENTITY";
const ID_SK: &str = "upstream-identity-secret";
/// 2025-01-15T08:30:00Z, when the clients signed.
const T: i64 = 1_736_929_800;
/// Three hours later: every client signature is expired or skewed by then.
const LATER: i64 = T + 3 * 3600;
const PROXY: &str = "127.0.0.1:8080";
const S3_HOST: &str = "s3.eu-west-1.amazonaws.com";
const COS_HOST: &str = "b-1250000000.cos.ap-guangzhou.myqcloud.com";

fn inspector() -> Inspector {
    let mut k = KeyStore::new();
    k.add(Credential::new(AK, SK));
    k.add(Credential::new(ID_AK, ID_SK));
    Inspector::new(k)
}

fn plain(method: &str, target: &str, host: &str, headers: &[(&str, &str)]) -> Request {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    Request::parse(head.as_bytes()).unwrap()
}

/// SigV4-signs `req` as a client would; returns the signed request and its signature.
fn v4_signed(
    req: &Request,
    at: i64,
    presign: Option<i64>,
    payload: Option<&str>,
) -> (Request, String) {
    let s = v4::sign(
        req,
        &v4::V4SignParams {
            access_key: AK,
            secret: SK,
            session_token: None,
            region: "eu-west-1",
            service: "s3",
            now: at,
            rules: Rules::S3,
            signed_headers: None,
            presign_expires: presign,
            payload_hash: payload.map(str::to_string),
        },
        &SigningKeyCache::new(),
    );
    (s.plan.apply(req), s.signature)
}

fn cos_signed(req: &Request, at: i64, presign: bool) -> Request {
    let s = cos::sign(
        req,
        &cos::CosSignParams {
            access_key: AK,
            secret: SK,
            session_token: None,
            start: at,
            end: at + 600,
            header_list: None,
            presign,
        },
    );
    s.plan.apply(req)
}

fn v2_signed(req: &Request, at: i64, presign: Option<i64>) -> Request {
    let s = v2::sign(
        req,
        &v2::V2SignParams {
            access_key: AK,
            secret: SK,
            session_token: None,
            now: at,
            presign_expires: presign,
        },
    );
    s.plan.apply(req)
}

/// Re-signs `client` for `upstream` at `now`, as the proxy does after `decide`.
fn resigned(
    client: &Request,
    upstream: &str,
    now: i64,
    sign_as: SignAs,
    fresh: bool,
) -> Result<(Request, Scheme, Option<Reframing>), String> {
    let ins = inspector();
    let report = ins.inspect(client, now);
    let cred = if fresh {
        Credential::new(ID_AK, ID_SK)
    } else {
        Credential::new(AK, SK)
    };
    let p = ResignParams {
        cred: &cred,
        upstream_host: upstream,
        now,
        region: None,
        sign_as,
        fresh,
    };
    resign(client, &report, &p, &ins.cache)
}

/// The engine's verdict on a re-signed request, which must be Valid in `scheme` and `carrier`
/// for the upstream's host, with one signature only.
fn verified(out: &Request, upstream: &str, now: i64, scheme: Scheme, carrier: Carrier) -> Report {
    let r = inspector().inspect(out, now);
    let shown = || String::from_utf8_lossy(&out.to_bytes()).into_owned();
    assert_eq!(r.verdict, Verdict::Valid, "{:#?}\n{}", r.findings, shown());
    assert_eq!((r.scheme, r.carrier), (scheme, carrier), "{}", shown());
    assert_eq!(out.header("host"), Some(upstream));
    let auth_headers = out.header_values("authorization").count();
    assert_eq!(
        auth_headers,
        usize::from(carrier == Carrier::Header),
        "{}",
        shown()
    );
    r
}

fn query(r: &Request) -> &str {
    r.query.as_deref().unwrap_or("")
}

#[test]
fn sigv4_header_for_another_host_keeps_the_clients_signed_headers() {
    let client = plain(
        "PUT",
        "/bucket/key",
        PROXY,
        &[("x-amz-meta-color", "blue"), ("Content-Type", "text/plain")],
    );
    let (client, _) = v4_signed(&client, T, None, Some(v4::UNSIGNED_PAYLOAD));
    let before = inspector().inspect(&client, T + 10);
    assert_eq!(before.verdict, Verdict::Valid, "{:#?}", before.findings);
    let (out, scheme, rf) = resigned(&client, S3_HOST, T + 10, SignAs::Keep, false).unwrap();
    assert!(rf.is_none());
    let r = verified(&out, S3_HOST, T + 10, Scheme::Sigv4, Carrier::Header);
    assert_eq!(scheme, Scheme::Sigv4);
    let (old, new) = (before.v4_auth.unwrap(), r.v4_auth.unwrap());
    assert_eq!(new.signed_headers, old.signed_headers);
    assert_eq!(new.scope.region, "eu-west-1");
    assert_eq!(new.amz_date, crate::timefmt::amz_date(T + 10));
    assert_eq!(
        out.header("x-amz-content-sha256"),
        Some(v4::UNSIGNED_PAYLOAD)
    );
}

#[test]
fn sigv4_presigned_and_expired_is_presigned_again_for_at_least_900s() {
    let client = plain("GET", "/bucket/key?versionId=3", S3_HOST, &[]);
    let (client, _) = v4_signed(&client, T, Some(60), None);
    assert!(inspector().inspect(&client, LATER).has(code::EXPIRED));
    let (out, _, _) = resigned(&client, S3_HOST, LATER, SignAs::Keep, false).unwrap();
    verified(&out, S3_HOST, LATER, Scheme::Sigv4, Carrier::Query);
    let q = query(&out);
    assert_eq!(q.matches("X-Amz-Signature=").count(), 1, "{q}");
    assert!(q.contains("X-Amz-Expires=900"), "{q}");
    assert!(q.contains(&crate::timefmt::amz_date(LATER)), "{q}");
    assert!(
        q.starts_with("versionId=3") || q.contains("&versionId=3"),
        "{q}"
    );
}

#[test]
fn cos_header_and_presigned_are_signed_again_in_their_carrier() {
    for presign in [false, true] {
        let client = plain(
            "GET",
            "/dir/key.txt",
            COS_HOST,
            &[("Content-Type", "text/plain")],
        );
        let client = cos_signed(&client, T, presign);
        assert!(inspector().inspect(&client, LATER).has(code::EXPIRED));
        let (out, scheme, _) = resigned(&client, COS_HOST, LATER, SignAs::Keep, false).unwrap();
        assert_eq!(scheme, Scheme::Cos);
        let carrier = if presign {
            Carrier::Query
        } else {
            Carrier::Header
        };
        let r = verified(&out, COS_HOST, LATER, Scheme::Cos, carrier);
        let w = r.window.unwrap();
        assert!(w.start.unwrap() <= LATER && w.end >= LATER + 600, "{w:?}");
        if presign {
            assert_eq!(query(&out).matches("q-signature=").count(), 1);
        }
    }
}

#[test]
fn sigv2_header_and_presigned_are_signed_again_in_their_carrier() {
    for presign in [None, Some(60)] {
        let client = plain("GET", "/bucket/photos/cat.jpg", S3_HOST, &[]);
        let client = v2_signed(&client, T, presign);
        let late = inspector().inspect(&client, LATER);
        assert!(
            late.has(code::EXPIRED) || late.has(code::CLOCK_SKEW),
            "{:#?}",
            late.findings
        );
        let (out, scheme, _) = resigned(&client, S3_HOST, LATER, SignAs::Keep, false).unwrap();
        assert_eq!(scheme, Scheme::Sigv2);
        let carrier = if presign.is_some() {
            Carrier::Query
        } else {
            Carrier::Header
        };
        verified(&out, S3_HOST, LATER, Scheme::Sigv2, carrier);
        if presign.is_some() {
            assert_eq!(query(&out).matches("Signature=").count(), 1);
        }
    }
}

/// `--sign-as` converts, dropping every trace of the client's scheme; `--resign always` signs
/// an anonymous request with the upstream identity.
#[test]
fn conversions_leave_one_signature_in_the_new_scheme() {
    let target = || plain("GET", "/bucket/key", S3_HOST, &[]);
    // SigV2 header -> SigV4 header
    let client = v2_signed(&target(), T, None);
    let (out, scheme, _) = resigned(&client, S3_HOST, T + 5, SignAs::Sigv4, false).unwrap();
    assert_eq!(scheme, Scheme::Sigv4);
    verified(&out, S3_HOST, T + 5, Scheme::Sigv4, Carrier::Header);
    // SigV4 presigned -> COS presigned
    let (client, _) = v4_signed(&target(), T, Some(600), None);
    let (out, scheme, _) = resigned(&client, COS_HOST, T + 5, SignAs::Cos, false).unwrap();
    assert_eq!(scheme, Scheme::Cos);
    verified(&out, COS_HOST, T + 5, Scheme::Cos, Carrier::Query);
    assert!(!query(&out).contains("X-Amz-"), "{}", query(&out));
    // COS header -> SigV2 header
    let client = cos_signed(&target(), T, false);
    let (out, scheme, _) = resigned(&client, S3_HOST, T + 5, SignAs::Sigv2, false).unwrap();
    assert_eq!(scheme, Scheme::Sigv2);
    verified(&out, S3_HOST, T + 5, Scheme::Sigv2, Carrier::Header);
    // SigV2 presigned -> SigV4 presigned
    let client = v2_signed(&target(), T, Some(600));
    let (out, _, _) = resigned(&client, S3_HOST, T + 5, SignAs::Sigv4, false).unwrap();
    verified(&out, S3_HOST, T + 5, Scheme::Sigv4, Carrier::Query);
    assert!(!query(&out).contains("AWSAccessKeyId"), "{}", query(&out));
    // anonymous -> the upstream identity, SigV4 header
    let (out, scheme, _) = resigned(&target(), S3_HOST, T + 5, SignAs::Keep, true).unwrap();
    assert_eq!(scheme, Scheme::Sigv4);
    let r = verified(&out, S3_HOST, T + 5, Scheme::Sigv4, Carrier::Header);
    assert_eq!(r.access_key.as_deref(), Some(ID_AK));
}

/// A signed aws-chunked upload: the client's chain (to verify the chunks it sends) and a new
/// chain seeded by the new signature (to re-frame them), so the re-framed body verifies.
#[test]
fn signed_aws_chunked_upload_gets_both_chains() {
    let pieces: [&[u8]; 3] = [&[b'a'; 8192], &[b'b'; 8192], b"tail"];
    let data_len: usize = pieces.iter().map(|p| p.len()).sum();
    let framed = |sizes: &[usize]| -> usize {
        sizes
            .iter()
            .map(|n| format!("{n:x}").len() + 17 + 64 + 4 + n)
            .sum::<usize>()
            + 1
            + 17
            + 64
            + 4
    };
    let framed_len = framed(&pieces.map(<[u8]>::len));
    let head = plain(
        "PUT",
        "/bucket/upload.bin",
        PROXY,
        &[
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", &data_len.to_string()),
            ("Content-Length", &framed_len.to_string()),
        ],
    );
    let (mut client, seed) = v4_signed(&head, T, None, Some(v4::STREAMING_SIGNED));
    let amz = crate::timefmt::amz_date(T);
    let scope = format!("{}/eu-west-1/s3/aws4_request", &amz[..8]);
    let mut chain = chunked::ChainSigner::new(
        v4::signing_key(SK, &amz[..8], "eu-west-1", "s3"),
        &amz,
        &scope,
        &seed,
    );
    let mut sent = Vec::new();
    let mut client_sigs = Vec::new();
    for p in pieces {
        sent.extend(chunked::encode_chunk(Some(&mut chain), p));
        client_sigs.push(chain.previous().to_string());
    }
    sent.extend(chunked::encode_final(Some(&mut chain), &[]));
    client_sigs.push(chain.previous().to_string());
    assert_eq!(sent.len(), framed_len);
    client.body = sent.clone();
    client.body_complete = true;
    assert_eq!(inspector().inspect(&client, T + 5).verdict, Verdict::Valid);

    let (mut out, _, rf) = resigned(&client, S3_HOST, T + 5, SignAs::Keep, false).unwrap();
    let rf = rf.expect("a signed aws-chunked body is re-framed");
    let new_sig = inspector()
        .inspect_head(&out, T + 5)
        .v4_auth
        .unwrap()
        .signature;
    assert_eq!(
        rf.old.previous(),
        seed,
        "the client's chain starts at its signature"
    );
    assert_eq!(
        rf.new.previous(),
        new_sig,
        "the new chain starts at the new signature"
    );
    // the body as it arrived no longer verifies under the new signature ...
    assert!(inspector()
        .inspect(&out, T + 5)
        .has(code::CHUNK_SIGNATURE_MISMATCH));
    // ... re-framed with the chains, chunk by chunk, it does
    let (mut old, mut new) = (rf.old.clone(), rf.new.clone());
    let mut reframed = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        assert_eq!(
            old.sign_chunk(p),
            client_sigs[i],
            "chunk {i} of the client's chain"
        );
        reframed.extend(chunked::encode_chunk(Some(&mut new), p));
    }
    assert_eq!(
        old.sign_chunk(b""),
        client_sigs[3],
        "the client's final chunk"
    );
    reframed.extend(chunked::encode_final(Some(&mut new), &[]));
    assert_eq!(reframed.len(), sent.len(), "Content-Length still holds");
    out.body = reframed;
    verified(&out, S3_HOST, T + 5, Scheme::Sigv4, Carrier::Header);

    // a chain can only be re-seeded from the client's own header signature
    let err = resigned(&client, S3_HOST, T + 5, SignAs::Keep, true)
        .err()
        .expect("a fresh signature cannot re-frame the client's chunks");
    assert!(err.contains("re-framed only"), "{err}");
}
