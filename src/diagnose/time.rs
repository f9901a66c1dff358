//! Time analysis: signature windows, the client's clock offset, and which cause explains
//! an `expired`, `not-yet-valid` or `clock-skew` finding.

use crate::clock::UnixTime;
use crate::findings::{code, Finding};
use crate::timefmt::{human_duration, rfc3339};

/// A client time within this many seconds of `now` agrees with it.
pub const AGREEMENT: i64 = 300;
/// SigV4/SigV2 header allowance and SigV4 presigned future allowance.
pub const S3_SKEW: i64 = 900;
/// Longest a COS root-account temporary key lives.
pub const TEMP_KEY_LIFETIME: i64 = 7200;

/// Cause ids (stable).
pub mod cause {
    pub const CLIENT_CLOCK_BEHIND: &str = "client-clock-behind";
    pub const CLIENT_CLOCK_AHEAD: &str = "client-clock-ahead";
    pub const TIMEZONE_OFFSET: &str = "timezone-offset";
    pub const USED_TOO_LATE: &str = "used-too-late";
    pub const UNKNOWN: &str = "unknown";
}

/// What the request tells about the client's own clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientTime {
    pub time: UnixTime,
    /// Where it comes from, for the message (e.g. "X-Amz-Date").
    pub basis: String,
    /// When the value rests on a guess (SDK back-dating read from User-Agent), the range of
    /// times it could be.
    pub range: Option<(UnixTime, UnixTime)>,
}

/// The time facts of one signed request.
#[derive(Clone, Debug)]
pub struct TimeFacts {
    pub now: UnixTime,
    pub presigned: bool,
    /// `(start, end)` of the validity window, start absent for SigV2 presigned URLs.
    pub window: Option<(Option<UnixTime>, UnixTime)>,
    /// Header-signed requests: the client's "now" when it signed.
    pub client_time: Option<ClientTime>,
    /// SigV4/SigV2 header allowance (seconds); `None` for COS, whose only rule is the window.
    pub skew_allowance: Option<i64>,
    /// Presigned SigV4: the URL's X-Amz-Date (future-dated URLs are rejected beyond 15 min).
    pub made_at: Option<UnixTime>,
    pub has_session_token: bool,
}

/// Which clock cause an offset (client minus now) points to; `None` when it agrees with now.
pub fn clock_cause(offset: i64) -> Option<&'static str> {
    let a = offset.saturating_abs();
    if a <= AGREEMENT {
        return None;
    }
    let hours = a.saturating_add(1800) / 3600;
    if (1..=14).contains(&hours) && (a - hours * 3600).abs() <= 120 {
        return Some(cause::TIMEZONE_OFFSET);
    }
    Some(if offset < 0 {
        cause::CLIENT_CLOCK_BEHIND
    } else {
        cause::CLIENT_CLOCK_AHEAD
    })
}

fn describe_offset(offset: i64) -> String {
    match offset.cmp(&0) {
        std::cmp::Ordering::Less => format!("{} behind", human_duration(-offset)),
        std::cmp::Ordering::Greater => format!("{} ahead", human_duration(offset)),
        std::cmp::Ordering::Equal => "exactly on time".into(),
    }
}

fn hhmmss(t: UnixTime) -> String {
    rfc3339(t)
}

fn cause_text(c: &str, offset: i64) -> String {
    match c {
        cause::TIMEZONE_OFFSET => format!(
            "the client clock is {} — a whole number of hours, so most likely local time used as UTC",
            describe_offset(offset)
        ),
        cause::CLIENT_CLOCK_BEHIND | cause::CLIENT_CLOCK_AHEAD => {
            format!("the client clock is {}", describe_offset(offset))
        }
        cause::USED_TOO_LATE => "the signature was used after its window closed".into(),
        _ => "the data cannot tell whether the signature was used too late or the client clock is behind".into(),
    }
}

/// The cause of an expiry, given what the client's clock said when it signed.
fn expiry_cause(facts: &TimeFacts) -> (&'static str, Option<i64>, String) {
    if facts.presigned {
        return (
            cause::USED_TOO_LATE,
            None,
            "a presigned URL carries only the time it was made".into(),
        );
    }
    let Some(ct) = &facts.client_time else {
        return (
            cause::UNKNOWN,
            None,
            "the request carries no client time".into(),
        );
    };
    let offset = ct.time.saturating_sub(facts.now);
    let pick = |off: i64| clock_cause(off).unwrap_or(cause::USED_TOO_LATE);
    let chosen = pick(offset);
    if let Some((lo, hi)) = ct.range {
        let (a, b) = (
            pick(lo.saturating_sub(facts.now)),
            pick(hi.saturating_sub(facts.now)),
        );
        if a != b {
            return (
                cause::UNKNOWN,
                Some(offset),
                format!(
                    "{}; the client's time could be between {} and {}, which does not settle it",
                    ct.basis,
                    rfc3339(lo),
                    rfc3339(hi)
                ),
            );
        }
    }
    (chosen, Some(offset), ct.basis.clone())
}

