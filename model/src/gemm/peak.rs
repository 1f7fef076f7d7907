//! The arithmetic peak this CPU reaches, measured: every thread of the rayon pool runs a loop of
//! independent register-resident multiply-adds at the widest level the CPU has, and the FLOPs
//! they did over the wall time is the peak.
//!
//! A peak derived from the spec sheet (cores x FMA units x lanes x 2 x clock) needs the clock
//! and the FMA units per core, and a VM often shows neither: it reports its nominal clock while
//! the cores boost past it, and Zen 4 runs a 512-bit FMA on two 256-bit units. The loop answers
//! for the clock, the units and the VM alike, so MFU against it says how much of what the
//! cores really do a training step gets.

use std::fmt;
use std::time::Instant;

/// Which multiply-add a peak is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeakKind {
    /// f32 fused multiply-add (`vfmadd` on 16 or 8 lanes).
    F32,
    /// bf16 pairs summed into f32 (`vdpbf16ps`, AVX512-BF16), as the `--precision bf16` kernel.
    Bf16,
}

impl fmt::Display for PeakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeakKind::F32 => "f32",
            PeakKind::Bf16 => "bf16",
        })
    }
}

/// A measured peak.
#[derive(Clone, Debug)]
pub struct Peak {
    pub kind: PeakKind,
    /// The instruction the loop ran, e.g. "AVX-512 vfmadd".
    pub instruction: &'static str,
    /// Threads that ran it at once (the rayon pool's size).
    pub threads: usize,
    /// FLOP/s of all threads together, in units of 1e9 (a multiply-add is 2 FLOP).
    pub gflops: f64,
}

/// One thread's loop: `iters` rounds over its accumulators; returns a value that depends on
/// every one of them, so none of the work can be dropped.
type Loop = fn(u64) -> f32;

/// A loop with its kind, FLOPs per round and instruction.
type Kernel = (PeakKind, Loop, u64, &'static str);

/// Every loop this CPU can run, widest first within a kind.
fn kernels() -> Vec<Kernel> {
    let mut all: Vec<Kernel> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") {
            all.push((PeakKind::F32, x86::f32_avx512, x86::F32_AVX512_FLOPS, "AVX-512 vfmadd"));
        }
        if has!("avx2") && has!("fma") {
            all.push((PeakKind::F32, x86::f32_avx2, x86::F32_AVX2_FLOPS, "AVX2 vfmadd"));
        }
        if super::bf16::available() {
            all.push((PeakKind::Bf16, x86::bf16_avx512, x86::BF16_FLOPS, "AVX512-BF16 vdpbf16ps"));
        }
    }
    all
}

