//! The part of the window protocol (`docs/protocol.md`) that miners and validators share and
//! that must come out the same on every peer: the window clock, the run configuration and its
//! id, and the rule that picks each window's update from finalized chain state. Payloads are
//! bytes and hashes here; nothing depends on the `model` crate.
#![warn(missing_docs)]

pub mod config;
pub mod quorum;
pub mod state;
pub mod window;

pub use config::{ConfigError, RunConfig, RunId};
pub use window::{Phase, Schedule, Window};
