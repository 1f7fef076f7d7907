//! Throwaway dev chains for tests.
//!
//! [`DevNode::start`] runs `subnet-node --dev` on free loopback ports with its state in a
//! temporary directory, waits until it has produced a block, hands out its RPC URL, and stops
//! it (by pid) when dropped. Any number can run side by side: each has its own ports and state,
//! and mDNS is off so they never find each other. The same harness starts the localnet's two
//! authorities ([`Authority`]), and [`Process`] runs the peers' binaries with their logs in
//! files, stopped by pid.

mod node;
mod process;
mod rpc;
pub mod storage;

pub use node::{node_binary, node_key, Authority, DevNode, DevNodeBuilder};
pub use process::Process;
pub use rpc::{Header, RpcClient};

/// What can go wrong starting or talking to a dev node.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no subnet-node binary at {0}: build it with scripts/build-node.sh, or point SUBNET_NODE_BIN at one"
    )]
    NodeBinaryMissing(std::path::PathBuf),
    #[error("cannot start {binary}: {source}")]
    Spawn { binary: std::path::PathBuf, source: std::io::Error },
    #[error("the node did not {what} within {secs} s; last log lines:\n{log_tail}")]
    Timeout { what: &'static str, secs: u64, log_tail: String },
    #[error("the node exited during startup ({status}); last log lines:\n{log_tail}")]
    Exited { status: std::process::ExitStatus, log_tail: String },
    #[error("RPC {method} failed: {message}")]
    Rpc { method: String, message: String },
    #[error("RPC {method} returned an unexpected answer: {detail}")]
    BadAnswer { method: String, detail: String },
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
