//! What the web view shows of a request besides its log record: the engine's stages and window,
//! the times involved and the headers as received. Made only when a web view is attached, so
//! that a proxy without one copies nothing more per request.

use crate::inspect::{Stages, Window};

/// One request's detail, captured by the pipeline when the log has an observer (`--ui`).
/// Holds values whole (signatures, tokens): whoever shows it redacts it first.
#[derive(Clone, Debug, Default)]
pub struct Detail {
    /// The computation stages as sigtap re-derived them from the request as received.
    pub stages: Stages,
    /// The signature's validity window.
    pub window: Option<Window>,
    /// The time the request was judged at: the proxy's clock plus the upstream's known offset.
    pub judged_at: i64,
    /// The proxy's own clock when the head arrived.
    pub local_now: i64,
    /// The request headers as received, in order.
    pub headers: Vec<(String, String)>,
    /// Where the request went (`scheme://authority`).
    pub upstream: String,
}
