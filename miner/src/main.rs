//! The `miner` binary: `miner run` trains, commits and serves; the wallet and chain commands
//! are the ones every participant shares.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // SAFETY: restores the default SIGPIPE action before any thread starts, so `miner ... |
    // head` ends quietly instead of panicking in `println!`.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    match cli::main(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
