//! `bench`: tokens/s of full training steps, or pages/s of evaluation, on random tokens, with
//! the FLOPs per token (for MFU) and the process's resident memory; `peak`: the CPU's measured
//! multiply-add peak, the reference for MFU.

use candle_core::{Device, Tensor};
use clap::Args;
use model::data::Batch;
use model::eval::Evaluator;
use model::gemm::peak::{self, PeakKind};
use model::gemm::Precision;
use model::llama::Workspace;
use model::rng::PortableRng;
use model::train::{AdamWConfig, LrSchedule, TrainConfig, Trainer};
use model::{LlamaConfig, Params};

use super::ModelChoice;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelChoice,
    /// Sequences per step (pages per forward pass with --eval).
    #[arg(long, default_value_t = 8)]
    batch: usize,
    #[arg(long, default_value_t = 256)]
    seq: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Time evaluation instead: forward passes without autograd and a loss per page, as a
    /// validator scores payloads.
    #[arg(long)]
    eval: bool,
    /// Precision of the training step's matrix products: f32, or bf16 (operands rounded to
    /// bf16, f32 sums, weights and optimizer in f32; needs AVX512-BF16).
    #[arg(long, env = "MODEL_PRECISION", default_value = "f32")]
    precision: model::gemm::Precision,
    /// Also time the forward pass, the backward pass and the optimizer separately (stderr).
    #[arg(long, conflicts_with = "eval")]
    breakdown: bool,
}

#[derive(Args, Debug)]
pub struct PeakArgs {
    /// About how long each measurement runs, in seconds.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
}

/// `peak`: a line per multiply-add kind this CPU has, `peak kind=f32 gflops=...`.
pub fn peak(a: PeakArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.seconds > 0.0 && a.seconds <= 600.0, "--seconds must be in (0, 600]");
    let mut any = false;
    for kind in [PeakKind::F32, PeakKind::Bf16] {
        if let Some(p) = peak::measure(kind, a.seconds) {
            println!(
                "peak kind={kind} gflops={:.1} threads={} instruction=\"{}\"",
                p.gflops, p.threads, p.instruction
            );
            any = true;
        }
    }
    anyhow::ensure!(any, "this CPU has no vector multiply-add we measure (AVX2+FMA or AVX-512)");
    Ok(())
}

/// Where a step's time goes: forward, backward, the rest of the step (clipping and the
/// optimizer), on the path the trainer takes.
fn breakdown(trainer: &mut Trainer, batch: &Batch, steps: usize, precision: Precision) -> anyhow::Result<()> {
    // One untimed call first: a fresh workspace's pages fault in on first use.
    let time = |f: &mut dyn FnMut() -> anyhow::Result<()>| -> anyhow::Result<f64> {
        f()?;
        let t = std::time::Instant::now();
        for _ in 0..steps {
            f()?;
        }
        Ok(t.elapsed().as_secs_f64() * 1000.0 / steps as f64)
    };
    let model = trainer.model().clone();
    let (fwd, fwd_bwd) = if model.has_fused_gradients() {
        let mut ws = Workspace::new(precision);
        let mut grads: Vec<Vec<f32>> =
            trainer.params().vars().iter().map(|v| vec![0.0; v.elem_count()]).collect();
        let fwd = time(&mut || {
            model.token_losses(&mut ws, &batch.inputs, &batch.targets)?;
            Ok(())
        })?;
        let mut ws = Workspace::new(precision);
        let fwd_bwd = time(&mut || {
            model.loss_and_gradients(&mut ws, &batch.inputs, &batch.targets, 1.0, &mut grads, false)?;
            Ok(())
        })?;
        (fwd, fwd_bwd)
    } else {
        let fwd = time(&mut || {
            model.loss(&batch.inputs, &batch.targets)?;
            Ok(())
        })?;
        let fwd_bwd = time(&mut || {
            model.loss(&batch.inputs, &batch.targets)?.backward()?;
            Ok(())
        })?;
        (fwd, fwd_bwd)
    };
    let step = time(&mut || {
        trainer.step(std::slice::from_ref(batch))?;
        Ok(())
    })?;
    eprintln!(
        "breakdown ms/step: forward {fwd:.0}, backward {:.0}, clipping and optimizer {:.0}",
        fwd_bwd - fwd,
        step - fwd_bwd
    );
    Ok(())
}

