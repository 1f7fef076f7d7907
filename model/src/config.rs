//! Model configuration that reads and writes Hugging Face `config.json` (`LlamaForCausalLM`).

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::error::{ModelError, Result};

/// Largest `config.json` we agree to parse.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

fn default_architectures() -> Vec<String> {
    vec!["LlamaForCausalLM".to_string()]
}
fn default_model_type() -> String {
    "llama".to_string()
}
fn default_hidden_act() -> String {
    "silu".to_string()
}
fn default_dtype() -> String {
    "float32".to_string()
}
fn default_rope_theta() -> f64 {
    10_000.0
}
fn default_init_range() -> f64 {
    0.02
}

/// The fields of HF's `LlamaConfig` that this implementation uses, plus the ones transformers
/// needs to load the checkpoint. Unknown fields in a config file are ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    #[serde(default = "default_architectures")]
    pub architectures: Vec<String>,
    #[serde(default = "default_model_type")]
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default)]
    pub head_dim: Option<usize>,
    pub max_position_embeddings: usize,
    pub rms_norm_eps: f64,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    #[serde(default = "default_dtype")]
    pub torch_dtype: String,
}

/// HF's `LlamaConfig()` with no arguments: the LLaMA-7B shape. The presets override it.
impl Default for LlamaConfig {
    fn default() -> Self {
        Self {
            architectures: default_architectures(),
            model_type: default_model_type(),
            vocab_size: 32_000,
            hidden_size: 4096,
            intermediate_size: 11_008,
            num_hidden_layers: 32,
            num_attention_heads: 32,
            num_key_value_heads: None,
            head_dim: None,
            max_position_embeddings: 2048,
            rms_norm_eps: 1e-6,
            rope_theta: default_rope_theta(),
            tie_word_embeddings: false,
            hidden_act: default_hidden_act(),
            attention_bias: false,
            mlp_bias: false,
            initializer_range: default_init_range(),
            bos_token_id: Some(1),
            eos_token_id: Some(2),
            torch_dtype: default_dtype(),
        }
    }
}

impl LlamaConfig {
    /// About 1M parameters: unit tests and CI.
    pub fn tiny() -> Self {
        Self {
            vocab_size: 4096,
            hidden_size: 128,
            intermediate_size: 352,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: Some(2),
            head_dim: Some(32),
            max_position_embeddings: 256,
            ..Self::preset_defaults()
        }
    }

    /// About 11M parameters: the localnet on CPU.
    pub fn small() -> Self {
        Self {
            vocab_size: 4096,
            hidden_size: 384,
            intermediate_size: 1024,
            num_hidden_layers: 6,
            num_attention_heads: 6,
            num_key_value_heads: Some(2),
            head_dim: Some(64),
            max_position_embeddings: 512,
            ..Self::preset_defaults()
        }
    }

    /// About 124M parameters (GPT-2-small scale), for a GPU or a patient CPU.
    pub fn base() -> Self {
        Self {
            vocab_size: 32_000,
            hidden_size: 768,
            intermediate_size: 2048,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_key_value_heads: Some(4),
            head_dim: Some(64),
            max_position_embeddings: 1024,
            tie_word_embeddings: false,
            ..Self::preset_defaults()
        }
    }

    /// About 1.1B parameters (TinyLlama shape), for real hardware.
    pub fn large() -> Self {
        Self {
            vocab_size: 32_000,
            hidden_size: 2048,
            intermediate_size: 5632,
            num_hidden_layers: 22,
            num_attention_heads: 32,
            num_key_value_heads: Some(4),
            head_dim: Some(64),
            max_position_embeddings: 2048,
            tie_word_embeddings: false,
            ..Self::preset_defaults()
        }
    }

    /// Looks a preset up by name.
    pub fn by_name(name: &str) -> Result<Self> {
        match name {
            "tiny" => Ok(Self::tiny()),
            "small" => Ok(Self::small()),
            "base" => Ok(Self::base()),
            "large" => Ok(Self::large()),
            other => Err(ModelError::Config(format!(
                "unknown preset {other:?} (expected tiny, small, base or large)"
            ))),
        }
    }

    /// What the presets share beyond their shape: RMSNorm eps 1e-5, tied embeddings, and no
    /// special tokens (our tokenizer's pages carry none).
    fn preset_defaults() -> Self {
        Self {
            rms_norm_eps: 1e-5,
            tie_word_embeddings: true,
            bos_token_id: None,
            eos_token_id: None,
            ..Self::default()
        }
    }