/// All time findings for a request.
pub fn analyse(facts: &TimeFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    let now = facts.now;
    if let Some(allow) = facts.skew_allowance {
        if let Some(ct) = &facts.client_time {
            let offset = ct.time.saturating_sub(now);
            if offset.saturating_abs() > allow {
                let c = clock_cause(offset).unwrap_or(if offset < 0 {
                    cause::CLIENT_CLOCK_BEHIND
                } else {
                    cause::CLIENT_CLOCK_AHEAD
                });
                out.push(
                    Finding::error(
                        code::CLOCK_SKEW,
                        format!(
                            "request time {} ({}) is {} now {}; the service allows {}: {}",
                            hhmmss(ct.time),
                            ct.basis,
                            if offset < 0 {
                                format!("{} behind", human_duration(-offset))
                            } else {
                                format!("{} ahead of", human_duration(offset))
                            },
                            hhmmss(now),
                            human_duration(allow),
                            cause_text(c, offset)
                        ),
                    )
                    .with_cause(c)
                    .with("client_time", rfc3339(ct.time))
                    .with("now", rfc3339(now))
                    .with("client_offset_seconds", offset)
                    .with("allowed_seconds", allow),
                );
            }
        }
    }
    let Some((start, end)) = facts.window else {
        return out;
    };
    let window_text = match start {
        Some(s) => format!("window {}–{}", hhmmss(s), hhmmss(end)),
        None => format!("valid until {}", hhmmss(end)),
    };
    if let Some(s) = start {
        if end < s {
            out.push(
                Finding::error(
                    code::EMPTY_WINDOW,
                    format!(
                        "the window ends {} before it starts ({window_text})",
                        human_duration(s.saturating_sub(end))
                    ),
                )
                .with("window_seconds", end.saturating_sub(s)),
            );
            return out;
        }
        if end == s {
            out.push(Finding::warning(
                code::EMPTY_WINDOW,
                format!("the window lasts zero seconds ({window_text}): valid only during that one second"),
            ));
        }
        if facts.has_session_token && end.saturating_sub(s) > TEMP_KEY_LIFETIME {
            out.push(
                Finding::warning(
                    code::TEMP_KEY_WINDOW_TOO_LONG,
                    format!(
                        "a temporary key (session token) signs a {} window; COS root-account temporary keys live at most 2h (sub-account keys up to 36h), so the signature stops working when the token expires",
                        human_duration(end.saturating_sub(s))
                    ),
                )
                .with("window_seconds", end.saturating_sub(s)),
            );
        }
    }
    if now > end {
        let (c, offset, basis) = expiry_cause(facts);
        let mut f = Finding::error(
            code::EXPIRED,
            format!(
                "expired {} ago ({window_text}, now {}): {}{}",
                human_duration(now.saturating_sub(end)),
                hhmmss(now),
                cause_text(c, offset.unwrap_or(0)),
                if basis.is_empty() {
                    String::new()
                } else {
                    format!(" ({basis})")
                }
            ),
        )
        .with_cause(c)
        .with("expired_seconds_ago", now.saturating_sub(end))
        .with("window_end", rfc3339(end))
        .with("now", rfc3339(now));
        if let Some(o) = offset {
            f = f.with("client_offset_seconds", o);
        }
        out.push(f);
        return out;
    }
    // Not yet valid: a COS window that opens after now, or a SigV4 URL dated > 15 min ahead.
    let opens = match (start, facts.made_at) {
        (_, Some(made)) if made.saturating_sub(now) > S3_SKEW => Some(made),
        (Some(s), None) if s > now => Some(s),
        _ => None,
    };
    if let Some(opens) = opens {
        let offset = match &facts.client_time {
            Some(ct) => ct.time.saturating_sub(now),
            None => opens.saturating_sub(now),
        };
        let c = match clock_cause(offset) {
            Some(cause::TIMEZONE_OFFSET) => cause::TIMEZONE_OFFSET,
            _ => cause::CLIENT_CLOCK_AHEAD,
        };
        out.push(
            Finding::error(
                code::NOT_YET_VALID,
                format!(
                    "not valid for another {} ({window_text}, now {}): {}",
                    human_duration(opens.saturating_sub(now)),
                    hhmmss(now),
                    cause_text(c, offset)
                ),
            )
            .with_cause(c)
            .with("opens_in_seconds", opens.saturating_sub(now))
            .with("client_offset_seconds", offset)
            .with("now", rfc3339(now)),
        );
    }
    out
}

