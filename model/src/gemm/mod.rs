//! f32 matrix products for the fused ops, and the choice of the kernel that runs them.
//!
//! The kernel is chosen once per process ([`init`], or the first product) from what the CPU
//! can do (its feature flags, see [`cpu`]), never from its model name:
//! - `gemm` (the default): the pure-Rust `gemm` crate, which dispatches on CPU features itself
//!   (AVX-512F, AVX2+FMA, NEON). Measured (README, "Benchmarks"): on an AVX-512 EPYC as fast as
//!   OpenBLAS's right kernel on `small` and 13% faster on `tiny`; on an AVX-512 Xeon 9% faster
//!   on `small` and about even on `tiny`; 2.2-3x faster than OpenBLAS 0.3.21 where that one
//!   misreads the CPU and runs SSE3 code.
//! - `openblas`: the system OpenBLAS loaded at run time, its core type held to the CPU's level.
//! - `auto`: `gemm` when its kernel is at the CPU's level, else OpenBLAS if it has one (an AVX
//!   CPU without FMA), else `gemm` with a warning.
//!
//! Results depend on the kernel and on the cache geometry the `gemm` crate sizes its blocks
//! from, so training is bitwise reproducible on one machine for a fixed kernel and thread
//! count; nothing consensus-critical goes through here.

pub mod cpu;
mod kernel;
mod openblas;
mod rust;

use std::fmt;
use std::str::FromStr;

pub use cpu::{Cpu, Isa};
pub use kernel::{init, kernel, Backend, Kernel};

/// Which GEMM library to use (`--gemm`, `MODEL_GEMM`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Choice {
    #[default]
    Auto,
    Gemm,
    OpenBlas,
}

impl FromStr for Choice {
    type Err = GemmError;
    fn from_str(s: &str) -> Result<Self, GemmError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Choice::Auto),
            "gemm" | "rust" => Ok(Choice::Gemm),
            "openblas" => Ok(Choice::OpenBlas),
            _ => Err(GemmError::UnknownChoice(s.to_string())),
        }
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Choice::Auto => "auto",
            Choice::Gemm => "gemm",
            Choice::OpenBlas => "openblas",
        })
    }
}

/// Why a GEMM backend could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum GemmError {
    #[error("unknown GEMM backend {0:?}: expected auto, gemm or openblas")]
    UnknownChoice(String),
    #[error("OpenBLAS is not installed ({tried}); install Debian's libopenblas0, set MODEL_OPENBLAS_LIB to the library, or use --gemm gemm")]
    OpenBlasMissing { tried: String },
    #[error("{path} has no {symbol}: not an OpenBLAS library")]
    OpenBlasSymbol { path: String, symbol: &'static str },
    #[error("{path} ({config}) runs its {core} core on this {cpu} CPU and {reason}; use --gemm gemm")]
    OpenBlasLevel { path: String, config: String, core: String, cpu: Isa, reason: String },
    #[error("the gemm crate's {kernel} kernel needs CPU features this CPU lacks: {missing}")]
    GemmUnusable { kernel: &'static str, missing: String },
    #[error("this process already runs {current}; it cannot switch to {requested}")]
    AlreadyChosen { current: String, requested: Choice },
}

/// A read-only matrix view: element `(i, j)` is at `data[i * rs + j * cs]`; one of the strides
/// must be 1 (row- or column-contiguous), as BLAS requires.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `[rows, cols]` matrix.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self { data, rs: cols, cs: 1 }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self { data, rs: 1, cs: cols }
    }
}

/// `dst[m, n] = a[m, k] @ b[k, n]` with `dst` row-major and overwritten, on `threads` threads
/// (1: on the calling thread, for use inside parallel tasks), with this process's [`kernel`].
pub fn sgemm(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, dst: &mut [f32], threads: usize) {
    assert!(dst.len() == m * n, "sgemm: dst has {} elements, expected {m}x{n}", dst.len());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        dst.fill(0.0);
        return;
    }
    // Bounds: the last element each operand can touch must be in the slice.
    assert!((m - 1) * a.rs + (k - 1) * a.cs < a.data.len(), "sgemm: lhs out of bounds");
    assert!((k - 1) * b.rs + (n - 1) * b.cs < b.data.len(), "sgemm: rhs out of bounds");
    assert!(a.rs == 1 || a.cs == 1, "sgemm: lhs needs a unit stride");
    assert!(b.rs == 1 || b.cs == 1, "sgemm: rhs needs a unit stride");
    match &kernel().backend {
        Backend::Gemm => rust::sgemm(m, n, k, a, b, dst, threads),
        Backend::OpenBlas(lib) => lib.sgemm(m, n, k, a, b, dst, threads),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse() {
        assert_eq!("auto".parse::<Choice>().unwrap(), Choice::Auto);
        assert_eq!("GEMM".parse::<Choice>().unwrap(), Choice::Gemm);
        assert_eq!("openblas".parse::<Choice>().unwrap(), Choice::OpenBlas);
        let e = "mkl".parse::<Choice>().unwrap_err().to_string();
        assert!(e.contains("\"mkl\"") && e.contains("auto, gemm or openblas"), "{e}");
    }

    #[test]
    fn products_match_a_plain_triple_loop() {
        let (m, n, k) = (70, 33, 129);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 97) as f32 / 97.0 - 0.5).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 104729) % 89) as f32 / 89.0 - 0.5).collect();
        let mut want = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                want[i * n + j] = (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum();
            }
        }
        // Row-major b, and b given as the transpose of its row-major transpose.
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        for (bm, threads) in [(MatRef::rows(&b, n), 1), (MatRef::transposed(&bt, k), 2)] {
            let mut got = vec![f32::NAN; m * n];
            sgemm(m, n, k, MatRef::rows(&a, k), bm, &mut got, threads);
            for (g, w) in got.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-4, "{g} vs {w} with {}", kernel());
            }
        }
    }
}