/// Measures the `kind` peak over all threads of the rayon pool for about `seconds` (best of
/// three timed runs after a calibration), or `None` if this CPU has no such instruction.
pub fn measure(kind: PeakKind, seconds: f64) -> Option<Peak> {
    let (_, run, flops_per_iter, instruction) = kernels().into_iter().find(|k| k.0 == kind)?;
    let threads = rayon::current_num_threads();
    let timed = |iters: u64| {
        let t = Instant::now();
        let sums = rayon::broadcast(|_| run(iters));
        std::hint::black_box(sums);
        t.elapsed().as_secs_f64()
    };
    // Calibrate: grow the round count until a run takes a measurable time, then size the timed
    // runs from it.
    let mut iters = 1u64 << 14;
    let mut secs = timed(iters);
    while secs < 0.02 && iters < 1 << 40 {
        iters *= 4;
        secs = timed(iters);
    }
    let iters = ((iters as f64) * (seconds.max(0.01) / 3.0) / secs).max(1.0) as u64;
    let best = (0..3).map(|_| timed(iters)).fold(f64::INFINITY, f64::min);
    let gflops = iters as f64 * flops_per_iter as f64 * threads as f64 / best / 1e9;
    Some(Peak { kind, instruction, threads, gflops })
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::hint::black_box;

    /// What each f32 multiply-add adds: 2^-20.
    pub const STEP: f32 = 1.0 / 1_048_576.0;

    /// Enough independent accumulators to cover the multiply-add's latency on both ports (4-6
    /// cycles x 2 on current cores); AVX2 has only 16 registers.
    const ACC512: usize = 16;
    const ACC256: usize = 12;
    pub const F32_AVX512_FLOPS: u64 = (ACC512 * 16 * 2) as u64;
    pub const F32_AVX2_FLOPS: u64 = (ACC256 * 8 * 2) as u64;
    /// `vdpbf16ps`: 16 lanes, each two products and two adds.
    pub const BF16_FLOPS: u64 = (ACC512 * 16 * 4) as u64;

    // acc = acc * 1 + 2^-20 from 0: exact for the test's rounds, and in long runs it stops
    // growing at 16 (where 2^-20 is half an ulp), so nothing overflows or goes subnormal. The
    // constants go through `black_box` so the compiler cannot fold a multiply by 1 into an add.

    pub fn f32_avx512(iters: u64) -> f32 {
        // SAFETY: chosen only when the CPU has AVX-512F (`kernels`).
        unsafe { f32_avx512_impl(iters) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn f32_avx512_impl(iters: u64) -> f32 {
        let (a, b) = (_mm512_set1_ps(black_box(1.0)), _mm512_set1_ps(black_box(STEP)));
        let mut acc = black_box([_mm512_setzero_ps(); ACC512]);
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        acc.iter().map(|x| _mm512_reduce_add_ps(*x)).sum()
    }

    pub fn f32_avx2(iters: u64) -> f32 {
        // SAFETY: chosen only when the CPU has AVX2 and FMA (`kernels`).
        unsafe { f32_avx2_impl(iters) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn f32_avx2_impl(iters: u64) -> f32 {
        let (a, b) = (_mm256_set1_ps(black_box(1.0)), _mm256_set1_ps(black_box(STEP)));
        let mut acc = black_box([_mm256_setzero_ps(); ACC256]);
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut lanes = [0f32; 8];
        let mut total = 0.0;
        for x in &acc {
            // SAFETY: `lanes` holds the 8 floats the store writes.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), *x) };
            total += lanes.iter().sum::<f32>();
        }
        total
    }

    pub fn bf16_avx512(iters: u64) -> f32 {
        // SAFETY: chosen only when the CPU has AVX-512F and AVX512-BF16 (`kernels`).
        unsafe { bf16_avx512_impl(iters) }
    }

    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn bf16_avx512_impl(iters: u64) -> f32 {
        // Two products of 2^-10 by 2^-10 per lane add 2^-19 per round; in long runs growth stops
        // (at 16 or 32, as the CPU rounds the two adds), so nothing overflows.
        let small = _mm512_set1_ps(black_box(1.0 / 1024.0));
        let (a, b) = (_mm512_cvtne2ps_pbh(small, small), _mm512_cvtne2ps_pbh(small, small));
        let mut acc = black_box([_mm512_setzero_ps(); ACC512]);
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm512_dpbf16_ps(*x, a, b);
            }
        }
        acc.iter().map(|x| _mm512_reduce_add_ps(*x)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loops do the work they count: the accumulators' sum after `n` rounds is exactly what
    /// `n` multiply-adds per lane give, so a loop that skipped rounds would fail here.
    #[test]
    fn the_loops_compute_what_they_count() {
        for (kind, run, flops, name) in kernels() {
            let lanes = match kind {
                PeakKind::F32 => flops / 2,
                PeakKind::Bf16 => flops / 4,
            } as f32;
            let n = 1000u64;
            // Per lane and round: one 2^-20 (f32) or two products of 2^-20 (bf16), all exact.
            let per_round = match kind {
                PeakKind::F32 => 1.0,
                PeakKind::Bf16 => 2.0,
            } / (1u64 << 20) as f32;
            let want = lanes * n as f32 * per_round;
            assert_eq!(run(n), want, "{name}");
        }
    }

    #[test]
    fn a_measured_peak_is_positive_and_names_its_instruction() {
        let Some(p) = measure(PeakKind::F32, 0.05) else { return };
        assert!(p.gflops > 0.1 && p.gflops.is_finite(), "{p:?}");
        assert!(p.threads >= 1 && p.instruction.contains("fmadd"), "{p:?}");
    }
}
