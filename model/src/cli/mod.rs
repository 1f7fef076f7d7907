//! Command-line interface of the `model` binary.

mod bench;
mod data;
mod generate;
mod study;
mod train;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "model",
    version,
    about = "Train, evaluate and sample the subnet's LLaMA model (CPU by default)"
)]
pub struct Cli {
    /// Worker threads for tensor math (default: all cores). Results are bitwise reproducible
    /// for a fixed thread count.
    #[arg(long, global = true, env = "MODEL_THREADS")]
    pub threads: Option<usize>,
    /// Matrix-product library: gemm (pure Rust, kernels chosen by CPU features), openblas (the
    /// system OpenBLAS, its core held to the CPU's instruction set), or auto (gemm unless it
    /// has no kernel at the CPU's level). The chosen kernel is logged at start-up.
    #[arg(long, global = true, env = "MODEL_GEMM", default_value = "auto")]
    pub gemm: model::gemm::Choice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a byte-level BPE tokenizer on text files and write tokenizer.json.
    TrainTokenizer(data::TrainTokenizerArgs),
    /// Tokenize text files into a dataset: train/ and val/ shard directories with manifests.
    Prepare(data::PrepareArgs),
    /// Train a model on a prepared dataset (single process baseline).
    Train(train::TrainArgs),
    /// Evaluate a checkpoint's loss on a dataset.
    Eval(train::EvalArgs),
    /// Generate text from a checkpoint.
    Generate(generate::GenerateArgs),
    /// Print a preset's HF config.json.
    Config(ModelChoice),
    /// Print the logits of a token sequence as JSON (cross-checks with HF transformers).
    Logits(generate::LogitsArgs),
    /// Compare centralized AdamW, DiLoCo and SparseLoCo (compressed) training on equal tokens.
    Study(study::StudyArgs),
    /// Measure training throughput (tokens/s) of full steps, or evaluation pages/s (--eval), on
    /// random tokens, with FLOPs per token and resident memory.
    Bench(bench::BenchArgs),
    /// Measure this CPU's f32 and bf16 multiply-add peak (GFLOP/s over --threads), the
    /// reference the bench's MFU is taken against.
    Peak(bench::PeakArgs),
}

impl Command {
    /// Whether the command does tensor work (so the GEMM kernel is worth a log line).
    pub fn computes(&self) -> bool {
        !matches!(
            self,
            Command::TrainTokenizer(_) | Command::Prepare(_) | Command::Config(_) | Command::Peak(_)
        )
    }
}

/// Which model architecture to use.
#[derive(Args, Debug, Clone)]
pub struct ModelChoice {
    /// Preset: tiny (~1M params), small (~11M), base (~124M), large (~1.1B).
    #[arg(long, default_value = "small", conflicts_with = "model_config")]
    pub preset: String,
    /// An HF config.json instead of a preset.
    #[arg(long = "model-config")]
    pub model_config: Option<PathBuf>,
}

impl ModelChoice {
    pub fn resolve(&self) -> anyhow::Result<model::LlamaConfig> {
        Ok(match &self.model_config {
            Some(p) => model::LlamaConfig::load(p)?,
            None => model::LlamaConfig::by_name(&self.preset)?,
        })
    }
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::TrainTokenizer(a) => data::train_tokenizer(a),
        Command::Prepare(a) => data::prepare(a),
        Command::Train(a) => train::train(a),
        Command::Eval(a) => train::eval(a),
        Command::Generate(a) => generate::generate(a),
        Command::Config(a) => {
            println!("{}", serde_json::to_string_pretty(&a.resolve()?)?);
            Ok(())
        }
        Command::Logits(a) => generate::logits(a),
        Command::Bench(a) => bench::bench(a),
        Command::Peak(a) => bench::peak(a),
        Command::Study(a) => study::study(a),
    }
}
