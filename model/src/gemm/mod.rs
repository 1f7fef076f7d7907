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
//! With [`Precision::Bf16`] the training step's products round both operands to bf16 and sum
//! in f32 on AVX512-BF16 instead ([`bf16`], our own kernel; [`sgemm_bf16`]). [`peak`]
//! measures what the CPU's multiply-add units reach, the reference for a step's MFU.
//!
//! Results depend on the kernel and on the cache geometry the `gemm` crate sizes its blocks
//! from, so training is bitwise reproducible on one machine for a fixed kernel and thread
//! count; nothing consensus-critical goes through here.

pub mod bf16;
pub mod cpu;
mod kernel;
mod openblas;
pub mod peak;
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

/// The precision of the training step's matrix products (`--precision`, `MODEL_PRECISION`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// f32 operands and sums.
    #[default]
    F32,
    /// Operands rounded to bf16, f32 sums and outputs ([`sgemm_bf16`]): PyTorch's CPU autocast
    /// recipe. Weights, gradients and the optimizer stay f32. Needs AVX512-BF16.
    Bf16,
}

impl Precision {
    /// Fails with the reason when this CPU cannot run products of this precision.
    pub fn check_supported(self) -> Result<(), GemmError> {
        match self {
            Precision::Bf16 if !bf16::available() => Err(GemmError::NoBf16),
            _ => Ok(()),
        }
    }
}

impl FromStr for Precision {
    type Err = GemmError;
    fn from_str(s: &str) -> Result<Self, GemmError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(GemmError::UnknownPrecision(s.to_string())),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        })
    }
}

/// Why a GEMM backend could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum GemmError {
    #[error("unknown GEMM backend {0:?}: expected auto, gemm or openblas")]
    UnknownChoice(String),
    #[error("unknown precision {0:?}: expected f32 or bf16")]
    UnknownPrecision(String),
    #[error("bf16 products need a CPU with AVX512-BF16 (Intel Cooper Lake / Sapphire Rapids or later, AMD Zen 4 or later); this one has none: use --precision f32")]
    NoBf16,
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
    if checked(m, n, k, a, b, dst) {
        match &kernel().backend {
            Backend::Gemm => rust::sgemm(m, n, k, a, b, dst, threads),
            Backend::OpenBlas(lib) => lib.sgemm(m, n, k, a, b, dst, threads),
        }
    }
}

/// [`sgemm`] with both operands rounded to bf16 and f32 sums ([`bf16`]), on CPUs with
/// AVX512-BF16 ([`bf16::available`]; panics without: callers choose by it).
pub fn sgemm_bf16(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, dst: &mut [f32], threads: usize) {
    assert!(bf16::available(), "sgemm_bf16: this CPU has no AVX512-BF16");
    if checked(m, n, k, a, b, dst) {
        bf16::gemm(m, n, k, a, b, dst, threads);
    }
}

/// Checks a product's shapes and bounds; false when there is nothing left to compute (an empty
/// output, or `k == 0` and `dst` zeroed).
fn checked(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, dst: &mut [f32]) -> bool {
    assert!(dst.len() == m * n, "sgemm: dst has {} elements, expected {m}x{n}", dst.len());
    if m == 0 || n == 0 {
        return false;
    }
    if k == 0 {
        dst.fill(0.0);
        return false;
    }
    // Bounds: the last element each operand can touch must be in the slice.
    assert!((m - 1) * a.rs + (k - 1) * a.cs < a.data.len(), "sgemm: lhs out of bounds");
    assert!((k - 1) * b.rs + (n - 1) * b.cs < b.data.len(), "sgemm: rhs out of bounds");
    assert!(a.rs == 1 || a.cs == 1, "sgemm: lhs needs a unit stride");
    assert!(b.rs == 1 || b.cs == 1, "sgemm: rhs needs a unit stride");
    true
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
    fn precisions_parse_and_say_what_they_need() {
        assert_eq!("F32".parse::<Precision>().unwrap(), Precision::F32);
        assert_eq!(" bf16".parse::<Precision>().unwrap(), Precision::Bf16);
        assert_eq!(Precision::default(), Precision::F32);
        let e = "fp8".parse::<Precision>().unwrap_err().to_string();
        assert!(e.contains("\"fp8\"") && e.contains("f32 or bf16"), "{e}");
        assert!(Precision::F32.check_supported().is_ok());
        assert_eq!(Precision::Bf16.check_supported().is_ok(), bf16::available());
        assert!(GemmError::NoBf16.to_string().contains("AVX512-BF16"));
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

    /// bf16 products: the f64 product of the bf16-rounded operands, up to f32 summation error,
    /// for both layouts of each operand, edge tiles, odd `k` and several `KC` blocks; bitwise
    /// the same on 1, 2 and 3 threads.
    #[test]
    fn bf16_products_match_the_rounded_operands_on_any_thread_count() {
        if !bf16::available() {
            eprintln!("skipped: this CPU has no AVX512-BF16");
            return;
        }
        for (m, n, k) in [(70, 33, 301), (13, 64, 2), (1, 1, 1), (120, 97, 1000)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 97) as f32 / 97.0 - 0.5).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 104729) % 89) as f32 / 89.3 - 0.5).collect();
            let (at, bt) = (transpose(&a, m, k), transpose(&b, k, n));
            let r = |x: f32| bf16::round_bf16(x) as f64;
            let mut want = vec![0f64; m * n];
            let mut bound = vec![0f64; m * n];
            for i in 0..m {
                for j in 0..n {
                    want[i * n + j] = (0..k).map(|p| r(a[i * k + p]) * r(b[p * n + j])).sum();
                    bound[i * n + j] = (0..k).map(|p| (a[i * k + p] * b[p * n + j]).abs() as f64).sum();
                }
            }
            let mut first: Option<Vec<f32>> = None;
            for (t, threads) in [1, 2, 3].into_iter().enumerate() {
                let am = if t % 2 == 0 { MatRef::rows(&a, k) } else { MatRef::transposed(&at, m) };
                let bm = if t < 2 { MatRef::rows(&b, n) } else { MatRef::transposed(&bt, k) };
                let mut got = vec![f32::NAN; m * n];
                sgemm_bf16(m, n, k, am, bm, &mut got, threads);
                for ((g, w), e) in got.iter().zip(&want).zip(&bound) {
                    // f32 sums of k terms: k ulps of the magnitude at most.
                    assert!((*g as f64 - w).abs() <= 1e-6 + k as f64 * 1.2e-7 * e, "{m}x{n}x{k}: {g} vs {w}");
                }
                match &first {
                    None => first = Some(got),
                    Some(f) => assert!(
                        f.iter().zip(&got).all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{m}x{n}x{k}: {threads} threads differ from 1"
                    ),
                }
            }
            // The rounding is real: the f32 product differs from the bf16 one.
            let mut exact = vec![0f32; m * n];
            sgemm(m, n, k, MatRef::rows(&a, k), MatRef::rows(&b, n), &mut exact, 1);
            if k > 2 {
                assert!(exact != first.unwrap(), "{m}x{n}x{k}: no rounding happened");
            }
        }
    }

    fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        (0..rows * cols).map(|i| x[(i % rows) * cols + i / rows]).collect()
    }
}
