//! `chain-bench pallet --runtime RUNTIME.wasm --genesis-builder runtime --pallet NAME ...`
//!
//! What `frame-omni-bencher` does, built against this workspace's pinned polkadot-sdk: runs a
//! pallet's benchmarks inside the wasm runtime (built with `runtime-benchmarks`) on the
//! runtime's own genesis, and writes the fitted weights. `scripts/bench/chain-weights.sh` drives it.

use clap::Parser;
use polkadot_sdk::{frame_benchmarking_cli::PalletCmd, sp_runtime::traits::BlakeTwo256, sp_tracing};

#[derive(Parser)]
#[command(version, about = "Benchmarks the chain's pallets and writes their weights")]
enum Cli {
    /// Benchmark a pallet's calls and write its weights file.
    Pallet(Box<PalletCmd>),
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    sp_tracing::try_init_simple();
    match Cli::parse() {
        Cli::Pallet(cmd) => cmd.run_with_spec::<BlakeTwo256, ()>(None)?,
    }
    Ok(())
}
