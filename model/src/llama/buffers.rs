//! The model on plain f32 CPU buffers: a training step's loss and gradients with the backward
//! pass written out, and evaluation's per-token losses.
//!
//! candle's autograd gives every graph node a gradient tensor and adds each contribution into a
//! freshly zeroed one: for `small` that is about 2 GB of memory traffic per step, on pages that
//! are new each time. Here the forward pass keeps what the backward pass needs in a
//! [`Workspace`] that lives from step to step, and the backward pass writes each parameter's
//! gradient once, into the caller's buffer. The kernels are the fused ops' own (`ops::slices`),
//! and a test holds the result to candle's autograd over the reference ops. Evaluation runs the
//! same forward pass through one layer's buffers, reused for every layer.

use candle_core::{Result, Storage, Tensor};

use super::Llama;
use crate::gemm::{sgemm, sgemm_bf16, MatRef, Precision};
use crate::ops::slices::{self, add_assign, Attention};
use crate::ops::AttnShape;

/// What one layer's backward pass reads from its forward pass.
#[derive(Default)]
struct LayerActivations {
    /// The layer's input (the residual stream).
    x: Vec<f32>,
    h1: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn: Vec<f32>,
    /// The residual stream after attention.
    x_mid: Vec<f32>,
    h2: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    act: Vec<f32>,
}

/// Activation and scratch buffers of one batch shape, reused across steps so that a step
/// allocates (and faults in) nothing new. Sized on first use; a new shape resizes them. It
/// also holds the precision of the products run through it ([`Workspace::new`]; f32 by default).
#[derive(Default)]
pub struct Workspace {
    precision: Precision,
    /// Rows, hidden, intermediate, vocabulary, query and kv widths, layers kept: what it is
    /// sized for.
    shape: [usize; 7],
    layers: Vec<LayerActivations>,
    x_final: Vec<f32>,
    normed: Vec<f32>,
    logits: Vec<f32>,
    dx: Vec<f32>,
    dh: Vec<f32>,
    tmp: Vec<f32>,
    d_inner: [Vec<f32>; 3],
    d_attn: [Vec<f32>; 4],
    /// A parameter gradient on its way into an accumulating buffer.
    dw: Vec<f32>,
}

fn sized(buf: &mut Vec<f32>, n: usize) {
    buf.clear();
    buf.resize(n, 0.0);
}

impl Workspace {
    /// A workspace whose products run at `precision` (which this CPU must support: see
    /// [`Precision::check_supported`]).
    pub fn new(precision: Precision) -> Self {
        Self { precision, ..Default::default() }
    }

    /// Sizes the buffers for `rows` tokens, keeping the activations of `kept` layers.
    fn fit(&mut self, m: &Llama, rows: usize, kept: usize) {
        let cfg = &m.cfg;
        let (c, i, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
        let (qw, kw) = (cfg.num_attention_heads * cfg.head_dim(), cfg.kv_heads() * cfg.head_dim());
        let shape = [rows, c, i, v, qw, kw, kept];
        if self.shape == shape {
            return;
        }
        self.layers.resize_with(kept, Default::default);
        for a in &mut self.layers {
            for (buf, width) in [
                (&mut a.x, c),
                (&mut a.h1, c),
                (&mut a.q, qw),
                (&mut a.k, kw),
                (&mut a.v, kw),
                (&mut a.attn, qw),
                (&mut a.x_mid, c),
                (&mut a.h2, c),
                (&mut a.gate, i),
                (&mut a.up, i),
                (&mut a.act, i),
            ] {
                sized(buf, rows * width);
            }
        }
        for buf in [&mut self.x_final, &mut self.normed, &mut self.dx, &mut self.dh, &mut self.tmp] {
            sized(buf, rows * c);
        }
        sized(&mut self.logits, rows * v);
        self.d_inner.iter_mut().for_each(|b| sized(b, rows * i));
        for (buf, width) in self.d_attn.iter_mut().zip([qw, qw, kw, kw]) {
            sized(buf, rows * width);
        }
        self.shape = shape;
    }
}

/// Parameter indices in `param_specs` order.
const PER_LAYER: usize = 9;
const IN_NORM: usize = 0;
const Q: usize = 1;
const K: usize = 2;
const V: usize = 3;
const O: usize = 4;
const POST_NORM: usize = 5;
const GATE: usize = 6;
const UP: usize = 7;
const DOWN: usize = 8;

/// Writes (or, with `accumulate`, adds) a parameter's gradient, computed by `f` into a buffer.
fn emit(
    grads: &mut [Vec<f32>],
    dw: &mut Vec<f32>,
    index: usize,
    accumulate: bool,
    f: impl FnOnce(&mut [f32]),
) {
    if accumulate {
        sized(dw, grads[index].len());
        f(dw);
        add_assign(&mut grads[index], dw);
    } else {
        f(&mut grads[index]);
    }
}

/// A product `dst[m, n] = a[m, k] @ b[k, n]` at the step's precision.
#[derive(Clone, Copy)]
struct Products {
    precision: Precision,
    threads: usize,
}

impl Products {
    fn run(self, m: usize, n: usize, k: usize, a: MatRef, b: MatRef, dst: &mut [f32]) {
        match self.precision {
            Precision::F32 => sgemm(m, n, k, a, b, dst, self.threads),
            Precision::Bf16 => sgemm_bf16(m, n, k, a, b, dst, self.threads),
        }
    }

