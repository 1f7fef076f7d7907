//! `train` and `eval`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use candle_core::Device;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use model::data::{random_pages, Batch, Dataset};
use model::plot::{line_chart, Series};
use model::train::{AdamWConfig, LrSchedule, TrainConfig, Trainer};
use model::{LlamaConfig, Params};

use super::ModelChoice;

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    model: ModelChoice,
    /// Dataset directory from `prepare` (with train/ and optionally val/).
    #[arg(long)]
    data: PathBuf,
    /// Output directory: config.json, model.safetensors, tokenizer.json, loss.csv, loss.svg.
    #[arg(long)]
    out: PathBuf,
    /// Start from this checkpoint directory instead of the seeded genesis weights.
    #[arg(long)]
    init: Option<PathBuf>,
    #[arg(long, default_value_t = 200)]
    steps: u64,
    /// Pages (sequences) per micro-batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Micro-batches accumulated per optimizer step.
    #[arg(long, default_value_t = 1)]
    accum: usize,
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    #[arg(long, default_value_t = 3e-4)]
    min_lr: f64,
    #[arg(long, default_value_t = 20)]
    warmup: u64,
    #[arg(long, default_value_t = 0.1)]
    weight_decay: f64,
    /// Global gradient-norm clip (0: off).
    #[arg(long, default_value_t = 1.0)]
    clip: f64,
    /// Seed of the genesis weights and of the page order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 50)]
    eval_every: u64,
    /// Validation pages per evaluation.
    #[arg(long, default_value_t = 32)]
    eval_pages: usize,
    /// Precision of the training step's matrix products: f32, or bf16 (operands rounded to
    /// bf16, f32 sums, weights and optimizer in f32; needs AVX512-BF16).
    #[arg(long, env = "MODEL_PRECISION", default_value = "f32")]
    precision: model::gemm::Precision,
}

struct Run {
    train: Dataset,
    eval: Dataset,
    device: Device,
}

impl Run {
    fn open(data: &Path) -> anyhow::Result<Self> {
        let train = Dataset::open(&data.join("train")).context("opening the training set")?;
        train.verify()?;
        let eval = if data.join("val").exists() {
            Dataset::open(&data.join("val")).context("opening the validation set")?
        } else {
            tracing::warn!("no val/ split: evaluating on training pages");
            Dataset::open(&data.join("train"))?
        };
        Ok(Self { train, eval, device: Device::Cpu })
    }
}

/// Evaluation batches: a fixed seeded set of pages, so every evaluation sees the same text.
pub(super) fn eval_batches(
    ds: &Dataset,
    pages: usize,
    batch: usize,
    device: &Device,
) -> anyhow::Result<Vec<Batch>> {
    let n = (pages as u64).min(ds.num_pages()) as usize;
    let picked = random_pages(b"eval", n, ds.num_pages())?;
    Ok(picked.chunks(batch.max(1)).map(|c| ds.batch(c, device)).collect::<model::Result<_>>()?)
}

