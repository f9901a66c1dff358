//! Fault injection for the mock (`--fail RULE`): answer some requests with a skew or expiry
//! error, a 503 SlowDown, a 500, a reset connection or a slow body, to test clients' retry paths.
//!
//! Rule: `KIND[:OPTION,...]` with KIND one of `skew`, `expired`, `slowdown`, `internal`,
//! `reset`, `slow-body`, and options `method=GET`, `path=/bucket/prefix*` (a trailing `*`
//! matches any rest), `rate=0.25` (that fraction of matching requests, drawn from `--seed`),
//! `times=N` (only the first N matching requests), `delay=MS` (slow-body: pause per 1 KiB).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Skew,
    Expired,
    SlowDown,
    Internal,
    Reset,
    SlowBody,
}

#[derive(Debug)]
pub struct Rule {
    pub kind: Kind,
    method: Option<String>,
    path: Option<String>,
    rate: f64,
    times: Option<u64>,
    pub delay_ms: u64,
    hits: AtomicU64,
    pub text: String,
}

impl Rule {
    pub fn parse(s: &str) -> Result<Rule, String> {
        let (kind, opts) = s.split_once(':').unwrap_or((s, ""));
        let kind = match kind.trim() {
            "skew" => Kind::Skew,
            "expired" => Kind::Expired,
            "slowdown" => Kind::SlowDown,
            "internal" => Kind::Internal,
            "reset" => Kind::Reset,
            "slow-body" => Kind::SlowBody,
            k => {
                return Err(format!(
                    "--fail {s:?}: unknown kind {k:?}; use skew, expired, slowdown, internal, reset or slow-body"
                ))
            }
        };
        let mut r = Rule {
            kind,
            method: None,
            path: None,
            rate: 1.0,
            times: None,
            delay_ms: 200,
            hits: AtomicU64::new(0),
            text: s.to_string(),
        };
        for o in opts.split(',').filter(|o| !o.trim().is_empty()) {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| format!("--fail {s:?}: option {o:?} is not NAME=VALUE"))?;
            let bad = |what: &str| format!("--fail {s:?}: {k}={v:?} is not {what}");
            match k.trim() {
                "method" => r.method = Some(v.trim().to_ascii_uppercase()),
                "path" => r.path = Some(v.trim().to_string()),
                "rate" => {
                    r.rate = v
                        .parse()
                        .ok()
                        .filter(|x: &f64| (0.0..=1.0).contains(x))
                        .ok_or_else(|| bad("a fraction between 0 and 1"))?
                }
                "times" => r.times = Some(v.parse().map_err(|_| bad("a count"))?),
                "delay" => r.delay_ms = v.parse().map_err(|_| bad("milliseconds"))?,
                _ => {
                    return Err(format!(
                        "--fail {s:?}: unknown option {k:?}; use method, path, rate, times or delay"
                    ))
                }
            }
        }
        Ok(r)
    }

    fn applies(&self, method: &str, path: &str) -> bool {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return false;
        }
        match &self.path {
            Some(p) => match p.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => path == p,
            },
            None => true,
        }
    }
}

/// The rules and the random draw behind `rate`.
#[derive(Debug)]
pub struct Faults {
    rules: Vec<Rule>,
    rng: Mutex<u64>,
}

impl Faults {
    pub fn new(rules: Vec<Rule>, seed: u64) -> Faults {
        Faults {
            rules,
            rng: Mutex::new(seed.max(1)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// xorshift64*: reproducible for a seed, good enough to pick a fraction of requests
    fn draw(&self) -> f64 {
        let mut s = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The first rule that fires for this request (`path` decoded, with the leading slash).
    pub fn pick(&self, method: &str, path: &str) -> Option<&Rule> {
        for r in &self.rules {
            if !r.applies(method, path) {
                continue;
            }
            if r.rate < 1.0 && self.draw() >= r.rate {
                continue;
            }
            let n = r.hits.fetch_add(1, Ordering::Relaxed);
            if r.times.is_some_and(|t| n >= t) {
                continue;
            }
            return Some(r);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_fire_as_told() {
        let f = Faults::new(
            vec![Rule::parse("slowdown:method=PUT,path=/b/*,times=2").unwrap()],
            1,
        );
        assert!(f.pick("GET", "/b/k").is_none());
        assert!(f.pick("PUT", "/c/k").is_none());
        assert_eq!(f.pick("PUT", "/b/k").map(|r| r.kind), Some(Kind::SlowDown));
        assert!(f.pick("PUT", "/b/k").is_some());
        assert!(f.pick("PUT", "/b/k").is_none(), "times=2");
        assert!(Rule::parse("explode").unwrap_err().contains("unknown kind"));
        assert!(Rule::parse("reset:rate=2").is_err());
        let half = Faults::new(vec![Rule::parse("reset:rate=0.5").unwrap()], 42);
        let fired = (0..1000)
            .filter(|_| half.pick("GET", "/").is_some())
            .count();
        assert!((400..600).contains(&fired), "{fired}");
    }
}
