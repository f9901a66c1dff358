//! Inspect one request: detect the scheme, re-derive and verify the signature, check time,
//! structure and body, and collect findings into a [`Report`]. Pure: `now` is an argument.

use crate::clock::UnixTime;
use crate::credentials::{Credential, KeyStore};
use crate::diagnose::time::{self as timediag, ClientTime, TimeFacts};
use crate::diagnose::{lints, mismatch};
use crate::findings::{code, Finding, Severity};
// signatures in messages are cut where the message is made: messages reach the logs
use crate::redact::shorten;
use crate::sig::crypto::sha256;
use crate::sig::encode::{decoded_text, hex, split_query, text};
use crate::sig::v4::chunked::{ChainSigner, ChunkVerifier};
use crate::sig::v4::{self, PathForm, QueryForm, Rules, SigningKeyCache};
use crate::sig::{cos, v2, Carrier, Scheme};
use crate::timefmt::{human_duration, rfc3339};
use crate::wire::Request;

/// The overall judgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Invalid,
    Unverified,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unverified => "unverified",
        }
    }
    /// The `inspect` exit status: 0 valid, 1 invalid, 3 unverified.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unverified => 3,
        }
    }
}

/// The signature's validity window (start absent for SigV2 presigned URLs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: Option<UnixTime>,
    pub end: UnixTime,
}

/// What the aws-chunked body looked like.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkStage {
    pub chunks: u64,
    pub decoded_length: u64,
    pub signed: bool,
}

/// The computation stages, for display and for error documents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stages {
    /// SigV4 canonical request.
    pub canonical_request: Option<String>,
    /// COS HttpString.
    pub http_string: Option<String>,
    pub string_to_sign: Option<String>,
    pub expected_signature: Option<String>,
    pub provided_signature: Option<String>,
    /// A non-default reading that was needed to match, in words.
    pub reading: Option<String>,
    pub chunks: Option<ChunkStage>,
}

/// Everything `inspect` found about one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub scheme: Scheme,
    pub carrier: Carrier,
    pub access_key: Option<String>,
    pub verdict: Verdict,
    pub now: UnixTime,
    pub window: Option<Window>,
    pub findings: Vec<Finding>,
    pub stages: Stages,
    /// The parsed SigV4 authorization, when there was one (re-signing reuses it).
    pub v4_auth: Option<v4::V4Auth>,
    pub method: String,
    pub host: Option<String>,
    pub path: String,
}

impl Report {
    fn new(req: &Request, now: UnixTime) -> Self {
        Report {
            scheme: Scheme::None,
            carrier: Carrier::None,
            access_key: None,
            verdict: Verdict::Unverified,
            now,
            window: None,
            findings: Vec::new(),
            stages: Stages::default(),
            v4_auth: None,
            method: req.method.clone(),
            host: req.host().map(str::to_string),
            path: req.path.clone(),
        }
    }

    pub fn has(&self, code: &str) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }

    fn push(&mut self, f: Finding) {
        self.findings.push(f);
    }
}

/// The engine state shared across requests: the keys and the SigV4 signing-key cache.
#[derive(Debug, Default)]
pub struct Inspector {
    pub keys: KeyStore,
    pub cache: SigningKeyCache,
}

impl Inspector {
    pub fn new(keys: KeyStore) -> Self {
        Inspector {
            keys,
            cache: SigningKeyCache::new(),
        }
    }

    /// Inspects one request at time `now`.
    pub fn inspect(&self, req: &Request, now: UnixTime) -> Report {
        self.inspect_with(req, now, true)
    }

    /// Inspects the head of a request whose body is still streaming (the proxy): body checks
    /// are left to the streaming layer.
    pub fn inspect_head(&self, req: &Request, now: UnixTime) -> Report {
        self.inspect_with(req, now, false)
    }

