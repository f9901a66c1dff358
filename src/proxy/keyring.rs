//! The keys the proxy judges and signs with, replaced while it runs: on SIGHUP at once, and
//! within a few seconds of a key file changing. A request takes the keys current when it is
//! planned and keeps them to its end; the next request sees the new ones. A reload that fails
//! (a missing, unreadable or malformed file, no usable upstream identity, an empty store)
//! keeps the last good keys and says which file failed and why, on stderr and in the log.

use crate::credentials::{Credential, KeyStore};
use crate::inspect::Inspector;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

/// One generation of keys.
pub struct Keys {
    /// The key store (client keys) with its signing-key cache.
    pub inspector: Inspector,
    /// The upstream identity (`--upstream-access-key`, or the store's only key).
    pub identity: Option<Credential>,
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
                inspector: Inspector::new(keys),
                identity,
            })),
            source: None,
            seen: Mutex::new(Vec::new()),
        }
    }

    /// Keys loaded from `source`, starting with the ones already loaded.
    pub fn reloadable(keys: KeyStore, identity: Option<Credential>, source: KeySource) -> Self {
        let seen = source.files.iter().map(|f| stamp(f)).collect();
        Keyring {
            current: RwLock::new(Arc::new(Keys {
                inspector: Inspector::new(keys),
                identity,
            })),
            source: Some(source),
            seen: Mutex::new(seen),
        }
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
                    identity: identity.as_ref().map(|c| c.access_key.clone()),
                };
                let keys = Arc::new(Keys {
                    inspector: Inspector::new(store),
                    identity,
                });
                match self.current.write() {
                    Ok(mut k) => *k = keys,
                    Err(poisoned) => *poisoned.into_inner() = keys,
                }
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
