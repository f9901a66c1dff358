//! The only place that reads the system clock; everything else takes `now` as an argument or
//! is handed a [`Clock`]. `clippy.toml` keeps `SystemTime::now` and `Instant::now` out of the
//! rest of the crate.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

/// Seconds since the Unix epoch (UTC). Signed and 64-bit so that 50-year windows and
/// dates before 1970 in garbage input never overflow.
pub type UnixTime = i64;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Wall-clock time: what signatures, expiry and skew are judged by.
    fn now(&self) -> UnixTime;

    /// A monotonic instant, for durations and timeouts only (never for signing). Every clock
    /// measures real elapsed time: a frozen wall clock still lets a request take time.
    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_secs() as UnixTime,
            Err(e) => -(e.duration().as_secs() as UnixTime),
        }
    }
}

/// A clock frozen at one instant (tests, `--now`, replays).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub UnixTime);

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        self.0
    }
}