    fn inspect_with(&self, req: &Request, now: UnixTime, check_body: bool) -> Report {
        let mut r = Report::new(req, now);
        let mut verified = false;
        if let Some(auth) = req.header("authorization") {
            r.carrier = Carrier::Header;
            if cos::looks_like_cos(auth) {
                r.scheme = Scheme::Cos;
                verified = self.cos(req, &mut r);
            } else if v4::looks_like_v4(auth) {
                r.scheme = Scheme::Sigv4;
                verified = self.sigv4(req, false, check_body, &mut r);
            } else if v2::looks_like_v2(auth) {
                r.scheme = Scheme::Sigv2;
                verified = self.sigv2(req, false, &mut r);
            } else {
                let scheme = auth.split_whitespace().next().unwrap_or("");
                let shown: String = scheme.chars().take(32).collect();
                r.push(Finding::error(
                    code::MALFORMED_AUTH,
                    format!(
                        "the Authorization header uses an unknown scheme {shown:?} (expected AWS4-HMAC-SHA256, AWS, or a COS q-sign-algorithm value)"
                    ),
                ));
            }
        } else if v4::has_presigned_params(req) {
            r.scheme = Scheme::Sigv4;
            r.carrier = Carrier::Query;
            verified = self.sigv4(req, true, check_body, &mut r);
        } else if cos::detect(req).is_some() {
            r.scheme = Scheme::Cos;
            r.carrier = Carrier::Query;
            verified = self.cos(req, &mut r);
        } else if v2::has_presigned_params(req) {
            r.scheme = Scheme::Sigv2;
            r.carrier = Carrier::Query;
            verified = self.sigv2(req, true, &mut r);
        } else {
            r.push(Finding::info(
                code::NO_SIGNATURE,
                "no Authorization header and no presigned query parameters: an anonymous request",
            ));
        }
        let cos_params = (r.scheme == Scheme::Cos)
            .then(|| cos::extract(req).ok().flatten().map(|a| a.param_list))
            .flatten();
        r.findings.extend(lints::lint(req, cos_params.as_deref()));
        r.verdict = if r.findings.iter().any(|f| f.severity == Severity::Error) {
            Verdict::Invalid
        } else if verified {
            Verdict::Valid
        } else {
            Verdict::Unverified
        };
        r
    }

    fn lookup(&self, access_key: &str, r: &mut Report) -> Option<&Credential> {
        r.access_key = Some(access_key.to_string());
        let c = self.keys.get(access_key);
        if c.is_none() {
            let known = if self.keys.is_empty() {
                "no keys were given".to_string()
            } else {
                format!("{} other key(s) are known", self.keys.len())
            };
            r.push(Finding::warning(
                code::UNKNOWN_ACCESS_KEY,
                format!(
                    "no secret for access key {access_key} ({known}); time and structure were checked, the signature was not"
                ),
            ));
        }
        c
    }

    fn check_token(cred: &Credential, sent: Option<&str>, header: &str, r: &mut Report) {
        let Some(expected) = &cred.session_token else {
            return;
        };
        match sent {
            None => r.push(Finding::error(
                code::MISSING_TOKEN,
                format!(
                    "key {} is a temporary key but the request carries no {header}",
                    cred.access_key
                ),
            )),
            Some(t) if !crate::sig::crypto::ct_eq(t, expected.expose()) => r.push(Finding::error(
                code::INVALID_TOKEN,
                format!(
                    "the {header} sent differs from the session token configured for key {}",
                    cred.access_key
                ),
            )),
            Some(_) => {}
        }
    }

    // ---------------------------------------------------------------- COS

