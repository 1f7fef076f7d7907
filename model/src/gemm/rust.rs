//! The pure-Rust `gemm` crate (what candle's own matmuls use). It dispatches at run time on
//! CPU features, so it needs no system library and no list of CPU names.

use super::cpu::Isa;
use super::MatRef;

/// The crate's version, for the kernel report (keep in step with the workspace pin).
pub const VERSION: &str = "0.19";

/// The kernel `gemm` 0.19 runs f32 products with on this CPU. This is the crate's own rule
/// (`gemm_common::gemm_def!`'s `init_gemm_fn`, with the workspace's `x86-v4` feature):
/// AVX-512F, else FMA (its x86-64-v3 kernel), else its generic code; NEON on aarch64.
/// `tests/gemm.rs` checks this against the function the crate actually dispatches to.
pub fn kernel() -> (Isa, &'static str) {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return (Isa::Avx512, "avx512f");
        }
        // (Its x86-64-v3 kernel also needs AVX2, which every CPU with FMA3 but an AMD
        // Piledriver-era one has.)
        if std::arch::is_x86_feature_detected!("fma") {
            return (Isa::Avx2Fma, "fma");
        }
        // Compiled for the baseline target: SSE2 at most.
        (Isa::Sse, "scalar")
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            return (Isa::Neon, "neon");
        }
        (Isa::Scalar, "scalar")
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
    {
        (Isa::Scalar, "scalar")
    }
}

/// `dst = a @ b` (overwritten) on `threads` threads; the caller has checked every bound.
pub fn sgemm(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, dst: &mut [f32], threads: usize) {
    // The crate splits the output over rayon, never `k`, so each element's sum runs in one
    // order for a given thread count.
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
