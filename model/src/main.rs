//! `model`: prepare data, train, evaluate and sample the subnet's LLaMA from the command line.

mod cli;

use clap::Parser;

// Training allocates and frees many large tensors per step; mimalloc reuses their pages
// instead of returning them to the kernel and faulting them back in, zeroed, each time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (v2): how long freed memory waits before it is
/// returned to the OS; -1 keeps it. Training frees and re-allocates the same large tensors every
/// step, and handing them back costs a page fault and a kernel page clear per 4 KiB each time.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // SAFETY: sets a global allocator option; no allocation depends on its previous value.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // SAFETY: restores the default SIGPIPE action before any thread starts, so `model logits |
    // head` ends quietly like other Unix tools instead of panicking in `println!`.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // Before any thread starts: an OpenBLAS core switch sets an environment variable.
    if args.command.computes() {
        match model::gemm::init(args.gemm) {
            Ok(kernel) => tracing::info!("gemm kernel: {kernel}"),
            Err(e) => {
                eprintln!("error: --gemm {} (or MODEL_GEMM): {e}", args.gemm);
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    model::init_threads(args.threads);
    match cli::run(args.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
