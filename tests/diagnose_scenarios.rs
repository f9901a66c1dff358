//! Diagnoses of real SDK requests broken the way real life breaks them
//! (`fixtures/vectors/diagnose.json`, made by `fixtures/generate.py`): clock moved, URL used late,
//! header changed by an intermediary, wrong secret, host port, path encoding, extra query
//! parameter, wrong region, re-stamped dates, leading-slash batch delete.

mod common;

use common::load_json;
use serde_json::Value;
use sigtap::credentials::{Credential, KeyStore};
use sigtap::findings::{code, Code};
use sigtap::inspect::Inspector;
use sigtap::wire::Request;
use std::path::PathBuf;

#[test]
fn sdk_requests_broken_in_real_ways_get_the_right_cause() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/vectors/diagnose.json");
    let doc = load_json(&path);
    let scenarios = doc["scenarios"].as_array().unwrap();
    assert!(scenarios.len() >= 15, "only {} scenarios", scenarios.len());
    let mut failures = Vec::new();
    let mut causes_seen = std::collections::BTreeSet::new();
    let code_of = |c: &str| Code::parse(c).unwrap_or_else(|| panic!("unknown finding code {c:?}"));
    for s in scenarios {
        let name = s["name"].as_str().unwrap();
        let req = Request::parse(s["request"].as_str().unwrap().as_bytes()).unwrap();
        let mut keys = KeyStore::new();
        for k in s["keys"].as_array().unwrap() {
            keys.add(
                Credential::new(
                    k["access_key"].as_str().unwrap(),
                    k["secret_key"].as_str().unwrap(),
                )
                .with_token(k["session_token"].as_str().map(str::to_string)),
            );
        }
        let r = Inspector::new(keys).inspect(&req, s["now"].as_i64().unwrap());
        let e = &s["expect"];
        if r.verdict.as_str() != e["verdict"] {
            failures.push(format!(
                "{name}: verdict {} ({:?})",
                r.verdict.as_str(),
                r.findings
            ));
            continue;
        }
        for c in e["codes_all"].as_array().unwrap() {
            if !r.has(code_of(c.as_str().unwrap())) {
                failures.push(format!(
                    "{name}: missing {c}: {:?}",
                    r.findings.iter().map(|f| f.code).collect::<Vec<_>>()
                ));
            }
        }
        for c in e
            .get("codes_none")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if r.has(code_of(c.as_str().unwrap())) {
                failures.push(format!("{name}: unexpected {c}"));
            }
        }
        for (name_of_code, cause) in e["causes"].as_object().unwrap() {
            let code = code_of(name_of_code);
            let got = r
                .findings
                .iter()
                .find(|f| f.code == code)
                .and_then(|f| f.cause);
            if got != cause.as_str() {
                failures.push(format!("{name}: {code} cause {got:?}, expected {cause}"));
            } else {
                causes_seen.insert(cause.as_str().unwrap().to_string());
            }
            // mismatch explanations carry a diff between the wire and the signed text
            if code == code::SIGNATURE_MISMATCH && cause != "wrong-secret" {
                let f = r.findings.iter().find(|f| f.code == code).unwrap();
                if !f.evidence.contains_key("diff") {
                    failures.push(format!("{name}: no diff in the explanation"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for c in [
        "client-clock-behind",
        "client-clock-ahead",
        "timezone-offset",
        "used-too-late",
        "wrong-secret",
        "host-changed",
        "header-changed",
        "path-encoding",
        "query-changed",
    ] {
        assert!(causes_seen.contains(c), "no scenario exercised cause {c}");
    }
}
