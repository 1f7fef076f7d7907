//! Matrix products with bf16 inputs and f32 sums (PyTorch autocast's recipe for CPU matmuls),
//! on the AVX512-BF16 dot-product instruction: `vdpbf16ps` does 32 bf16 multiply-adds into 16
//! f32 lanes, twice what an f32 FMA of the same width does, and the packed operands are half
//! the bytes.
//!
//! Both operands are rounded to bf16 (to nearest, ties to even) as they are packed; the output
//! is f32. Each output element is summed over `k` in one order, fixed by `KC` alone (pairs of
//! `k` in order within a block, the blocks added in order), never by the thread count or the
//! other block sizes: a product is bitwise the same on any number of threads. The instruction
//! treats subnormal inputs as zero and its rounding of a pair's sum is the vendor's, so results
//! can differ between Intel and AMD; nothing consensus-critical runs here.
//!
//! Layout (GotoBLAS): `b` is packed once per call into panels of `NR` columns, `k` in pairs
//! (one `u32` holds the bf16 of `k = 2p` in its low half and `2p + 1` in its high half); each
//! task owns a block of rows of the output and packs its rows of `a` per `KC` block into
//! panels of `MR` rows. The micro-kernel keeps an `MR x NR` tile in 24 of the 32 vector
//! registers.

use rayon::prelude::*;

use super::MatRef;

/// Rows of a micro-tile.
const MR: usize = 12;
/// Columns of a micro-tile: two 16-lane registers.
const NR: usize = 32;
/// Pairs of `k` per block: a `b` micro-panel of `KC x NR` pairs is 16 KiB, half an L1.
const KC: usize = 128;
/// Most rows of the output per task (its `a` block, `MC x KC` pairs, is 48 KiB of L2).
const MC: usize = 96;

/// Whether this CPU runs the bf16 products (AVX-512F with BF16).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `x` rounded to bf16, to nearest with ties to even; NaN stays a quiet NaN and subnormals
/// become zero of their sign, as the AVX512-BF16 conversions do (and the dot product treats
/// subnormal inputs as zero anyway).
pub fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    if x.is_subnormal() {
        return ((bits >> 16) & 0x8000) as u16;
    }
    // No overflow: the largest finite magnitude plus the rounding term stays below 2^32.
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

/// The f32 value of a bf16.
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// `x` rounded to the nearest bf16, as an f32.
pub fn round_bf16(x: f32) -> f32 {
    from_bf16(to_bf16(x))
}

fn pair(lo: f32, hi: f32) -> u32 {
    to_bf16(lo) as u32 | (to_bf16(hi) as u32) << 16
}

