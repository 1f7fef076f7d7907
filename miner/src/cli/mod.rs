//! The command line: `miner run` and the shared chain commands.

mod run;
mod status_line;

use clap::{Parser, Subcommand};
use subnet_client::cli::ChainCommand;

#[derive(Debug, Parser)]
#[command(
    name = "miner",
    version,
    about = "Miner of the LLM-training subnet: trains its share of each window, commits and serves its payloads; \
             wallets, registration and staking"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train, commit and serve, window after window, until Ctrl-C.
    Run(Box<run::RunArgs>),
    #[command(flatten)]
    Chain(ChainCommand),
}

pub fn main(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Chain(command) => {
            subnet_client::cli::run_blocking(command)?;
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}
