//! Causal grouped-query self-attention with rotary embeddings as one graph node.
//!
//! Input: the q/k/v projections `[b*t, h*d]`, `[b*t, kv*d]`, `[b*t, kv*d]`; output `[b*t, h*d]`
//! ready for `o_proj`. Work is split into `b * kv` independent tasks (one kv head and its query
//! group); each task ropes its heads, computes `P = causal_softmax(scale * Q K^T)` and `P V`.
//! The backward pass recomputes `P` (flash-attention style) instead of storing it, and runs
//! the same tasks, so no reduction depends on the thread count.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::simd;
use super::softmax::{softmax_row, softmax_row_backward};
use super::{f32_slice, with_f32, RopeTables};
use crate::gemm::{sgemm, MatRef};

pub(crate) struct Attention {
    shape: AttnShape,
    tables: RopeTables,
}

/// Copies head columns `[col, col + d)` of rows `bi*t .. bi*t + t` of a `[b*t, width]` matrix.
fn gather(src: &[f32], width: usize, bi: usize, t: usize, col: usize, d: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(t * d);
    for r in 0..t {
        out.extend_from_slice(&src[(bi * t + r) * width + col..][..d]);
    }
    out
}

/// The inverse of [`gather`].
fn scatter(dst: &mut [f32], width: usize, bi: usize, t: usize, col: usize, d: usize, head: &[f32]) {
    for r in 0..t {
        dst[(bi * t + r) * width + col..][..d].copy_from_slice(&head[r * d..][..d]);
    }
}

impl Attention {
    fn dims(&self) -> (usize, usize, usize) {
        let d = self.tables.head_dim();
        (d, self.shape.heads * d, self.shape.kv_heads * d)
    }

    fn scale(&self) -> f32 {
        1.0 / (self.tables.head_dim() as f32).sqrt()
    }

    fn tasks(&self) -> Vec<(usize, usize)> {
        (0..self.shape.b).flat_map(|bi| (0..self.shape.kv_heads).map(move |j| (bi, j))).collect()
    }

    fn roped(&self, src: &[f32], width: usize, bi: usize, col: usize) -> Vec<f32> {
        let d = self.tables.head_dim();
        let mut x = gather(src, width, bi, self.shape.t, col, d);
        self.tables.rotate_head(&mut x, self.shape.t, 1.0);
        x
    }

    /// `P = causal_softmax(scale * q k^T)`, `[t, t]`, zeros above the diagonal.
    fn probs(&self, q: &[f32], k: &[f32]) -> Vec<f32> {
        let (t, d) = (self.shape.t, self.tables.head_dim());
        let mut p = vec![0f32; t * t];
        sgemm(t, t, d, MatRef::rows(q, d), MatRef::transposed(k, d), &mut p, 1);
        let scale = self.scale();
        for (i, row) in p.chunks_mut(t).enumerate() {
            softmax_row(row, i + 1, scale);
        }
        p
    }

    /// `causal_softmax(scale * q k^T) v` for one head, `[t, d]`, a block of query rows at a
    /// time against only the keys up to the block's last row: the causal half of `Q K^T` and
    /// `P V`, where [`Attention::probs`] and one product over all keys do the whole square
    /// (half of it zeros). Each score is the same sum over `d`, each row's softmax reads only
    /// its live keys, and the products over the keys it skips would only add zeros.
    fn head_output(&self, q: &[f32], k: &[f32], v: &[f32]) -> Vec<f32> {
        /// Query rows per block: the diagonal blocks' upper halves are the only waste.
        const BLOCK: usize = 32;
        let (t, d, scale) = (self.shape.t, self.tables.head_dim(), self.scale());
        let mut o = vec![0f32; t * d];
        let mut p = vec![0f32; BLOCK.min(t) * t];
        for i0 in (0..t).step_by(BLOCK) {
            let rows = BLOCK.min(t - i0);
            let keys = i0 + rows;
            let p = &mut p[..rows * keys];
            let (qb, kb, vb) = (&q[i0 * d..][..rows * d], &k[..keys * d], &v[..keys * d]);
            sgemm(rows, keys, d, MatRef::rows(qb, d), MatRef::transposed(kb, d), p, 1);
            for (r, row) in p.chunks_mut(keys).enumerate() {
                softmax_row(row, i0 + r + 1, scale);
            }
            sgemm(rows, d, keys, MatRef::rows(p, keys), MatRef::rows(vb, d), &mut o[i0 * d..][..rows * d], 1);
        }
        o
    }

