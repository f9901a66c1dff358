//! Who sigtap signs for. Adding credentials a client did not have (`--resign always`) turns
//! the proxy into a signing service for whoever can reach its port, including a web page in
//! the user's browser (DNS rebinding, cross-site requests). So such a request must address
//! the proxy by its own name and must not come from a web page, unless the user said so.

use crate::net::client::Authority;
use std::net::SocketAddr;

/// The names a request may give in `Host` to be signed with the upstream identity, and the
/// web origins allowed to send it.
#[derive(Clone, Debug, Default)]
pub struct Vouch {
    /// The address the proxy listens on (the port a loopback name must carry).
    pub listen: Option<SocketAddr>,
    /// `--serve-host NAME`: names a load balancer or sidecar puts in `Host` (a name without a
    /// port matches any port).
    pub serve_hosts: Vec<Authority>,
    /// `--allow-origin ORIGIN`: web origins whose requests may be signed.
    pub allow_origins: Vec<String>,
}

impl Vouch {
    /// Whether `host` (the request's `Host`) is this proxy's own address.
    fn own_host(&self, host: &str) -> bool {
        let Ok(a) = Authority::parse(host) else {
            return false;
        };
        if self
            .serve_hosts
            .iter()
            .any(|s| s.host == a.host && s.port.is_none_or(|p| a.port == Some(p)))
        {
            return true;
        }
        let Some(listen) = self.listen else {
            return false;
        };
        if a.port != Some(listen.port()) {
            return false;
        }
        let literal = a.host.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.is_loopback() || ip == listen.ip(),
            Err(_) => a.host == "localhost" || a.host.ends_with(".localhost"),
        }
    }

    /// Checks a request sigtap would sign with credentials the client did not have. Reverse
    /// mode: `Host` must be the proxy's own address or a `--serve-host` name (forward mode
    /// checks the allow list before this, so `reverse` is false there). Both: an `Origin`
    /// header must be one `--allow-origin` names. The error says why, for a 403.
    pub fn check(
        &self,
        host: Option<&str>,
        origin: Option<&str>,
        reverse: bool,
    ) -> Result<(), String> {
        if reverse && !host.is_some_and(|h| self.own_host(h)) {
            return Err(format!(
                "sigtap signs with the upstream identity only requests addressed to the proxy itself (Host {}); \
                 this one names {:?}, as a DNS-rebinding page would. Give the name with --serve-host NAME if it is yours",
                self.listen.map_or_else(|| "its listening address".to_string(), |l| format!("127.0.0.1:{}", l.port())),
                host.unwrap_or("")
            ));
        }
        if let Some(o) = origin {
            if !self
                .allow_origins
                .iter()
                .any(|a| a.eq_ignore_ascii_case(o.trim()))
            {
                return Err(format!(
                    "sigtap does not sign with the upstream identity for a web page (Origin {o:?}); \
                     allow that origin with --allow-origin if it is yours"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vouch() -> Vouch {
        Vouch {
            listen: Some("127.0.0.1:8089".parse().unwrap()),
            serve_hosts: vec![Authority::parse("storage.internal").unwrap()],
            allow_origins: vec!["http://localhost:3000".into()],
        }
    }

    #[test]
    fn own_names_are_signed_for() {
        let v = vouch();
        for h in [
            "127.0.0.1:8089",
            "localhost:8089",
            "[::1]:8089",
            "127.0.0.2:8089",
            "storage.internal",
            "storage.internal:443",
        ] {
            assert!(v.check(Some(h), None, true).is_ok(), "{h}");
        }
        assert!(v
            .check(Some("127.0.0.1:8089"), Some("http://localhost:3000"), true)
            .is_ok());
    }

    #[test]
    fn other_hosts_and_web_pages_are_not() {
        let v = vouch();
        for h in [
            "rebind.attacker.example:8089",
            "rebind.attacker.example",
            "127.0.0.1:8090",
            "127.0.0.1",
            "localhost",
            "127.0.0.1:8089/x",
            "storage.internal.attacker.example",
            "",
        ] {
            assert!(v.check(Some(h), None, true).is_err(), "{h}");
        }
        assert!(v.check(None, None, true).is_err());
        assert!(v
            .check(Some("127.0.0.1:8089"), Some("https://evil.example"), true)
            .is_err());
        assert!(v
            .check(Some("any.example"), Some("https://evil.example"), false)
            .is_err());
        assert!(v.check(Some("any.example"), None, false).is_ok());
    }
}
