//! The peers' HTTP surface (`docs/protocol.md`, section 6): [`server`] serves what a peer may
//! hand out (payloads by hash, its status, its metrics), bounded in concurrency and time;
//! [`fetch`] gets a payload by hash from any of its holders, capped at the exact size before a
//! byte is read, with timeouts, retries and the hash checked.

pub mod fetch;
pub mod server;
#[cfg(test)]
mod tests;

pub use fetch::{FetchError, Fetcher, FetcherConfig};
pub use server::{serve, ServerConfig, ServerHandle, Shelf};
