//! SigV4 checks: the header or presigned signature, its credential scope and time, the signed
//! headers, and the body (payload hash, aws-chunked chunk signatures).

use super::explain::*;
use super::{ChunkStage, Inspector, Report, Window};
use crate::diagnose::mismatch;
use crate::diagnose::time::{self as timediag, ClientTime, TimeFacts};
use crate::findings::{code, Finding};
// signatures in messages are cut where the message is made: messages reach the logs
use crate::redact::shorten;
use crate::sig::crypto::sha256;
use crate::sig::encode::hex;
use crate::sig::v4::chunked::{ChainSigner, ChunkVerifier};
use crate::sig::v4::{self, PathForm, QueryForm, Rules};
use crate::sig::Carrier;
use crate::timefmt::human_duration;
use crate::wire::Request;

impl Inspector {
    pub(super) fn sigv4(
        &self,
        req: &Request,
        presigned: bool,
        check_body: bool,
        r: &mut Report,
    ) -> bool {
        let parsed = if presigned {
            v4::parse_presigned(req, Rules::Generic { normalize: true })
        } else {
            v4::parse_header(req, req.header("authorization").unwrap_or(""))
        };
        let auth = match parsed {
            Ok(a) => a,
            Err(why) => {
                r.push(Finding::error(code::MALFORMED_AUTH, why));
                return false;
            }
        };
        let rules = Rules::for_service(&auth.scope.service);
        if presigned && rules == Rules::S3 && auth.expires.is_none() {
            r.push(Finding::error(
                code::MALFORMED_AUTH,
                "the presigned URL lacks X-Amz-Expires, which S3 requires",
            ));
            return false;
        }
        r.access_key = Some(auth.access_key.clone());
        r.stages.provided_signature = Some(auth.signature.clone());

        // time
        let (window, facts) = if presigned {
            let exp = auth.expires.unwrap_or(0);
            (
                Window {
                    start: Some(auth.time),
                    end: auth.time.saturating_add(exp),
                },
                TimeFacts {
                    now: r.now,
                    presigned: true,
                    window: Some((Some(auth.time), auth.time.saturating_add(exp))),
                    client_time: None,
                    skew_allowance: None,
                    made_at: Some(auth.time),
                    has_session_token: auth.security_token.is_some(),
                },
            )
        } else {
            (
                Window {
                    start: Some(auth.time.saturating_sub(v4::MAX_SKEW)),
                    end: auth.time.saturating_add(v4::MAX_SKEW),
                },
                TimeFacts {
                    now: r.now,
                    presigned: false,
                    window: None,
                    client_time: Some(ClientTime {
                        time: auth.time,
                        basis: if auth.date_from_date_header {
                            "Date header".into()
                        } else {
                            "X-Amz-Date".into()
                        },
                        range: None,
                    }),
                    skew_allowance: Some(v4::MAX_SKEW),
                    made_at: None,
                    has_session_token: false,
                },
            )
        };
        r.window = Some(window);
        if let Some(e) = auth.expires {
            if e > v4::MAX_EXPIRES {
                r.push(
                    Finding::error(
                        code::EXPIRES_TOO_LONG,
                        format!(
                            "X-Amz-Expires is {e} s ({}); S3 accepts at most 604800 s (7 days)",
                            human_duration(e)
                        ),
                    )
                    .with("expires_seconds", e),
                );
            }
        }
        r.client_offset = super::client_offset(&facts);
        r.findings.extend(timediag::analyse(&facts));

        // scope
        if auth.amz_date.get(..8) != Some(auth.scope.date.as_str()) {
            r.push(
                Finding::error(
                    code::CREDENTIAL_SCOPE_MISMATCH,
                    format!(
                        "the credential scope date {} is not the date of X-Amz-Date {}",
                        auth.scope.date, auth.amz_date
                    ),
                )
                .with("scope_date", auth.scope.date.clone()),
            );
        }
        if let Some(region) = req.host().and_then(v4::endpoint_region) {
            if region != auth.scope.region && auth.scope.service == "s3" {
                r.push(
                    Finding::error(
                        code::CREDENTIAL_SCOPE_MISMATCH,
                        format!(
                            "signed for region {} but sent to the {} endpoint {}; the service answers AuthorizationHeaderMalformed (expecting '{}')",
                            auth.scope.region,
                            region,
                            req.host().unwrap_or(""),
                            region
                        ),
                    )
                    .with("scope_region", auth.scope.region.clone())
                    .with("endpoint_region", region),
                );
            }
        }
        if !auth.signed_headers.iter().any(|h| h == "host") {
            r.push(Finding::error(
                code::HOST_NOT_SIGNED,
                "SignedHeaders does not include host, which SigV4 requires",
            ));
        }
        self.unsigned_amz_headers(req, &auth.signed_headers, r);

        // payload line
        let sent_hash = req.header("x-amz-content-sha256").map(str::trim);
        if !presigned && rules == Rules::S3 {
            match sent_hash {
                None => r.push(Finding::error(
                    code::MISSING_CONTENT_SHA256,
                    "S3 requires an x-amz-content-sha256 header on SigV4 header-signed requests",
                )),
                Some(h) if !is_payload_mode(h) => r.push(Finding::error(
                    code::MALFORMED_AUTH,
                    format!(
                        "x-amz-content-sha256 {:?} is neither a hex SHA-256 nor a known payload mode",
                        h.chars().take(80).collect::<String>()
                    ),
                )),
                Some(_) => {}
            }
        }
        let payload =
            v4::payload_hash_for(req, &auth, rules).unwrap_or_else(|| hex(&sha256(&req.body)));

        // signature
        let cred = self.lookup(&auth.access_key, r);
        let mut verified = false;
        let mut key = None;
        match cred {
            None => {
                let (creq, sts) = v4::stages(
                    req,
                    &auth,
                    &payload,
                    PathForm::Rules(rules),
                    QueryForm::Reencode,
                );
                r.stages.canonical_request = Some(creq.text);
                r.stages.string_to_sign = Some(sts);
                for h in &creq.missing_headers {
                    r.push(Finding::warning(
                        code::MISSING_SIGNED_HEADER,
                        format!("SignedHeaders names {h}, but the request has no {h} header"),
                    ));
                }
            }
            Some(cred) => {
                let token_header = if presigned {
                    "X-Amz-Security-Token parameter"
                } else {
                    "x-amz-security-token header"
                };
                Self::check_token(cred, auth.security_token.as_deref(), token_header, r);
                let k = self.cache.get(
                    cred.secret.expose(),
                    &auth.scope.date,
                    &auth.scope.region,
                    &auth.scope.service,
                );
                key = Some(k);
                let mut check = v4::verify(req, &auth, &payload, rules, &k);
                if !check.matched && presigned {
                    // a presigned PUT may carry its own signed x-amz-content-sha256
                    if let Some(h) = sent_hash.filter(|_| {
                        auth.signed_headers
                            .iter()
                            .any(|s| s == "x-amz-content-sha256")
                    }) {
                        let alt = v4::verify(req, &auth, h, rules, &k);
                        if alt.matched {
                            check = V4CheckNote::note(
                                alt,
                                "payload line taken from x-amz-content-sha256",
                            );
                        }
                    }
                }
                if check.matched {
                    verified = true;
                    if let Some(note) = &check.reading_note {
                        r.stages.reading = Some(note.clone());
                        r.push(Finding::info(
                            code::SIGNATURE_READING,
                            format!("the signature matched with {note}"),
                        ));
                    }
                    r.stages.canonical_request = Some(check.canonical_request.text);
                    r.stages.string_to_sign = Some(check.string_to_sign);
                    r.stages.expected_signature = Some(check.expected);
                } else {
                    r.stages.canonical_request = Some(check.canonical_request.text.clone());
                    r.stages.string_to_sign = Some(check.string_to_sign.clone());
                    r.stages.expected_signature = Some(check.expected.clone());
                    for h in &check.canonical_request.missing_headers {
                        r.push(Finding::error(
                            code::MISSING_SIGNED_HEADER,
                            format!("SignedHeaders names {h}, but the request has no {h} header"),
                        ));
                    }
                    let mut f = mismatch_finding("Signature", &auth.signature, &check.expected);
                    let others = other_causes(r);
                    let ctx = mismatch::Context {
                        keys: &self.keys,
                        others: &others,
                    };
                    let e = mismatch::explain_v4(
                        req,
                        &auth,
                        rules,
                        &payload,
                        cred.secret.expose(),
                        &ctx,
                        &self.cache,
                    );
                    f = attach(f, e.clone());
                    r.push(f);
                    push_added_param(r, &e);
                }
            }
        }

        // body
        if !presigned && check_body {
            self.v4_body(req, &auth, sent_hash, key, r);
        }
        r.v4_auth = Some(auth);
        verified
    }