    /// `y[n, out] = x[n, k] @ w[out, k]^T`.
    fn linear(self, y: &mut [f32], x: &[f32], w: &[f32], k: usize) {
        let (n, out) = (x.len() / k, w.len() / k);
        self.run(n, out, k, MatRef::rows(x, k), MatRef::transposed(w, k), y);
    }

    /// `dx[n, k] = dy[n, out] @ w[out, k]`.
    fn linear_dx(self, dx: &mut [f32], dy: &[f32], w: &[f32], k: usize) {
        let (n, out) = (dx.len() / k, w.len() / k);
        self.run(n, k, out, MatRef::rows(dy, out), MatRef::rows(w, k), dx);
    }

    /// `dw[out, k] = dy[n, out]^T @ x[n, k]`.
    fn linear_dw(self, dw: &mut [f32], dy: &[f32], x: &[f32], k: usize) {
        let (n, out) = (x.len() / k, dw.len() / k);
        self.run(out, k, n, MatRef::transposed(dy, out), MatRef::rows(x, k), dw);
    }
}

impl Llama {
    /// The parameters in `param_specs` order (the tied head appears once, as the embedding).
    fn param_tensors(&self) -> Vec<&Tensor> {
        let mut out = vec![&self.embed_tokens];
        for l in &self.layers {
            let (a, m) = (&l.self_attn, &l.mlp);
            out.extend([
                &l.input_layernorm,
                &a.q_proj,
                &a.k_proj,
                &a.v_proj,
                &a.o_proj,
                &l.post_attention_layernorm,
                &m.gate_proj,
                &m.up_proj,
                &m.down_proj,
            ]);
        }
        out.push(&self.norm);
        if !self.cfg.tie_word_embeddings {
            out.push(&self.lm_head);
        }
        out
    }

    /// Whether [`Llama::loss_and_gradients`] applies: fused kernels on f32 CPU weights.
    pub fn has_fused_gradients(&self) -> bool {
        self.kernels == crate::ops::Kernels::Fused && slices::fused(&self.embed_tokens)
    }

    /// Checks a batch and runs `f` with a view of the weights, the token ids and targets, and
    /// the batch's attention op, its products at `precision`.
    fn with_batch<R>(
        &self,
        precision: Precision,
        inputs: &Tensor,
        targets: &Tensor,
        f: impl FnOnce(&Step, &[u32], &[u32], &Attention) -> Result<R>,
    ) -> Result<R> {
        if !self.has_fused_gradients() {
            candle_core::bail!("the buffer path needs the fused kernels on f32 CPU weights");
        }
        precision.check_supported().map_err(candle_core::Error::wrap)?;
        if inputs.dims() != targets.dims() {
            candle_core::bail!("inputs {:?} and targets {:?} differ", inputs.dims(), targets.dims());
        }
        let (b, t, ids) = self.checked_ids(inputs)?;
        let ids = ids.to_vec1::<u32>()?;
        let targets = targets.flatten_all()?.to_vec1::<u32>()?;
        let tensors = self.param_tensors();
        let guards: Vec<_> = tensors.iter().map(|t| t.storage_and_layout()).collect();
        let weights = guards
            .iter()
            .map(|(s, l)| match &**s {
                Storage::Cpu(cpu) => slices::f32_slice(cpu, l),
                _ => candle_core::bail!("the buffer path needs CPU weights"),
            })
            .collect::<Result<Vec<&[f32]>>>()?;
        let mm = Products { precision, threads: candle_core::utils::get_num_threads() };
        let step = Step { m: self, weights: &weights, mm };
        let attn = Attention::new(
            AttnShape { b, t, heads: self.cfg.num_attention_heads, kv_heads: self.cfg.kv_heads() },
            &self.rope,
        )?;
        f(&step, &ids, &targets, &attn)
    }

