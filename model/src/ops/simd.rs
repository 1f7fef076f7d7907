//! The element-wise kernels' loops, compiled for the widest vector unit the CPU has.
//!
//! The crate is built for baseline x86-64 (SSE2), so a plain loop runs 4 lanes at best, and a
//! loop that also sums runs scalar: LLVM may not reorder float additions. Here a kernel is
//! written once inside [`vectorized!`], which compiles its body three times (AVX-512F,
//! AVX2+FMA, baseline) and picks one at run time from the CPU's feature flags. Sums and maxima
//! go through [`map_sum`] and friends, which keep [`LANES`] running partials and add them in a
//! fixed order at the end: the order is written in the source, not chosen by the compiler, so
//! every build gives the same bits on every CPU (Rust never fuses a multiply and an add, nor
//! reorders float arithmetic). A kernel must not call the platform's libm either: glibc picks
//! some of its functions per CPU at load time (use `libm` or `exp.rs`).

/// Running partials of a reduction: one AVX-512 register, two AVX2 ones.
pub(crate) const LANES: usize = 16;

/// The vector extension a [`vectorized!`] kernel runs with on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    /// AVX-512F.
    Avx512,
    /// AVX2 and FMA.
    Avx2,
    /// Whatever the build targets (SSE2 on x86-64, NEON on aarch64).
    Base,
}

/// The level kernels run at: the CPU's ([`detected`]); tests may pick a lower one for their
/// own thread ([`tests::at_level`]).
pub(crate) fn level() -> Level {
    #[cfg(test)]
    if let Some(forced) = tests::FORCED.with(|f| f.get()) {
        return forced;
    }
    detected()
}

/// Detected once per process. Enabling `avx512f` also enables AVX2, FMA and F16C in the
/// compiler, so that level needs all four (a VM may mask CPUID bits one by one).
pub(crate) fn detected() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let avx2 = has!("avx2") && has!("fma");
            if avx2 && has!("f16c") && has!("avx512f") {
                return Level::Avx512;
            }
            if avx2 {
                return Level::Avx2;
            }
        }
        Level::Base
    })
}

/// Defines a function whose body is compiled for AVX-512F, for AVX2+FMA and for the baseline,
/// dispatching on [`level`]. Helpers the body calls must be `#[inline(always)]` to be compiled
/// with the same features.
macro_rules! vectorized {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$attr])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) $(-> $ret)? $body
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? $body
                match $crate::ops::simd::level() {
                    // SAFETY: `level` saw these features on this CPU.
                    $crate::ops::simd::Level::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::ops::simd::Level::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::ops::simd::Level::Base => {}
                }
            }
            $body
        }
    };
}
pub(crate) use vectorized;

/// Adds the partials pairwise in a fixed order.
#[inline(always)]
fn combine(mut acc: [f32; LANES], op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            acc[l] = op(acc[l], acc[l + width]);
        }
        width /= 2;
    }
    acc[0]
}

/// `x[i] = f(x[i])` for every element, returning the sum of the new values.
#[inline(always)]
pub(crate) fn map_sum(x: &mut [f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = x.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            c[l] = f(c[l]);
            acc[l] += c[l];
        }
    }
    for (l, v) in chunks.into_remainder().iter_mut().enumerate() {
        *v = f(*v);
        acc[l] += *v;
    }
    combine(acc, |a, b| a + b)
}

/// The sum of `f(x[i])`.
#[inline(always)]
pub(crate) fn sum_by(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            acc[l] += f(c[l]);
        }
    }
    for (l, v) in chunks.remainder().iter().enumerate() {
        acc[l] += f(*v);
    }
    combine(acc, |a, b| a + b)
}

/// The sum of `f(a[i], b[i])` over the shorter of the two.
#[inline(always)]
pub(crate) fn sum_by2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let (mut ca, mut cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] += f(x[l], y[l]);
        }
    }
    for (l, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        acc[l] += f(*x, *y);
    }
    combine(acc, |a, b| a + b)
}

