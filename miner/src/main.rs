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
    let cli = Cli::parse();
    subnet_client::cli::init_logging();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Chain(command) => runtime.block_on(command.run())?,
    }
    Ok(())
}
