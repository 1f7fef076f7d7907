//! The part of the window protocol (`docs/protocol.md`) that miners and validators share and
//! that must come out the same on every peer: the window clock, the run configuration and its
//! id, the rule that picks each window's update from finalized chain state, the chain seam the
//! loops use (with an in-memory chain for tests), HTTP, and the state directory. Payloads are
//! bytes and hashes here; only [`sync`] (feature `model`) depends on the `model` crate, to hold
//! the shared model itself.
//!
//! [`client::ClientSeam`] is the seam over the real chain client.
#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod http;
pub mod memory;
pub mod quorum;
pub mod seam;
pub mod signal;
pub mod state;
#[cfg(feature = "model")]
pub mod sync;
#[cfg(feature = "testing")]
pub mod testing;
pub mod update;
pub mod window;

pub use config::{ConfigError, RunConfig, RunId};
pub use seam::ChainSeam;
pub use window::{Phase, Schedule, Window};
