//! The wallet and chain subcommands shared by the `miner` and `validator` binaries.
//!
//! A binary embeds [`ChainCommand`] with `#[command(flatten)]` and calls [`ChainCommand::run`].

mod args;
mod commands;
pub mod daemon;
mod table;

pub use args::{ChainArgs, WalletArgs};
pub use commands::{ChainCommand, StakeCommand, WalletCommand};

/// Errors of a CLI command: the library's, plus bad usage.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Chain(#[from] crate::ChainError),
    #[error(transparent)]
    Wallet(#[from] crate::WalletError),
    #[error("{0}")]
    Usage(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// Runs one of the shared commands to completion, logging to stderr: what both binaries' `main`
/// does with them.
pub fn run_blocking(command: ChainCommand) -> Result<(), CliError> {
    init_logging();
    tokio::runtime::Runtime::new()?.block_on(command.run())
}

/// Logs to stderr, filtered by `RUST_LOG` (default: warnings and errors).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
