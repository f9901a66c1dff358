//! Where the proxy may send requests: `--allow-host` patterns for the forward proxy, the
//! default allow list, and `--resolve` rules. The upstream itself (URL, authority, client,
//! clocks) is [`crate::net::client`].

pub use crate::net::client::{client, Authority, Clocks, HttpsClient, Upstream};
/// These live in [`crate::net::client`] (replay sends upstream too); the paths stay for
/// existing callers.
use std::sync::Arc;

/// A `--allow-host` pattern: `host`, `host:port` or `*.domain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPattern {
    /// `*.domain` when set: any name under it (not the domain itself).
    suffix: Option<String>,
    exact: Option<Authority>,
}

impl HostPattern {
    pub fn parse(p: &str) -> Result<HostPattern, String> {
        let usage = || format!("--allow-host {p:?}: use host, host:port or *.domain");
        let p = p.trim();
        if let Some(domain) = p.strip_prefix("*.") {
            let a = Authority::parse(domain).map_err(|_| usage())?;
            if a.port.is_some() {
                return Err(usage());
            }
            return Ok(HostPattern {
                suffix: Some(format!(".{}", a.host)),
                exact: None,
            });
        }
        Ok(HostPattern {
            suffix: None,
            exact: Some(Authority::parse(p).map_err(|_| usage())?),
        })
    }

    /// Whether a request for `a` with `scheme` may be sent on. A pattern with a port matches
    /// that port only (the scheme's default when the request names none).
    pub fn matches(&self, a: &Authority, scheme: &str) -> bool {
        if let Some(suffix) = &self.suffix {
            return a.host.ends_with(suffix.as_str());
        }
        match &self.exact {
            Some(p) => {
                p.host == a.host && p.port.is_none_or(|port| port == a.effective_port(scheme))
            }
            None => false,
        }
    }

    /// Whether a `CONNECT` to `a` (which names its port) may be intercepted: a pattern with a
    /// port allows that port only, one without allows 443. Loopback and other IP literals only
    /// through a pattern naming them exactly (a `*.domain` pattern never matches an address).
    pub fn allows_connect(&self, a: &Authority) -> bool {
        let port = a.effective_port("https");
        if let Some(suffix) = &self.suffix {
            return port == 443 && a.host.ends_with(suffix.as_str());
        }
        match &self.exact {
            Some(p) => p.host == a.host && p.port.unwrap_or(443) == port,
            None => false,
        }
    }
}

/// `--resolve HOST[:PORT]=ADDR:PORT`: connect to ADDR:PORT instead of looking HOST up. As with
/// curl, a rule with a port applies to that port only (`HOST:80` to plain http without a port,
/// `HOST:443` to https), one without applies to every port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolve {
    pub from: Authority,
    pub to: std::net::SocketAddr,
}

impl Resolve {
    pub fn parse(rule: &str) -> Result<Resolve, String> {
        let usage = || {
            format!("--resolve {rule:?}: use HOST[:PORT]=ADDR:PORT, e.g. bucket-125.cos.ap-guangzhou.myqcloud.com=127.0.0.1:9000")
        };
        let (from, to) = rule.split_once('=').ok_or_else(usage)?;
        Ok(Resolve {
            from: Authority::parse(from).map_err(|_| usage())?,
            to: to.parse().map_err(|_| usage())?,
        })
    }

    /// Whether a request to `up` connects to `self.to`.
    pub fn applies_to(&self, up: &Upstream) -> bool {
        let Ok(a) = Authority::parse(&up.authority) else {
            return false;
        };
        self.applies(&a.host, a.effective_port(&up.scheme))
    }

    /// Whether a connection to `host` (lower case) and `port` goes to `self.to`.
    pub fn applies(&self, host: &str, port: u16) -> bool {
        host == self.from.host && self.from.port.is_none_or(|p| p == port)
    }
}

