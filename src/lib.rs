//! sigtap: validate, explain and re-sign object-storage request signatures
//! (Tencent COS `q-sign-algorithm=sha1`, AWS SigV4 incl. aws-chunked, AWS SigV2).
//!
//! The library is layered so that the protocol code stays pure and arrows only point down
//! (a module imports only those on the lines below it):
//! - [`commands`], [`demo`]: the shell, which makes the one [`clock::SystemClock`] and hands it on;
//! - [`proxy`]: the proxy; nothing but the shell imports it;
//! - [`mock`]: the strict mock upstream (it serves recordings, so it uses [`record`]);
//! - [`ui`]: the web view (`--ui`), fed by the proxy's log; beside [`mock`], it never imports
//!   [`proxy`];
//! - [`admin`]: `/metrics` and `/healthz` (`--admin`), counted from the proxy's log; beside
//!   [`ui`] (whose `Host` check it uses), it never imports [`proxy`];
//! - [`record`]: recordings, HAR and the replay client;
//! - [`outcome`] (one request's record), [`resign`] (re-signing), [`errordoc`] (the service's
//!   error documents), [`net`] (bodies and the upstream client): what proxy, mock and replay share;
//! - [`tls`] (the local CA, its per-host leaves, server configs), beside [`net`]: shared by proxy
//!   and mock, it imports nothing of proxy, mock or record;
//! - [`inspect`] turns a parsed [`wire::Request`] into an [`inspect::Report`] with findings,
//!   [`diagnose`] explains them, [`report`] renders them, [`redact`] shortens signatures and
//!   tokens and escapes what people read, for every output;
//! - [`sig`] canonicalizes, signs and verifies; it never does I/O nor reads the clock;
//! - [`wire`], [`clock`] (the only place that reads the system clock), [`credentials`] (keys in
//!   types that cannot be printed), [`findings`], [`timefmt`], [`cli`].
#![forbid(unsafe_code)]

pub mod admin;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config_file;
pub mod credentials;
pub mod demo;
pub mod diagnose;
pub mod errordoc;
pub mod findings;
pub mod inspect;
pub mod mock;
pub mod net;
pub mod outcome;
pub mod policy;
pub mod provider;
pub mod proxy;
pub mod record;
pub mod redact;
pub mod report;
pub mod resign;
pub mod service_error;
pub mod sig;
pub mod timefmt;
pub mod tls;
pub mod ui;
pub mod wire;
