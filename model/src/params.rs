//! The model's parameters: their HF names and shapes, seeded initialisation, and safetensors
//! checkpoints that HF transformers loads.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::config::LlamaConfig;
use crate::error::{ModelError, Result};
use crate::rng::PortableRng;

/// How a parameter starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// `N(0, std^2)` from the project's RNG.
    Normal(f64),
    /// All ones (RMSNorm gains).
    Ones,
}

/// One named parameter tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
}

impl ParamSpec {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Every parameter of the model in a fixed order (HF's module order). This order is the one
/// used for fingerprints, gradient clipping and optimizer state.
pub fn param_specs(cfg: &LlamaConfig) -> Vec<ParamSpec> {
    let (c, i, d) = (cfg.hidden_size, cfg.intermediate_size, cfg.head_dim());
    let (h, kv) = (cfg.num_attention_heads, cfg.kv_heads());
    let std = cfg.initializer_range;
    let mut out = Vec::new();
    let mut push = |name: String, shape: Vec<usize>, init: Init| out.push(ParamSpec { name, shape, init });
    push("model.embed_tokens.weight".into(), vec![cfg.vocab_size, c], Init::Normal(std));
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        push(format!("{p}.input_layernorm.weight"), vec![c], Init::Ones);
        push(format!("{p}.self_attn.q_proj.weight"), vec![h * d, c], Init::Normal(std));
        push(format!("{p}.self_attn.k_proj.weight"), vec![kv * d, c], Init::Normal(std));
        push(format!("{p}.self_attn.v_proj.weight"), vec![kv * d, c], Init::Normal(std));
        push(format!("{p}.self_attn.o_proj.weight"), vec![c, h * d], Init::Normal(std));
        push(format!("{p}.post_attention_layernorm.weight"), vec![c], Init::Ones);
        push(format!("{p}.mlp.gate_proj.weight"), vec![i, c], Init::Normal(std));
        push(format!("{p}.mlp.up_proj.weight"), vec![i, c], Init::Normal(std));
        push(format!("{p}.mlp.down_proj.weight"), vec![c, i], Init::Normal(std));
    }
    push("model.norm.weight".into(), vec![c], Init::Ones);
    if !cfg.tie_word_embeddings {
        push("lm_head.weight".into(), vec![cfg.vocab_size, c], Init::Normal(std));
    }
    out
}

/// The trainable parameters, in `param_specs` order, backed by a `VarMap` for `VarBuilder`.
pub struct Params {
    specs: Vec<ParamSpec>,
    vars: Vec<Var>,
    varmap: VarMap,
    device: Device,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: usize = self.specs.iter().map(ParamSpec::numel).sum();
        write!(f, "Params {{ tensors: {}, values: {n} }}", self.specs.len())
    }
}

impl Params {
    /// The genesis model: parameter `name` is drawn from a `PortableRng` seeded with
    /// `blake2_256("llm-subnet/init/v1" ‖ seed as u64 LE ‖ name)`, so every peer builds the same
    /// weights and a tensor's values don't depend on the others.
    pub fn init(cfg: &LlamaConfig, seed: u64, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let specs = param_specs(cfg);
        let mut values = Vec::with_capacity(specs.len());
        for spec in &specs {
            let data = match spec.init {
                Init::Ones => vec![1f32; spec.numel()],
                Init::Normal(std) => {
                    let mut key = b"llm-subnet/init/v1".to_vec();
                    key.extend_from_slice(&seed.to_le_bytes());
                    key.extend_from_slice(spec.name.as_bytes());
                    PortableRng::from_hashed(&key).normal_vec(spec.numel(), std)
                }
            };
            values.push(Tensor::from_vec(data, spec.shape.as_slice(), device)?);
        }
        Self::from_ordered(specs, values, device)
    }