    fn cos(&self, req: &Request, r: &mut Report) -> bool {
        let auth = match cos::extract(req) {
            Ok(Some(a)) => a,
            Ok(None) => return false,
            Err(why) => {
                r.push(Finding::error(code::MALFORMED_AUTH, why));
                return false;
            }
        };
        let presigned = auth.carrier != cos::CosCarrier::Header;
        // time is judged where both fields are open, never on q-sign-time alone: in the
        // q-key-time reading q-sign-time is signed by nothing (anyone may move its end)
        let (start, end) = auth.window();
        r.window = Some(Window {
            start: Some(start),
            end,
        });
        let token_sent: Option<String> = req
            .header(cos::TOKEN_HEADER)
            .map(str::to_string)
            .or_else(|| query_value(req, cos::TOKEN_HEADER));
        let facts = TimeFacts {
            now: r.now,
            presigned,
            window: Some((Some(start), end)),
            client_time: (!presigned)
                .then(|| timediag::cos_client_time(start, req.header("user-agent"))),
            skew_allowance: None,
            made_at: None,
            has_session_token: token_sent.is_some(),
        };
        r.findings.extend(timediag::analyse(&facts));
        if !auth.header_list.iter().any(|h| h == "host") {
            r.push(Finding::warning(
                code::HOST_NOT_SIGNED,
                "q-header-list does not include host: the signature is valid for any bucket host",
            ));
        }
        for (name, _) in &req.headers {
            let lower = name.to_ascii_lowercase();
            if (lower.starts_with("x-cos-") || lower.starts_with("x-ci-"))
                && lower != cos::TOKEN_HEADER
                && lower != "x-ci-security-token"
                && !auth.header_list.contains(&lower)
            {
                r.push(Finding::warning(
                    code::UNSIGNED_HEADER,
                    format!("header {name} is not in q-header-list: it can be changed without breaking the signature"),
                ));
            }
        }
        r.stages.provided_signature = Some(auth.signature.clone());
        if auth.carrier == cos::CosCarrier::Query {
            // the signature fields are read from their last copy
            for (name, values) in
                conflicting_params(req, |n| cos::Q_FIELDS.contains(&n) && n != "q-signature")
            {
                let used = values.last().cloned().unwrap_or_default();
                r.push(duplicate_signed_param(
                    &name,
                    std::slice::from_ref(&used),
                    &values,
                    "sigtap read the last copy; a reader taking another one sees a different signature",
                ));
            }
        }
        let cred = self.lookup(&auth.access_key, r);
        let Some(cred) = cred else {
            let (hs, sts) = cos::stages(req, &auth);
            r.stages.http_string = Some(hs.text);
            r.stages.string_to_sign = Some(sts);
            return false;
        };
        Self::check_token(cred, token_sent.as_deref(), cos::TOKEN_HEADER, r);
        let check = cos::verify(req, &auth, cred.secret.expose());
        if check.matched {
            if let Some(note) = &check.reading_note {
                r.stages.reading = Some(note.clone());
                r.push(Finding::info(
                    code::SIGNATURE_READING,
                    format!("the signature matched with {note}"),
                ));
            }
            if check.signed_time == cos::SignedTime::KeyTime {
                r.push(unsigned_sign_time(&auth));
            }
            // a one-value reading matched: the other values of that name are not signed
            for lo in cos::values_left_out(req, &auth.param_list, check.reading) {
                let mut all = vec![lo.signed.clone()];
                all.extend(lo.left_out.iter().cloned());
                r.push(duplicate_signed_param(
                    &lo.name,
                    std::slice::from_ref(&lo.signed),
                    &all,
                    "the signature verifies only when one value per name is read, so the other value was added to a signed request",
                ));
            }
            r.stages.http_string = Some(check.http_string.text);
            r.stages.string_to_sign = Some(check.string_to_sign);
            r.stages.expected_signature = Some(check.expected);
            return true;
        }
        r.stages.http_string = Some(check.http_string.text.clone());
        r.stages.string_to_sign = Some(check.string_to_sign.clone());
        r.stages.expected_signature = Some(check.expected.clone());
        for h in &check.http_string.missing_headers {
            r.push(Finding::error(
                code::MISSING_SIGNED_HEADER,
                format!("q-header-list names {h}, but the request has no {h} header"),
            ));
        }
        let f = Finding::error(
            code::SIGNATURE_MISMATCH,
            format!(
                "q-signature {} does not match {} computed from the request as received",
                shorten(&auth.signature),
                shorten(&check.expected)
            ),
        )
        .with("provided", auth.signature.clone())
        .with("expected", check.expected.clone());
        let others = other_causes(r);
        let ctx = mismatch::Context {
            keys: &self.keys,
            others: &others,
        };
        let e = mismatch::explain_cos(req, &auth, cred.secret.expose(), &ctx);
        push_explained(r, f, e);
        false
    }

    // ---------------------------------------------------------------- SigV4

