//! Diagnoses: pure functions that turn the engine's results into findings with a cause.

pub mod lints;
pub mod mismatch;
pub mod time;
pub mod upstream;

/// XML entity decoding shared with the mock.
pub use upstream::unescape as upstream_unescape;
