//! `study`: does compressed training converge? Simulates `N` miners in one process and
//! compares a centralized AdamW baseline, DiLoCo, and SparseLoCo with the gradient codec on the
//! same pages and token budget. Writes study.csv, study.svg and study.md.

mod runs;

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use candle_core::Device;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use model::codec::{Codec, CodecParams};
use model::data::Dataset;
use model::outer::ClipRule;
use model::outer::{OuterConfig, OuterOptimizer};
use model::plot::{line_chart, Series};
use model::train::{AdamWConfig, LrSchedule, TrainConfig};

use super::ModelChoice;
use runs::{Curve, Setup};

#[derive(Args, Debug)]
pub struct StudyArgs {
    #[command(flatten)]
    model: ModelChoice,
    /// Dataset directory from `prepare` (train/ and val/).
    #[arg(long)]
    data: PathBuf,
    /// Output directory for study.csv, study.svg and study.md.
    #[arg(long)]
    out: PathBuf,
    /// Simulated miners.
    #[arg(long, default_value_t = 4)]
    miners: usize,
    /// Windows (outer steps).
    #[arg(long, default_value_t = 12)]
    windows: u64,
    /// Inner AdamW steps per window (H).
    #[arg(long, default_value_t = 10)]
    inner_steps: usize,
    /// Pages per inner step per miner.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Inner (and baseline) peak learning rate; warmup then cosine over all inner steps.
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Final learning rate of the cosine schedule.
    #[arg(long, default_value_t = 3e-4)]
    min_lr: f64,
    /// Warmup steps (per miner; the baseline uses the same schedule).
    #[arg(long, default_value_t = 10)]
    warmup: u64,
    /// Seed of the genesis weights (every run starts from the same model).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// DiLoCo outer learning rate. The DiLoCo paper's 0.7 with momentum 0.9 is tuned for
    /// H = 500; 1.0 / 0.5 was the best of a small sweep at H = 10 (see the README).
    #[arg(long, default_value_t = 1.0)]
    diloco_lr: f32,
    /// DiLoCo outer Nesterov momentum.
    #[arg(long, default_value_t = 0.5)]
    diloco_momentum: f32,
    /// SparseLoCo outer learning rate (plain SGD: error feedback stands in for momentum).
    #[arg(long, default_value_t = 1.0)]
    sparse_lr: f32,
    /// Error-feedback decay beta: `e = beta e + delta`.
    #[arg(long, default_value_t = 0.95)]
    ef_beta: f32,
    /// SparseLoCo per-tensor clip cap (the localnet runs' `aggregate.clip_cap`).
    #[arg(long, default_value_t = 10.0)]
    clip_cap: f64,
    /// SparseLoCo clip bound as a multiple of recent thresholds (`aggregate.clip_history`).
    #[arg(long, default_value_t = 3.0)]
    clip_history: f64,
    /// Share of each chunk's coefficients sent.
    #[arg(long, default_value_t = 1.0 / 64.0)]
    density: f64,
    /// Bits per sent value (sign + level).
    #[arg(long, default_value_t = 2)]
    value_bits: u8,
    /// DCT the chunks before top-k (`--dct false` to compare without).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    dct: bool,
    /// Which runs, comma-separated: baseline, diloco, sparseloco.
    #[arg(long, value_delimiter = ',', default_value = "baseline,diloco,sparseloco")]
    runs: Vec<Which>,
    /// Validation pages for each evaluation.
    #[arg(long, default_value_t = 64)]
    eval_pages: usize,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
enum Which {
    Baseline,
    Diloco,
    Sparseloco,
}

pub fn study(a: StudyArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.miners > 0 && a.windows > 0 && a.inner_steps > 0 && a.batch > 0,
        "--miners, --windows, --inner-steps and --batch must be at least 1"
    );
    anyhow::ensure!(a.density > 0.0 && a.density <= 1.0, "--density must be in (0, 1]");
    let cfg = a.model.resolve()?;
    let train = Dataset::open(&a.data.join("train")).context("opening the training set")?;
    let val = Dataset::open(&a.data.join("val")).context("opening the validation set")?;
    anyhow::ensure!(
        train.page_len() <= cfg.max_position_embeddings,
        "pages are longer than the model's context"
    );
    let evals = super::train::eval_batches(&val, a.eval_pages, a.batch, &Device::Cpu)?;
    let codec_params = CodecParams {
        density_ppm: (a.density * 1e6).round() as u32,
        value_bits: a.value_bits,
        dct: a.dct,
        ..Default::default()
    };
    let codec = Codec::for_model(&cfg, codec_params)?;
    let total = a.inner_steps as u64 * a.windows;
    let tcfg = TrainConfig {
        schedule: LrSchedule { peak: a.lr, min: a.min_lr, warmup_steps: a.warmup, total_steps: total },
        adamw: AdamWConfig::default(),
        grad_clip: 1.0,
        precision: Default::default(),
    };
    let bar = ProgressBar::new(a.runs.len() as u64 * total * a.miners as u64);
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
    )?);
    let tick = |run: &str| {
        bar.inc(1);
        bar.set_message(run.to_string());
        if bar.is_hidden() && bar.position().is_multiple_of(100) {
            tracing::info!(run, done = bar.position(), of = bar.length().unwrap_or(0), "progress");
        }
    };
    let setup = Setup {
        cfg: &cfg,
        train: &train,
        evals: &evals,
        tcfg,
        seed: a.seed,
        miners: a.miners,
        windows: a.windows,
        inner_steps: a.inner_steps,
        batch: a.batch,
        tick: &tick,
    };
    let started = std::time::Instant::now();
    let mut curves: Vec<(&str, Curve)> = Vec::new();
    for which in &a.runs {
        curves.push(match which {
            Which::Baseline => ("baseline (AdamW)", setup.baseline()?),
            Which::Diloco => (
                "DiLoCo (fp32)",
                setup.diloco(OuterOptimizer::new(OuterConfig::nesterov(a.diloco_lr, a.diloco_momentum)))?,
            ),
            Which::Sparseloco => (
                "SparseLoCo",
                setup.sparseloco(
                    &codec,
                    a.ef_beta,
                    &ClipRule { cap: a.clip_cap, history: a.clip_history },
                    OuterOptimizer::new(OuterConfig::sgd(a.sparse_lr)),
                )?,
            ),
        });
    }
    bar.finish_and_clear();
    let runs: Vec<(&str, &Curve)> = curves.iter().map(|(n, c)| (*n, c)).collect();
    std::fs::create_dir_all(&a.out)?;
    let mut csv = String::from("run,window,tokens,eval_loss\n");
    for (name, c) in &runs {
        for (w, (t, l)) in c.points.iter().enumerate() {
            writeln!(csv, "{name},{w},{t},{l}")?;
        }
    }
    std::fs::write(a.out.join("study.csv"), csv)?;
    let series: Vec<Series> = runs
        .iter()
        .map(|(name, c)| Series {
            name: name.to_string(),
            points: c.points.iter().map(|(t, l)| (*t as f64, *l)).collect(),
        })
        .collect();
    let title = format!("{} miners, H = {}, {}", a.miners, a.inner_steps, model_name(&a.model));
    std::fs::write(a.out.join("study.svg"), line_chart(&title, "tokens", "eval loss (nats)", &series))?;
    let table = table(&a, &codec, &runs, started.elapsed().as_secs_f64());
    std::fs::write(a.out.join("study.md"), &table)?;
    print!("{table}");
    println!("wrote {}/{{study.csv,study.svg,study.md}}", a.out.display());
    Ok(())
}

