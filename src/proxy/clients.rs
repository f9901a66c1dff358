//! What the proxy learns about each client's clock. A header-signed request carries the time
//! its client signed it; a presigned URL carries only the time it was made. So when a
//! presigned URL arrives already expired, the URL alone says "used too late", while the same
//! access key's header-signed requests may have shown a minute earlier that its clock is
//! behind. This memory holds, per access key, the offsets measured recently, and re-reads such
//! an expiry with them.

use crate::diagnose::time::{cause, AGREEMENT};
use crate::findings::{code, Finding};
use crate::timefmt::human_duration;
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a measured offset is trusted.
const REMEMBERED_FOR: i64 = 15 * 60;
/// Access keys remembered at most (the oldest half is dropped beyond it).
const MAX_KEYS: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Measured {
    /// Client minus now, seconds, from the latest request.
    offset: i64,
    /// Requests the offset was measured on (that agreed within `AGREEMENT` of each other).
    requests: u64,
    at: i64,
}

/// Client clock offsets by access key.
#[derive(Debug, Default)]
pub struct ClientClocks(Mutex<HashMap<String, Measured>>);

impl ClientClocks {
    /// Notes the offset a header-signed request's findings measured (`client_offset_seconds`).
    pub fn learn(&self, access_key: &str, findings: &[Finding], now: i64) {
        let Some(offset) = findings
            .iter()
            .find_map(|f| f.evidence.get("client_offset_seconds")?.as_i64())
        else {
            return;
        };
        let Ok(mut m) = self.0.lock() else { return };
        if m.len() >= MAX_KEYS && !m.contains_key(access_key) {
            let cutoff = now - REMEMBERED_FOR;
            m.retain(|_, v| v.at >= cutoff);
            if m.len() >= MAX_KEYS {
                m.clear();
            }
        }
        let e = m.entry(access_key.to_string()).or_insert(Measured {
            offset,
            requests: 0,
            at: now,
        });
        let agrees = (e.offset - offset).abs() <= AGREEMENT && now - e.at <= REMEMBERED_FOR;
        e.requests = if agrees { e.requests + 1 } else { 1 };
        e.offset = offset;
        e.at = now;
    }

    /// Re-reads an `expired [used-too-late]` presigned finding when this access key's clock
    /// was recently measured behind by enough to explain the expiry.
    pub fn explain(&self, access_key: &str, findings: &mut [Finding], now: i64) {
        let Some(m) = self.0.lock().ok().and_then(|m| m.get(access_key).copied()) else {
            return;
        };
        if now - m.at > REMEMBERED_FOR || m.offset >= -AGREEMENT {
            return;
        }
        for f in findings.iter_mut() {
            if f.code != code::EXPIRED || f.cause != Some(cause::USED_TOO_LATE) {
                continue;
            }
            let ago = f
                .evidence
                .get("expired_seconds_ago")
                .and_then(|v| v.as_i64())
                .unwrap_or(i64::MAX);
            // the clock explains it when the URL, dated by a correct clock, would still be valid
            // (a minute's slack for the time between signing and sending)
            if ago > m.offset.saturating_neg().saturating_add(60) {
                continue;
            }
            let behind = human_duration(-m.offset);
            f.cause = Some(cause::CLIENT_CLOCK_BEHIND);
            f.message = format!(
                "{}; but this access key's header-signed requests showed its client clock {behind} behind \
                 (measured on {} request(s) in the last {}), so the URL was most likely made by that clock: \
                 it was dated {behind} in the past",
                f.message,
                m.requests,
                human_duration(REMEMBERED_FOR)
            );
            f.evidence
                .insert("client_offset_seconds".into(), m.offset.into());
            f.evidence
                .insert("offset_measured_on_requests".into(), m.requests.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Finding;

    fn skew(offset: i64) -> Finding {
        Finding::error(code::CLOCK_SKEW, "skewed")
            .with_cause(cause::CLIENT_CLOCK_BEHIND)
            .with("client_offset_seconds", offset)
    }

    fn expired(ago: i64) -> Finding {
        Finding::error(code::EXPIRED, "expired")
            .with_cause(cause::USED_TOO_LATE)
            .with("expired_seconds_ago", ago)
    }

    #[test]
    fn a_measured_slow_clock_explains_a_presigned_expiry() {
        let c = ClientClocks::default();
        c.learn("AK", &[skew(-1200)], 1000);
        c.learn("AK", &[skew(-1200)], 1001);
        let mut f = vec![expired(300)];
        c.explain("AK", &mut f, 1002);
        assert_eq!(f[0].cause, Some(cause::CLIENT_CLOCK_BEHIND));
        assert!(f[0].message.contains("20m0s behind"), "{}", f[0].message);
        assert!(f[0].message.contains("2 request(s)"), "{}", f[0].message);
    }

    #[test]
    fn nothing_changes_without_a_fitting_measurement() {
        let c = ClientClocks::default();
        c.learn("AK", &[skew(-1200)], 1000);
        // another key, an expiry the offset cannot explain, a measurement too old
        for (key, ago, now) in [
            ("OTHER", 300, 1001),
            ("AK", 3600, 1001),
            ("AK", 300, 1000 + 16 * 60),
        ] {
            let mut f = vec![expired(ago)];
            c.explain(key, &mut f, now);
            assert_eq!(f[0].cause, Some(cause::USED_TOO_LATE), "{key} {ago} {now}");
        }
        // a clock that agrees explains nothing
        c.learn("OK", &[skew(-10)], 1000);
        let mut f = vec![expired(5)];
        c.explain("OK", &mut f, 1001);
        assert_eq!(f[0].cause, Some(cause::USED_TOO_LATE));
    }
}
