//! The upstream side: where requests go, the HTTP(S) client (rustls, system roots plus an
//! optional CA file), and the upstream clocks learned from `Date` headers.

use super::body::ProxyBody;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, ProxyBody>;

/// A base URL requests are sent to (`--upstream`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub scheme: String,
    /// `host[:port]` as it goes into `Host` (default ports left out).
    pub authority: String,
    /// A path prefix, without the trailing slash (usually empty).
    pub base_path: String,
}

impl Upstream {
    pub fn parse(url: &str) -> Result<Upstream, String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            format!("--upstream {url:?}: expected http://HOST[:PORT] or https://HOST[:PORT]")
        })?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "--upstream {url:?}: the scheme must be http or https"
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains(['?', '#', '@']) {
            return Err(format!("--upstream {url:?}: no usable host"));
        }
        Ok(Upstream {
            authority: crate::wire::default_port_stripped(&scheme, authority),
            scheme,
            base_path: path.to_string(),
        })
    }

    pub fn host(&self) -> &str {
        &self.authority
    }
}

/// A `--allow-host` pattern: `host`, `host:port` or `*.domain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPattern(String);

impl HostPattern {
    pub fn parse(p: &str) -> Result<HostPattern, String> {
        let p = p.trim().to_ascii_lowercase();
        let bare = p.strip_prefix("*.").unwrap_or(&p);
        if bare.is_empty() || bare.contains(['/', '*', '@', ' ']) {
            return Err(format!(
                "--allow-host {p:?}: use host, host:port or *.domain"
            ));
        }
        Ok(HostPattern(p))
    }

    /// Whether `authority` (`host[:port]`) may be reached.
    pub fn matches(&self, authority: &str) -> bool {
        let a = authority.to_ascii_lowercase();
        let host = match a.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() => {
                h.to_string()
            }
            _ => a.clone(),
        };
        if let Some(domain) = self.0.strip_prefix("*.") {
            return host.ends_with(&format!(".{domain}"));
        }
        if self.0.contains(':') {
            return a == self.0;
        }
        host == self.0
    }
}

/// Where a forward proxy may go when no `--allow-host` is given: the COS and S3 endpoint
/// domains (loopback is not among them).
pub const DEFAULT_ALLOWED: [&str; 4] = [
    "*.myqcloud.com",
    "*.tencentcos.cn",
    "*.amazonaws.com",
    "*.amazonaws.com.cn",
];

/// Builds the client: TLS through rustls with the system roots plus `ca_file`.
/// Idle upstream connections are closed after `idle`.
pub fn client(ca_file: Option<&Path>, idle: std::time::Duration) -> Result<HttpsClient, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for c in native.certs {
        let _ = roots.add(c);
    }
    if let Some(path) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("--upstream-ca {}: {e}", path.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--upstream-ca {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "--upstream-ca {}: no PEM certificate in it",
                path.display()
            ));
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| format!("--upstream-ca {}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(idle)
        // without a timer the pool reaps idle connections only on the next checkout
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .http1_preserve_header_case(true)
        .http1_title_case_headers(true)
        .build(https))
}

/// Clock offsets (upstream minus local, seconds) learned from each upstream's `Date` header.
#[derive(Clone, Debug, Default)]
pub struct Clocks(Arc<Mutex<HashMap<String, i64>>>);

impl Clocks {
    pub fn learn(&self, authority: &str, offset: i64) {
        if let Ok(mut m) = self.0.lock() {
            // the same offset every answer, usually: no new key to allocate
            if m.get(authority) != Some(&offset) {
                m.insert(authority.to_string(), offset);
            }
        }
    }
    /// The offset to sign with: none under 2 s (`Date` has one-second resolution).
    pub fn offset(&self, authority: &str) -> i64 {
        self.0
            .lock()
            .ok()
            .and_then(|m| m.get(authority).copied())
            .filter(|o| o.abs() >= 2)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_patterns() {
        let p = HostPattern::parse("*.myqcloud.com").unwrap();
        assert!(p.matches("b-1.cos.ap-guangzhou.myqcloud.com"));
        assert!(p.matches("b-1.cos.ap-guangzhou.myqcloud.com:443"));
        assert!(!p.matches("myqcloud.com.evil.org"));
        assert!(!p.matches("evilmyqcloud.com"));
        let p = HostPattern::parse("127.0.0.1:9000").unwrap();
        assert!(p.matches("127.0.0.1:9000") && !p.matches("127.0.0.1:9001"));
        let p = HostPattern::parse("minio.local").unwrap();
        assert!(p.matches("minio.local:9000") && !p.matches("a.minio.local"));
        assert!(HostPattern::parse("*").is_err());
    }

    #[test]
    fn upstream_urls() {
        let u = Upstream::parse("https://b-125.cos.ap-guangzhou.myqcloud.com:443/").unwrap();
        assert_eq!(u.authority, "b-125.cos.ap-guangzhou.myqcloud.com");
        assert_eq!(u.scheme, "https");
        let u = Upstream::parse("http://127.0.0.1:9000/base/").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.base_path.as_str()),
            ("127.0.0.1:9000", "/base")
        );
        assert!(Upstream::parse("ftp://x").is_err());
        assert!(Upstream::parse("localhost:9000").is_err());
    }
}
