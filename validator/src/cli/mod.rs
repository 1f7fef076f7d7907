//! The command line: `validator run`, `validator status` and the shared chain commands.

mod run;
mod status;

use clap::{Parser, Subcommand};
use subnet_client::cli::ChainCommand;

#[derive(Debug, Parser)]
#[command(
    name = "validator",
    version,
    about = "Validator of the LLM-training subnet: approves and scores the miners' payloads, follows the shared model, \
             sets weights; wallets, registration and staking"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Approve, score and set weights, window after window, until Ctrl-C.
    Run(Box<run::RunArgs>),
    /// Show a running validator's dashboard (window, model, loss, every uid) as a table.
    Status(status::StatusArgs),
    #[command(flatten)]
    Chain(ChainCommand),
}

pub fn main(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Status(args) => status::status(args),
        Command::Chain(command) => {
            subnet_client::cli::run_blocking(command)?;
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}