    /// The mean loss of `inputs` predicting `targets` (`[b, t]` u32), and `scale` times its
    /// gradient written into `grads` (one buffer per parameter in `param_specs` order, added
    /// to with `accumulate`, overwritten without). The same values as `loss(..).backward()`,
    /// in a fixed order of its own, so bitwise reproducible for a fixed kernel and thread count.
    /// The products run at the workspace's precision.
    pub fn loss_and_gradients(
        &self,
        ws: &mut Workspace,
        inputs: &Tensor,
        targets: &Tensor,
        scale: f32,
        grads: &mut [Vec<f32>],
        accumulate: bool,
    ) -> Result<f32> {
        let tensors = self.param_tensors();
        if grads.len() != tensors.len() || grads.iter().zip(&tensors).any(|(g, t)| g.len() != t.elem_count())
        {
            candle_core::bail!("loss_and_gradients: gradient buffers do not match the parameters");
        }
        self.with_batch(ws.precision, inputs, targets, |step, ids, targets, attn| {
            ws.fit(self, ids.len(), self.layers.len());
            step.forward(ws, ids, attn);
            let loss = slices::loss_and_grad_in_place(&mut ws.logits, self.cfg.vocab_size, targets, scale)?;
            step.backward(ws, ids, attn, grads, accumulate);
            Ok(loss)
        })
    }

    /// The cross-entropy of every token of `inputs` predicting `targets` (`[b, t]` u32), in
    /// row-major order: evaluation, through one layer's buffers in `ws`.
    pub fn token_losses(&self, ws: &mut Workspace, inputs: &Tensor, targets: &Tensor) -> Result<Vec<f32>> {
        self.with_batch(ws.precision, inputs, targets, |step, ids, targets, attn| {
            ws.fit(self, ids.len(), self.layers.len().min(1));
            step.forward_only(ws, ids, attn);
            slices::token_losses(&ws.logits, self.cfg.vocab_size, targets)
        })
    }
}

/// One step's view of the weights.
struct Step<'a> {
    m: &'a Llama,
    weights: &'a [&'a [f32]],
    mm: Products,
}

