//! `model`: prepare data, train, evaluate and sample the subnet's LLaMA from the command line.

mod cli;

use clap::Parser;

// Training allocates and frees many large tensors per step; mimalloc reuses their pages
// instead of returning them to the kernel and faulting them back in, zeroed, each time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    model::init_threads(args.threads);
    match cli::run(args.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