thread_local! {
    /// Packing buffers kept per thread, so that a product allocates (and faults in) nothing
    /// after the first of its size. Taken out while in use: a rayon worker that waits may run
    /// another product on the same thread.
    static PACKED_B: std::cell::Cell<Vec<u32>> = const { std::cell::Cell::new(Vec::new()) };
    static PACKED_A: std::cell::Cell<Vec<u32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Runs `f` with this thread's buffer `cell`, at least `len` long.
fn with_buffer<R>(
    cell: &'static std::thread::LocalKey<std::cell::Cell<Vec<u32>>>,
    len: usize,
    f: impl FnOnce(&mut [u32]) -> R,
) -> R {
    let mut buf = cell.with(|c| c.take());
    if buf.len() < len {
        buf.resize(len, 0);
    }
    let r = f(&mut buf[..len]);
    cell.with(|c| c.set(buf));
    r
}

/// `dst[m, n] = bf16(a)[m, k] @ bf16(b)[k, n]`, f32 sums, `dst` row-major and overwritten.
/// The caller ([`super::sgemm_bf16`]) has checked the bounds and that [`available`] holds.
pub fn gemm(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, dst: &mut [f32], threads: usize) {
    let kp = k.div_ceil(2);
    let panels = n.div_ceil(NR);
    // Rows per task: enough tasks for two per thread, whole micro-tiles, at most MC.
    let mc = m.div_ceil(2 * threads.max(1)).next_multiple_of(MR).clamp(MR, MC);
    with_buffer(&PACKED_B, panels * kp * NR, |packed_b| {
        let pack = |(q, panel): (usize, &mut [u32])| pack_b_panel(b, k, n, q * NR, panel);
        if threads > 1 {
            packed_b.par_chunks_mut(kp * NR).enumerate().for_each(pack);
        } else {
            packed_b.chunks_mut(kp * NR).enumerate().for_each(pack);
        }
        let packed_b = &*packed_b;
        let task = |(t, rows): (usize, &mut [f32])| row_block(a, k, n, t * mc, rows, packed_b);
        if threads > 1 {
            dst.par_chunks_mut(mc * n).enumerate().for_each(task);
        } else {
            dst.chunks_mut(mc * n).enumerate().for_each(task);
        }
    });
}

/// Packs columns `j0..j0 + NR` of `b`, all of `k` (zeros past `n` and `k`).
fn pack_b_panel(b: MatRef, k: usize, n: usize, j0: usize, out: &mut [u32]) {
    let lines =
        Lines { data: b.data, line_stride: b.cs, depth_stride: b.rs, first: j0, count: NR.min(n - j0) };
    lines.pack::<NR>(0, k.div_ceil(2), k, out);
}

/// Packs rows `i0..i0 + rows` and pairs `p0..p0 + kc` of `a` into panels of `MR` rows (zeros
/// past the rows and `k`): panel `r`, pair `p`, row `i` at `(r * kc + p) * MR + i`.
fn pack_a_block(a: MatRef, k: usize, i0: usize, rows: usize, p0: usize, kc: usize, out: &mut [u32]) {
    if a.rs == 1 && a.cs != 1 {
        // `a` transposed (a weight gradient's `dy^T`): the block's rows are adjacent floats at
        // each depth. Read each depth's run of rows once, in order, and deal it out to the
        // panels, rather than sweeping every depth once per panel at a stride of a whole row.
        let panels = out.len() / (kc * MR);
        for p in 0..kc {
            let d = 2 * (p0 + p);
            let run = |d: usize| &a.data[d * a.cs + i0 * a.rs..][..rows];
            let (lo, hi) = (run(d), (d + 1 < k).then(|| run(d + 1)));
            for r in 0..panels {
                let slot = &mut out[(r * kc + p) * MR..][..MR];
                let (first, count) = (r * MR, MR.min(rows.saturating_sub(r * MR)));
                interleave(&lo[first..][..count], hi.map(|h| &h[first..][..count]), &mut slot[..count]);
                slot[count..].fill(0);
            }
        }
        return;
    }
    for (r, panel) in out.chunks_exact_mut(kc * MR).enumerate() {
        let first = i0 + r * MR;
        let count = MR.min(rows.saturating_sub(r * MR));
        let lines = Lines { data: a.data, line_stride: a.rs, depth_stride: a.cs, first, count };
        lines.pack::<MR>(p0, kc, k, panel);
    }
}

/// Rows of `a` or columns of `b` as packing sees them: line `l`, depth `d` (along `k`) is at
/// `data[l * line_stride + d * depth_stride]`; lines `first..first + count` are packed.
struct Lines<'a> {
    data: &'a [f32],
    line_stride: usize,
    depth_stride: usize,
    first: usize,
    count: usize,
}

