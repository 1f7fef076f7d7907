//! The miner binary. Today it carries the wallet and chain commands it shares with the validator;
//! the training loop plugs in here as its own subcommand.

use clap::{Parser, Subcommand};
use subnet_client::cli::ChainCommand;

#[derive(Debug, Parser)]
#[command(
    name = "miner",
    version,
    about = "Miner of the LLM-training subnet: wallets, registration and staking on the subnet chain"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Chain(ChainCommand),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Chain(command) => subnet_client::cli::run_blocking(command)?,
    }
    Ok(())
}
