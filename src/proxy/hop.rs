//! Hop-by-hop headers (RFC 9110 section 7.6.1): they describe one connection, so no transport
//! passes them on, in either direction. One list, plus whatever names a message's own
//! `Connection` header lists. (`Transfer-Encoding` is framing: each transport handles it.)

/// Always hop-by-hop.
pub const ALWAYS: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

/// The hop-by-hop names of one message.
#[derive(Debug, Default)]
pub struct Hop {
    listed: Vec<String>,
}

impl Hop {
    /// From the values of the message's `Connection` headers.
    pub fn new<'a>(connection: impl IntoIterator<Item = &'a [u8]>) -> Hop {
        let mut listed = Vec::new();
        for v in connection {
            for t in v.split(|b| *b == b',') {
                let t = t.trim_ascii();
                // `close` is an option, and the fixed names are dropped anyway: the common
                // `Connection: keep-alive` costs nothing
                let known = t.eq_ignore_ascii_case(b"close")
                    || ALWAYS.iter().any(|h| t.eq_ignore_ascii_case(h.as_bytes()));
                if !t.is_empty() && !known {
                    listed.push(String::from_utf8_lossy(t).to_ascii_lowercase());
                }
            }
        }
        Hop { listed }
    }

    /// From `(name, value)` pairs.
    pub fn of_pairs<'a, V: AsRef<[u8]> + 'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a V)>,
    ) -> Hop {
        Hop::new(
            headers
                .into_iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("connection"))
                .map(|(_, v)| v.as_ref()),
        )
    }

    pub fn is_hop(&self, name: &str) -> bool {
        ALWAYS.iter().any(|h| name.eq_ignore_ascii_case(h))
            || self.listed.iter().any(|h| name.eq_ignore_ascii_case(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_names_are_hop_by_hop_too() {
        let h = Hop::new([&b"keep-alive, X-Trace-Hop , x-other"[..]]);
        for name in ["Connection", "TE", "X-Trace-Hop", "x-other", "Upgrade"] {
            assert!(h.is_hop(name), "{name}");
        }
        assert!(!h.is_hop("x-amz-date") && !h.is_hop("transfer-encoding"));
    }
}