impl Step<'_> {
    fn layer(&self, l: usize, j: usize) -> &[f32] {
        self.weights[1 + l * PER_LAYER + j]
    }

    fn norm_index(&self) -> usize {
        1 + self.m.layers.len() * PER_LAYER
    }

    /// The tied head is the embedding.
    fn head_index(&self) -> usize {
        if self.m.cfg.tie_word_embeddings {
            0
        } else {
            self.norm_index() + 1
        }
    }

    /// The embedding rows of `ids` into the first layer's input.
    fn embed(&self, ws: &mut Workspace, ids: &[u32]) {
        let c = self.m.cfg.hidden_size;
        let embed = self.weights[0];
        let first = match ws.layers.first_mut() {
            Some(a) => &mut a.x,
            None => &mut ws.x_final,
        };
        for (row, &id) in first.chunks_mut(c).zip(ids) {
            row.copy_from_slice(&embed[id as usize * c..][..c]);
        }
    }

    /// Layer `l` from `a.x` into `out`, keeping its activations in `a`.
    fn layer_forward(&self, l: usize, a: &mut LayerActivations, out: &mut [f32], attn: &Attention) {
        let (c, eps, mm) = (self.m.cfg.hidden_size, self.m.cfg.rms_norm_eps as f32, self.mm);
        let (i, qw) = (self.m.cfg.intermediate_size, self.m.cfg.num_attention_heads * self.m.cfg.head_dim());
        slices::rms_norm(&mut a.h1, &a.x, self.layer(l, IN_NORM), eps);
        mm.linear(&mut a.q, &a.h1, self.layer(l, Q), c);
        mm.linear(&mut a.k, &a.h1, self.layer(l, K), c);
        mm.linear(&mut a.v, &a.h1, self.layer(l, V), c);
        attn.forward(&a.q, &a.k, &a.v, &mut a.attn);
        mm.linear(&mut a.x_mid, &a.attn, self.layer(l, O), qw);
        add_assign(&mut a.x_mid, &a.x);
        slices::rms_norm(&mut a.h2, &a.x_mid, self.layer(l, POST_NORM), eps);
        mm.linear(&mut a.gate, &a.h2, self.layer(l, GATE), c);
        mm.linear(&mut a.up, &a.h2, self.layer(l, UP), c);
        slices::swiglu(&mut a.act, &a.gate, &a.up);
        mm.linear(out, &a.act, self.layer(l, DOWN), i);
        add_assign(out, &a.x_mid);
    }

    /// The final norm and the logits, from `ws.x_final`.
    fn head(&self, ws: &mut Workspace) {
        let eps = self.m.cfg.rms_norm_eps as f32;
        slices::rms_norm(&mut ws.normed, &ws.x_final, self.weights[self.norm_index()], eps);
        let c = self.m.cfg.hidden_size;
        self.mm.linear(&mut ws.logits, &ws.normed, self.weights[self.head_index()], c);
    }

    /// The forward pass keeping every layer's activations, for the backward pass.
    fn forward(&self, ws: &mut Workspace, ids: &[u32], attn: &Attention) {
        self.embed(ws, ids);
        for l in 0..ws.layers.len() {
            let (done, rest) = ws.layers.split_at_mut(l + 1);
            let out = match rest.first_mut() {
                Some(next) => &mut next.x,
                None => &mut ws.x_final,
            };
            self.layer_forward(l, &mut done[l], out, attn);
        }
        self.head(ws);
    }

    /// The forward pass through one layer's buffers (`ws` keeps one layer).
    fn forward_only(&self, ws: &mut Workspace, ids: &[u32], attn: &Attention) {
        self.embed(ws, ids);
        let layers = self.m.layers.len();
        for l in 0..layers {
            let Workspace { layers: kept, x_final, .. } = ws;
            self.layer_forward(l, &mut kept[0], x_final, attn);
            if l + 1 < layers {
                std::mem::swap(&mut kept[0].x, x_final);
            }
        }
        self.head(ws);
    }

    /// `ws.logits` holds dL/dlogits on entry.
    fn backward(&self, ws: &mut Workspace, ids: &[u32], attn: &Attention, grads: &mut [Vec<f32>], acc: bool) {
        let (c, eps, mm) = (self.m.cfg.hidden_size, self.m.cfg.rms_norm_eps as f32, self.mm);
        let i = self.m.cfg.intermediate_size;
        let qw = self.m.cfg.num_attention_heads * self.m.cfg.head_dim();
        let Workspace { layers, x_final, normed, logits, dx, dh, tmp, d_inner, d_attn, dw, .. } = ws;
        let (head, norm) = (self.head_index(), self.norm_index());
        // The tied head's gradient is the first contribution to the embedding's.
        emit(grads, dw, head, acc, |g| mm.linear_dw(g, logits, normed, c));
        mm.linear_dx(dh, logits, self.weights[head], c);
        emit(grads, dw, norm, acc, |g| {
            slices::rms_norm_backward(dx, g, x_final, self.weights[norm], dh, eps)
        });
        for (l, a) in layers.iter().enumerate().rev() {
            let base = 1 + l * PER_LAYER;
            let [d_act, d_gate, d_up] = d_inner;
            // x_out = x_mid + act @ down^T
            emit(grads, dw, base + DOWN, acc, |g| mm.linear_dw(g, dx, &a.act, i));
            mm.linear_dx(d_act, dx, self.layer(l, DOWN), i);
            slices::swiglu_backward(d_gate, d_up, &a.gate, &a.up, d_act);
            emit(grads, dw, base + GATE, acc, |g| mm.linear_dw(g, d_gate, &a.h2, c));
            emit(grads, dw, base + UP, acc, |g| mm.linear_dw(g, d_up, &a.h2, c));
            mm.linear_dx(dh, d_gate, self.layer(l, GATE), c);
            mm.linear_dx(tmp, d_up, self.layer(l, UP), c);
            add_assign(dh, tmp);
            emit(grads, dw, base + POST_NORM, acc, |g| {
                slices::rms_norm_backward(tmp, g, &a.x_mid, self.layer(l, POST_NORM), dh, eps)
            });
            add_assign(dx, tmp);
            // x_mid = x + attn @ o^T
            let [d_out, dq, dk, dv] = d_attn;
            emit(grads, dw, base + O, acc, |g| mm.linear_dw(g, dx, &a.attn, qw));
            mm.linear_dx(d_out, dx, self.layer(l, O), qw);
            attn.backward(&a.q, &a.k, &a.v, d_out, dq, dk, dv);
            emit(grads, dw, base + Q, acc, |g| mm.linear_dw(g, dq, &a.h1, c));
            emit(grads, dw, base + K, acc, |g| mm.linear_dw(g, dk, &a.h1, c));
            emit(grads, dw, base + V, acc, |g| mm.linear_dw(g, dv, &a.h1, c));
            mm.linear_dx(dh, dq, self.layer(l, Q), c);
            mm.linear_dx(tmp, dk, self.layer(l, K), c);
            add_assign(dh, tmp);
            mm.linear_dx(tmp, dv, self.layer(l, V), c);
            add_assign(dh, tmp);
            emit(grads, dw, base + IN_NORM, acc, |g| {
                slices::rms_norm_backward(tmp, g, &a.x, self.layer(l, IN_NORM), dh, eps)
            });
            add_assign(dx, tmp);
        }
        // The embedding: rows added in token order. Untied and overwriting, it starts at zero;
        // tied, the head's gradient is already there.
        let embed = &mut grads[0];
        if !acc && !self.m.cfg.tie_word_embeddings {
            embed.fill(0.0);
        }
        for (row, &id) in dx.chunks(c).zip(ids) {
            add_assign(&mut embed[id as usize * c..][..c], row);
        }
    }
}
