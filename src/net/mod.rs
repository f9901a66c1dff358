//! The HTTP plumbing that every server and client of sigtap shares (the proxy, the mock, replay):
//! streaming bodies and the client that sends requests upstream. It decides nothing.

pub mod body;
pub mod client;

use crate::wire::{Request, Target};

/// A hyper request head as the engine's [`Request`] (no body yet): the adapter every hyper
/// server of sigtap uses.
pub fn wire_head(method: &hyper::Method, uri: &hyper::Uri, headers: &hyper::HeaderMap) -> Request {
    let target = Target {
        scheme: uri.scheme_str(),
        authority: uri.authority().map(|a| a.as_str()),
        path: uri.path(),
        query: uri.query(),
    };
    let fields = headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes()));
    Request::from_parts(method.as_str(), target, fields)
}
