//! sigtap: validate, explain and re-sign object-storage request signatures
//! (Tencent COS `q-sign-algorithm=sha1`, AWS SigV4 incl. aws-chunked, AWS SigV2).
//!
//! The library is layered so that the protocol code stays pure:
//! - [`sig`] canonicalizes, signs and verifies; it never does I/O nor reads the clock;
//! - [`inspect`] turns a parsed [`wire::Request`] into a [`inspect::Report`] with findings;
//! - [`clock`] is the only place that reads the system clock;
//! - [`credentials`] holds keys in types that cannot be printed;
//! - [`redact`] shortens signatures and tokens and escapes what people read.
#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod commands;
pub mod credentials;
pub mod demo;
pub mod diagnose;
pub mod errordoc;
pub mod findings;
pub mod inspect;
pub mod mock;
pub mod net;
pub mod outcome;
pub mod proxy;
pub mod record;
pub mod redact;
pub mod report;
pub mod resign;
pub mod sig;
pub mod timefmt;
pub mod wire;
