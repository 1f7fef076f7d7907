//! The miner of the LLM-training subnet as a library: [`node::spawn`] starts one (its HTTP
//! server, axon and window loop) against any [`subnet_peer::ChainSeam`], and returns a handle;
//! the `miner` binary is a thin CLI over it, and tests run several in one process.
//!
//! - [`node`]: start-up checks and the window loop (train, compress, store, commit, reveal);
//!   the shared model and its sync are `subnet_peer::sync`, which the validator uses too;
//! - [`metrics`]: what `GET /metrics` reports.
#![warn(missing_docs)]

pub mod metrics;
pub mod node;

pub use node::{spawn, MinerHandle, MinerOptions, MinerStatus, StartError};
pub use subnet_peer::sync::Run;