/// The sum of `f(a[i], b[i], c[i])` over the shortest of the three.
#[inline(always)]
pub(crate) fn sum_by3(a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32) -> f32 {
    let n = a.len().min(b.len()).min(c.len());
    let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
    let mut acc = [0f32; LANES];
    let (mut ca, mut cb, mut cc) = (a.chunks_exact(LANES), b.chunks_exact(LANES), c.chunks_exact(LANES));
    for ((x, y), z) in (&mut ca).zip(&mut cb).zip(&mut cc) {
        for l in 0..LANES {
            acc[l] += f(x[l], y[l], z[l]);
        }
    }
    for (l, ((x, y), z)) in ca.remainder().iter().zip(cb.remainder()).zip(cc.remainder()).enumerate() {
        acc[l] += f(*x, *y, *z);
    }
    combine(acc, |a, b| a + b)
}

/// The largest element (NaNs ignored, as `f32::max` does); `-inf` for an empty slice.
///
/// Four sets of partials run side by side: `f32::max` is a chain of three instructions (max,
/// NaN test, blend), and with one set every vector waited on the previous one's (half of the
/// cross-entropy's time). A maximum does not depend on the order it is taken in (up to the
/// sign of a zero, which no caller can see: they subtract it or add a logarithm to it).
#[inline(always)]
pub(crate) fn max(x: &[f32]) -> f32 {
    const SETS: usize = 4;
    let mut acc = [[f32::NEG_INFINITY; LANES]; SETS];
    let mut chunks = x.chunks_exact(LANES * SETS);
    for c in &mut chunks {
        for (set, c) in acc.iter_mut().zip(c.chunks_exact(LANES)) {
            for l in 0..LANES {
                set[l] = set[l].max(c[l]);
            }
        }
    }
    let [mut first, rest @ ..] = acc;
    for set in rest {
        for l in 0..LANES {
            first[l] = first[l].max(set[l]);
        }
    }
    for (l, v) in chunks.remainder().iter().enumerate() {
        first[l % LANES] = first[l % LANES].max(*v);
    }
    combine(first, f32::max)
}

