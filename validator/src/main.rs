//! The validator binary. Today it carries the wallet and chain commands it shares with the miner;
//! the evaluation loop plugs in here as its own subcommand.

use clap::{Parser, Subcommand};
use subnet_client::cli::ChainCommand;

#[derive(Debug, Parser)]
#[command(
    name = "validator",
    version,
    about = "Validator of the LLM-training subnet: wallets, registration and staking on the subnet chain"
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

fn main() -> std::process::ExitCode {
    // SAFETY: restores the default SIGPIPE action before any thread starts, so `validator
    // metagraph | head` ends quietly instead of panicking in `println!`.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let result = match Cli::parse().command {
        Command::Chain(command) => subnet_client::cli::run_blocking(command).map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The error chain, once, on one line.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