    /// Key/value heads (`num_attention_heads` when unset: no grouping).
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Width of one attention head (`hidden_size / num_attention_heads` when unset).
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Rejects configurations this implementation cannot run, with the reason.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.vocab_size == 0 || self.hidden_size == 0 || self.num_hidden_layers == 0 {
            return bad("vocab_size, hidden_size and num_hidden_layers must be positive".into());
        }
        if self.num_attention_heads == 0 || self.kv_heads() == 0 {
            return bad("attention head counts must be positive".into());
        }
        if !self.num_attention_heads.is_multiple_of(self.kv_heads()) {
            return bad(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_attention_heads,
                self.kv_heads()
            ));
        }
        if !self.head_dim().is_multiple_of(2) || self.head_dim() == 0 {
            return bad(format!("head_dim {} must be even and positive", self.head_dim()));
        }
        if self.hidden_act != "silu" {
            return bad(format!("hidden_act {:?} is not supported (silu only)", self.hidden_act));
        }
        if self.attention_bias || self.mlp_bias {
            return bad("attention_bias and mlp_bias are not supported".into());
        }
        if !(self.rms_norm_eps > 0.0 && self.rope_theta > 0.0) {
            return bad("rms_norm_eps and rope_theta must be positive".into());
        }
        Ok(())
    }

    /// Reads and validates a `config.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::io::read_capped(path, MAX_CONFIG_BYTES)?;
        let cfg: Self = serde_json::from_slice(&bytes)
            .map_err(|e| ModelError::Config(format!("{}: {e}", path.display())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Writes `config.json` in HF's format.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| ModelError::Config(e.to_string()))?;
        crate::io::write_atomic(path, &json)
    }

    /// Number of trainable parameters.
    pub fn num_params(&self) -> usize {
        crate::params::param_specs(self).iter().map(|s| s.numel()).sum()
    }

    /// Parameters that take part in a matrix product per token: every projection and the
    /// output head (the embedding lookup and the norms do not multiply).
    pub fn matmul_params(&self) -> usize {
        let (c, i, d) = (self.hidden_size, self.intermediate_size, self.head_dim());
        let (h, kv) = (self.num_attention_heads, self.kv_heads());
        let per_layer = c * h * d * 2 + c * kv * d * 2 + c * i * 3;
        self.num_hidden_layers * per_layer + self.vocab_size * c
    }

    /// FLOPs of one training token (forward and backward) at sequence length `seq`, as model
    /// FLOPs utilization counts them (PaLM, appendix B): `6 N` for the products with the
    /// weights, plus `12 L H Q T` for attention's `QK^T` and `PV` over the whole `T x T` square.
    /// A forward pass alone is a third of it.
    pub fn train_flops_per_token(&self, seq: usize) -> f64 {
        let attention = 12 * self.num_hidden_layers * self.num_attention_heads * self.head_dim() * seq;
        (6 * self.matmul_params() + attention) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_sizes() {
        let tiny = LlamaConfig::tiny().num_params();
        let small = LlamaConfig::small().num_params();
        assert!((800_000..1_300_000).contains(&tiny), "tiny has {tiny}");
        assert!((10_000_000..30_000_000).contains(&small), "small has {small}");
        for p in ["tiny", "small", "base", "large"] {
            LlamaConfig::by_name(p).unwrap().validate().unwrap();
        }
    }

    #[test]
    fn presets_keep_their_shapes() {
        // (vocab, hidden, intermediate, layers, heads, kv heads, positions, tied): checkpoints
        // and the run id depend on these, so a change must be deliberate.
        let shape = |c: LlamaConfig| {
            assert_eq!(c.head_dim(), c.hidden_size / c.num_attention_heads);
            assert_eq!((c.rms_norm_eps, c.bos_token_id, c.eos_token_id), (1e-5, None, None));
            let s = (c.vocab_size, c.hidden_size, c.intermediate_size, c.num_hidden_layers);
            (s, c.num_attention_heads, c.kv_heads(), c.max_position_embeddings, c.tie_word_embeddings)
        };
        assert_eq!(shape(LlamaConfig::tiny()), ((4096, 128, 352, 2), 4, 2, 256, true));
        assert_eq!(shape(LlamaConfig::small()), ((4096, 384, 1024, 6), 6, 2, 512, true));
        assert_eq!(shape(LlamaConfig::base()), ((32_000, 768, 2048, 12), 12, 4, 1024, false));
        assert_eq!(shape(LlamaConfig::large()), ((32_000, 2048, 5632, 22), 32, 4, 2048, false));
        // `LlamaConfig::default()` is HF's `LlamaConfig()`.
        let d = LlamaConfig::default();
        assert_eq!((d.hidden_size, d.intermediate_size, d.num_hidden_layers), (4096, 11_008, 32));
        d.validate().unwrap();
    }

    #[test]
    fn flops_count_the_products() {
        // tiny: 2 layers of q,o (128x128), k,v (128x64), gate, up, down (128x352), a 4096x128 head.
        let c = LlamaConfig::tiny();
        assert_eq!(c.matmul_params(), 2 * (2 * 128 * 128 + 2 * 128 * 64 + 3 * 128 * 352) + 4096 * 128);
        let per_token = 6.0 * c.matmul_params() as f64 + (12 * 2 * 4 * 32 * 256) as f64;
        assert_eq!(c.train_flops_per_token(256), per_token);
    }

    #[test]
    fn hf_config_round_trip() {
        // A config.json as transformers writes it for a LLaMA, with fields we don't use.
        let hf = r#"{
          "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
          "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 2048,
          "initializer_range": 0.02, "intermediate_size": 5632, "max_position_embeddings": 2048,
          "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 22,
          "num_key_value_heads": 4, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
          "rope_scaling": null, "rope_theta": 10000.0, "tie_word_embeddings": false,
          "torch_dtype": "float32", "transformers_version": "4.44.0", "use_cache": true,
          "vocab_size": 32000 }"#;
        let cfg: LlamaConfig = serde_json::from_str(hf).unwrap();
        assert_eq!(cfg.kv_heads(), 4);
        assert_eq!(cfg.head_dim(), 64);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        cfg.save(&path).unwrap();
        assert_eq!(LlamaConfig::load(&path).unwrap(), cfg);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["architectures"][0], "LlamaForCausalLM");
        assert_eq!(v["model_type"], "llama");
    }

    #[test]
    fn bad_configs_are_rejected() {
        let mut c = LlamaConfig::tiny();
        c.num_key_value_heads = Some(3);
        assert!(c.validate().unwrap_err().to_string().contains("multiple"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, b"{\"vocab_size\": 12").unwrap();
        assert!(LlamaConfig::load(&path).is_err());
    }
}