/// How far back the COS SDK named in `User-Agent` dates its window start, and its name.
pub fn cos_sdk_backdating(user_agent: Option<&str>) -> Option<(&'static str, i64)> {
    let ua = user_agent?.to_ascii_lowercase();
    if ua.contains("cos-python-sdk") || ua.contains("coscmd") {
        Some(("cos-python-sdk-v5", 60))
    } else if ua.contains("cos-php-sdk") {
        Some(("cos-php-sdk-v5", 60))
    } else if ua.contains("cos-nodejs-sdk") || ua.contains("cos-js-sdk") {
        Some(("cos-nodejs/js-sdk-v5", 1))
    } else if ua.contains("cos-go-sdk") {
        Some(("cos-go-sdk-v5", 0))
    } else if ua.contains("cos-java-sdk") {
        Some(("cos-java-sdk-v5", 0))
    } else {
        None
    }
}

/// The client time implied by a COS header window start.
pub fn cos_client_time(start: UnixTime, user_agent: Option<&str>) -> ClientTime {
    match cos_sdk_backdating(user_agent) {
        Some((sdk, back)) => ClientTime {
            time: start.saturating_add(back),
            basis: format!(
                "window start + the {back} s back-dating of {sdk}, named in User-Agent"
            ),
            range: None,
        },
        None => ClientTime {
            time: start.saturating_add(60),
            basis: "window start; User-Agent names no known COS SDK, so the SDK back-dating (0-60 s) is a guess".into(),
            range: Some((start, start.saturating_add(60))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(
        now: i64,
        client: i64,
        window: Option<(Option<i64>, i64)>,
        allow: Option<i64>,
    ) -> TimeFacts {
        TimeFacts {
            now,
            presigned: false,
            window,
            client_time: Some(ClientTime {
                time: client,
                basis: "X-Amz-Date".into(),
                range: None,
            }),
            skew_allowance: allow,
            made_at: None,
            has_session_token: false,
        }
    }

    #[test]
    fn causes_from_offsets() {
        assert_eq!(clock_cause(100), None);
        assert_eq!(clock_cause(-1000), Some(cause::CLIENT_CLOCK_BEHIND));
        assert_eq!(clock_cause(32_352), Some(cause::TIMEZONE_OFFSET));
        assert_eq!(clock_cause(-3600 * 8 - 100), Some(cause::TIMEZONE_OFFSET));
        assert_eq!(clock_cause(3600 * 15), Some(cause::CLIENT_CLOCK_AHEAD));
        assert_eq!(clock_cause(2400), Some(cause::CLIENT_CLOCK_AHEAD));
    }

    #[test]
    fn header_skew_behind() {
        let f = analyse(&header(
            10_000,
            9_000,
            Some((Some(8_100), 9_900)),
            Some(900),
        ));
        let skew = f.iter().find(|f| f.code == code::CLOCK_SKEW).unwrap();
        assert_eq!(skew.cause, Some(cause::CLIENT_CLOCK_BEHIND));
        assert!(skew.message.contains("16m40s behind"), "{}", skew.message);
    }

    #[test]
    fn cos_header_expired_by_a_slow_clock() {
        let now = 1_000_000;
        let start = now - 420 - 60;
        let facts = TimeFacts {
            client_time: Some(cos_client_time(start, Some("cos-python-sdk-v5.1.9.44"))),
            window: Some((Some(start), start + 360)),
            ..header(now, 0, None, None)
        };
        let f = analyse(&facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, code::EXPIRED);
        assert_eq!(f[0].cause, Some(cause::CLIENT_CLOCK_BEHIND));
    }

    #[test]
    fn expired_header_with_good_clock_is_used_too_late() {
        let f = analyse(&header(10_000, 9_990, Some((Some(9_950), 9_960)), None));
        assert_eq!(f[0].cause, Some(cause::USED_TOO_LATE));
        assert!(
            f[0].message.starts_with("expired 40s ago"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn extreme_windows_do_not_overflow() {
        for (s, e, tok) in [
            (i64::MIN, i64::MAX, true),
            (i64::MAX, i64::MIN, true),
            (0, i64::MIN, false),
        ] {
            let facts = TimeFacts {
                now: 1_750_000_000,
                presigned: true,
                window: Some((Some(s), e)),
                client_time: Some(cos_client_time(i64::MAX, None)),
                skew_allowance: Some(900),
                made_at: Some(i64::MIN),
                has_session_token: tok,
            };
            let _ = analyse(&facts);
        }
    }

    #[test]
    fn presigned_future_url() {
        let facts = TimeFacts {
            now: 0,
            presigned: true,
            window: Some((Some(2400), 6000)),
            client_time: None,
            skew_allowance: None,
            made_at: Some(2400),
            has_session_token: false,
        };
        let f = analyse(&facts);
        assert_eq!(f[0].code, code::NOT_YET_VALID);
        assert_eq!(f[0].cause, Some(cause::CLIENT_CLOCK_AHEAD));
    }
}
