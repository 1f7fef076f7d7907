//! The model side of the subnet: a LLaMA in candle that trains bitwise-deterministically on
//! CPU, data pages every peer can recompute, and the training loop. No chain code.

pub mod codec;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod gemm;
pub mod io;
pub mod llama;
pub mod ops;
pub mod outer;
pub mod params;
pub mod plot;
pub mod rng;
pub mod sample;
pub mod train;

pub use config::LlamaConfig;
pub use error::{ModelError, Result};
pub use llama::Llama;
pub use params::Params;

/// Sets the worker thread count for candle's matmuls and this crate's kernels. Call once at
/// start-up, before any tensor work; results are bitwise reproducible for a fixed count (and
/// GEMM kernel, [`gemm::init`]).
pub fn init_threads(threads: Option<usize>) {
    if let Some(n) = threads.filter(|n| *n > 0) {
        // candle reads RAYON_NUM_THREADS on each matmul; rayon's global pool reads it once.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n).build_global();
    }
}
