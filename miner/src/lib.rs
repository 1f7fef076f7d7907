//! The miner of the LLM-training subnet as a library: [`node::spawn`] starts one (its HTTP
//! server, axon and window loop) against any [`subnet_peer::ChainSeam`], and returns a handle;
//! the `miner` binary is a thin CLI over it, and tests run several in one process.
//!
//! - [`run`]: the run configuration in the model's types;
//! - [`global`]: the shared model `S_w` and its consensus state, saved atomically;
//! - [`sync`]: `S_w -> S_{w+1}` from the update the chain settled;
//! - [`node`]: start-up checks and the window loop (train, compress, store, commit, reveal);
//! - [`metrics`]: what `GET /metrics` reports.
#![warn(missing_docs)]

pub mod global;
pub mod metrics;
pub mod node;
pub mod run;
pub mod sync;

pub use node::{spawn, MinerHandle, MinerOptions, MinerStatus, StartError};
pub use run::Run;
