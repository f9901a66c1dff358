//! The proxy's log: each request's [`Record`] written as a human or JSON line as it completes,
//! and the shutdown summary.

/// The record lives in [`crate::outcome`]; these paths stay for existing callers.
pub use crate::outcome::Record;
use crate::policy::Action;
pub use crate::redact::{redact, redact_into, redact_tokens, request_tokens};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Where records go, plus the counters for the summary.
#[derive(Clone)]
pub struct Sink {
    out: Arc<Mutex<Out>>,
    json: bool,
    color: bool,
    stats: Arc<Stats>,
    /// Sees every record as it is logged (the web view, `--ui`).
    observer: Option<Observer>,
    /// Counts every record (`--admin`'s `/metrics`); `None` costs nothing.
    metrics: Option<Arc<crate::admin::Metrics>>,
}

/// A function that sees every record the log writes (the web view's store).
pub type Observer = Arc<dyn Fn(&Record) + Send + Sync>;

/// The log destination: written through at once, or buffered and flushed by a small
/// background thread at most `FLUSH_EVERY` after a line (one write per batch instead of one per
/// request under load).
struct Out {
    w: std::io::BufWriter<Box<dyn Write + Send>>,
    immediate: bool,
    dirty: bool,
    /// The clock the flush timer reads (handed in; never read here directly).
    clock: Arc<dyn crate::clock::Clock>,
    last_flush: std::time::Instant,
}

const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// What the shutdown summary reports. The counts are atomics; the rest is locked only by
/// requests that have something to add (an error finding, a client or upstream clock offset),
/// and it stays small however long the proxy runs (the offsets kept are the two extremes).
#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    rejected: AtomicU64,
    resigned: AtomicU64,
    rare: Mutex<RareStats>,
}

#[derive(Debug, Default)]
struct RareStats {
    by_cause: BTreeMap<String, u64>,
    /// The lowest and the highest client clock offset seen.
    skews: Option<(i64, i64)>,
    upstream_offset: Option<i64>,
}

