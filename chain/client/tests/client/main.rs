//! The client's integration tests, in one binary: chain operations and refusals on a dev
//! node, and compatibility with Bittensor mainnet's metadata.

mod chain_ops;
mod finney_compat;
mod refusals;