impl Lines<'_> {
    /// `out[p * W + l]` = the pair at depths `2 (p0 + p)` and `+1` of line `first + l`, for
    /// `kc` pairs; zeros past `count` lines and past depth `k`.
    fn pack<const W: usize>(&self, p0: usize, kc: usize, k: usize, out: &mut [u32]) {
        assert!(out.len() == kc * W && self.count <= W);
        let depth = (k - 2 * p0).min(2 * kc);
        if self.count == 0 {
            out.fill(0);
        } else if self.depth_stride == 1 {
            // A line's pairs are adjacent floats: convert each line, then lay them across.
            let mut pairs = [0u32; KC];
            for l in 0..W {
                if l >= self.count {
                    (0..kc).for_each(|p| out[p * W + l] = 0);
                    continue;
                }
                let line = &self.data[(self.first + l) * self.line_stride + 2 * p0..][..depth];
                for c0 in (0..kc).step_by(KC) {
                    let chunk = &mut pairs[..KC.min(kc - c0)];
                    to_pairs(line.get(2 * c0..).unwrap_or_default(), chunk);
                    for (p, &v) in chunk.iter().enumerate() {
                        out[(c0 + p) * W + l] = v;
                    }
                }
            }
        } else {
            // Lines are adjacent floats at each depth: interleave two depths' runs.
            for (p, slot) in out.chunks_exact_mut(W).enumerate() {
                let d = 2 * (p0 + p);
                let run = |d: usize| &self.data[d * self.depth_stride + self.first..][..self.count];
                let hi = (d + 1 < k).then(|| run(d + 1));
                interleave(run(d), hi, &mut slot[..self.count]);
                slot[self.count..].fill(0);
            }
        }
    }
}

