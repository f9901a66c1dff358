//! COS checks: the `q-sign-algorithm=sha1` signature in the Authorization header or the query,
//! its key and sign times, its header and parameter lists.

use super::explain::*;
use super::{query_value, window_text, Inspector, Report, Window};
use crate::diagnose::mismatch;
use crate::diagnose::time::{self as timediag, TimeFacts};
use crate::findings::{code, Finding};
// signatures in messages are cut where the message is made: messages reach the logs
use crate::sig::cos;
use crate::wire::Request;

impl Inspector {
    pub(super) fn cos(&self, req: &Request, r: &mut Report) -> bool {
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
        r.client_offset = super::client_offset(&facts);
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
        let f = mismatch_finding("q-signature", &auth.signature, &check.expected);
        let others = other_causes(r);
        let ctx = mismatch::Context {
            keys: &self.keys,
            others: &others,
        };
        let e = mismatch::explain_cos(req, &auth, cred.secret.expose(), &ctx);
        push_explained(r, f, e);
        false
    }
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
