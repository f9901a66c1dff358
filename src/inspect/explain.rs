//! Findings the schemes share: a signature mismatch with its explanation attached, and a signed
//! query parameter that arrived twice with different values.

use super::Report;
use crate::diagnose::mismatch;
use crate::findings::{code, Finding};
use crate::sig::encode::{decoded_text, split_query, text};
use crate::wire::Request;

/// Pushes a `signature-mismatch` finding with its explanation, and what the explanation found
/// about a repeated signed parameter.
/// The signature-mismatch finding, the same in every scheme but for how it names its
/// signature (`label`): both values cut in the message, whole in the evidence (which outputs
/// redact by name).
pub(super) fn mismatch_finding(label: &str, provided: &str, expected: &str) -> Finding {
    Finding::error(
        code::SIGNATURE_MISMATCH,
        format!(
            "{label} {} does not match {} computed from the request as received",
            crate::redact::shorten(provided),
            crate::redact::shorten(expected)
        ),
    )
    .with("provided", provided.to_string())
    .with("expected", expected.to_string())
}

pub(super) fn push_explained(r: &mut Report, f: Finding, e: mismatch::Explanation) {
    let added = e.added_param.clone();
    r.push(attach(f, e));
    if let Some(a) = added {
        push_added(r, &a);
    }
}

pub(super) fn push_added_param(r: &mut Report, e: &mismatch::Explanation) {
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
pub(super) fn conflicting_params(
    req: &Request,
    pick: impl Fn(&str) -> bool,
) -> Vec<(String, Vec<String>)> {
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
pub(super) fn duplicate_signed_param(
    name: &str,
    signed: &[String],
    all: &[String],
    how: &str,
) -> Finding {
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

/// Puts an explanation on a `signature-mismatch` finding.
pub(super) fn attach(mut f: Finding, e: mismatch::Explanation) -> Finding {
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
pub(super) fn other_causes(r: &Report) -> Vec<String> {
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