/// `dst[p]` = the pair `src[2p]`, `src[2p + 1]` (zero past the end of `src`).
fn to_pairs(src: &[f32], dst: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    let done = {
        let whole = (src.len() / 32).min(dst.len() / 16);
        // SAFETY: `available()` held before the product started; 32 floats in and 16 pairs
        // out per chunk are in bounds.
        unsafe { to_pairs_avx512(&src[..whole * 32], &mut dst[..whole * 16]) };
        whole * 16
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    for (p, v) in dst.iter_mut().enumerate().skip(done) {
        let at = |i: usize| src.get(i).copied().unwrap_or(0.0);
        *v = pair(at(2 * p), at(2 * p + 1));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
fn to_pairs_avx512(src: &[f32], dst: &mut [u32]) {
    use std::arch::x86_64::*;
    for (s, d) in src.chunks_exact(32).zip(dst.chunks_exact_mut(16)) {
        // SAFETY: 32 floats readable, 16 u32 writable (chunks_exact).
        unsafe {
            let lo = _mm512_loadu_ps(s.as_ptr());
            let hi = _mm512_loadu_ps(s.as_ptr().add(16));
            // bf16 lanes 0..16 from `lo`, 16..32 from `hi`: in order, two per u32.
            let packed = _mm512_cvtne2ps_pbh(hi, lo);
            _mm512_storeu_si512(d.as_mut_ptr().cast(), std::mem::transmute::<__m512bh, __m512i>(packed));
        }
    }
}

/// `dst[i]` = the pair `lo[i]`, `hi[i]` (`hi` zero if absent).
fn interleave(lo: &[f32], hi: Option<&[f32]>, dst: &mut [u32]) {
    let n = dst.len();
    assert!(lo.len() >= n && hi.is_none_or(|h| h.len() >= n));
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `available()` held before the product started; the slices cover `n`.
        unsafe { interleave_avx512(&lo[..n], hi.map(|h| &h[..n]), dst) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    for (i, v) in dst.iter_mut().enumerate() {
        *v = pair(lo[i], hi.map_or(0.0, |h| h[i]));
    }
}

/// [`interleave`] 16 lanes at a time, the last (an `A` panel's 12 rows, say) under a mask.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
fn interleave_avx512(lo: &[f32], hi: Option<&[f32]>, dst: &mut [u32]) {
    use std::arch::x86_64::*;
    let convert = |x: __m512| {
        // SAFETY: the same target features as this function's.
        unsafe { _mm512_cvtepu16_epi32(std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(x))) }
    };
    for c in (0..dst.len()).step_by(16) {
        let mask: __mmask16 = if dst.len() - c >= 16 { !0 } else { (1 << (dst.len() - c)) - 1 };
        // SAFETY: the masked lanes of each input and of `dst` from `c` are in bounds (each
        // slice has `dst.len()` elements); masked-off lanes are neither read nor written.
        unsafe {
            let l = convert(_mm512_maskz_loadu_ps(mask, lo.as_ptr().add(c)));
            let h = match hi {
                Some(hi) => _mm512_slli_epi32::<16>(convert(_mm512_maskz_loadu_ps(mask, hi.as_ptr().add(c)))),
                None => _mm512_setzero_si512(),
            };
            _mm512_mask_storeu_epi32(dst.as_mut_ptr().add(c).cast(), mask, _mm512_or_si512(l, h));
        }
    }
}

/// Output rows `i0..` (`out`, whole rows of `n`) from `a`'s rows and the packed `b`.
fn row_block(a: MatRef, k: usize, n: usize, i0: usize, out: &mut [f32], packed_b: &[u32]) {
    let rows = out.len() / n;
    let kp = k.div_ceil(2);
    let a_panels = rows.div_ceil(MR);
    with_buffer(&PACKED_A, a_panels * KC * MR, |packed_a| {
        for p0 in (0..kp).step_by(KC) {
            let kc = KC.min(kp - p0);
            let packed_a = &mut packed_a[..a_panels * kc * MR];
            pack_a_block(a, k, i0, rows, p0, kc, packed_a);
            for (q, j0) in (0..n).step_by(NR).enumerate() {
                let b_panel = &packed_b[(q * kp + p0) * NR..][..kc * NR];
                for (r, a_panel) in packed_a.chunks_exact(kc * MR).enumerate() {
                    let tile =
                        Tile { row: r * MR, col: j0, rows: MR.min(rows - r * MR), cols: NR.min(n - j0) };
                    tile.update(out, n, a_panel, b_panel, kc, p0 > 0);
                }
            }
        }
    });
}

/// Where a micro-tile sits in a block of output rows, and how much of it is inside.
struct Tile {
    row: usize,
    col: usize,
    rows: usize,
    cols: usize,
}

impl Tile {
    /// `out[tile] (+)= a_panel @ b_panel`: added to with `accumulate`, overwritten without.
    fn update(
        &self,
        out: &mut [f32],
        n: usize,
        a_panel: &[u32],
        b_panel: &[u32],
        kc: usize,
        accumulate: bool,
    ) {
        assert!(a_panel.len() == kc * MR && b_panel.len() == kc * NR);
        let start = self.row * n + self.col;
        if self.rows == MR && self.cols == NR {
            assert!(start + (MR - 1) * n + NR <= out.len());
            // SAFETY: checked above: the tile's rows are in `out`, the panels have `kc` pairs,
            // and `available()` held before the product started.
            unsafe {
                kernel(kc, a_panel.as_ptr(), b_panel.as_ptr(), out.as_mut_ptr().add(start), n, accumulate)
            };
            return;
        }
        // An edge tile: computed whole into a scratch tile, copied out in part.
        let mut scratch = [0f32; MR * NR];
        for i in 0..self.rows {
            let row = &mut out[start + i * n..][..self.cols];
            if accumulate {
                scratch[i * NR..][..self.cols].copy_from_slice(row);
            }
        }
        // SAFETY: the scratch tile is MR x NR with stride NR; panels as above.
        unsafe { kernel(kc, a_panel.as_ptr(), b_panel.as_ptr(), scratch.as_mut_ptr(), NR, accumulate) };
        for i in 0..self.rows {
            out[start + i * n..][..self.cols].copy_from_slice(&scratch[i * NR..][..self.cols]);
        }
    }
}

/// The micro-kernel: `c[MR, NR] (+)= a[MR, 2 kc] @ b[2 kc, NR]` over packed pairs, `c` with
/// row stride `ldc`.
///
/// # Safety
/// The CPU has AVX-512F and AVX512-BF16; `a` has `kc * MR` and `b` `kc * NR` readable pairs;
/// `c` has `MR` rows of `NR` writable floats at stride `ldc`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn kernel(kc: usize, a: *const u32, b: *const u32, c: *mut f32, ldc: usize, accumulate: bool) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    if accumulate {
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: row `i` of `c` has NR floats (the caller's contract).
            unsafe {
                row[0] = _mm512_loadu_ps(c.add(i * ldc));
                row[1] = _mm512_loadu_ps(c.add(i * ldc + 16));
            }
        }
    }
    for p in 0..kc {
        // SAFETY: pair `p` of both panels is in bounds (the caller's contract).
        unsafe {
            let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(p * NR).cast()));
            let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(p * NR + 16).cast()));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai: __m512bh = std::mem::transmute(_mm512_set1_epi32(*a.add(p * MR + i) as i32));
                row[0] = _mm512_dpbf16_ps(row[0], ai, b0);
                row[1] = _mm512_dpbf16_ps(row[1], ai, b1);
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: as for the loads.
        unsafe {
            _mm512_storeu_ps(c.add(i * ldc), row[0]);
            _mm512_storeu_ps(c.add(i * ldc + 16), row[1]);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn kernel(_: usize, _: *const u32, _: *const u32, _: *mut f32, _: usize, _: bool) {
    unreachable!("bf16 products need AVX512-BF16 (`available()` is false here)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_to_nearest_even() {
        // 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties go to the even (1).
        assert_eq!(round_bf16(1.0 + 1.0 / 256.0), 1.0);
        assert_eq!(round_bf16(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0);
        assert_eq!(round_bf16(1.0 + 1.5 / 256.0), 1.0 + 2.0 / 256.0);
        assert_eq!(round_bf16(-2.5), -2.5);
        assert!(round_bf16(f32::NAN).is_nan());
        assert_eq!(round_bf16(f32::INFINITY), f32::INFINITY);
        assert_eq!(round_bf16(f32::MAX), f32::INFINITY);
        assert_eq!(round_bf16(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(round_bf16(-1e-40).to_bits(), (-0.0f32).to_bits());
    }

    /// The vector conversions give the scalar rounding's bits: ties, NaN, infinities,
    /// subnormals, and lengths with scalar tails.
    #[test]
    fn vector_packing_rounds_like_the_scalar_code() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX512-BF16");
            return;
        }
        let special =
            [1.0 + 1.0 / 256.0, 1.0 + 3.0 / 256.0, f32::NAN, f32::INFINITY, -f32::MAX, 1e-40, -1e-45, -0.0];
        let src: Vec<f32> = (0..101)
            .map(|i| {
                special
                    .get(i % 13)
                    .copied()
                    .unwrap_or((i as f32 * 0.737).sin() * 10f32.powi(i as i32 % 7 - 3))
            })
            .collect();
        let mut got = vec![0u32; 51];
        to_pairs(&src, &mut got);
        let want: Vec<u32> =
            (0..51).map(|p| pair(src[2 * p], src.get(2 * p + 1).copied().unwrap_or(0.0))).collect();
        assert_eq!(got, want);
        let (lo, hi) = (&src[..40], &src[50..90]);
        let mut got = vec![0u32; 40];
        interleave(lo, Some(hi), &mut got);
        assert_eq!(got, (0..40).map(|i| pair(lo[i], hi[i])).collect::<Vec<_>>());
        interleave(lo, None, &mut got);
        assert_eq!(got, (0..40).map(|i| pair(lo[i], 0.0)).collect::<Vec<_>>());
        // A panel's 12 rows, and other lengths under one vector.
        for len in [1, 7, 12, 15, 16, 17] {
            let mut got = vec![0u32; len];
            interleave(&lo[3..], Some(&hi[5..]), &mut got);
            assert_eq!(got, (0..len).map(|i| pair(lo[3 + i], hi[5 + i])).collect::<Vec<_>>(), "{len}");
        }
    }
}
