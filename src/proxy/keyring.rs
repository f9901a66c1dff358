//! The keys the proxy judges and signs with, replaced while it runs: on SIGHUP at once, and
//! within a few seconds of a key file changing. A request takes the keys current when it is
//! planned and keeps them to its end; the next request sees the new ones. A reload that fails
//! (a missing, unreadable or malformed file, no usable upstream identity, an empty store)
//! keeps the last good keys and says which file failed and why, on stderr and in the log.

use crate::clock::UnixTime;
use crate::credentials::{Credential, KeyStore};
use crate::inspect::Inspector;
use crate::provider::{Provider, Temporary};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

/// One generation of keys.
pub struct Keys {
    /// The key store (client keys) with its signing-key cache.
    pub inspector: Arc<Inspector>,
    /// The upstream identity (`--upstream-access-key`, the store's only key, or a temporary
    /// key from `--upstream-profile` / `--upstream-credentials`).
    pub identity: Option<Credential>,
    /// A temporary identity is not used from this time on (60 s before it expires).
    pub identity_until: Option<UnixTime>,
}

impl Keys {
    /// Why the upstream identity cannot sign at `now`, if it cannot.
    pub fn identity_unusable(&self, now: UnixTime) -> Option<String> {
        let until = self.identity_until?;
        (now >= until).then(|| {
            format!(
                "sigtap: the upstream identity's temporary key {} expires at {} and is not used in its last {}s; it could not be refreshed in time",
                self.identity.as_ref().map_or("", |c| c.access_key.as_str()),
                crate::timefmt::rfc3339(until + EXPIRY_MARGIN),
                EXPIRY_MARGIN
            )
        })
    }
}

/// A temporary key is never used within this many seconds of its expiration.
pub const EXPIRY_MARGIN: i64 = 60;
/// The longest wait between refresh attempts after failures.
const MAX_BACKOFF: i64 = 60;

/// A temporary upstream identity and its refresh schedule.
struct Temp {
    provider: Box<dyn Provider>,
    /// Held while fetching: one fetch at a time (a SIGHUP during a scheduled one waits for
    /// neither: it is dropped).
    fetching: Mutex<()>,
    state: Mutex<TempState>,
    refreshed: AtomicU64,
    failed: AtomicU64,
}

struct TempState {
    /// What the provider's files looked like at the last fetch.
    seen: Vec<Option<Stamp>>,
    expires: Option<UnixTime>,
    /// When to fetch next (a schedule, or a retry after a failure).
    next: UnixTime,
    failures: u32,
    last_error: Option<String>,
}

/// When to refresh a credential fetched at `now` that expires at `expires`: halfway through its
/// usable life, at most 5 minutes before it stops being used.
fn refresh_at(now: UnixTime, expires: Option<UnixTime>) -> UnixTime {
    match expires {
        None => UnixTime::MAX,
        Some(e) => {
            let until = e - EXPIRY_MARGIN;
            until - ((until - now).max(0) / 2).min(300)
        }
    }
}

/// Loads the keys anew: the store and the upstream identity, or why not.
pub type Loader = Box<dyn Fn() -> Result<(KeyStore, Option<Credential>), String> + Send + Sync>;

/// Where keys come from, when they can change.
pub struct KeySource {
    /// The files whose change triggers a reload (the ones the loader reads).
    pub files: Vec<PathBuf>,
    pub load: Loader,
}

/// The current keys and how to load them again.
pub struct Keyring {
    current: RwLock<Arc<Keys>>,
    source: Option<KeySource>,
    /// What the watched files looked like at the last reload attempt.
    seen: Mutex<Vec<Option<Stamp>>>,
    /// A temporary upstream identity, fetched again before it expires.
    temp: Option<Temp>,
}

/// What a reload did, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// New keys are in use: how many, and the identity's access key id.
    Loaded {
        keys: usize,
        identity: Option<String>,
    },
    /// The last good keys stay; the reason names the file.
    Kept { reason: String },
}

/// A file's identity and version as far as a watcher can tell without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: u64,
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: m.len(),
        modified: m.modified().ok(),
        #[cfg(unix)]
        inode: std::os::unix::fs::MetadataExt::ino(&m),
    })
}

/// How often the watcher looks at the key files.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