vectorized! {
    /// `a[i] += b[i]`.
    pub(crate) fn add_assign(a: &mut [f32], b: &[f32]) {
        a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ops::testutil::normal;
    use std::cell::Cell;

    thread_local! {
        pub(crate) static FORCED: Cell<Option<Level>> = const { Cell::new(None) };
    }

    /// The levels this CPU can run, widest first.
    pub(crate) fn supported() -> Vec<Level> {
        let all = [Level::Avx512, Level::Avx2, Level::Base];
        let from = all.iter().position(|l| *l == detected()).unwrap_or(2);
        all[from..].to_vec()
    }

    /// Runs `f` with this thread's kernels at `level`, which must be in [`supported`].
    pub(crate) fn at_level<R>(level: Level, f: impl FnOnce() -> R) -> R {
        assert!(supported().contains(&level), "{level:?} is not supported here");
        FORCED.with(|c| c.set(Some(level)));
        let r = f();
        FORCED.with(|c| c.set(None));
        r
    }

    vectorized! {
        fn sum_of_exps(x: &mut [f32]) -> f32 {
            map_sum(x, super::super::exp::exp)
        }
    }

    vectorized! {
        /// [`max`] compiled at each level, as the kernels that call it are.
        fn max_at_level(x: &[f32]) -> f32 {
            max(x)
        }
    }

    fn reference_sum(x: &[f32]) -> f32 {
        let mut acc = [0f32; LANES];
        for (i, v) in x.iter().enumerate() {
            acc[i % LANES] += v;
        }
        // The same pairwise tree, spelled out.
        let mut w = LANES / 2;
        while w > 0 {
            for l in 0..w {
                acc[l] += acc[l + w];
            }
            w /= 2;
        }
        acc[0]
    }

    pub(crate) fn bits(v: &[Vec<f32>]) -> Vec<Vec<u32>> {
        v.iter().map(|x| x.iter().map(|f| f.to_bits()).collect()).collect()
    }

    /// Every element-wise kernel of the ops, run on this thread at each level this CPU has.
    #[test]
    fn every_kernel_gives_the_same_bits_on_every_level() {
        use crate::ops::{cross_entropy, rms_norm, rope, softmax, swiglu};
        // 1000 values: not a multiple of the lanes; RMSNorm rows of 100.
        let (x, y, w) = (normal("x", 1000), normal("y", 1000), normal("w", 100));
        let run = || {
            let mut out = Vec::new();
            let mut p = x.clone();
            softmax::softmax_row(&mut p, 777, 0.37);
            let mut g = y.clone();
            softmax::softmax_row_backward(&mut g, &p, 777, 0.37);
            out.extend([p, g]);
            let (mut o, mut gx, mut gw) = (vec![0.0; 100], vec![0.0; 100], vec![0.0; 100]);
            rms_norm::forward_row(&mut o, &x[..100], &w, 1e-5);
            rms_norm::backward_row(&mut gx, &x[..100], &y[..100], &w, 1e-5);
            rms_norm::weight_grad_block(&mut gw, &x, &y, 1e-5);
            out.extend([o, gx, gw]);
            let (mut s, mut ga, mut gb) = (vec![0.0; 1000], vec![0.0; 1000], vec![0.0; 1000]);
            swiglu::forward_chunk(&mut s, &x, &y);
            swiglu::backward_chunk(&mut ga, &mut gb, &x, &y, &w.repeat(10));
            out.extend([s, ga, gb]);
            let mut ce = vec![0.0; 1000];
            cross_entropy::softmax_grad_row(&mut ce, &x, 3.1, 0.25);
            out.extend([ce, vec![cross_entropy::log_sum_exp(&x)]]);
            let tables = rope::RopeTables::new(10, 100, 10_000.0);
            let mut r = x.clone();
            rope::rotate_rows(&tables, &mut r, 100, 1.0);
            let mut sum = y.clone();
            add_assign(&mut sum, &x);
            out.extend([r, sum, vec![max(&x)]]);
            out
        };
        let want = bits(&at_level(Level::Base, run));
        for level in supported() {
            assert_eq!(bits(&at_level(level, run)), want, "{level:?} differs from the baseline");
        }
    }

    #[test]
    fn the_maximum_is_found_wherever_it_sits_and_nans_are_skipped() {
        for level in supported() {
            at_level(level, || {
                for n in [1, 2, 63, 64, 65, 130] {
                    for at in 0..n {
                        let mut x: Vec<f32> = (0..n).map(|i| -((i % 7) as f32)).collect();
                        x[at] = 5.0;
                        if n > 1 {
                            x[(at + 1) % n] = f32::NAN;
                        }
                        assert_eq!(max_at_level(&x), 5.0, "n={n} at={at} on {level:?}");
                    }
                }
                assert_eq!(max_at_level(&[f32::NAN; 70]), f32::NEG_INFINITY);
                assert_eq!(max_at_level(&[]), f32::NEG_INFINITY);
            });
        }
    }

    #[test]
    fn reductions_follow_the_written_order_on_every_level() {
        for n in [0, 1, 15, 16, 17, 100, 1000] {
            let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 101) as f32 / 13.0 - 3.7).collect();
            let mut e = x.clone();
            let s = sum_of_exps(&mut e);
            // Same bits as the scalar reading of the lane order, whatever `level()` picked.
            assert_eq!(s.to_bits(), reference_sum(&e).to_bits(), "n={n} on {:?}", level());
            for (a, b) in e.iter().zip(&x) {
                assert_eq!(a.to_bits(), super::super::exp::exp(*b).to_bits());
            }
            assert_eq!(sum_by(&x, |v| v).to_bits(), reference_sum(&x).to_bits());
            let dot = sum_by2(&x, &e, |a, b| a * b);
            let prod: Vec<f32> = x.iter().zip(&e).map(|(a, b)| a * b).collect();
            assert_eq!(dot.to_bits(), reference_sum(&prod).to_bits());
            let want = x.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v));
            assert_eq!(max(&x), want);
        }
    }
}
