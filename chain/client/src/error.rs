//! Errors of the chain client. Each says what was refused and why, in the chain's own words.

use crate::pool::PoolRejection;

/// Anything that can go wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// No connection could be made (after retrying with backoff).
    #[error("cannot connect to the chain at {url} after {attempts} attempts: {reason}")]
    Connect { url: String, attempts: u32, reason: String },
    /// The node answered with an error, or the connection broke mid-request.
    #[error("RPC failed: {0}")]
    Rpc(String),
    /// The runtime rejected the call while executing it: the pallet's error, by name.
    #[error("{call} was refused by the chain: {pallet}::{error}{}", explain(.explanation))]
    Dispatch {
        call: &'static str,
        pallet: String,
        error: String,
        /// What the error means for this call, with the numbers that matter.
        explanation: Option<String>,
    },
    /// The transaction pool refused the transaction before it reached a block.
    #[error("{call} was rejected by the transaction pool: {reason}")]
    Pool { call: &'static str, reason: PoolRejection },
    /// The transaction was sent but its fate is unknown (timeout, dropped by the node, broken
    /// watch): it may still land. Check the chain before sending it again.
    #[error("{call} ({tx_hash}) was sent but not confirmed: {reason}")]
    Unconfirmed { call: &'static str, tx_hash: String, reason: String },
    /// A check this client makes before sending a transaction failed.
    #[error("{0}")]
    Refused(String),
    /// The chain returned data this client cannot make sense of.
    #[error("unexpected data from the chain: {0}")]
    Decode(String),
    /// The code generated from `metadata/` no longer matches the running runtime.
    #[error("the node's runtime does not match metadata/subnet.scale ({0}); regenerate it with scripts/update-metadata.sh")]
    IncompatibleRuntime(String),
    /// A finalized-block stream ended and could not be resumed.
    #[error("the block stream ended: {0}")]
    StreamEnded(String),
}

fn explain(explanation: &Option<String>) -> String {
    explanation.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
}

impl ChainError {
    /// The pallet error's name (`SettingWeightsTooFast`, ...) when the runtime refused a call.
    pub fn dispatch_error(&self) -> Option<&str> {
        match self {
            ChainError::Dispatch { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The pool's reason when the transaction never reached a block.
    pub fn pool_rejection(&self) -> Option<&PoolRejection> {
        match self {
            ChainError::Pool { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Whether retrying the same request may succeed (the connection broke, the node was busy).
    pub fn is_transient(&self) -> bool {
        matches!(self, ChainError::Rpc(_) | ChainError::StreamEnded(_))
    }
}

pub type Result<T, E = ChainError> = std::result::Result<T, E>;
