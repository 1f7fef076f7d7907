//! The validator of the LLM-training subnet (docs/protocol.md): each window it checks every
//! miner's committed payload, approves the ranked candidates that pass, follows the quorum's
//! update like every peer, scores each payload on the model it was trained from, and turns
//! the moving averages into weights on chain.
//!
//! [`spawn`] starts one (the `validator run` command is a thin edge over it), so tests run
//! several in one process against the in-memory chain or a dev node. Its HTTP port also serves
//! a live [`dashboard`].
#![warn(missing_docs)]

pub mod check;
pub mod dashboard;
pub mod metrics;
pub mod node;
pub mod report;
pub mod score;
pub mod weights;
mod window_loop;

pub use node::{spawn, StartError, ValidatorHandle, ValidatorOptions, ValidatorStatus};
pub use subnet_peer::sync::Run;
pub use window_loop::ApprovalRecord;
