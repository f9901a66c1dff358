//! Replay as a client: re-send a recording's requests to an upstream, each re-signed with fresh
//! time in its recorded scheme and signed-header set, and compare the answers with the recording.
//!
//! Compared by default: status, `Content-Length`, `ETag`, `Content-Type` and the body's SHA-256
//! (XML bodies after masking dates and request ids, and with upload ids the replay learned
//! mapped to the new ones). Never dates, request ids or server names.
//!
//! This module runs the replay and reports; `send` rebuilds, re-signs and sends one exchange,
//! `compare` holds its answer against the recording.

mod compare;
mod send;

use crate::clock::Clock;
use crate::credentials::KeyStore;
use crate::inspect::Inspector;
use crate::net::client::{Clocks, HttpsClient, Upstream};
use crate::record::read::{Exchange, Recording};
use compare::{compare, Learned};
use send::send;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Settings of one replay run.
pub struct ReplayConfig {
    /// Signing times and durations come from here.
    pub clock: Arc<dyn Clock>,
    pub upstream: Upstream,
    pub keys: KeyStore,
    /// Sign at this fixed time instead of the clock (plus the upstream's learned offset).
    pub now: Option<i64>,
    pub concurrency: usize,
    /// Extra response headers to compare (lower-case).
    pub compare_headers: Vec<String>,
    pub json: bool,
    pub timeout: Duration,
    /// Show a progress line on stderr.
    pub progress: bool,
    pub upstream_ca: Option<std::path::PathBuf>,
}

/// The outcome of one exchange.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub id: u64,
    pub method: String,
    pub target: String,
    /// `same`, `different`, `skipped` or `error`.
    pub result: &'static str,
    pub status: Option<u16>,
    pub recorded_status: u16,
    pub differences: Vec<String>,
    pub note: Option<String>,
    pub ms: f64,
}

impl Outcome {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id, "method": self.method, "target": self.target, "result": self.result,
            "status": self.status, "recorded_status": self.recorded_status,
            "differences": self.differences, "note": self.note, "ms": (self.ms * 10.0).round() / 10.0,
        })
    }

    /// The human line: recorded and upstream text escaped as the proxy's human log escapes it.
    pub fn human(&self) -> String {
        use crate::redact::{escape_into, shown_into, Form};
        let mark = match self.result {
            "same" => "✓",
            "skipped" => "-",
            _ => "✗",
        };
        let status = self
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "---".into());
        let mut line = format!("{mark} #{} ", self.id);
        escape_into(&mut line, &self.method, Form::Text);
        line.push(' ');
        shown_into(&mut line, &self.target, [], Form::Bytes);
        line.push_str(&format!(
            " → {status} (recorded {}) {:.1}ms",
            self.recorded_status, self.ms
        ));
        for d in &self.differences {
            line.push_str("\n    differs: ");
            shown_into(&mut line, d, [], Form::Text);
        }
        if let Some(n) = &self.note {
            line.push_str("\n    note: ");
            shown_into(&mut line, n, [], Form::Text);
        }
        line
    }
}

struct Ctx {
    cfg: ReplayConfig,
    /// Masks a live answer as the recorder masked the recorded one (the keys' tokens and
    /// signature values), for answers recorded `redacted`.
    scrubber: crate::redact::record::Scrubber,
    client: HttpsClient,
    inspector: Inspector,
    clocks: Clocks,
    learned: Learned,
    base: std::path::PathBuf,
}

/// Builds, signs and sends one exchange; compares the answer.
async fn replay_one(ctx: &Ctx, x: &Exchange) -> Outcome {
    let clock = &ctx.cfg.clock;
    let started = clock.instant();
    let mut o = Outcome {
        id: x.id,
        method: x.request.method.clone(),
        target: x.request.target.clone(),
        result: "error",
        status: None,
        recorded_status: x.response.status,
        differences: vec![],
        note: None,
        ms: 0.0,
    };
    if x.answered_locally() {
        o.result = "skipped";
        o.note = Some(format!(
            "sigtap answered this one itself when recording ({}); it never reached the upstream",
            x.action
        ));
        return o;
    }
    match send(ctx, x).await {
        Ok((status, headers, seen)) => {
            o.status = Some(status);
            o.differences = compare(ctx, x, status, &headers, &seen);
            o.result = if o.differences.is_empty() {
                "same"
            } else {
                "different"
            };
        }
        Err(e) => o.note = Some(e),
    }
    o.ms = clock.instant().duration_since(started).as_secs_f64() * 1000.0;
    o
}

