//! STUB (replaced by the CA module from branch `ca`).
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct Ca {
    path: PathBuf,
}
#[derive(Debug)]
pub struct CaError(String);
impl std::fmt::Display for CaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for CaError {}
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}
impl Ca {
    pub fn load_or_create(dir: &Path, _now: i64) -> Result<Ca, CaError> {
        Ok(Ca {
            path: dir.join("ca.pem"),
        })
    }
    pub fn cert_path(&self) -> &Path {
        &self.path
    }
    pub fn issue(&self, _names: &[&str], _now: i64) -> Result<Leaf, CaError> {
        Err(CaError("stub".into()))
    }
}
pub fn default_dir() -> Result<PathBuf, CaError> {
    Err(CaError("stub".into()))
}
pub fn open_ca(dir: Option<&Path>, now: i64) -> Result<Ca, CaError> {
    Ca::load_or_create(dir.unwrap_or(Path::new("/nonexistent")), now)
}
pub fn server_config(_leaf: Leaf) -> Result<Arc<rustls::ServerConfig>, CaError> {
    Err(CaError("stub".into()))
}
pub fn load_pem_pair(_cert: &Path, _key: &Path) -> Result<Leaf, CaError> {
    Err(CaError("stub".into()))
}
pub struct LeafCache;
impl LeafCache {
    pub fn new(_ca: Arc<Ca>) -> LeafCache {
        LeafCache
    }
    pub fn get(&self, _host: &str, _now: i64) -> Result<Arc<rustls::ServerConfig>, CaError> {
        Err(CaError("stub".into()))
    }
}
