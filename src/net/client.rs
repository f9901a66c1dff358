//! Where requests go upstream and the client that takes them there: a base URL, a strict
//! `host[:port]`, the HTTP(S) client (rustls, system roots plus an optional CA file), and the
//! upstream clocks learned from `Date` headers. Used by the proxy and by replay.

use crate::net::body::ProxyBody;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub type HttpsClient = Client<hyper_rustls::HttpsConnector<Dialer>, ProxyBody>;

/// Where to connect for an upstream instead of looking its host up (`--resolve`): given the
/// scheme, host and port a request names, an address, or `None` to resolve the name.
pub type Redirect = Arc<dyn Fn(&str, &str, u16) -> Option<std::net::SocketAddr> + Send + Sync>;

/// The TCP dialer under TLS: connects where `--resolve` says, while the TLS layer above still
/// sends the upstream's name (SNI) and verifies its certificate for that name.
#[derive(Clone)]
pub struct Dialer {
    tcp: HttpConnector,
    redirect: Option<Redirect>,
}

impl tower_service::Service<hyper::Uri> for Dialer {
    type Response = <HttpConnector as tower_service::Service<hyper::Uri>>::Response;
    type Error = <HttpConnector as tower_service::Service<hyper::Uri>>::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.tcp.poll_ready(cx)
    }

    fn call(&mut self, dst: hyper::Uri) -> Self::Future {
        let scheme = dst.scheme_str().unwrap_or("http").to_string();
        let to = dst.host().and_then(|host| {
            let port = dst.port_u16().unwrap_or_else(|| default_port(&scheme));
            self.redirect.as_ref().and_then(|r| r(&scheme, host, port))
        });
        let dst = match to.and_then(|addr| {
            hyper::Uri::builder()
                .scheme(scheme.as_str())
                .authority(addr.to_string())
                .path_and_query("/")
                .build()
                .ok()
        }) {
            Some(redirected) => redirected,
            None => dst,
        };
        Box::pin(self.tcp.call(dst))
    }
}

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
        let authority = Authority::parse(authority)
            .map_err(|e| format!("--upstream {url:?}: no usable host: {e}"))?;
        if path.contains(['?', '#']) {
            return Err(format!(
                "--upstream {url:?}: a base URL has no query or fragment"
            ));
        }
        Ok(Upstream {
            authority: authority.for_scheme(&scheme),
            scheme,
            base_path: path.to_string(),
        })
    }

    /// The port connections go to.
    pub fn port(&self) -> u16 {
        Authority::parse(&self.authority)
            .map(|a| a.effective_port(&self.scheme))
            .unwrap_or_else(|_| default_port(&self.scheme))
    }

    pub fn host(&self) -> &str {
        &self.authority
    }
}

/// A host and an optional port, parsed strictly: a DNS name or IPv4 address (letters, digits,
/// `-`, `_` and `.`, no empty label), or a bracketed IPv6 literal; then `:PORT` (1-65535) at
/// most. Nothing else: no user info, path, query, fragment, backslash or space, so that what
/// the allow list and `Host` checks judge is exactly where a connection would go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authority {
    /// Lower case; an IPv6 literal keeps its brackets.
    pub host: String,
    pub port: Option<u16>,
}

impl Authority {
    pub fn parse(text: &str) -> Result<Authority, String> {
        let bad = |why: &str| format!("{:?} is not a host[:port] ({why})", text);
        if text.is_empty() {
            return Err(bad("empty"));
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (inner, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 literal without its closing bracket"))?;
            if inner.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("not an IPv6 address inside the brackets"));
            }
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("text after the IPv6 literal"))?,
                ),
            };
            (format!("[{}]", inner.to_ascii_lowercase()), port)
        } else {
            let (host, port) = match text.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            };
            let ok_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
            if host.is_empty() || !host.bytes().all(ok_byte) {
                return Err(bad("a host has only letters, digits, '-', '_' and '.'"));
            }
            if host.len() > 253 || host.split('.').any(|l| l.is_empty() || l.len() > 63) {
                return Err(bad("an empty or overlong label"));
            }
            (host.to_ascii_lowercase(), port)
        };
        let port = match port {
            None => None,
            Some(p) => {
                let digits = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
                match p.parse::<u16>() {
                    Ok(n) if digits && n > 0 => Some(n),
                    _ => return Err(bad("the port must be a number from 1 to 65535")),
                }
            }
        };
        Ok(Authority { host, port })
    }

    /// The port a connection for `scheme` would use.
    pub fn effective_port(&self, scheme: &str) -> u16 {
        self.port.unwrap_or_else(|| default_port(scheme))
    }

    /// `host[:port]` for a URI and `Host`, the scheme's default port left out.
    pub fn for_scheme(&self, scheme: &str) -> String {
        match self.port {
            Some(p) if p != default_port(scheme) => format!("{}:{p}", self.host),
            _ => self.host.clone(),
        }
    }
}

/// 443 for https, else 80.
pub fn default_port(scheme: &str) -> u16 {
    if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    }
}

impl std::fmt::Display for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// Builds the client: TLS through rustls with the system roots plus `ca_file`.
/// Idle upstream connections are closed after `idle`; `redirect` applies `--resolve`.
pub fn client(
    ca_file: Option<&Path>,
    idle: std::time::Duration,
    redirect: Option<Redirect>,
) -> Result<HttpsClient, String> {
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
        .wrap_connector(Dialer {
            tcp: http,
            redirect,
        });
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
    fn authorities_are_host_and_port_only() {
        let a = Authority::parse("B-1.Cos.ap-guangzhou.myqcloud.com:8080").unwrap();
        assert_eq!(
            (a.host.as_str(), a.port),
            ("b-1.cos.ap-guangzhou.myqcloud.com", Some(8080))
        );
        let a = Authority::parse("[::1]:9000").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("[::1]", Some(9000)));
        assert_eq!(Authority::parse("[::1]").unwrap().port, None);
        for bad in [
            "127.0.0.1:9/secret.txt#.s3.amazonaws.com",
            "s3.amazonaws.com@127.0.0.1:9",
            "127.0.0.1:9/.cos.ap-guangzhou.myqcloud.com",
            "127.0.0.1:9?.s3.amazonaws.com",
            "127.0.0.1:9\\.s3.amazonaws.com",
            "127.0.0.1:9#.s3.amazonaws.com",
            "a b.amazonaws.com",
            "",
            ":80",
            "host:",
            "host:0",
            "host:65536",
            "host:+80",
            "host:80:80",
            "a..b",
            ".a",
            "[::1",
            "[::1]x",
            "[zz]",
            "[::1%eth0]",
        ] {
            assert!(Authority::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(Authority::parse("h:80").unwrap().for_scheme("http"), "h");
        assert_eq!(
            Authority::parse("h:80").unwrap().for_scheme("https"),
            "h:80"
        );
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
        assert!(Upstream::parse("http://a@127.0.0.1:9000").is_err());
        assert!(Upstream::parse("http://127.0.0.1:9000?x").is_err());
    }
}
