//! `generate`.

use std::path::PathBuf;

use candle_core::Device;
use clap::Args;
use model::data::TextTokenizer;
use model::sample::{generate as sample, Sampling};
use model::{LlamaConfig, Params};

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Checkpoint directory (config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    checkpoint: PathBuf,
    #[arg(long, default_value = "The ")]
    prompt: String,
    #[arg(long, default_value_t = 100)]
    max_new: usize,
    /// Always pick the most likely token.
    #[arg(long)]
    greedy: bool,
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    #[arg(long, default_value_t = 0.9)]
    top_p: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args, Debug)]
pub struct LogitsArgs {
    /// Checkpoint directory (config.json, model.safetensors).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Comma-separated token ids.
    #[arg(long, value_delimiter = ',', required = true)]
    tokens: Vec<u32>,
}

/// Prints the logits `[t, vocab]` of one sequence as JSON (for cross-checks with other
/// implementations such as HF transformers).
pub fn logits(a: LogitsArgs) -> anyhow::Result<()> {
    let cfg = LlamaConfig::load(&a.checkpoint.join("config.json"))?;
    let params = Params::load(&cfg, &a.checkpoint.join("model.safetensors"), &Device::Cpu)?;
    let model = model::Llama::load(params.var_builder(), &cfg)?;
    let input = candle_core::Tensor::from_slice(&a.tokens, (1, a.tokens.len()), &Device::Cpu)?;
    let logits = model.forward(&input)?.squeeze(0)?.to_vec2::<f32>()?;
    println!("{}", serde_json::to_string(&logits)?);
    Ok(())
}

pub fn generate(a: GenerateArgs) -> anyhow::Result<()> {
    let cfg = LlamaConfig::load(&a.checkpoint.join("config.json"))?;
    let params = Params::load(&cfg, &a.checkpoint.join("model.safetensors"), &Device::Cpu)?;
    let model = model::Llama::load(params.var_builder(), &cfg)?;
    let tk = TextTokenizer::load(&a.checkpoint.join("tokenizer.json"))?;
    let prompt = tk.encode(&a.prompt)?;
    let sampling = if a.greedy {
        Sampling::Greedy
    } else {
        Sampling::TopP { temperature: a.temperature, top_p: a.top_p, seed: a.seed }
    };
    let ids = sample(&model, &prompt, a.max_new, sampling, tk.eos_id())?;
    println!("{}", tk.decode(&ids)?);
    Ok(())
}
