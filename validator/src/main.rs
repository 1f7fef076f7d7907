//! The `validator` binary: `validator run` approves, scores and sets weights; the wallet and
//! chain commands are the ones every participant shares.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // SAFETY: restores the default SIGPIPE action before any thread starts, so `validator
    // metagraph | head` ends quietly instead of panicking in `println!`.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    match cli::main(args) {
        Ok(code) => code,
        Err(e) => {
            // The error chain, once, on one line.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