    fn check(&self, q: &Layout, k: &Layout, v: &Layout) -> Result<()> {
        let (_, qw, kw) = self.dims();
        let rows = self.shape.b * self.shape.t;
        if q.dims() != [rows, qw] || k.dims() != [rows, kw] || v.dims() != [rows, kw] {
            candle_core::bail!(
                "attention: q {:?} k {:?} v {:?} for b={} t={}",
                q.dims(),
                k.dims(),
                v.dims(),
                self.shape.b,
                self.shape.t
            );
        }
        if self.shape.t > self.tables.max_positions() {
            candle_core::bail!("attention: {} positions exceed the rope table", self.shape.t);
        }
        Ok(())
    }
}

/// Gradients of one task: its query heads `[t, d]` each, and its kv head.
struct TaskGrads {
    q_heads: Vec<Vec<f32>>,
    k: Vec<f32>,
    v: Vec<f32>,
}

impl Attention {
    /// Backward of kv head `j` of batch row `bi` and its query group; `go_all` is `dL/dout`.
    fn backward_task(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        go_all: &[f32],
        bi: usize,
        j: usize,
    ) -> TaskGrads {
        let (d, qw, kw) = self.dims();
        let (t, group, scale) = (self.shape.t, self.shape.heads / self.shape.kv_heads, self.scale());
        let kr = self.roped(k, kw, bi, j * d);
        let vh = gather(v, kw, bi, t, j * d, d);
        let (mut gkr, mut gvh) = (vec![0f32; t * d], vec![0f32; t * d]);
        let mut tmp = vec![0f32; t * d];
        let mut q_heads = Vec::with_capacity(group);
        for g in 0..group {
            let col = (j * group + g) * d;
            let qr = self.roped(q, qw, bi, col);
            let p = self.probs(&qr, &kr);
            let go = gather(go_all, qw, bi, t, col, d);
            // dV += P^T dO
            sgemm(t, d, t, MatRef::transposed(&p, t), MatRef::rows(&go, d), &mut tmp, 1);
            simd::add_assign(&mut gvh, &tmp);
            // dP = dO V^T, then dS = scale * P (dP - rowsum(dP * P)); zero above the diagonal.
            let mut ds = vec![0f32; t * t];
            sgemm(t, t, d, MatRef::rows(&go, d), MatRef::transposed(&vh, d), &mut ds, 1);
            for (i, (dr, pr)) in ds.chunks_mut(t).zip(p.chunks(t)).enumerate() {
                softmax_row_backward(dr, pr, i + 1, scale);
            }
            // dQr = dS Kr; dKr += dS^T Qr; then undo the rotation.
            let mut gq = vec![0f32; t * d];
            sgemm(t, d, t, MatRef::rows(&ds, t), MatRef::rows(&kr, d), &mut gq, 1);
            self.tables.rotate_head(&mut gq, t, -1.0);
            q_heads.push(gq);
            sgemm(t, d, t, MatRef::transposed(&ds, t), MatRef::rows(&qr, d), &mut tmp, 1);
            simd::add_assign(&mut gkr, &tmp);
        }
        self.tables.rotate_head(&mut gkr, t, -1.0);
        TaskGrads { q_heads, k: gkr, v: gvh }
    }
}

impl Attention {
    /// The op for one call shape; errors if the heads do not group or the rope table is short.
    pub(crate) fn new(shape: AttnShape, tables: &RopeTables) -> Result<Self> {
        check_groups(shape)?;
        if shape.t > tables.max_positions() {
            candle_core::bail!("attention: {} positions exceed the rope table", shape.t);
        }
        Ok(Self { shape, tables: tables.clone() })
    }

