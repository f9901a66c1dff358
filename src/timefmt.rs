//! Time parsing and formatting used by the signing schemes and the reports.

use crate::clock::UnixTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

fn to_odt(t: UnixTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(t).ok()
}

/// `2025-01-15T08:30:00Z`.
pub fn rfc3339(t: UnixTime) -> String {
    match to_odt(t).and_then(|d| d.format(&Rfc3339).ok()) {
        Some(s) => s,
        None => format!("@{t}"),
    }
}

/// SigV4 basic ISO-8601 timestamp: `20250115T083000Z`.
pub fn amz_date(t: UnixTime) -> String {
    match to_odt(t) {
        // written digit by digit: this runs for every request signed
        Some(d) if (0..=9999).contains(&d.year()) => {
            let y = d.year() as u16;
            let mut out = String::with_capacity(16);
            for (i, n) in [
                (y / 100) as u8,
                (y % 100) as u8,
                u8::from(d.month()),
                d.day(),
                d.hour(),
                d.minute(),
                d.second(),
            ]
            .into_iter()
            .enumerate()
            {
                if i == 4 {
                    out.push('T');
                }
                out.push(char::from(b'0' + n / 10));
                out.push(char::from(b'0' + n % 10));
            }
            out.push('Z');
            out
        }
        Some(d) => format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        None => String::from("00000000T000000Z"),
    }
}

/// RFC 7231 IMF-fixdate: `Wed, 15 Jan 2025 08:30:00 GMT`.
pub fn http_date(t: UnixTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    match to_odt(t) {
        Some(d) => format!(
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
            DAYS[d.weekday().number_days_from_monday() as usize],
            d.day(),
            MONTHS[u8::from(d.month()) as usize - 1],
            d.year(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        None => String::new(),
    }
}

/// Parses a SigV4 `YYYYMMDD'T'HHMMSS'Z'` timestamp (exactly 16 characters).
pub fn parse_amz_date(s: &str) -> Option<UnixTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = digits(0..4)? as i32;
    let month = time::Month::try_from(digits(4..6)? as u8).ok()?;
    let day = digits(6..8)? as u8;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let t = time::Time::from_hms(
        digits(9..11)? as u8,
        digits(11..13)? as u8,
        digits(13..15)? as u8,
    )
    .ok()?;
    Some(
        PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// Parses an HTTP date (RFC 1123 / RFC 2822 forms, `GMT` or a numeric offset).
pub fn parse_http_date(s: &str) -> Option<UnixTime> {
    let s = s.trim();
    if let Ok(d) = OffsetDateTime::parse(s, &Rfc2822) {
        return Some(d.unix_timestamp());
    }
    // RFC 2822 parsing in `time` rejects "GMT"/"UTC" zone names; map them to +0000.
    for zone in [" GMT", " UTC", " Z"] {
        if let Some(stripped) = s.strip_suffix(zone) {
            if let Ok(d) = OffsetDateTime::parse(&format!("{stripped} +0000"), &Rfc2822) {
                return Some(d.unix_timestamp());
            }
        }
    }
    None
}

/// Parses a user-supplied time: RFC 3339, SigV4 basic format, or unix seconds.
pub fn parse_user_time(s: &str) -> Option<UnixTime> {
    let s = s.trim();
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    if !unsigned.is_empty() && unsigned.bytes().all(|c| c.is_ascii_digit()) {
        return s.parse().ok();
    }
    if let Ok(d) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(d.to_offset(UtcOffset::UTC).unix_timestamp());
    }
    parse_amz_date(s).or_else(|| parse_http_date(s))
}

/// A human duration: `4m13s`, `2h0m5s`, `17d3h`, `850ms` is not needed (seconds resolution).
pub fn human_duration(secs: i64) -> String {
    let neg = secs < 0;
    let mut s = secs.unsigned_abs();
    let days = s / 86_400;
    s %= 86_400;
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let body = if days > 0 {
        format!("{days}d{h}h{m}m")
    } else if h > 0 {
        format!("{h}h{m}m{sec}s")
    } else if m > 0 {
        format!("{m}m{sec}s")
    } else {
        format!("{sec}s")
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_round_trip() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(t, 1_440_938_160);
        assert_eq!(amz_date(t), "20150830T123600Z");
        assert_eq!(rfc3339(t), "2015-08-30T12:36:00Z");
    }

    #[test]
    fn amz_date_digits_match_the_formatter() {
        // the hand-written digits against `format!`, across years, months and day boundaries
        let mut t: UnixTime = -62_000_000_000;
        while t < 253_402_300_799 {
            let d = to_odt(t).unwrap();
            let want = format!(
                "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
                d.year(),
                u8::from(d.month()),
                d.day(),
                d.hour(),
                d.minute(),
                d.second()
            );
            assert_eq!(amz_date(t), want, "{t}");
            t += 86_399 * 37 + 3_607;
        }
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Thu, 16 May 2019 06:45:51 GMT"),
            Some(1_557_989_151)
        );
        assert_eq!(
            parse_http_date("Tue, 27 Mar 2007 19:36:42 +0000"),
            Some(1_175_024_202)
        );
        assert_eq!(http_date(1_557_989_151), "Thu, 16 May 2019 06:45:51 GMT");
    }

    #[test]
    fn user_times() {
        assert_eq!(parse_user_time("1440938160"), Some(1_440_938_160));
        assert_eq!(parse_user_time("2015-08-30T12:36:00Z"), Some(1_440_938_160));
        assert_eq!(
            parse_user_time("2015-08-30T14:36:00+02:00"),
            Some(1_440_938_160)
        );
        assert_eq!(parse_user_time("yesterday"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(253), "4m13s");
        assert_eq!(human_duration(3605), "1h0m5s");
        assert_eq!(human_duration(-59), "-59s");
    }
}