    fn sigv4(&self, req: &Request, presigned: bool, check_body: bool, r: &mut Report) -> bool {
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
                    let mut f = Finding::error(
                        code::SIGNATURE_MISMATCH,
                        format!(
                            "Signature {} does not match {} computed from the request as received",
                            shorten(&auth.signature),
                            shorten(&check.expected)
                        ),
                    )
                    .with("provided", auth.signature.clone())
                    .with("expected", check.expected.clone());
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

    // ---------------------------------------------------------------- SigV2

    fn sigv2(&self, req: &Request, presigned: bool, r: &mut Report) -> bool {
        let parsed = if presigned {
            v2::parse_presigned(req)
        } else {
            v2::parse_header(req.header("authorization").unwrap_or(""))
        };
        let auth = match parsed {
            Ok(a) => a,
            Err(why) => {
                r.push(Finding::error(code::MALFORMED_AUTH, why));
                return false;
            }
        };
        r.access_key = Some(auth.access_key.clone());
        r.stages.provided_signature = Some(auth.signature.clone());
        if presigned {
            // Expires is the signed Date line; sigtap reads its first copy
            for (name, values) in conflicting_params(req, |n| n == "Expires") {
                let used = values.first().cloned().unwrap_or_default();
                r.push(duplicate_signed_param(
                    &name,
                    std::slice::from_ref(&used),
                    &values,
                    "sigtap read the first copy; a reader taking another one sees another expiry",
                ));
            }
        }
        let token_sent = req
            .header("x-amz-security-token")
            .map(str::to_string)
            .or_else(|| query_value(req, "x-amz-security-token"));
        if presigned {
            let end = auth.expires.unwrap_or(0);
            r.window = Some(Window { start: None, end });
            r.findings.extend(timediag::analyse(&TimeFacts {
                now: r.now,
                presigned: true,
                window: Some((None, end)),
                client_time: None,
                skew_allowance: None,
                made_at: None,
                has_session_token: token_sent.is_some(),
            }));
        } else {
            match v2::request_time(req) {
                Err(why) => {
                    r.push(Finding::error(code::MALFORMED_AUTH, why));
                }
                Ok(t) => {
                    r.window = Some(Window {
                        start: Some(t.saturating_sub(v4::MAX_SKEW)),
                        end: t.saturating_add(v4::MAX_SKEW),
                    });
                    r.findings.extend(timediag::analyse(&TimeFacts {
                        now: r.now,
                        presigned: false,
                        window: None,
                        client_time: Some(ClientTime {
                            time: t,
                            basis: if req.has_header("x-amz-date") {
                                "x-amz-date".into()
                            } else {
                                "Date header".into()
                            },
                            range: None,
                        }),
                        skew_allowance: Some(v4::MAX_SKEW),
                        made_at: None,
                        has_session_token: false,
                    }));
                }
            }
        }
        let Some(cred) = self.lookup(&auth.access_key, r) else {
            r.stages.string_to_sign = v2::string_to_sign(
                req,
                &auth,
                v2::DateLine::Documented,
                v2::BucketFrom::Endpoint,
            );
            return false;
        };
        Self::check_token(cred, token_sent.as_deref(), "x-amz-security-token", r);
        let check = v2::verify(req, &auth, cred.secret.expose());
        r.stages.string_to_sign = Some(check.string_to_sign.clone());
        r.stages.expected_signature = Some(check.expected.clone());
        if !check.matched {
            let f = Finding::error(
                code::SIGNATURE_MISMATCH,
                format!(
                    "signature {} does not match {} computed from the request as received",
                    shorten(&auth.signature),
                    shorten(&check.expected)
                ),
            )
            .with("provided", auth.signature.clone())
            .with("expected", check.expected.clone());
            let others = other_causes(r);
            let ctx = mismatch::Context {
                keys: &self.keys,
                others: &others,
            };
            let e = mismatch::explain_v2(req, &auth, cred.secret.expose(), &ctx);
            push_explained(r, f, e);
            return false;
        }
        let mut notes = Vec::new();
        if check.date_line == v2::DateLine::Botocore && !presigned {
            notes.push(check.date_line.describe().to_string());
        }
        if check.bucket_from == v2::BucketFrom::Cname {
            notes.push("the whole Host taken as the bucket name (CNAME)".to_string());
        }
        if check.bucket_from == v2::BucketFrom::PathAsSent {
            notes.push(
                "bucket-level path signed as sent, without the trailing '/' botocore adds (aws-sdk-go, rclone)"
                    .to_string(),
            );
        }
        if !notes.is_empty() {
            let note = notes.join("; ");
            r.stages.reading = Some(note.clone());
            r.push(Finding::info(
                code::SIGNATURE_READING,
                format!("the signature matched with the {note}"),
            ));
        }
        true
    }
}

/// Pushes a `signature-mismatch` finding with its explanation, and what the explanation found
/// about a repeated signed parameter.
fn push_explained(r: &mut Report, f: Finding, e: mismatch::Explanation) {
    let added = e.added_param.clone();
    r.push(attach(f, e));
    if let Some(a) = added {
        push_added(r, &a);
    }
}

fn push_added_param(r: &mut Report, e: &mismatch::Explanation) {
    if let Some(a) = &e.added_param {
        push_added(r, a);
    }
}

fn push_added(r: &mut Report, a: &mismatch::AddedParam) {
    let mut all = a.signed.clone();
    all.push(a.value.clone());
    r.push(duplicate_signed_param(
        &a.name,
        &a.signed,
        &all,
        "the signature is reproduced without the added value, so it was added after signing",
    ));
}

/// Query parameters whose decoded name `pick` accepts that arrive more than once with different
/// values: (name, decoded values in wire order).
fn conflicting_params(req: &Request, pick: impl Fn(&str) -> bool) -> Vec<(String, Vec<String>)> {
    let mut by_name: Vec<(String, Vec<String>)> = Vec::new();
    for p in split_query(req.query.as_deref().unwrap_or("")) {
        let name = decoded_text(p.name);
        if !pick(&name) {
            continue;
        }
        let value = text(&crate::sig::encode::form_decode(p.value));
        match by_name.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => by_name.push((name.into_owned(), vec![value])),
        }
    }
    by_name.retain(|(_, values)| values.iter().any(|v| *v != values[0]));
    by_name
}

