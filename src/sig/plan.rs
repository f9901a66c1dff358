//! Signing plans: what to set on a request, computed by a signer and applied separately.

use crate::wire::Request;

/// Headers to set and query parameters to append, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SigningPlan {
    /// Set (replace) these headers.
    pub set_headers: Vec<(String, String)>,
    /// Remove these headers (e.g. a stale `Authorization` when presigning).
    pub remove_headers: Vec<String>,
    /// Query parameters to remove before appending (old signature parameters).
    pub remove_params: Vec<String>,
    /// Raw `name=value` pieces (already encoded) appended to the query.
    pub append_query: Vec<String>,
}

impl SigningPlan {
    /// Applies the plan to a copy of the request.
    pub fn apply(&self, req: &Request) -> Request {
        let mut out = req.clone();
        self.apply_to(&mut out);
        out
    }

    /// Applies the plan to the request itself.
    pub fn apply_to(&self, out: &mut Request) {
        for name in &self.remove_headers {
            out.remove_header(name);
        }
        for (k, v) in &self.set_headers {
            out.set_header(k, v.clone());
        }
        if !self.remove_params.is_empty() || !self.append_query.is_empty() {
            let old = out.query.take().unwrap_or_default();
            let mut query = String::with_capacity(old.len() + 256);
            let kept = old.split('&').filter(|p| !p.is_empty()).filter(|p| {
                let name = p.split('=').next().unwrap_or("");
                let name = crate::sig::encode::form_decoded_text(name);
                !self.remove_params.iter().any(|r| *r == name)
            });
            for piece in kept.chain(self.append_query.iter().map(String::as_str)) {
                if !query.is_empty() {
                    query.push('&');
                }
                query.push_str(piece);
            }
            out.query = (!query.is_empty()).then_some(query);
        }
    }
}