fn model_name(m: &ModelChoice) -> String {
    m.model_config.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| format!("preset {}", m.preset))
}

fn table(a: &StudyArgs, codec: &Codec, runs: &[(&str, &Curve)], secs: f64) -> String {
    // Relative to the first run listed (the baseline by default).
    let base = runs.first().and_then(|r| r.1.points.last()).map(|p| p.1).unwrap_or(f64::NAN);
    let dense = codec.dense_bytes();
    let mut s = format!(
        "{}, {} miners, {} windows x {} inner steps x {} pages; density {:.4}, {} value bits, DCT {}; {:.0}s\n\n",
        model_name(&a.model),
        a.miners,
        a.windows,
        a.inner_steps,
        a.batch,
        a.density,
        a.value_bits,
        if a.dct { "on" } else { "off" },
        secs
    );
    s.push_str("| run | final eval loss | vs first run | bytes per miner per window | vs fp32 |\n");
    s.push_str("| --- | --- | --- | --- | --- |\n");
    for (name, c) in runs {
        let loss = c.points.last().map(|p| p.1).unwrap_or(f64::NAN);
        let (bytes, ratio) = if c.bytes_per_window == 0 {
            (format!("{} (fp32 gradient every step)", dense * a.inner_steps), "-".to_string())
        } else {
            (c.bytes_per_window.to_string(), format!("{:.1}x", dense as f64 / c.bytes_per_window as f64))
        };
        let rel = 100.0 * (loss - base) / base;
        writeln!(s, "| {name} | {loss:.4} | {rel:+.2}% | {bytes} | {ratio} |").expect("write to String");
    }
    s
}