impl Keyring {
    /// Keys that never change (no files to watch).
    pub fn fixed(keys: KeyStore, identity: Option<Credential>) -> Self {
        Keyring {
            current: RwLock::new(Arc::new(Keys {
                inspector: Arc::new(Inspector::new(keys)),
                identity,
                identity_until: None,
            })),
            source: None,
            seen: Mutex::new(Vec::new()),
            temp: None,
        }
    }

    /// Keys loaded from `source`, starting with the ones already loaded.
    pub fn reloadable(keys: KeyStore, identity: Option<Credential>, source: KeySource) -> Self {
        let seen = source.files.iter().map(|f| stamp(f)).collect();
        Keyring {
            current: RwLock::new(Arc::new(Keys {
                inspector: Arc::new(Inspector::new(keys)),
                identity,
                identity_until: None,
            })),
            source: Some(source),
            seen: Mutex::new(seen),
            temp: None,
        }
    }

    /// The upstream identity comes from `provider` (first fetched as `first` at `now`) and is
    /// fetched again before it expires; file reloads then change only the client keys.
    pub fn with_provider(
        mut self,
        provider: Box<dyn Provider>,
        first: Temporary,
        now: UnixTime,
    ) -> Self {
        let seen = provider.files().iter().map(|f| stamp(f)).collect();
        self.temp = Some(Temp {
            provider,
            fetching: Mutex::new(()),
            state: Mutex::new(TempState {
                seen,
                expires: first.expires,
                next: refresh_at(now, first.expires),
                failures: 0,
                last_error: None,
            }),
            refreshed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        self.set_identity(first);
        self
    }

    fn swap(&self, keys: Keys) {
        let keys = Arc::new(keys);
        match self.current.write() {
            Ok(mut k) => *k = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
    }

    fn set_identity(&self, t: Temporary) {
        let old = self.current();
        self.swap(Keys {
            inspector: old.inspector.clone(),
            identity: Some(t.cred),
            identity_until: t.expires.map(|e| e - EXPIRY_MARGIN),
        });
    }

    /// True when a temporary identity is refreshed by this keyring.
    pub fn has_provider(&self) -> bool {
        self.temp.is_some()
    }

    /// The temporary identity's expiry (unix seconds), if it has one.
    pub fn identity_expiry(&self) -> Option<UnixTime> {
        let t = self.temp.as_ref()?;
        t.state.lock().ok()?.expires
    }

    /// Refreshes done and failed so far.
    pub fn refresh_counts(&self) -> (u64, u64) {
        self.temp.as_ref().map_or((0, 0), |t| {
            (
                t.refreshed.load(Ordering::Relaxed),
                t.failed.load(Ordering::Relaxed),
            )
        })
    }

    /// Fetches the temporary identity again when it is due (or `force`d); one fetch at a time
    /// (the caller is the one refresher). The old key stays in use until a new one arrives.
    pub fn refresh_identity(&self, now: UnixTime, force: bool) -> Option<Result<String, String>> {
        let t = self.temp.as_ref()?;
        let files: Vec<Option<Stamp>> = t.provider.files().iter().map(|f| stamp(f)).collect();
        let due = t
            .state
            .lock()
            .map(|s| now >= s.next || s.seen != files)
            .unwrap_or(true);
        if !due && !force {
            return None;
        }
        let Ok(_one) = t.fetching.try_lock() else {
            return None;
        };
        let got = t.provider.fetch();
        let mut s = match t.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        s.seen = files;
        Some(match got {
            Ok(fresh) => {
                t.refreshed.fetch_add(1, Ordering::Relaxed);
                s.expires = fresh.expires;
                s.next = refresh_at(now, fresh.expires);
                s.failures = 0;
                s.last_error = None;
                let ak = fresh.cred.access_key.clone();
                drop(s);
                self.set_identity(fresh);
                Ok(ak)
            }
            Err(why) => {
                t.failed.fetch_add(1, Ordering::Relaxed);
                s.failures = s.failures.saturating_add(1);
                s.next = now + (1i64 << s.failures.min(6)).min(MAX_BACKOFF);
                s.last_error = Some(why.clone());
                Err(format!("{}: {why}", t.provider.describe()))
            }
        })
    }

    /// For messages: where the temporary identity comes from.
    pub fn provider_name(&self) -> Option<String> {
        self.temp.as_ref().map(|t| t.provider.describe())
    }

    /// The keys to plan a request with.
    pub fn current(&self) -> Arc<Keys> {
        match self.current.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// True when the keys can be reloaded (there is a source).
    pub fn is_reloadable(&self) -> bool {
        self.source.is_some()
    }

    /// The files a reload reads.
    pub fn files(&self) -> &[PathBuf] {
        self.source.as_ref().map(|s| &s.files[..]).unwrap_or(&[])
    }

    /// Loads the keys again now; on failure the current ones stay.
    pub fn reload(&self) -> Option<Reloaded> {
        let source = self.source.as_ref()?;
        if let Ok(mut seen) = self.seen.lock() {
            *seen = source.files.iter().map(|f| stamp(f)).collect();
        }
        let result = (source.load)().and_then(|(store, identity)| {
            if store.is_empty() {
                Err("no keys in it (an empty key store is never put in use)".to_string())
            } else {
                Ok((store, identity))
            }
        });
        Some(match result {
            Ok((store, identity)) => {
                let done = Reloaded::Loaded {
                    keys: store.len(),
                    identity: match &self.temp {
                        Some(_) => self
                            .current()
                            .identity
                            .as_ref()
                            .map(|c| c.access_key.clone()),
                        None => identity.as_ref().map(|c| c.access_key.clone()),
                    },
                };
                let old = self.current();
                let keys = if self.temp.is_some() {
                    // the identity is the provider's; only the client keys change
                    Keys {
                        inspector: Arc::new(Inspector::new(store)),
                        identity: old.identity.clone(),
                        identity_until: old.identity_until,
                    }
                } else {
                    Keys {
                        inspector: Arc::new(Inspector::new(store)),
                        identity,
                        identity_until: None,
                    }
                };
                self.swap(keys);
                done
            }
            Err(reason) => Reloaded::Kept { reason },
        })
    }

    /// Reloads when a watched file changed since the last attempt (created, removed,
    /// rewritten or replaced by a rename); `None` when nothing changed.
    pub fn reload_if_changed(&self) -> Option<Reloaded> {
        let source = self.source.as_ref()?;
        let now: Vec<Option<Stamp>> = source.files.iter().map(|f| stamp(f)).collect();
        let changed = match self.seen.lock() {
            Ok(seen) => *seen != now,
            Err(_) => true,
        };
        if changed {
            self.reload()
        } else {
            None
        }
    }
}

/// The log line for a refresh of the temporary identity; never a secret.
pub fn refresh_line(r: &Result<String, String>, expires: Option<UnixTime>, json: bool) -> String {
    let expires = expires.map(crate::timefmt::rfc3339);
    match (r, json) {
        (Ok(ak), true) => serde_json::json!({"credentials": {
            "result": "refreshed", "identity": ak, "expires": expires}})
        .to_string(),
        (Err(why), true) => serde_json::json!({"credentials": {
            "result": "refresh-failed", "error": why, "expires": expires}})
        .to_string(),
        (Ok(ak), false) => format!(
            "credentials: upstream identity refreshed: {ak}{}",
            expires.map(|e| format!(", expires {e}")).unwrap_or_default()
        ),
        (Err(why), false) => format!(
            "credentials: refreshing the upstream identity failed (the current key stays until its last minute{}): {why}",
            expires.map(|e| format!(", it expires {e}")).unwrap_or_default()
        ),
    }
}

/// The log line for a reload, as the log's format wants it; never a secret.
pub fn reload_line(r: &Reloaded, why: &str, files: &[PathBuf], json: bool) -> String {
    let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    match (r, json) {
        (Reloaded::Loaded { keys, identity }, true) => serde_json::json!({"credentials": {
            "result": "loaded", "trigger": why, "keys": keys, "identity": identity, "files": files}})
        .to_string(),
        (Reloaded::Kept { reason }, true) => serde_json::json!({"credentials": {
            "result": "kept", "trigger": why, "error": reason, "files": files}})
        .to_string(),
        (Reloaded::Loaded { keys, identity }, false) => format!(
            "credentials: reloaded ({why}): {keys} key(s){}",
            identity
                .as_deref()
                .map(|i| format!(", upstream identity {i}"))
                .unwrap_or_default()
        ),
        (Reloaded::Kept { reason }, false) => {
            format!("credentials: reload ({why}) failed, the last good keys stay in use: {reason}")
        }
    }
}