impl Sink {
    /// A sink that writes each line through at once; `clock` times the batching of
    /// [`Sink::buffered`].
    pub fn new(
        out: Box<dyn Write + Send>,
        json: bool,
        color: bool,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Self {
        Sink {
            out: Arc::new(Mutex::new(Out {
                w: std::io::BufWriter::with_capacity(64 * 1024, out),
                immediate: true,
                dirty: false,
                last_flush: clock.instant(),
                clock,
            })),
            json,
            color,
            stats: Arc::new(Stats::default()),
            observer: None,
            metrics: None,
        }
    }

    /// Counts every record into `metrics` too, as it is logged.
    pub fn count(mut self, metrics: Arc<crate::admin::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Hands every record to `observer` too, as it is logged.
    pub fn observe(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// True when an observer sees the records: the pipeline then captures each request's
    /// [`crate::outcome::Detail`] (nothing more is copied otherwise).
    pub fn observed(&self) -> bool {
        self.observer.is_some()
    }

    /// Buffers lines under load: a line is written at once when the last flush is older than
    /// 50 ms (a quiet proxy logs immediately), else within 50 ms by a background flusher.
    pub fn buffered(self) -> Self {
        if let Ok(mut o) = self.out.lock() {
            o.immediate = false;
        }
        let weak = Arc::downgrade(&self.out);
        let _ = std::thread::Builder::new()
            .name("sigtap-log-flush".into())
            .spawn(move || {
                while let Some(out) = weak.upgrade() {
                    if let Ok(mut o) = out.lock() {
                        if o.dirty {
                            let _ = o.w.flush();
                            o.dirty = false;
                            o.last_flush = o.clock.instant();
                        }
                    }
                    drop(out);
                    std::thread::sleep(FLUSH_EVERY);
                }
            });
        self
    }

    /// Writes one line (or block); flushed at once, or within 50 ms when buffered.
    pub fn write_line(&self, line: &str) {
        if line.ends_with('\n') {
            self.write_bytes(line.as_bytes());
        } else {
            self.write_bytes(&[line.as_bytes(), b"\n"].concat());
        }
    }

    /// Writes bytes that end with a line break, as `write_line`.
    fn write_bytes(&self, line: &[u8]) {
        if let Ok(mut o) = self.out.lock() {
            let _ = o.w.write_all(line);
            if o.immediate || o.last_flush.elapsed() >= FLUSH_EVERY {
                let _ = o.w.flush();
                o.last_flush = o.clock.instant();
                o.dirty = false;
            } else {
                o.dirty = true;
            }
        }
    }

    /// Writes out whatever is buffered.
    pub fn flush(&self) {
        if let Ok(mut o) = self.out.lock() {
            let _ = o.w.flush();
            o.dirty = false;
        }
    }

    pub fn record(&self, r: &Record) {
        let st = &self.stats;
        st.requests.fetch_add(1, Ordering::Relaxed);
        match r.action {
            Action::Rejected => st.rejected.fetch_add(1, Ordering::Relaxed),
            Action::Resigned => st.resigned.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        let rare = r.clock_offset_s.is_some()
            || r.findings.iter().any(|f| {
                f.severity == crate::findings::Severity::Error
                    || f.evidence.get("client_offset_seconds").is_some()
            });
        if rare {
            if let Ok(mut s) = st.rare.lock() {
                for f in &r.findings {
                    if f.severity == crate::findings::Severity::Error {
                        *s.by_cause
                            .entry(format!(
                                "{}{}",
                                f.code,
                                f.cause.map(|c| format!("/{c}")).unwrap_or_default()
                            ))
                            .or_default() += 1;
                    }
                    if let Some(o) = f
                        .evidence
                        .get("client_offset_seconds")
                        .and_then(Value::as_i64)
                    {
                        s.skews = Some(match s.skews {
                            Some((lo, hi)) => (lo.min(o), hi.max(o)),
                            None => (o, o),
                        });
                    }
                }
                if r.clock_offset_s.is_some() {
                    s.upstream_offset = r.clock_offset_s;
                }
            }
        }
        if let Some(m) = &self.metrics {
            m.count(r);
        }
        if let Some(o) = &self.observer {
            o(r);
        }
        if self.json {
            // one buffer per thread, reused; the record written straight into it
            thread_local! {
                static JSON: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
            }
            JSON.with(|buf| match buf.try_borrow_mut() {
                Ok(mut bytes) => {
                    bytes.clear();
                    r.write_json(&mut bytes);
                    bytes.push(b'\n');
                    self.write_bytes(&bytes);
                }
                Err(_) => self.write_line(&r.to_json().to_string()),
            });
            return;
        }
        // one line buffer per thread, reused
        thread_local! {
            static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        LINE.with(|line| match line.try_borrow_mut() {
            Ok(mut text) => {
                text.clear();
                r.write_human(&mut text, self.color);
                self.write_line(&text);
            }
            Err(_) => self.write_line(&r.to_human(self.color)),
        });
    }

    /// The shutdown summary.
    pub fn summary(&self) -> String {
        let s = match self.stats.rare.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let (requests, resigned, rejected) = (
            self.stats.requests.load(Ordering::Relaxed),
            self.stats.resigned.load(Ordering::Relaxed),
            self.stats.rejected.load(Ordering::Relaxed),
        );
        let causes = if s.by_cause.is_empty() {
            "none".to_string()
        } else {
            s.by_cause
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let skew = match s.skews {
            Some((a, b)) => format!("client clock offsets {a}s … {b}s"),
            None => "no client clock offset observed".into(),
        };
        // the extremes, once each
        let offsets: Vec<i64> = match s.skews {
            Some((a, b)) if a == b => vec![a],
            Some((a, b)) => vec![a, b],
            None => Vec::new(),
        };
        let up = s
            .upstream_offset
            .map(|o| format!("upstream clock offset {o}s"))
            .unwrap_or_else(|| "upstream clock not learned".into());
        if self.json {
            json!({"summary": {"requests": requests, "resigned": resigned, "rejected": rejected,
                   "failures": s.by_cause, "client_offsets_s": offsets, "upstream_clock_offset_s": s.upstream_offset}})
            .to_string()
        } else {
            format!(
                "summary: {requests} requests, {resigned} re-signed, {rejected} rejected; failures: {causes}; {skew}; {up}"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{code, Finding};

    /// A sink writing into a shared buffer.
    fn sink(json: bool) -> (Sink, Arc<Mutex<Vec<u8>>>) {
        #[derive(Clone)]
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Arc::new(Mutex::new(Vec::new()));
        let clock = Arc::new(crate::clock::FixedClock(0));
        (
            Sink::new(Box::new(Shared(buf.clone())), json, false, clock),
            buf,
        )
    }

    #[test]
    fn the_summary_stays_small_however_many_requests_it_counts() {
        let (s, _) = sink(true);
        for i in 0..20_000i64 {
            let mut r = Record {
                action: if i % 2 == 0 {
                    Action::Resigned
                } else {
                    Action::Rejected
                },
                ..Default::default()
            };
            if i % 3 == 0 {
                r.findings.push(
                    Finding::error(code::CLOCK_SKEW, "skewed")
                        .with("client_offset_seconds", (i % 1000) - 500),
                );
            }
            s.record(&r);
        }
        let v: Value = serde_json::from_str(&s.summary()).unwrap();
        let sum = &v["summary"];
        assert_eq!(sum["requests"], 20_000);
        assert_eq!(sum["resigned"], 10_000);
        assert_eq!(sum["rejected"], 10_000);
        assert_eq!(sum["client_offsets_s"], json!([-500, 499]));
        assert_eq!(sum["failures"]["clock-skew"], 6_667);
        let (human, _) = sink(false);
        human.record(&Record::default());
        assert_eq!(
            human.summary(),
            "summary: 1 requests, 0 re-signed, 0 rejected; failures: none; no client clock offset observed; upstream clock not learned"
        );
    }
}
