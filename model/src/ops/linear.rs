//! `y = x @ w^T` for `x: [n, in]`, `w: [out, in]` (HF `nn.Linear`, no bias), as one graph node.
//!
//! candle's `x.matmul(&w.t())` records a transpose and a matmul; its backward produces a
//! transposed (strided) weight gradient that is copied again later. Here the backward writes
//! both gradients straight into their own layouts with one GEMM each:
//! `dx = dy @ w` and `dw = dy^T @ x`.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::{f32_slice, fused, with_f32};

/// A read-only matrix view: element `(i, j)` is at `data[i * rs + j * cs]`; one of the strides
/// must be 1 (row- or column-contiguous), as BLAS requires.
#[derive(Clone, Copy)]
pub(super) struct MatRef<'a> {
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
/// (1: on the calling thread, for use inside parallel tasks).
pub(super) fn sgemm(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, dst: &mut [f32], threads: usize) {
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
    backend::sgemm(m, n, k, a, b, dst, threads);
}

/// OpenBLAS (Debian's `libopenblas-dev`): its AVX-512 kernels run about 1.5x faster than the
/// `gemm` crate here. OpenBLAS itself stays single-threaded (see [`init_blas`]); parallelism
/// comes from splitting the output rows over rayon, so only one thread pool ever spins and each
/// output row is computed by exactly one call.
#[cfg(feature = "openblas")]
mod backend {
    use rayon::prelude::*;
    use std::os::raw::c_int;

    use super::MatRef;

    const ROW_MAJOR: c_int = 101;
    const NO_TRANS: c_int = 111;
    const TRANS: c_int = 112;

    #[link(name = "openblas")]
    extern "C" {
        #[allow(clippy::too_many_arguments)]
        fn cblas_sgemm(
            order: c_int,
            trans_a: c_int,
            trans_b: c_int,
            m: c_int,
            n: c_int,
            k: c_int,
            alpha: f32,
            a: *const f32,
            lda: c_int,
            b: *const f32,
            ldb: c_int,
            beta: f32,
            c: *mut f32,
            ldc: c_int,
        );
        fn openblas_set_num_threads(n: c_int);
    }

    pub fn init() {
        // SAFETY: plain setter of OpenBLAS's global thread count.
        unsafe { openblas_set_num_threads(1) }
    }

    /// (transpose flag, leading dimension) of an operand with `cols` columns.
    fn layout(x: MatRef, cols: usize) -> (c_int, c_int) {
        if x.cs == 1 {
            (NO_TRANS, x.rs.max(cols).max(1) as c_int)
        } else {
            (TRANS, x.cs as c_int)
        }
    }

    pub fn sgemm(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, dst: &mut [f32], threads: usize) {
        let (ta, lda) = layout(a, k);
        let (tb, ldb) = layout(b, n);
        let call = |row0: usize, rows: usize, out: &mut [f32]| {
            // SAFETY: `super::sgemm` checked that every element the (m, n, k) problem touches
            // lies inside `a`, `b` and `dst`; a row block [row0, row0 + rows) only narrows `a`
            // and `dst`, and `out` is that block of `dst`, disjoint between blocks.
            unsafe {
                let a_ptr = a.data.as_ptr().add(row0 * a.rs);
                let (rows, n, k) = (rows as c_int, n as c_int, k as c_int);
                cblas_sgemm(
                    ROW_MAJOR,
                    ta,
                    tb,
                    rows,
                    n,
                    k,
                    1.0,
                    a_ptr,
                    lda,
                    b.data.as_ptr(),
                    ldb,
                    0.0,
                    out.as_mut_ptr(),
                    n,
                )
            }
        };
        // Blocks of at least 64 rows; small problems run on the calling thread.
        let blocks = threads.min(m / 64).max(1);
        if blocks == 1 {
            return call(0, m, dst);
        }
        let per = m.div_ceil(blocks);
        dst.par_chunks_mut(per * n).enumerate().for_each(|(i, out)| call(i * per, out.len() / n, out));
    }
}

/// The pure-Rust `gemm` crate (what candle uses), when built without `openblas`.
#[cfg(not(feature = "openblas"))]
mod backend {
    use super::MatRef;

    pub fn init() {}

    pub fn sgemm(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, dst: &mut [f32], threads: usize) {
        let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
        let (a_cs, a_rs, b_cs, b_rs) = (a.cs as isize, a.rs as isize, b.cs as isize, b.rs as isize);
        // SAFETY: `super::sgemm` checked that every index the kernel forms is inside the slices;
        // `dst` is a fresh &mut and does not alias the inputs.
        unsafe {
            let (ap, bp, dp) = (a.data.as_ptr(), b.data.as_ptr(), dst.as_mut_ptr());
            gemm::gemm(
                m, n, k, dp, 1, n as isize, false, ap, a_cs, a_rs, bp, b_cs, b_rs, 0.0, 1.0, false, false,
                false, par,
            )
        }
    }
}

/// Prepares the GEMM backend; called by [`crate::init_threads`].
pub fn init_blas() {
    backend::init();
}

struct Linear;

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        "fused-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        let (&[n, k], &[out, k2]) = (l1.dims(), l2.dims()) else {
            candle_core::bail!("linear: x {:?} and w {:?} must be 2-D", l1.dims(), l2.dims())
        };
        if k != k2 {
            candle_core::bail!("linear: x {:?} does not match w {:?}", l1.dims(), l2.dims());
        }
        let mut y = vec![0f32; n * out];
        let threads = candle_core::utils::get_num_threads();
        sgemm(n, out, k, MatRef::rows(x, k), MatRef::transposed(w, k), &mut y, threads);
        Ok((CpuStorage::F32(y), Shape::from((n, out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, k) = x.dims2()?;
        let (out, _) = w.dims2()?;
        let (gx, gw) = with_f32(x, |x| {
            with_f32(w, |w| {
                with_f32(g, |g| {
                    let threads = candle_core::utils::get_num_threads();
                    let mut gx = vec![0f32; n * k];
                    sgemm(n, k, out, MatRef::rows(g, out), MatRef::rows(w, k), &mut gx, threads);
                    let mut gw = vec![0f32; out * k];
                    sgemm(out, k, n, MatRef::transposed(g, out), MatRef::rows(x, k), &mut gw, threads);
                    Ok((gx, gw))
                })
            })
        })?;
        Ok((
            Some(Tensor::from_vec(gx, (n, k), x.device())?),
            Some(Tensor::from_vec(gw, (out, k), w.device())?),
        ))
    }
}

/// `x @ w^T` for `x: [n, in]`, `w: [out, in]`.
pub fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    if fused(x) {
        x.contiguous()?.apply_op2(&w.contiguous()?, Linear)
    } else {
        reference(x, w)
    }
}

pub fn reference(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    x.matmul(&w.t()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::*;

    #[test]
    fn matches_reference_forward_and_backward() {
        let (x, w) = (randn("x", &[37, 19]), randn("w", &[23, 19]));
        assert_matches_reference(&[&x, &w], |t| linear(t[0], t[1]), |t| reference(t[0], t[1]), 1e-4, 1e-4);
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let x = randn("x", &[4, 5]);
        let w = randn("w", &[3, 6]);
        assert!(linear(x.as_tensor(), w.as_tensor()).is_err());
    }
}
