//! Leaves per host for interception: issued on first use, kept while valid, bounded.

use super::{server_config, Ca, CaError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// At most this many hosts are kept; the oldest goes first.
const MAX_HOSTS: usize = 1024;
/// A kept leaf is handed out while it is valid for at least this much longer.
const MIN_REMAINING: i64 = 86_400;
/// Leaves start this long before they are issued (see `ca::BACKDATE`); a clock that jumped
/// back further gets a new leaf.
const VALID_FROM: i64 = 2 * 86_400;

struct Entry {
    config: Arc<rustls::ServerConfig>,
    issued: i64,
    not_after: i64,
    seq: u64,
}

impl Entry {
    fn usable(&self, now: i64) -> bool {
        self.issued.saturating_sub(VALID_FROM) <= now
            && now.saturating_add(MIN_REMAINING) <= self.not_after
    }
}

#[derive(Default)]
struct Inner {
    hosts: HashMap<String, Entry>,
    next_seq: u64,
}

/// Server configs per host, each with a leaf issued by the [`Ca`] on first use. Thread-safe;
/// issuing happens outside the lock, so one slow issue does not stall other hosts.
pub struct LeafCache {
    ca: Arc<Ca>,
    max_hosts: usize,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for LeafCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafCache")
            .field("ca", &self.ca.cert_path())
            .field("hosts", &self.lock().hosts.len())
            .finish()
    }
}

impl LeafCache {
    pub fn new(ca: Arc<Ca>) -> LeafCache {
        LeafCache::with_capacity(ca, MAX_HOSTS)
    }

    /// A cache that keeps at most `max_hosts` hosts (at least one).
    pub(crate) fn with_capacity(ca: Arc<Ca>, max_hosts: usize) -> LeafCache {
        LeafCache {
            ca,
            max_hosts: max_hosts.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // a panic elsewhere while holding the lock leaves the map consistent: keep using it
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The server config for `host` (a DNS name or an IP literal, `[::1]` too): the kept one
    /// while it is valid for at least a day more, else a newly issued one.
    pub fn get(&self, host: &str, now: i64) -> Result<Arc<rustls::ServerConfig>, CaError> {
        let key = host.trim().to_ascii_lowercase();
        if let Some(e) = self.lock().hosts.get(&key) {
            if e.usable(now) {
                return Ok(e.config.clone());
            }
        }
        let leaf = self.ca.issue(&[&key], now)?;
        let config = server_config(leaf)?;
        let mut inner = self.lock();
        if let Some(e) = inner.hosts.get(&key) {
            // another thread issued one meanwhile: everyone gets the same
            if e.usable(now) {
                return Ok(e.config.clone());
            }
        }
        if inner.hosts.len() >= self.max_hosts && !inner.hosts.contains_key(&key) {
            let oldest = inner
                .hosts
                .iter()
                .min_by_key(|(_, e)| e.seq)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                inner.hosts.remove(&k);
            }
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.hosts.insert(
            key,
            Entry {
                config: config.clone(),
                issued: now,
                not_after: self.ca.leaf_not_after(now),
                seq,
            },
        );
        Ok(config)
    }

    /// How many hosts are kept (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.lock().hosts.len()
    }

    /// Whether no host is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