pub fn train(a: TrainArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.steps > 0 && a.batch > 0 && a.accum > 0,
        "--steps, --batch and --accum must be at least 1"
    );
    anyhow::ensure!(
        a.lr > 0.0 && a.min_lr >= 0.0 && a.clip >= 0.0,
        "learning rates and --clip must not be negative"
    );
    let cfg = a.model.resolve()?;
    let run = Run::open(&a.data)?;
    let m = run.train.manifest();
    anyhow::ensure!(
        m.vocab_size <= cfg.vocab_size,
        "dataset vocabulary {} exceeds the model's {}",
        m.vocab_size,
        cfg.vocab_size
    );
    anyhow::ensure!(
        m.page_len <= cfg.max_position_embeddings,
        "page_len {} exceeds max_position_embeddings {}",
        m.page_len,
        cfg.max_position_embeddings
    );
    let params = match &a.init {
        Some(dir) => Params::load(&cfg, &dir.join("model.safetensors"), &run.device)?,
        None => Params::init(&cfg, a.seed, &run.device)?,
    };
    let tcfg = TrainConfig {
        schedule: LrSchedule { peak: a.lr, min: a.min_lr, warmup_steps: a.warmup, total_steps: a.steps },
        adamw: AdamWConfig { weight_decay: a.weight_decay, ..Default::default() },
        grad_clip: a.clip,
        precision: a.precision,
    };
    tracing::info!(
        params = cfg.num_params(),
        pages = run.train.num_pages(),
        page_len = m.page_len,
        "training"
    );
    let mut trainer = Trainer::new(params, &cfg, tcfg)?;
    let evals = eval_batches(&run.eval, a.eval_pages, a.batch, &run.device)?;

    std::fs::create_dir_all(&a.out)?;
    let mut csv = std::fs::File::create(a.out.join("loss.csv"))?;
    writeln!(csv, "step,tokens,lr,train_loss,grad_norm,eval_loss")?;
    let (mut train_pts, mut eval_pts) = (Vec::new(), Vec::new());
    let first_eval = trainer.eval_loss(&evals)?;
    eval_pts.push((0.0, first_eval));
    writeln!(csv, "0,0,0,,,{first_eval}")?;

    let bar = ProgressBar::new(a.steps);
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
    )?);
    let started = std::time::Instant::now();
    let mut tokens = 0usize;
    for step in 0..a.steps {
        let mut key = a.seed.to_le_bytes().to_vec();
        key.extend_from_slice(&step.to_le_bytes());
        let pages = random_pages(&key, a.batch * a.accum, run.train.num_pages())?;
        let micro = pages
            .chunks(a.batch)
            .map(|c| run.train.batch(c, &run.device))
            .collect::<model::Result<Vec<_>>>()?;
        let s = trainer.step(&micro)?;
        tokens += s.tokens;
        train_pts.push((tokens as f64, s.loss));
        let mut eval_loss = String::new();
        if (step + 1) % a.eval_every.max(1) == 0 || step + 1 == a.steps {
            let l = trainer.eval_loss(&evals)?;
            eval_pts.push((tokens as f64, l));
            eval_loss = format!("{l}");
            tracing::info!(step = step + 1, train_loss = s.loss, eval_loss = l, "evaluated");
        }
        writeln!(csv, "{},{tokens},{},{},{},{eval_loss}", s.step, s.lr, s.loss, s.grad_norm)?;
        let tps = tokens as f64 / started.elapsed().as_secs_f64();
        bar.set_message(format!("loss {:.3} lr {:.2e} {:.0} tok/s", s.loss, s.lr, tps));
        bar.inc(1);
        // Without a terminal the bar is hidden: log progress instead.
        if bar.is_hidden() && (step + 1) % 10 == 0 {
            tracing::info!(
                step = step + 1,
                of = a.steps,
                loss = s.loss,
                lr = s.lr,
                tokens_per_s = tps as u64,
                "progress"
            );
        }
    }
    bar.finish();
    let secs = started.elapsed().as_secs_f64();

    save_checkpoint(&a.out, &cfg, trainer.params(), &a.data)?;
    let svg = line_chart(
        "training loss",
        "tokens",
        "cross-entropy (nats)",
        &[
            Series { name: "train".into(), points: train_pts },
            Series { name: "eval".into(), points: eval_pts.clone() },
        ],
    );
    std::fs::write(a.out.join("loss.svg"), svg)?;
    let last = eval_pts.last().map(|p| p.1).unwrap_or(f64::NAN);
    println!(
        "trained {} steps, {tokens} tokens in {secs:.1}s ({:.0} tokens/s); eval loss {first_eval:.3} -> {last:.3} (ln vocab = {:.3})",
        a.steps,
        tokens as f64 / secs,
        (cfg.vocab_size as f64).ln()
    );
    println!("wrote {}/{{model.safetensors,config.json,tokenizer.json,loss.csv,loss.svg}}", a.out.display());
    Ok(())
}

fn save_checkpoint(out: &Path, cfg: &LlamaConfig, params: &Params, data: &Path) -> anyhow::Result<()> {
    params.save(&out.join("model.safetensors"))?;
    let mut cfg = cfg.clone();
    if let Ok(tk) = model::data::TextTokenizer::load(&data.join("tokenizer.json")) {
        cfg.eos_token_id = tk.eos_id();
        std::fs::copy(data.join("tokenizer.json"), out.join("tokenizer.json"))?;
    }
    cfg.save(&out.join("config.json"))?;
    Ok(())
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Checkpoint directory (config.json + model.safetensors).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Dataset directory with a manifest (e.g. data/fortunes/val).
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value_t = 64)]
    pages: usize,
    #[arg(long, default_value_t = 8)]
    batch: usize,
}

pub fn eval(a: EvalArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.pages > 0 && a.batch > 0, "--pages and --batch must be at least 1");
    let cfg = LlamaConfig::load(&a.checkpoint.join("config.json"))?;
    let params = Params::load(&cfg, &a.checkpoint.join("model.safetensors"), &Device::Cpu)?;
    let model = model::Llama::load(params.var_builder(), &cfg)?;
    let ds = Dataset::open(&a.data)?;
    let batches = eval_batches(&ds, a.pages, a.batch, &Device::Cpu)?;
    let loss = model::train::eval_loss(&model, &batches)?;
    println!(
        "eval loss {loss:.4} (perplexity {:.2}) over {} pages of {}",
        loss.exp(),
        a.pages.min(ds.num_pages() as usize),
        ds.page_len()
    );
    Ok(())
}
