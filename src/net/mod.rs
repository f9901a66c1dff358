//! The HTTP plumbing that every server and client of sigtap shares (the proxy, the mock, replay):
//! streaming bodies and the client that sends requests upstream. It decides nothing.

pub mod body;
pub mod client;
