//! LLaMA decoder (HF `LlamaForCausalLM`): token embedding, RMSNorm, rotary embeddings, causal
//! grouped-query attention, SwiGLU MLP, optional tied embeddings. Tensor names follow HF
//! checkpoints (`model.layers.N.self_attn.q_proj.weight`, ...) through `VarBuilder` prefixes.

use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;

use crate::config::LlamaConfig;
use crate::ops::{AttnShape, Kernels, RopeTables};

mod buffers;

pub use buffers::Workspace;

#[derive(Clone)]
struct Attention {
    q_proj: Tensor,
    k_proj: Tensor,
    v_proj: Tensor,
    o_proj: Tensor,
    heads: usize,
    kv_heads: usize,
}

impl Attention {
    fn load(vb: VarBuilder, cfg: &LlamaConfig) -> Result<Self> {
        let (c, d) = (cfg.hidden_size, cfg.head_dim());
        let (h, kv) = (cfg.num_attention_heads, cfg.kv_heads());
        Ok(Self {
            q_proj: vb.pp("q_proj").get((h * d, c), "weight")?,
            k_proj: vb.pp("k_proj").get((kv * d, c), "weight")?,
            v_proj: vb.pp("v_proj").get((kv * d, c), "weight")?,
            o_proj: vb.pp("o_proj").get((c, h * d), "weight")?,
            heads: h,
            kv_heads: kv,
        })
    }

    /// `x: [b*t, c]` -> `[b*t, c]`.
    fn forward(&self, ops: Kernels, x: &Tensor, b: usize, t: usize, rope: &RopeTables) -> Result<Tensor> {
        let q = ops.linear(x, &self.q_proj)?;
        let k = ops.linear(x, &self.k_proj)?;
        let v = ops.linear(x, &self.v_proj)?;
        let shape = AttnShape { b, t, heads: self.heads, kv_heads: self.kv_heads };
        let out = ops.attention(&q, &k, &v, shape, rope)?;
        ops.linear(&out, &self.o_proj)
    }
}

#[derive(Clone)]
struct Mlp {
    gate_proj: Tensor,
    up_proj: Tensor,
    down_proj: Tensor,
}

impl Mlp {
    fn load(vb: VarBuilder, cfg: &LlamaConfig) -> Result<Self> {
        let (c, i) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Self {
            gate_proj: vb.pp("gate_proj").get((i, c), "weight")?,
            up_proj: vb.pp("up_proj").get((i, c), "weight")?,
            down_proj: vb.pp("down_proj").get((c, i), "weight")?,
        })
    }

    fn forward(&self, ops: Kernels, x: &Tensor) -> Result<Tensor> {
        let act = ops.swiglu(&ops.linear(x, &self.gate_proj)?, &ops.linear(x, &self.up_proj)?)?;
        ops.linear(&act, &self.down_proj)
    }
}

#[derive(Clone)]
struct Block {
    input_layernorm: Tensor,
    self_attn: Attention,
    post_attention_layernorm: Tensor,
    mlp: Mlp,
}

impl Block {
    fn load(vb: VarBuilder, cfg: &LlamaConfig) -> Result<Self> {
        let c = cfg.hidden_size;
        Ok(Self {
            input_layernorm: vb.pp("input_layernorm").get(c, "weight")?,
            self_attn: Attention::load(vb.pp("self_attn"), cfg)?,
            post_attention_layernorm: vb.pp("post_attention_layernorm").get(c, "weight")?,
            mlp: Mlp::load(vb.pp("mlp"), cfg)?,
        })
    }
}

/// The model. Holds the parameter tensors it was loaded with, so gradients of its outputs
/// reach the `Var`s behind the `VarBuilder`. Cloning shares the tensors.
#[derive(Clone)]
pub struct Llama {
    embed_tokens: Tensor,
    layers: Vec<Block>,
    norm: Tensor,
    lm_head: Tensor,
    rope: RopeTables,
    cfg: LlamaConfig,
    kernels: Kernels,
}

impl Llama {
    /// Builds the model from `vb` (the root: names start with `model.` and `lm_head.`).
    pub fn load(vb: VarBuilder, cfg: &LlamaConfig) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::wrap)?;
        let m = vb.pp("model");
        let embed_tokens = m.pp("embed_tokens").get((cfg.vocab_size, cfg.hidden_size), "weight")?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|l| Block::load(m.pp("layers").pp(l), cfg))
            .collect::<Result<Vec<_>>>()?;
        let norm = m.pp("norm").get(cfg.hidden_size, "weight")?;
        let lm_head = if cfg.tie_word_embeddings {
            embed_tokens.clone()
        } else {
            vb.pp("lm_head").get((cfg.vocab_size, cfg.hidden_size), "weight")?
        };
        let rope = RopeTables::new(cfg.head_dim(), cfg.max_position_embeddings, cfg.rope_theta);
        Ok(Self { embed_tokens, layers, norm, lm_head, rope, cfg: cfg.clone(), kernels: Kernels::default() })
    }

    /// The same model running `kernels` (the default is [`Kernels::Fused`]).
    pub fn with_kernels(mut self, kernels: Kernels) -> Self {
        self.kernels = kernels;
        self
    }

    /// The ops this model runs.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    /// Logits `[b, t, vocab]` for token ids `[b, t]` (u32).
    pub fn forward(&self, tokens: &Tensor) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        self.logits_2d(tokens)?.reshape((b, t, self.cfg.vocab_size))
    }

    /// Logits `[b*t, vocab]`.
    /// `(b, t)` and the flattened ids of a `[b, t]` u32 batch, checked against the sequence
    /// limit and the vocabulary.
    fn checked_ids(&self, tokens: &Tensor) -> Result<(usize, usize, Tensor)> {
        let (b, t) = tokens.dims2()?;
        if tokens.dtype() != DType::U32 {
            candle_core::bail!("tokens must be u32, got {:?}", tokens.dtype());
        }
        if t == 0 || t > self.rope.max_positions() {
            candle_core::bail!("sequence length {t} is outside 1..={}", self.rope.max_positions());
        }
        let ids = tokens.flatten_all()?;
        let max_id = ids.max(0)?.to_scalar::<u32>()?;
        if max_id as usize >= self.cfg.vocab_size {
            candle_core::bail!("token id {max_id} is outside the vocabulary of {}", self.cfg.vocab_size);
        }
        Ok((b, t, ids))
    }

    fn logits_2d(&self, tokens: &Tensor) -> Result<Tensor> {
        let (b, t, ids) = self.checked_ids(tokens)?;
        let (eps, ops) = (self.cfg.rms_norm_eps, self.kernels);
        let mut x = self.embed_tokens.index_select(&ids, 0)?;
        for layer in &self.layers {
            let h = ops.rms_norm(&x, &layer.input_layernorm, eps)?;
            x = (x + layer.self_attn.forward(ops, &h, b, t, &self.rope)?)?;
            let h = ops.rms_norm(&x, &layer.post_attention_layernorm, eps)?;
            x = (x + layer.mlp.forward(ops, &h)?)?;
        }
        let x = ops.rms_norm(&x, &self.norm, eps)?;
        ops.linear(&x, &self.lm_head)
    }

    /// Mean next-token cross-entropy of `inputs` predicting `targets` (both `[b, t]`).
    pub fn loss(&self, inputs: &Tensor, targets: &Tensor) -> Result<Tensor> {
        if inputs.dims() != targets.dims() {
            candle_core::bail!("inputs {:?} and targets {:?} differ", inputs.dims(), targets.dims());
        }
        self.kernels.cross_entropy(&self.logits_2d(inputs)?, &targets.flatten_all()?)
    }
}