/// What came back: status, headers and the body as seen while it streamed.
type Answer = (u16, Vec<(String, String)>, Seen);

/// A response body: its hash and size, and its first bytes (XML documents are compared whole
/// up to this size).
#[derive(Default)]
struct Seen {
    sha256: String,
    size: u64,
    head: Vec<u8>,
}

const HEAD_KEEP: usize = 1 << 20;

/// Summary of a run.
#[derive(Debug, Default)]
pub struct Summary {
    pub same: usize,
    pub different: usize,
    pub skipped: usize,
    pub errors: usize,
    pub seconds: f64,
}

impl Summary {
    pub fn ok(&self) -> bool {
        self.different == 0 && self.errors == 0
    }
}

/// Replays `rec`, printing one line per exchange (stdout) and a summary; returns the summary.
pub async fn run(rec: Recording, cfg: ReplayConfig) -> Result<Summary, String> {
    let client =
        crate::net::client::client(cfg.upstream_ca.as_deref(), Duration::from_secs(30), None)?;
    let total = rec.exchanges.len();
    let tokens: Vec<String> = cfg
        .keys
        .all()
        .iter()
        .filter_map(|c| c.session_token.as_ref().map(|t| t.expose().to_string()))
        .collect();
    let ctx = Arc::new(Ctx {
        scrubber: crate::redact::record::Scrubber::new(&tokens, true),
        inspector: Inspector::new(KeyStore::new()),
        client,
        clocks: Clocks::default(),
        learned: Learned::default(),
        base: rec.base.clone(),
        cfg,
    });
    let clock = ctx.cfg.clock.clone();
    let started = clock.instant();
    let sem = Arc::new(tokio::sync::Semaphore::new(ctx.cfg.concurrency.max(1)));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
    let feeder = {
        let ctx = ctx.clone();
        let sem = sem.clone();
        tokio::spawn(async move {
            for x in rec.exchanges {
                let Ok(permit) = sem.clone().acquire_owned().await else {
                    break;
                };
                let (ctx, tx) = (ctx.clone(), tx.clone());
                tokio::spawn(async move {
                    // a panic is a sigtap bug: it fails this exchange instead of vanishing
                    let blank = Outcome {
                        id: x.id,
                        method: x.request.method.clone(),
                        target: x.request.target.clone(),
                        result: "error",
                        status: None,
                        recorded_status: x.response.status,
                        differences: vec![],
                        note: None,
                        ms: 0.0,
                    };
                    let o = match tokio::spawn(async move { replay_one(&ctx, &x).await }).await {
                        Ok(o) => o,
                        Err(e) => Outcome {
                            note: Some(format!("sigtap failed on this exchange (a bug): {e}")),
                            ..blank
                        },
                    };
                    drop(permit);
                    let _ = tx.send(o);
                });
            }
        })
    };
    let mut s = Summary::default();
    let mut done = 0usize;
    let mut last_progress = started;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        while let Some(o) = rx.recv().await {
            done += 1;
            match o.result {
                "same" => s.same += 1,
                "different" => s.different += 1,
                "skipped" => s.skipped += 1,
                _ => s.errors += 1,
            }
            let line = if ctx.cfg.json {
                o.to_json().to_string()
            } else {
                o.human()
            };
            let _ = writeln!(out, "{line}");
            let at = ctx.cfg.progress.then(|| clock.instant());
            if let Some(at) = at.filter(|at| *at - last_progress > Duration::from_millis(200)) {
                last_progress = at;
                eprint!(
                    "\r[{done}/{total}] {:.0}/s   ",
                    done as f64 / (at - started).as_secs_f64().max(1e-9)
                );
            }
            if done == total {
                break;
            }
        }
        let _ = out.flush();
    }
    let _ = feeder.await;
    if done < total {
        // never a silent pass: what gave no outcome counts as failed
        s.errors += total - done;
        eprintln!(
            "sigtap: {} of {total} exchanges ended without an outcome",
            total - done
        );
    }
    if ctx.cfg.progress {
        eprint!("\r{}\r", " ".repeat(40));
    }
    s.seconds = clock.instant().duration_since(started).as_secs_f64();
    Ok(s)
}
