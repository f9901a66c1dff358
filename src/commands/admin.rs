//! `--admin`: the admin endpoints' address validated, their listener bound, their server started.

use super::{runtime, usage, CommandError};
use std::sync::Arc;

/// The admin endpoints on `spec` (`--admin`); they serve until the returned server is dropped.
pub(super) fn start(
    spec: &str,
) -> Result<(Arc<crate::admin::Admin>, crate::admin::AdminServer), CommandError> {
    // the same address rules as the web view's: a bare port is on 127.0.0.1
    let addr = crate::ui::parse_addr(spec).map_err(|e| usage(format!("--admin {e}")))?;
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| runtime(format!("the admin endpoints cannot listen on {addr}: {e}")))?;
    let state = crate::admin::Admin::new();
    let server = crate::admin::start(listener, state.clone())
        .map_err(|e| runtime(format!("the admin endpoints cannot start: {e}")))?;
    Ok((state, server))
}
