//! Where the keys come from: the key store from flags, files and the environment; the files a
//! running proxy watches; the upstream identity, fixed or temporary.

use super::{usage, CommandError};
use crate::cli::{KeyArgs, ProxyArgs};
use crate::credentials::{self, Credential, KeyStore, ProcessEnv};

/// Builds the key store: explicit flags first, then `--credentials`, else the environment
/// and AWS shared files (botocore's rules).
pub fn key_store(k: &KeyArgs) -> Result<KeyStore, CommandError> {
    let mut store = KeyStore::new();
    if let Some(path) = &k.credentials {
        store = credentials::load_credentials_file(path).map_err(|e| usage(e.to_string()))?;
    }
    match (&k.access_key, &k.secret_key) {
        (Some(ak), Some(sk)) => {
            store.add(Credential::new(ak.clone(), sk.clone()).with_token(k.session_token.clone()))
        }
        (None, Some(_)) => return Err(usage("--secret-key needs --access-key")),
        (Some(_), None) | (None, None) => {
            if k.session_token.is_some() && k.access_key.is_none() {
                return Err(usage("--session-token needs --access-key and --secret-key"));
            }
        }
    }
    if k.credentials.is_none() && k.secret_key.is_none() {
        let ambient = credentials::load_ambient(&ProcessEnv, k.profile.as_deref())
            .map_err(|e| usage(e.to_string()))?;
        for c in ambient.all() {
            store.add(c.clone());
        }
    }
    Ok(store)
}

/// The key files `key_store` reads for these flags (what a running proxy watches).
pub(super) fn key_files(k: &KeyArgs) -> Vec<std::path::PathBuf> {
    match (&k.credentials, &k.secret_key) {
        (Some(path), _) => vec![path.clone()],
        (None, Some(_)) => Vec::new(),
        (None, None) => credentials::ambient_files(&ProcessEnv),
    }
}

/// Where a temporary upstream identity comes from (`--upstream-profile`,
/// `--upstream-credentials`), if one was asked for.
pub(super) fn identity_provider(
    a: &ProxyArgs,
) -> Result<Option<Box<dyn crate::provider::Provider>>, CommandError> {
    use crate::provider::{Container, Cvm, Profile};
    if let Some(name) = &a.upstream_profile {
        return Ok(Some(Box::new(Profile::from_env(name, &ProcessEnv))));
    }
    let Some(source) = a.upstream_credentials.as_deref() else {
        return Ok(None);
    };
    match source.split_once(':').unwrap_or((source, "")) {
        ("container", "") => Ok(Some(Box::new(
            Container::from_env(&ProcessEnv).map_err(usage)?,
        ))),
        ("cvm", role) => Ok(Some(Box::new(Cvm {
            base: a.cvm_metadata_url.clone(),
            role: (!role.is_empty()).then(|| role.to_string()),
        }))),
        _ => Err(usage(format!(
            "--upstream-credentials {source:?}: expected container, cvm or cvm:ROLE"
        ))),
    }
}

/// The upstream identity: the key `--upstream-access-key` names, else the store's only key.
/// `--resign always` cannot do without one.
pub(super) fn upstream_identity(
    keys: &KeyStore,
    named: Option<&str>,
    always: bool,
) -> Result<Option<Credential>, String> {
    let identity = match named {
        Some(ak) => Some(keys.get(ak).cloned().ok_or_else(|| {
            format!("--upstream-access-key {ak}: no secret for it in the key store")
        })?),
        None if keys.len() == 1 => keys.all().first().cloned(),
        None => None,
    };
    if always && identity.is_none() {
        return Err("--resign always needs an upstream identity: --upstream-access-key ID (with its secret in the key store), or exactly one key".into());
    }
    Ok(identity)
}
