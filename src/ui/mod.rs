//! The web view (`sigtap proxy --ui HOST:PORT`): a bounded store of the last requests as the
//! view shows them (redacted when stored), fed by the proxy's log through its observer hook,
//! and a small HTTP server (`server.rs`) that serves the embedded page, the data and a live
//! stream of new requests (server-sent events).
//!
//! Layering: it uses the outcome (the log's `Record`), the engine's redaction and `record` (HAR);
//! it never imports `proxy`. The shell connects the two: the proxy's log sink gets
//! [`Ui::observer`], and the pipeline captures each request's detail only when it has one.

mod server;
pub mod view;

pub use server::{own_host, start, UiServer};

use crate::outcome::Record;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use view::Shown;

/// How many requests the view keeps by default (`--ui-keep`).
pub const DEFAULT_KEEP: usize = 10_000;

/// The address `--ui` names: `HOST:PORT` (an IP address or `localhost`), or a bare port on
/// 127.0.0.1.
pub fn parse_addr(spec: &str) -> Result<std::net::SocketAddr, String> {
    let spec = spec.trim();
    if let Ok(port) = spec.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Some(port) = spec.strip_prefix("localhost:") {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        }
    }
    spec.parse().map_err(|_| {
        format!("{spec:?} is not HOST:PORT with an IP address (e.g. 127.0.0.1:0, port 0 picks one)")
    })
}

/// The web view's store, shared by the log's observer and the server. Cheap to clone.
#[derive(Clone)]
pub struct Ui {
    inner: Arc<Inner>,
}

struct Inner {
    store: Mutex<Store>,
    /// The sequence number of the newest entry: live streams wait on it.
    newest: tokio::sync::watch::Sender<u64>,
    /// `--record FILE`: the running recording the page links to.
    recording: Option<PathBuf>,
}

/// One kept request, with its place in the stream.
#[derive(Debug)]
pub struct Entry {
    /// 1, 2, 3... in the order requests were logged (ids are given when a request starts).
    pub seq: u64,
    pub shown: Shown,
}

/// The last `keep` requests, oldest first; sequence numbers are consecutive.
struct Store {
    entries: VecDeque<Arc<Entry>>,
    keep: usize,
    /// Entries ever stored (the next one's sequence number minus one).
    seen: u64,
}

impl Ui {
    /// An empty view keeping the last `keep` requests (at least one).
    pub fn new(keep: usize, recording: Option<PathBuf>) -> Ui {
        let (newest, _) = tokio::sync::watch::channel(0);
        Ui {
            inner: Arc::new(Inner {
                store: Mutex::new(Store {
                    entries: VecDeque::new(),
                    keep: keep.max(1),
                    seen: 0,
                }),
                newest,
                recording,
            }),
        }
    }

    /// The function the proxy's log calls with every record.
    pub fn observer(&self) -> Arc<dyn Fn(&Record) + Send + Sync> {
        let ui = self.clone();
        Arc::new(move |r: &Record| ui.push(r))
    }

    /// Stores what the view shows of `r` (redacted now), dropping the oldest beyond `keep`,
    /// and wakes the live streams.
    pub fn push(&self, r: &Record) {
        let shown = view::shown(r);
        let seq = {
            let mut s = match self.inner.store.lock() {
                Ok(s) => s,
                Err(p) => p.into_inner(),
            };
            s.seen += 1;
            let seq = s.seen;
            s.entries.push_back(Arc::new(Entry { seq, shown }));
            while s.entries.len() > s.keep {
                s.entries.pop_front();
            }
            seq
        };
        self.inner.newest.send_replace(seq);
    }

    /// The kept entries after sequence number `after`, at most `max`, oldest first; and how
    /// many after `after` were dropped before they could be read.
    pub fn after(&self, after: u64, max: usize) -> (Vec<Arc<Entry>>, u64) {
        let s = match self.inner.store.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let first = s.entries.front().map_or(s.seen + 1, |e| e.seq);
        let skipped = first.saturating_sub(after.saturating_add(1));
        let start = after.saturating_add(1).max(first) - first;
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let out = s.entries.iter().skip(start).take(max).cloned().collect();
        (out, skipped)
    }

    /// The kept entry of request `id` (the one at `seq` when given, else the newest), if still
    /// kept.
    pub fn get(&self, id: u64, seq: Option<u64>) -> Option<Arc<Entry>> {
        let s = match self.inner.store.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        if let Some(seq) = seq {
            let first = s.entries.front()?.seq;
            let at = usize::try_from(seq.checked_sub(first)?).ok()?;
            return s.entries.get(at).filter(|e| e.shown.id == id).cloned();
        }
        s.entries.iter().rev().find(|e| e.shown.id == id).cloned()
    }

    /// How many the view keeps, and how many it has seen.
    pub fn counts(&self) -> (usize, u64) {
        let s = match self.inner.store.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        (s.keep, s.seen)
    }

    fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.newest.subscribe()
    }

    fn recording(&self) -> Option<&std::path::Path> {
        self.inner.recording.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: u64) -> Record {
        Record {
            id,
            method: "GET".into(),
            target: format!("/b/{id}"),
            ..Default::default()
        }
    }

    #[test]
    fn the_store_keeps_the_last_n_and_counts_what_was_skipped() {
        let ui = Ui::new(3, None);
        for id in 1..=5 {
            ui.push(&rec(id));
        }
        assert_eq!(ui.counts(), (3, 5));
        let (all, skipped) = ui.after(0, 100);
        assert_eq!(
            all.iter().map(|e| e.shown.id).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert_eq!(skipped, 2);
        let (later, skipped) = ui.after(4, 100);
        assert_eq!(later.len(), 1);
        assert_eq!(skipped, 0);
        assert!(ui.after(5, 100).0.is_empty());
        assert!(ui.after(u64::MAX, 100).0.is_empty());
        assert_eq!(ui.after(0, 2).0.len(), 2);
        assert!(ui.get(2, None).is_none());
        assert_eq!(ui.get(4, None).map(|e| e.seq), Some(4));
        // ids repeat when two proxies feed one view: seq tells them apart
        ui.push(&rec(4));
        assert_eq!(ui.get(4, None).map(|e| e.seq), Some(6));
        assert_eq!(ui.get(4, Some(4)).map(|e| e.seq), Some(4));
        assert!(ui.get(5, Some(4)).is_none());
        assert!(ui.get(4, Some(1)).is_none());
        assert!(ui.get(4, Some(u64::MAX)).is_none());
    }
}
