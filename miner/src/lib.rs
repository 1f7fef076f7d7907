//! The miner of the LLM-training subnet as a library: [`node::spawn`] starts one (its HTTP
//! server, axon and window loop) against any [`subnet_peer::ChainSeam`], and returns a handle;
//! the `miner` binary is a thin CLI over it, and tests run several in one process.
//!
//! - [`node`]: options, status, start-up checks and [`spawn`]; the loop itself is in
//!   `window_loop` (join, sync, offer), `reveal` (a task of its own), `own_window` (train, compress, store,
//!   commit) and `predicted` (training on the predicted model before it settles); the shared model and its sync are `subnet_peer::sync`, which the validator uses too;
//! - [`metrics`]: what `GET /metrics` reports.
#![warn(missing_docs)]

pub mod metrics;
pub mod node;
mod own_window;
mod predicted;
mod reveal;
mod window_loop;

pub use node::{spawn, MinerHandle, MinerOptions, MinerStatus, StartError};
pub use subnet_peer::sync::Run;