    /// Overwrites `out` (`[b*t, h*d]`) with the attention of `q`, `k`, `v`.
    pub(crate) fn forward(&self, q: &[f32], k: &[f32], v: &[f32], out: &mut [f32]) {
        let (d, qw, kw) = self.dims();
        let (t, group) = (self.shape.t, self.shape.heads / self.shape.kv_heads);
        let tasks = self.tasks();
        let outs: Vec<Vec<Vec<f32>>> = tasks
            .par_iter()
            .map(|&(bi, j)| {
                let kr = self.roped(k, kw, bi, j * d);
                let vh = gather(v, kw, bi, t, j * d, d);
                (0..group)
                    .map(|g| {
                        let qr = self.roped(q, qw, bi, (j * group + g) * d);
                        self.head_output(&qr, &kr, &vh)
                    })
                    .collect()
            })
            .collect();
        for (&(bi, j), heads) in tasks.iter().zip(&outs) {
            for (g, o) in heads.iter().enumerate() {
                scatter(out, qw, bi, t, (j * group + g) * d, d, o);
            }
        }
    }

    /// Overwrites `gq`, `gk`, `gv` with the gradients of the inputs, given dL/dout `go`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        go: &[f32],
        gq: &mut [f32],
        gk: &mut [f32],
        gv: &mut [f32],
    ) {
        let (d, qw, kw) = self.dims();
        let (t, group) = (self.shape.t, self.shape.heads / self.shape.kv_heads);
        let tasks = self.tasks();
        let per_task: Vec<TaskGrads> =
            tasks.par_iter().map(|&(bi, j)| self.backward_task(q, k, v, go, bi, j)).collect();
        for (&(bi, j), tg) in tasks.iter().zip(&per_task) {
            for (g, x) in tg.q_heads.iter().enumerate() {
                scatter(gq, qw, bi, t, (j * group + g) * d, d, x);
            }
            scatter(gk, kw, bi, t, j * d, d, &tg.k);
            scatter(gv, kw, bi, t, j * d, d, &tg.v);
        }
    }
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "fused-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.check(l1, l2, l3)?;
        let (q, k, v) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        let (rows, qw) = (self.shape.b * self.shape.t, self.shape.heads * self.tables.head_dim());
        let mut out = vec![0f32; rows * qw];
        self.forward(q, k, v, &mut out);
        Ok((CpuStorage::F32(out), Shape::from((rows, qw))))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (gq, gk, gv) = with_f32(q, |q| {
            with_f32(k, |k| {
                with_f32(v, |v| {
                    with_f32(grad, |go| {
                        let (mut gq, mut gk, mut gv) =
                            (vec![0f32; q.len()], vec![0f32; k.len()], vec![0f32; v.len()]);
                        self.backward(q, k, v, go, &mut gq, &mut gk, &mut gv);
                        Ok((gq, gk, gv))
                    })
                })
            })
        })?;
        let dev = q.device();
        Ok((
            Some(Tensor::from_vec(gq, q.shape(), dev)?),
            Some(Tensor::from_vec(gk, k.shape(), dev)?),
            Some(Tensor::from_vec(gv, v.shape(), dev)?),
        ))
    }
}

/// The shape of one attention call: batch, sequence length, query heads and kv heads.
#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    pub b: usize,
    pub t: usize,
    pub heads: usize,
    pub kv_heads: usize,
}

/// Causal GQA attention with rotary embeddings on the projections `q: [b*t, h*d]`,
/// `k, v: [b*t, kv*d]`; returns `[b*t, h*d]`. Query head `j * group + g` reads kv head `j`
/// (HF `repeat_kv`).
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    shape: AttnShape,
    tables: &RopeTables,
) -> Result<Tensor> {
    if super::fused(q) {
        let op = Attention::new(shape, tables)?;
        q.contiguous()?.apply_op3(&k.contiguous()?, &v.contiguous()?, op)
    } else {
        reference(q, k, v, shape, tables)
    }
}