    fn from_ordered(specs: Vec<ParamSpec>, values: Vec<Tensor>, device: &Device) -> Result<Self> {
        let varmap = VarMap::new();
        let mut vars = Vec::with_capacity(specs.len());
        {
            let mut data = varmap.data().lock().expect("fresh VarMap lock");
            for (spec, t) in specs.iter().zip(values) {
                let var = Var::from_tensor(&t)?;
                data.insert(spec.name.clone(), var.clone());
                vars.push(var);
            }
        }
        Ok(Self { specs, vars, varmap, device: device.clone() })
    }

    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A `VarBuilder` whose tensors are these parameters (tracked for gradients).
    pub fn var_builder(&self) -> candle_nn::VarBuilder<'static> {
        candle_nn::VarBuilder::from_varmap(&self.varmap, DType::F32, &self.device)
    }

    /// Every parameter flattened to f32, in spec order.
    pub fn to_vecs(&self) -> Result<Vec<Vec<f32>>> {
        self.vars.iter().map(|v| Ok(v.as_tensor().flatten_all()?.to_vec1::<f32>()?)).collect()
    }

    /// Overwrites every parameter from flat f32 vectors in spec order.
    pub fn set_from_vecs(&self, values: &[Vec<f32>]) -> Result<()> {
        let fits = values.len() == self.vars.len()
            && self.vars.iter().zip(values).all(|(var, v)| var.elem_count() == v.len());
        if !fits {
            return Err(ModelError::Train(format!(
                "{} value vectors do not fit the model's shapes",
                values.len()
            )));
        }
        for (var, v) in self.vars.iter().zip(values) {
            var.set(&Tensor::from_slice(v, var.shape(), var.device())?)?;
        }
        Ok(())
    }

    /// `blake2_256` over every parameter in spec order: name, shape (u64 LE each), then the
    /// f32 values as little-endian bytes. Equal fingerprints mean bitwise-equal models.
    pub fn fingerprint(&self) -> Result<[u8; 32]> {
        self.fingerprint_of(&self.to_vecs()?)
    }

    /// The [`Params::fingerprint`] these parameters would have with `values` (in spec order),
    /// without setting them: a model predicted from its flat vectors.
    pub fn fingerprint_of(&self, values: &[Vec<f32>]) -> Result<[u8; 32]> {
        let fits = values.len() == self.specs.len()
            && self.specs.iter().zip(values).all(|(spec, v)| spec.numel() == v.len());
        if !fits {
            return Err(ModelError::Train(format!(
                "{} value vectors do not fit the model's shapes",
                values.len()
            )));
        }
        let mut buf = Vec::new();
        for (spec, values) in self.specs.iter().zip(values) {
            buf.extend_from_slice(spec.name.as_bytes());
            for d in &spec.shape {
                buf.extend_from_slice(&(*d as u64).to_le_bytes());
            }
            buf.reserve(values.len() * 4);
            for v in values {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        Ok(crate::rng::blake2_256(&buf))
    }

    /// Writes a safetensors checkpoint with HF names and `{"format": "pt"}` metadata.
    pub fn save(&self, path: &Path) -> Result<()> {
        let out = self.to_safetensors(&[]).map_err(|e| e.at(path))?;
        crate::io::write_atomic(path, &out)
    }

    /// The safetensors bytes [`Params::save`] writes, with `meta` added to the header.
    pub fn to_safetensors(&self, meta: &[(&str, String)]) -> Result<Vec<u8>> {
        let values = self.to_vecs()?;
        let bytes: Vec<Vec<u8>> = values.iter().map(|v| crate::io::f32_to_le_bytes(v)).collect();
        let fail = |e: safetensors::SafeTensorError| ModelError::Checkpoint {
            path: "<bytes>".into(),
            reason: e.to_string(),
        };
        let mut views = Vec::with_capacity(self.specs.len());
        for (spec, b) in self.specs.iter().zip(&bytes) {
            views
                .push((spec.name.clone(), TensorView::new(Dtype::F32, spec.shape.clone(), b).map_err(fail)?));
        }
        let mut header = HashMap::from([("format".to_string(), "pt".to_string())]);
        header.extend(meta.iter().map(|(k, v)| (k.to_string(), v.clone())));
        safetensors::serialize(views, Some(header)).map_err(fail)
    }

    /// The most bytes a checkpoint for `cfg` may take: its parameters plus 16 MiB of header.
    pub fn checkpoint_limit(cfg: &LlamaConfig) -> u64 {
        param_specs(cfg).iter().map(|s| s.numel() as u64 * 4).sum::<u64>() + (16 << 20)
    }

    /// Loads a checkpoint for `cfg`, checking that every expected tensor is present with the
    /// right shape and dtype; the file size is bounded by what the config implies.
    pub fn load(cfg: &LlamaConfig, path: &Path, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let bytes = crate::io::read_capped(path, Self::checkpoint_limit(cfg))?;
        Ok(Self::from_safetensors(cfg, &bytes, device).map_err(|e| e.at(path))?.0)
    }

    /// [`Params::load`] from bytes (at most [`Params::checkpoint_limit`]); also returns the
    /// header's metadata.
    pub fn from_safetensors(
        cfg: &LlamaConfig,
        bytes: &[u8],
        device: &Device,
    ) -> Result<(Self, HashMap<String, String>)> {
        cfg.validate()?;
        let fail = |reason: String| ModelError::Checkpoint { path: "<bytes>".into(), reason };
        let limit = Self::checkpoint_limit(cfg);
        if bytes.len() as u64 > limit {
            return Err(fail(format!(
                "{} bytes, more than the {limit} a checkpoint of this model takes",
                bytes.len()
            )));
        }
        let specs = param_specs(cfg);
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| fail(e.to_string()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let st = SafeTensors::deserialize(bytes).map_err(|e| fail(e.to_string()))?;
        let mut values = Vec::with_capacity(specs.len());
        for spec in &specs {
            let view = st.tensor(&spec.name).map_err(|_| fail(format!("missing tensor {}", spec.name)))?;
            if view.dtype() != Dtype::F32 {
                return Err(fail(format!("{} has dtype {:?}, expected F32", spec.name, view.dtype())));
            }
            if view.shape() != spec.shape.as_slice() {
                return Err(fail(format!(
                    "{} has shape {:?}, expected {:?}",
                    spec.name,
                    view.shape(),
                    spec.shape
                )));
            }
            let data: Vec<f32> = crate::io::f32_from_le_bytes(view.data());
            if let Some(pos) = data.iter().position(|x| !x.is_finite()) {
                return Err(fail(format!("{} has a non-finite value at {pos}", spec.name)));
            }
            values.push(Tensor::from_vec(data, spec.shape.as_slice(), device)?);
        }
        let known: std::collections::HashSet<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        for (name, _) in st.tensors() {
            // A tied checkpoint written by transformers may still carry lm_head.weight.
            let tied_head = cfg.tie_word_embeddings && name == "lm_head.weight";
            if !known.contains(name.as_str()) && !tied_head {
                return Err(fail(format!("unexpected tensor {name}")));
            }
        }
        Ok((Self::from_ordered(specs, values, device)?, meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_is_reproducible_and_seed_dependent() {
        let cfg = LlamaConfig::tiny();
        let a = Params::init(&cfg, 7, &Device::Cpu).unwrap();
        let b = Params::init(&cfg, 7, &Device::Cpu).unwrap();
        let c = Params::init(&cfg, 8, &Device::Cpu).unwrap();
        assert_eq!(a.fingerprint().unwrap(), b.fingerprint().unwrap());
        assert_ne!(a.fingerprint().unwrap(), c.fingerprint().unwrap());
    }

    #[test]
    fn checkpoint_round_trip_and_errors() {
        let cfg = LlamaConfig::tiny();
        let p = Params::init(&cfg, 1, &Device::Cpu).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        p.save(&path).unwrap();
        let q = Params::load(&cfg, &path, &Device::Cpu).unwrap();
        assert_eq!(p.fingerprint().unwrap(), q.fingerprint().unwrap());

        // A checkpoint for another shape names the offending tensor.
        let mut other = cfg.clone();
        other.hidden_size = 64;
        other.head_dim = Some(16);
        let err = Params::load(&other, &path, &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("shape"), "{err}");

        // Truncated and garbage files are errors, not panics.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(Params::load(&cfg, &path, &Device::Cpu).is_err());
        std::fs::write(&path, b"\xff\xff\xff\xff\xff\xff\xff\xffjunk").unwrap();
        assert!(Params::load(&cfg, &path, &Device::Cpu).is_err());
    }
}
