//! Typed client for the training subnet's chain, and Bittensor-compatible wallets.
//!
//! - [`Chain`]: a connection that reconnects with backoff, reads at finalized blocks, and submits
//!   transactions with managed nonces; refusals come back as [`ChainError`] with the pallet's
//!   error name.
//! - [`ops`]: registration, serving, staking, commitments, weights, the metagraph, queries.
//! - [`wallet`]: `~/.bittensor/wallets` as btcli writes it, coldkey encryption included.
//! - `cli` (feature `cli`): the wallet and chain subcommands and daemon edge both binaries share.

pub mod api;
pub mod blocks;
#[cfg(feature = "cli")]
pub mod cli;
pub mod client;
pub mod error;
pub mod ops;
pub mod pool;
#[cfg(feature = "testing")]
pub mod testing;
pub mod units;
pub mod wallet;

pub use blocks::FinalizedBlock;
pub use client::{AccountId, BlockHash, Chain, ConnectOptions, Included};
pub use error::{ChainError, Result};
pub use ops::commitments::{Commitment, StoredCommitment, WindowCommitment};
pub use ops::metagraph::{Axon, Metagraph, Neuron};
pub use ops::queries::{EpochPaid, Hyperparameters};
pub use pool::PoolRejection;
pub use wallet::{Keypair, Wallet, WalletError};
