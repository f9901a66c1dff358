//! `--ui`: the web view's address and size validated, its listener bound, its server started.

use super::{runtime, usage, CommandError};

/// The web view on `spec` (`--ui`), keeping `keep` requests and linking to `recording`; it
/// serves until the returned server is dropped.
pub(super) fn start(
    spec: &str,
    keep: Option<usize>,
    recording: Option<std::path::PathBuf>,
) -> Result<(crate::ui::Ui, crate::ui::UiServer), CommandError> {
    let addr = crate::ui::parse_addr(spec).map_err(|e| usage(format!("--ui {e}")))?;
    let keep = match keep {
        Some(0) => return Err(usage("--ui-keep must be at least 1")),
        Some(n) => n,
        None => crate::ui::DEFAULT_KEEP,
    };
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| runtime(format!("the web view cannot listen on {addr}: {e}")))?;
    let store = crate::ui::Ui::new(keep, recording);
    let server = crate::ui::start(listener, store.clone())
        .map_err(|e| runtime(format!("the web view cannot start: {e}")))?;
    Ok((store, server))
}