/// The `duplicate-signed-param` finding: `name` arrived with the values `all`, of which the
/// signature covers `signed`.
fn duplicate_signed_param(name: &str, signed: &[String], all: &[String], how: &str) -> Finding {
    let quoted = |vs: &[String]| {
        vs.iter()
            .map(|v| format!("{:?}", crate::sig::encode::clip(v)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let unsigned: Vec<String> = all
        .iter()
        .filter(|v| !signed.contains(v))
        .cloned()
        .collect();
    Finding::error(
        code::DUPLICATE_SIGNED_PARAM,
        format!(
            "signed query parameter {name} arrived {} times with different values ({}); the signature covers only {}: {how}; re-signing it would authorise the added value",
            all.len(),
            quoted(all),
            quoted(signed)
        ),
    )
    .with("param", name.to_string())
    .with("signed_values", signed.to_vec())
    .with("unsigned_values", unsigned)
}

/// The `unsigned-sign-time` finding: the signature matched only with q-key-time in the
/// StringToSign, so the q-sign-time sent differs from anything signed.
fn unsigned_sign_time(auth: &cos::CosAuth) -> Finding {
    let (start, end) = auth.window();
    Finding::error(
        code::UNSIGNED_SIGN_TIME,
        format!(
            "q-sign-time {:?} differs from q-key-time {:?} and the signature matches only with q-key-time in the StringToSign, so nothing signs q-sign-time (it was changed after signing, or means nothing); time is judged in the window both allow ({}); re-signing it would authorise a time the client never signed",
            crate::sig::encode::clip(&auth.sign_time),
            crate::sig::encode::clip(&auth.key_time),
            window_text(&Window {
                start: Some(start),
                end
            })
        ),
    )
    .with("sign_time", auth.sign_time.clone())
    .with("key_time", auth.key_time.clone())
}

/// Puts an explanation on a `signature-mismatch` finding.
fn attach(mut f: Finding, e: mismatch::Explanation) -> Finding {
    f.message = format!("{}: {}", f.message, e.detail);
    f = f
        .with_cause(e.cause)
        .with("variant", e.detail)
        .with("variants_tried", e.tried as u64);
    if !e.diff.is_empty() {
        f = f.with("diff", e.diff);
    }
    if let Some(k) = e.matching_key {
        f = f.with("matching_key", k);
    }
    if let Some(c) = e.certainty {
        f = f.with("certainty", c);
    }
    if !e.compare.is_empty() {
        let stages: serde_json::Map<String, serde_json::Value> = e
            .compare
            .into_iter()
            .map(|(name, text)| (name.to_string(), text.into()))
            .collect();
        f = f.with("compare", stages);
    }
    f
}

/// Findings already made that point at another cause of a signature mismatch than the secret,
/// in words (the explainer then does not blame the secret).
fn other_causes(r: &Report) -> Vec<String> {
    r.findings
        .iter()
        .filter_map(|f| match f.code {
            code::EXPIRED | code::NOT_YET_VALID | code::CLOCK_SKEW => {
                Some(format!("the request has a time problem ({})", f.code))
            }
            code::MISSING_SIGNED_HEADER => Some("a signed header is missing".to_string()),
            code::CREDENTIAL_SCOPE_MISMATCH => {
                Some("the credential scope does not fit the request".to_string())
            }
            code::DUPLICATE_SIGNED_PARAM => {
                Some("a signed query parameter arrived twice".to_string())
            }
            _ => None,
        })
        .fold(Vec::new(), |mut out, s| {
            if !out.contains(&s) {
                out.push(s);
            }
            out
        })
}

fn query_value(req: &Request, name: &str) -> Option<String> {
    let q = req.query.as_deref()?;
    split_query(q)
        .iter()
        .find(|p| decoded_text(p.name).eq_ignore_ascii_case(name))
        .map(|p| text(&crate::sig::encode::form_decode(p.value)))
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

/// Formats a window for humans.
pub fn window_text(w: &Window) -> String {
    match w.start {
        Some(s) => format!("{} – {}", rfc3339(s), rfc3339(w.end)),
        None => format!("until {}", rfc3339(w.end)),
    }
}
