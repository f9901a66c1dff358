//! TLS for sigtap's own listeners: the local CA that signs the certificates shown to clients
//! whose HTTPS the proxy intercepts, the cache of those per-host leaves, and the server
//! configuration for a certificate the user brings (`--tls-cert`/`--tls-key`).
//!
//! It sits beside [`crate::net`]: shared by the proxy and the mock, it imports nothing of
//! `proxy`, `mock` or `record`. Certificates are made by `rcgen` and parsed by `x509-parser`
//! and `rustls`; nothing here writes ASN.1 or TLS by hand. Like the rest of the crate it never
//! reads the clock: every function that needs the time takes `now` (unix seconds).
//!
//! The CA lives in a folder (`--ca-dir`, else `$SIGTAP_HOME`, else `~/.sigtap`) as `ca.pem`
//! (the certificate, the file users trust) and `ca-key.pem` (its PKCS#8 key, mode 0600); see
//! [`Ca::load_or_create`] for how the files are made and checked.

mod ca;
mod cache;
#[cfg(test)]
mod tests;

pub use ca::{Ca, CERT_FILE, KEY_FILE};
pub use cache::LeafCache;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A certificate chain (end-entity first) and its private key, ready for [`server_config`].
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leaf")
            .field(
                "chain",
                &format_args!("{} certificate(s)", self.chain.len()),
            )
            .field("key", &"[private key elided]")
            .finish()
    }
}

/// What went wrong with the CA or a certificate: a message for the user naming the file and
/// what is wrong with it.
#[derive(Debug)]
pub struct CaError(String);

impl CaError {
    pub(crate) fn new(msg: impl Into<String>) -> CaError {
        CaError(msg.into())
    }
}

impl std::fmt::Display for CaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CaError {}

/// The CA folder when none is given: `$SIGTAP_HOME`, else `$HOME/.sigtap`.
pub fn default_dir() -> Result<PathBuf, CaError> {
    let nonempty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(home) = nonempty("SIGTAP_HOME") {
        return Ok(PathBuf::from(home));
    }
    if let Some(home) = nonempty("HOME") {
        return Ok(PathBuf::from(home).join(".sigtap"));
    }
    Err(CaError::new(
        "no folder for the local CA: neither SIGTAP_HOME nor HOME is set; pass --ca-dir DIR",
    ))
}

/// The CA in `dir` (None: [`default_dir`]), made there on first use.
pub fn open_ca(dir: Option<&Path>, now: i64) -> Result<Ca, CaError> {
    match dir {
        Some(d) => Ca::load_or_create(d, now),
        None => Ca::load_or_create(&default_dir()?, now),
    }
}

/// The one crypto provider of sigtap's TLS (ring, as for the upstream client).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls server config for one certificate: ring provider, safe default protocol versions,
/// ALPN `http/1.1`.
pub fn server_config(leaf: Leaf) -> Result<Arc<rustls::ServerConfig>, CaError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| CaError::new(format!("cannot set up TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(leaf.chain, leaf.key)
        .map_err(|e| CaError::new(format!("cannot use the certificate: {}", key_error(&e))))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A rustls error about a certificate and key, in words.
fn key_error(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            "the private key does not match the certificate".to_string()
        }
        other => other.to_string(),
    }
}

/// `--tls-cert FILE --tls-key FILE`: the user's own certificate chain (PEM, end-entity first)
/// and private key (PEM: PKCS#8, PKCS#1 or SEC1), checked against each other.
pub fn load_pem_pair(cert: &Path, key: &Path) -> Result<Leaf, CaError> {
    let cert_text = read_file(cert, "certificate")?;
    let key_text = read_file(key, "private key")?;
    let mut chain = Vec::new();
    for item in CertificateDer::pem_slice_iter(&cert_text) {
        let der = item.map_err(|e| {
            CaError::new(format!("{}: not a readable PEM file: {e}", cert.display()))
        })?;
        chain.push(der.into_owned());
    }
    if chain.is_empty() {
        return Err(CaError::new(format!(
            "{}: no certificate in it (expected a PEM block \"-----BEGIN CERTIFICATE-----\")",
            cert.display()
        )));
    }
    let key_der = match PrivateKeyDer::from_pem_slice(&key_text) {
        Ok(k) => k,
        Err(rustls_pki_types::pem::Error::NoItemsFound) => {
            return Err(CaError::new(format!(
                "{}: no private key in it (expected a PEM block \"-----BEGIN PRIVATE KEY-----\", \
                 \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\"; an encrypted key must be decrypted first)",
                key.display()
            )))
        }
        Err(e) => {
            return Err(CaError::new(format!(
                "{}: not a readable PEM file: {e}",
                key.display()
            )))
        }
    };
    // rustls parses the key and compares its public half with the certificate's
    rustls::sign::CertifiedKey::from_der(chain.clone(), key_der.clone_key(), &provider()).map_err(
        |e| match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                CaError::new(format!(
                    "{} does not match the certificate in {}: they are not a pair",
                    key.display(),
                    cert.display()
                ))
            }
            other => CaError::new(format!(
                "{} with {}: {other}",
                key.display(),
                cert.display()
            )),
        },
    )?;
    Ok(Leaf {
        chain,
        key: key_der,
    })
}

/// A whole file, or an error naming it and what it should have held.
fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, CaError> {
    std::fs::read(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => e.to_string(),
        };
        CaError::new(format!("cannot read the {what} {}: {why}", path.display()))
    })
}
