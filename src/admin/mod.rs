//! The admin endpoints (`sigtap proxy --admin HOST:PORT`): `/metrics` (the Prometheus text
//! format) and `/healthz`, for an operator running sigtap as a service.
//!
//! Layering: like [`crate::ui`], it uses the outcome (the log's `Record`) and never imports
//! `proxy`. The proxy's log counts every record into [`Metrics`]; the proxy attaches a
//! [`Probe`] once it accepts, which the server asks about the upstream identity at scrape and
//! health-check time.

pub mod metrics;
mod server;

pub use metrics::{Identity, Metrics};
pub use server::{start, AdminServer};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// What the proxy tells about its upstream identity when asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probed {
    /// Why requests cannot be signed for the upstream now, if they cannot.
    pub unusable: Option<String>,
    pub identity: Identity,
}

/// Asks the running proxy about its identity (read at scrape time, never per request).
pub type Probe = Box<dyn Fn() -> Probed + Send + Sync>;

/// The admin endpoints' shared state: the counters, and the proxy's probe once it accepts.
pub struct Admin {
    metrics: Arc<Metrics>,
    probe: RwLock<Option<Probe>>,
    stopping: AtomicBool,
}

impl Admin {
    pub fn new() -> Arc<Admin> {
        Arc::new(Admin {
            metrics: Arc::new(Metrics::new()),
            probe: RwLock::new(None),
            stopping: AtomicBool::new(false),
        })
    }

    /// The counters the proxy's log feeds.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The proxy accepts from now on; `probe` answers about its identity.
    pub fn attach(&self, probe: Probe) {
        match self.probe.write() {
            Ok(mut p) => *p = Some(probe),
            Err(poisoned) => *poisoned.into_inner() = Some(probe),
        }
    }

    /// The proxy has stopped accepting (it drains and exits).
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn probed(&self) -> Option<Probed> {
        let p = match self.probe.read() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        p.as_ref().map(|f| f())
    }

    /// `Ok` while the proxy accepts and its upstream identity is usable; else why not.
    pub fn health(&self) -> Result<(), String> {
        if self.stopping.load(Ordering::Relaxed) {
            return Err("sigtap is shutting down: it no longer accepts requests".into());
        }
        match self.probed() {
            None => Err("sigtap is starting: it does not accept requests yet".into()),
            Some(Probed {
                unusable: Some(why),
                ..
            }) => Err(why),
            Some(_) => Ok(()),
        }
    }

    /// The `/metrics` text.
    pub fn exposition(&self) -> String {
        let identity = self.probed().map(|p| p.identity).unwrap_or_default();
        self.metrics.exposition(identity)
    }
}