    fn unsigned_amz_headers(&self, req: &Request, signed: &[String], r: &mut Report) {
        const REJECTED: [&str; 4] = ["x-amz-acl", "x-amz-copy", "x-amz-grant", "x-amz-meta-"];
        let mut seen = std::collections::BTreeSet::new();
        for (name, _) in &req.headers {
            let lower = name.to_ascii_lowercase();
            if !lower.starts_with("x-amz-")
                || signed.contains(&lower)
                || !seen.insert(lower.clone())
            {
                continue;
            }
            if r.carrier == Carrier::Query && lower == "x-amz-content-sha256" {
                continue;
            }
            let rejected = REJECTED.iter().any(|p| lower.starts_with(p));
            let msg = format!(
                "header {name} is not covered by the signature{}",
                if rejected {
                    "; S3 rejects such requests (\"There were headers present in the request which were not signed\")"
                } else {
                    ": it can be changed on the way without breaking the signature"
                }
            );
            r.push(
                if rejected {
                    Finding::error(code::UNSIGNED_HEADER, msg)
                } else {
                    Finding::warning(code::UNSIGNED_HEADER, msg)
                }
                .with("header", lower),
            );
        }
    }

    fn v4_body(
        &self,
        req: &Request,
        auth: &v4::V4Auth,
        sent_hash: Option<&str>,
        key: Option<[u8; 32]>,
        r: &mut Report,
    ) {
        let Some(mode) = sent_hash else { return };
        let streaming = mode.starts_with("STREAMING-");
        if !req.body_complete {
            r.push(Finding::warning(
                code::BODY_INCOMPLETE,
                format!(
                    "the input holds {} body bytes but Content-Length announces more; body checks skipped",
                    req.body.len()
                ),
            ));
            return;
        }
        if is_hex64(mode) {
            let actual = hex(&sha256(&req.body));
            if !actual.eq_ignore_ascii_case(mode) {
                r.push(
                    Finding::error(
                        code::PAYLOAD_HASH_MISMATCH,
                        format!(
                            "the body ({} bytes) hashes to {actual}, but x-amz-content-sha256 says {mode}",
                            req.body.len()
                        ),
                    )
                    .with("client_computed", mode.to_string())
                    .with("computed", actual)
                    .with("body_length", req.body.len() as u64),
                );
            }
            return;
        }
        if !streaming {
            return;
        }
        let signed = mode == v4::STREAMING_SIGNED || mode == v4::STREAMING_SIGNED_TRAILER;
        let chain = match (signed, key) {
            (true, Some(k)) => Some(ChainSigner::new(
                k,
                &auth.amz_date,
                &auth.scope.text(),
                &auth.signature,
            )),
            _ => None,
        };
        let mut verifier = ChunkVerifier::new(chain);
        let verify_sigs = signed && key.is_some();
        if signed && key.is_none() {
            // Without the key only the framing can be checked: decode without expecting sigs.
            verifier = ChunkVerifier::new(None);
        }
        verifier.feed(&req.body);
        let rep = verifier.finish();
        r.stages.chunks = Some(ChunkStage {
            chunks: rep.chunks,
            decoded_length: rep.decoded_length,
            signed,
        });
        if let Some(e) = &rep.framing_error {
            r.push(
                Finding::error(
                    code::MALFORMED_CHUNKED_BODY,
                    format!("aws-chunked body: {e}"),
                )
                .with("offset", e.offset),
            );
        }
        if verify_sigs {
            if let Some(bad) = &rep.first_bad {
                r.push(
                    Finding::error(
                        code::CHUNK_SIGNATURE_MISMATCH,
                        format!(
                            "chunk {} (size line at byte {}) carries chunk-signature {} but the chain gives {}",
                            bad.index,
                            bad.offset,
                            shorten(&bad.provided),
                            shorten(&bad.expected)
                        ),
                    )
                    .with("chunk_index", bad.index)
                    .with("chunk_offset", bad.offset)
                    .with("provided", bad.provided.clone())
                    .with("expected", bad.expected.clone()),
                );
            } else if rep.trailer_signature_ok == Some(false) {
                r.push(
                    Finding::error(
                        code::CHUNK_SIGNATURE_MISMATCH,
                        "the trailer signature (x-amz-trailer-signature) does not verify",
                    )
                    .with("chunk_index", rep.chunks)
                    .with("trailer", true),
                );
            } else if mode == v4::STREAMING_SIGNED_TRAILER
                && rep.trailer_signature_ok.is_none()
                && rep.framing_error.is_none()
            {
                r.push(Finding::error(
                    code::CHUNK_SIGNATURE_MISMATCH,
                    "the stream announces a signed trailer but carries no x-amz-trailer-signature",
                ));
            }
        }
        if rep.framing_error.is_none() {
            if let Some(d) = req.header("x-amz-decoded-content-length") {
                match d.trim().parse::<u64>() {
                    Ok(n) if n != rep.decoded_length => r.push(
                        Finding::error(
                            code::DECODED_LENGTH_MISMATCH,
                            format!(
                                "x-amz-decoded-content-length is {n} but the chunks carry {} bytes",
                                rep.decoded_length
                            ),
                        )
                        .with("announced", n)
                        .with("decoded", rep.decoded_length),
                    ),
                    Ok(_) => {}
                    Err(_) => r.push(Finding::error(
                        code::DECODED_LENGTH_MISMATCH,
                        format!("x-amz-decoded-content-length {:?} is not a number", d),
                    )),
                }
            }
        }
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_payload_mode(s: &str) -> bool {
    is_hex64(s)
        || matches!(
            s,
            v4::UNSIGNED_PAYLOAD
                | v4::STREAMING_SIGNED
                | v4::STREAMING_SIGNED_TRAILER
                | v4::STREAMING_UNSIGNED_TRAILER
                | "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
                | "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"
        )
}

/// Attaches a reading note to a check.
struct V4CheckNote;

impl V4CheckNote {
    fn note(mut c: v4::V4Check, note: &str) -> v4::V4Check {
        c.reading_note = Some(note.to_string());
        c
    }
}
