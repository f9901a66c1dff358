//! SigV2 checks: the `AWS AK:signature` header or the presigned query, its date or expiry.

use super::explain::*;
use super::{query_value, Inspector, Report, Window};
use crate::diagnose::mismatch;
use crate::diagnose::time::{self as timediag, ClientTime, TimeFacts};
use crate::findings::{code, Finding};
// signatures in messages are cut where the message is made: messages reach the logs
use crate::sig::v2;
use crate::sig::v4;
use crate::wire::Request;

impl Inspector {
    pub(super) fn sigv2(&self, req: &Request, presigned: bool, r: &mut Report) -> bool {
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
                    r.client_offset = Some(t.saturating_sub(r.now));
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
            let f = mismatch_finding("signature", &auth.signature, &check.expected);
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