/// `VmRSS` and `VmHWM` (peak) of this process in MiB, from `/proc/self/status` (0 elsewhere).
fn resident_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Random tokens: `[batch, seq]` inputs and their next tokens.
fn random_batch(cfg: &LlamaConfig, batch: usize, seq: usize) -> anyhow::Result<Batch> {
    let mut rng = PortableRng::from_hashed(b"bench");
    let n = batch * (seq + 1);
    let toks: Vec<u32> = (0..n).map(|_| rng.below(cfg.vocab_size as u64) as u32).collect();
    let all = Tensor::from_vec(toks, (batch, seq + 1), &Device::Cpu)?;
    Ok(Batch { inputs: all.narrow(1, 0, seq)?.contiguous()?, targets: all.narrow(1, 1, seq)?.contiguous()? })
}

pub fn bench(a: BenchArgs) -> anyhow::Result<()> {
    let cfg = a.model.resolve()?;
    anyhow::ensure!(a.batch > 0 && a.seq > 0 && a.steps > 0, "--batch, --seq and --steps must be at least 1");
    anyhow::ensure!(a.seq <= cfg.max_position_embeddings, "seq {} exceeds max_position_embeddings", a.seq);
    let params = Params::init(&cfg, 0, &Device::Cpu)?;
    let batch = random_batch(&cfg, a.batch, a.seq)?;
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    let kernel = model::gemm::kernel();
    println!("gemm kernel: {kernel}");
    let flops = cfg.train_flops_per_token(a.seq);
    if a.eval {
        let evaluator = Evaluator::new(&cfg, &params.to_vecs()?)?;
        drop(params);
        for _ in 0..a.warmup {
            evaluator.row_losses(&batch.inputs, &batch.targets)?;
        }
        let t = std::time::Instant::now();
        for _ in 0..a.steps {
            evaluator.row_losses(&batch.inputs, &batch.targets)?;
        }
        let secs = t.elapsed().as_secs_f64();
        let (_, peak) = resident_mib();
        let pages = (a.steps * a.batch) as f64;
        println!(
            "candle eval pages_per_s={:.2} tokens_per_s={:.1} flops_per_token={:.0} peak_rss_mib={peak:.0} \
             params={} threads={threads} batch={} seq={}",
            pages / secs,
            pages * a.seq as f64 / secs,
            flops / 3.0,
            cfg.num_params(),
            a.batch,
            a.seq,
        );
        return Ok(());
    }
    let tcfg = TrainConfig {
        schedule: LrSchedule { peak: 3e-4, min: 3e-4, warmup_steps: 0, total_steps: 1 },
        adamw: AdamWConfig::default(),
        grad_clip: 1.0,
        precision: a.precision,
    };
    let mut trainer = Trainer::new(params, &cfg, tcfg)?;
    for _ in 0..a.warmup {
        trainer.step(std::slice::from_ref(&batch))?;
    }
    let (rss_start, _) = resident_mib();
    let t = std::time::Instant::now();
    let mut last = None;
    for _ in 0..a.steps {
        last = Some(trainer.step(std::slice::from_ref(&batch))?);
    }
    let secs = t.elapsed().as_secs_f64();
    let (rss_end, peak) = resident_mib();
    if a.breakdown {
        breakdown(&mut trainer, &batch, a.steps, a.precision)?;
    }
    let tps = (a.steps * a.batch * a.seq) as f64 / secs;
    println!(
        "candle tokens_per_s={tps:.1} step_ms={:.1} flops_per_token={flops:.0} peak_rss_mib={peak:.0} \
         rss_growth_mib={:.1} params={} threads={threads} batch={} seq={} gemm={}:{} precision={} final_loss={:.4}",
        secs * 1000.0 / a.steps as f64,
        rss_end - rss_start,
        cfg.num_params(),
        a.batch,
        a.seq,
        kernel.library(),
        kernel.name,
        a.precision,
        last.map_or(f64::NAN, |s| s.loss),
    );
    Ok(())
}