fn check_groups(AttnShape { heads, kv_heads, .. }: AttnShape) -> Result<()> {
    if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 {
        candle_core::bail!("attention: {heads} heads do not group over {kv_heads} kv heads");
    }
    Ok(())
}

/// The same attention composed from differentiable candle ops.
pub fn reference(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    shape: AttnShape,
    tables: &RopeTables,
) -> Result<Tensor> {
    check_groups(shape)?;
    let AttnShape { b, t, heads, kv_heads } = shape;
    let d = tables.head_dim();
    let group = heads / kv_heads;
    let q = super::rope::reference(&q.reshape((b, t, heads, d))?, tables)?;
    let k = super::rope::reference(&k.reshape((b, t, kv_heads, d))?, tables)?;
    let v = v.reshape((b, t, kv_heads, d))?;
    // Stacking a kv head's query group along the time axis lets one matmul serve the group.
    let q = q.transpose(1, 2)?.contiguous()?.reshape((b, kv_heads, group * t, d))?;
    let k = k.transpose(1, 2)?.contiguous()?;
    let v = v.transpose(1, 2)?.contiguous()?;
    let scores = q.matmul(&k.t()?)?.reshape((b, heads, t, t))?;
    let probs = super::softmax::reference(&scores, 1.0 / (d as f64).sqrt())?;
    let out = probs.reshape((b, kv_heads, group * t, t))?.matmul(&v)?;
    out.reshape((b, heads, t, d))?.transpose(1, 2)?.contiguous()?.reshape((b * t, heads * d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::*;

    #[test]
    fn matches_reference_forward_and_backward() {
        // t spans two causal blocks of the forward pass.
        let (b, t, h, kv, d) = (2, 41, 4, 2, 8);
        let shape = AttnShape { b, t, heads: h, kv_heads: kv };
        let tables = RopeTables::new(d, 64, 10_000.0);
        let (q, k, v) =
            (randn("q", &[b * t, h * d]), randn("k", &[b * t, kv * d]), randn("v", &[b * t, kv * d]));
        assert_matches_reference(
            &[&q, &k, &v],
            |x| attention(x[0], x[1], x[2], shape, &tables),
            |x| reference(x[0], x[1], x[2], shape, &tables),
            1e-5,
            1e-4,
        );
    }

    /// The causal blocks give the whole square's result, `P` over all keys then `P V`, to
    /// rounding: the products' sums run over fewer keys, so the kernel may split them differently.
    #[test]
    fn causal_blocks_match_the_whole_square() {
        for (t, d) in [(9, 8), (33, 32), (100, 64), (256, 32), (256, 64)] {
            let shape = AttnShape { b: 1, t, heads: 1, kv_heads: 1 };
            let op = Attention::new(shape, &RopeTables::new(d, 256, 10_000.0)).unwrap();
            let (q, k, v) = (normal("q", t * d), normal("k", t * d), normal("v", t * d));
            let p = op.probs(&q, &k);
            let mut want = vec![0f32; t * d];
            sgemm(t, d, t, MatRef::rows(&p, t), MatRef::rows(&v, d), &mut want, 1);
            let got = op.head_output(&q, &k, &v);
            let diff = max_abs_diff_of(&got, &want);
            assert!(diff < 2e-5, "t={t} d={d}: the causal blocks differ by {diff}");
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let tables = RopeTables::new(8, 16, 10_000.0);
        let q = randn("q", &[18, 32]);
        let k = randn("k", &[18, 16]);
        assert!(attention(
            q.as_tensor(),
            k.as_tensor(),
            k.as_tensor(),
            AttnShape { b: 2, t: 9, heads: 4, kv_heads: 3 },
            &tables
        )
        .is_err());
        assert!(attention(
            q.as_tensor(),
            k.as_tensor(),
            k.as_tensor(),
            AttnShape { b: 3, t: 9, heads: 4, kv_heads: 2 },
            &tables
        )
        .is_err());
    }
}