/// `--resolve` rules as the upstream client's dialer applies them (for TLS upstreams, whose
/// requests keep the upstream's name for SNI and certificate checks).
pub fn redirect(rules: &[Resolve]) -> Option<crate::net::client::Redirect> {
    if rules.is_empty() {
        return None;
    }
    let rules = rules.to_vec();
    Some(Arc::new(move |_scheme: &str, host: &str, port: u16| {
        let host = host.to_ascii_lowercase();
        rules.iter().find(|r| r.applies(&host, port)).map(|r| r.to)
    }))
}

/// Where a forward proxy may go when no `--allow-host` is given: the COS and S3 endpoint
/// domains (loopback is not among them).
pub const DEFAULT_ALLOWED: [&str; 4] = [
    "*.myqcloud.com",
    "*.tencentcos.cn",
    "*.amazonaws.com",
    "*.amazonaws.com.cn",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(p: &str, authority: &str) -> bool {
        let a = Authority::parse(authority).unwrap();
        HostPattern::parse(p).unwrap().matches(&a, "http")
    }

    #[test]
    fn allow_patterns() {
        assert!(allowed(
            "*.myqcloud.com",
            "b-1.cos.ap-guangzhou.myqcloud.com"
        ));
        assert!(allowed(
            "*.myqcloud.com",
            "b-1.cos.ap-guangzhou.myqcloud.com:443"
        ));
        assert!(!allowed("*.myqcloud.com", "myqcloud.com.evil.org"));
        assert!(!allowed("*.myqcloud.com", "evilmyqcloud.com"));
        assert!(allowed("127.0.0.1:9000", "127.0.0.1:9000"));
        assert!(!allowed("127.0.0.1:9000", "127.0.0.1:9001"));
        assert!(allowed("127.0.0.1:80", "127.0.0.1"));
        assert!(allowed("minio.local", "minio.local:9000"));
        assert!(!allowed("minio.local", "a.minio.local"));
        assert!(HostPattern::parse("*").is_err());
        assert!(HostPattern::parse("a/b").is_err());
    }

    #[test]
    fn connect_is_allowed_on_443_or_a_named_port() {
        let ok = |p: &str, target: &str| {
            HostPattern::parse(p)
                .unwrap()
                .allows_connect(&Authority::parse(target).unwrap())
        };
        assert!(ok("*.amazonaws.com", "s3.us-east-1.amazonaws.com:443"));
        assert!(!ok("*.amazonaws.com", "s3.us-east-1.amazonaws.com:8443"));
        assert!(!ok("*.amazonaws.com", "amazonaws.com:443"));
        assert!(ok("b.example.com", "b.example.com:443"));
        assert!(!ok("b.example.com", "b.example.com:22"));
        assert!(ok("b.example.com:8443", "b.example.com:8443"));
        assert!(!ok("b.example.com:8443", "b.example.com:443"));
        assert!(!ok("*.amazonaws.com", "127.0.0.1:443"));
        assert!(ok("127.0.0.1:9443", "127.0.0.1:9443"));
    }

    #[test]
    fn resolve_rules_match_like_curl() {
        let up = |url: &str| Upstream::parse(url).unwrap();
        let r = Resolve::parse("b.example.com:80=127.0.0.1:9000").unwrap();
        assert!(r.applies_to(&up("http://b.example.com")));
        assert!(r.applies_to(&up("http://b.example.com:80")));
        assert!(!r.applies_to(&up("https://b.example.com")));
        assert!(!r.applies_to(&up("http://b.example.com:8080")));
        let r = Resolve::parse("b.example.com:443=127.0.0.1:9000").unwrap();
        assert!(r.applies_to(&up("https://b.example.com")));
        assert!(!r.applies_to(&up("http://b.example.com")));
        let r = Resolve::parse("B.example.com=127.0.0.1:9000").unwrap();
        assert!(r.applies_to(&up("http://b.example.com:8080")));
        assert!(r.applies_to(&up("https://b.example.com")));
        assert!(!r.applies_to(&up("http://a.b.example.com")));
        assert!(Resolve::parse("b.example.com=localhost").is_err());
        assert!(Resolve::parse("b.example.com/x=127.0.0.1:1").is_err());
    }
}
