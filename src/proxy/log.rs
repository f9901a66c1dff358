//! The proxy's log: each request's [`Record`] written as a human or JSON line as it completes,
//! and the shutdown summary.

/// The record lives in [`crate::outcome`]; these paths stay for existing callers.
pub use crate::outcome::Record;
use crate::policy::Action;
pub use crate::redact::{redact, redact_into, redact_tokens, request_tokens};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Where records go, plus the counters for the summary.
#[derive(Clone)]
pub struct Sink {
    out: Arc<Mutex<Out>>,
    json: bool,
    color: bool,
    stats: Arc<Mutex<Stats>>,
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
    last_flush: std::time::Instant,
}

const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

#[derive(Debug, Default)]
struct Stats {
    requests: u64,
    rejected: u64,
    resigned: u64,
    by_cause: BTreeMap<String, u64>,
    skews: Vec<i64>,
    upstream_offset: Option<i64>,
}

impl Sink {
    /// A sink that writes each line through at once.
    pub fn new(out: Box<dyn Write + Send>, json: bool, color: bool) -> Self {
        Sink {
            out: Arc::new(Mutex::new(Out {
                w: std::io::BufWriter::with_capacity(64 * 1024, out),
                immediate: true,
                dirty: false,
                last_flush: crate::clock::Clock::instant(&crate::clock::SystemClock),
            })),
            json,
            color,
            stats: Arc::new(Mutex::new(Stats::default())),
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
                            o.last_flush = crate::clock::Clock::instant(&crate::clock::SystemClock);
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
                o.last_flush = crate::clock::Clock::instant(&crate::clock::SystemClock);
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
        if let Ok(mut s) = self.stats.lock() {
            s.requests += 1;
            match r.action {
                Action::Rejected => s.rejected += 1,
                Action::Resigned => s.resigned += 1,
                _ => {}
            }
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
                    s.skews.push(o);
                }
            }
            if r.clock_offset_s.is_some() {
                s.upstream_offset = r.clock_offset_s;
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
        let s = match self.stats.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let causes = if s.by_cause.is_empty() {
            "none".to_string()
        } else {
            s.by_cause
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let skew = match (s.skews.iter().min(), s.skews.iter().max()) {
            (Some(a), Some(b)) => format!("client clock offsets {a}s … {b}s"),
            _ => "no client clock offset observed".into(),
        };
        let up = s
            .upstream_offset
            .map(|o| format!("upstream clock offset {o}s"))
            .unwrap_or_else(|| "upstream clock not learned".into());
        if self.json {
            json!({"summary": {"requests": s.requests, "resigned": s.resigned, "rejected": s.rejected,
                   "failures": s.by_cause, "client_offsets_s": s.skews, "upstream_clock_offset_s": s.upstream_offset}})
            .to_string()
        } else {
            format!(
                "summary: {} requests, {} re-signed, {} rejected; failures: {causes}; {skew}; {up}",
                s.requests, s.resigned, s.rejected
            )
        }
    }
}
