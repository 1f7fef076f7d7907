//! The pure-Rust `gemm` crate (what candle's own matmuls use). It dispatches at run time on
//! CPU features, so it needs no system library and no list of CPU names.

use super::cpu::Isa;
use super::MatRef;

/// The kernel the `gemm` crate picks on this CPU.
pub struct GemmKernel {
    pub isa: Isa,
    /// Its module in `gemm-f32` (`avx512f`, `fma`, `neon`, `scalar`).
    pub name: &'static str,
    /// Whether the CPU has every feature that kernel needs; it panics on first use otherwise.
    pub usable: bool,
    /// The features it needs and the CPU lacks.
    pub missing: Vec<&'static str>,
}

/// The crate's own rule (0.19, `gemm_common::gemm_def!`'s `init_gemm_fn`, with the workspace's
/// `x86-v4` feature): AVX-512F, else FMA, else its generic code; NEON on aarch64. The x86
/// kernels unwrap `gemm_common::simd::{V4, V3}::try_new()`, whose feature lists are `NEEDS_*`.
/// `tests/model/gemm.rs` checks the name against the function the crate really dispatches to.
pub fn kernel() -> GemmKernel {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        const NEEDS_V3: &[&str] = &["sse3", "ssse3", "sse4.1", "sse4.2", "avx", "avx2", "fma", "f16c"];
        let missing = |extra: &[&'static str]| -> Vec<&'static str> {
            NEEDS_V3.iter().chain(extra).copied().filter(|f| !super::cpu::x86_has(f)).collect()
        };
        let (isa, name, missing) = if std::arch::is_x86_feature_detected!("avx512f") {
            (Isa::Avx512, "avx512f", missing(&["avx512f"]))
        } else if std::arch::is_x86_feature_detected!("fma") {
            (Isa::Avx2Fma, "fma", missing(&[]))
        } else {
            // Compiled for the baseline target: SSE2 at most.
            (Isa::Sse, "scalar", Vec::new())
        };
        GemmKernel { isa, name, usable: missing.is_empty(), missing }
    }
    #[cfg(target_arch = "aarch64")]
    {
        let neon = std::arch::is_aarch64_feature_detected!("neon");
        let (isa, name) = if neon { (Isa::Neon, "neon") } else { (Isa::Scalar, "scalar") };
        GemmKernel { isa, name, usable: true, missing: Vec::new() }
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
    {
        GemmKernel { isa: Isa::Scalar, name: "scalar", usable: true, missing: Vec::new() }
    }
}

/// `dst = a @ b` (overwritten) on `threads` threads; the caller has checked every bound.
pub fn sgemm(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, dst: &mut [f32], threads: usize) {
    // The crate splits the output over rayon, never `k`, so each element's sum runs in one
    // order for a given thread count (and cache geometry, from which it sizes its blocks).
    let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    let (a_cs, a_rs, b_cs, b_rs) = (a.cs as isize, a.rs as isize, b.cs as isize, b.rs as isize);
    // SAFETY: `super::sgemm` checked that every index the kernel forms is inside the slices;
    // `dst` is a fresh &mut and does not alias the inputs. With `read_dst = false` the old
    // contents of `dst` are ignored (alpha 0, beta 1: dst = 1 * a @ b).
    unsafe {
        let (ap, bp, dp) = (a.data.as_ptr(), b.data.as_ptr(), dst.as_mut_ptr());
        gemm::gemm(
            m, n, k, dp, 1, n as isize, false, ap, a_cs, a_rs, bp, b_cs, b_rs, 0.0, 1.0, false, false, false,
            par,
        )
    }
}
