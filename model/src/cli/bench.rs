//! `bench`: tokens/s of full training steps on random tokens.

use candle_core::{Device, Tensor};
use clap::Args;
use model::data::Batch;
use model::rng::PortableRng;
use model::train::{AdamWConfig, LrSchedule, TrainConfig, Trainer};
use model::Params;

use super::ModelChoice;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelChoice,
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
    /// Also time forward, forward+backward and gradient collection separately (stderr).
    #[arg(long)]
    breakdown: bool,
}

/// Where a step's time goes: forward, backward, gradient collection; the rest is the optimizer.
fn breakdown(trainer: &Trainer, batch: &Batch, steps: usize) -> anyhow::Result<()> {
    let model = trainer.model();
    let time = |f: &dyn Fn() -> anyhow::Result<()>| -> anyhow::Result<f64> {
        let t = std::time::Instant::now();
        for _ in 0..steps {
            f()?;
        }
        Ok(t.elapsed().as_secs_f64() * 1000.0 / steps as f64)
    };
    let fwd = time(&|| {
        model.loss(&batch.inputs, &batch.targets)?;
        Ok(())
    })?;
    let fwd_bwd = time(&|| {
        model.loss(&batch.inputs, &batch.targets)?.backward()?;
        Ok(())
    })?;
    let grads = time(&|| {
        trainer.gradients(std::slice::from_ref(batch))?;
        Ok(())
    })?;
    eprintln!(
        "breakdown ms/step: forward {fwd:.0}, backward {:.0}, gradient collection {:.0}",
        fwd_bwd - fwd,
        grads - fwd_bwd
    );
    Ok(())
}

pub fn bench(a: BenchArgs) -> anyhow::Result<()> {
    let cfg = a.model.resolve()?;
    anyhow::ensure!(a.batch > 0 && a.seq > 0 && a.steps > 0, "--batch, --seq and --steps must be at least 1");
    anyhow::ensure!(a.seq <= cfg.max_position_embeddings, "seq {} exceeds max_position_embeddings", a.seq);
    let params = Params::init(&cfg, 0, &Device::Cpu)?;
    let tcfg = TrainConfig {
        schedule: LrSchedule { peak: 3e-4, min: 3e-4, warmup_steps: 0, total_steps: 1 },
        adamw: AdamWConfig::default(),
        grad_clip: 1.0,
    };
    let mut trainer = Trainer::new(params, &cfg, tcfg)?;
    let mut rng = PortableRng::from_hashed(b"bench");
    let n = a.batch * (a.seq + 1);
    let toks: Vec<u32> = (0..n).map(|_| rng.below(cfg.vocab_size as u64) as u32).collect();
    let all = Tensor::from_vec(toks, (a.batch, a.seq + 1), &Device::Cpu)?;
    let batch = Batch {
        inputs: all.narrow(1, 0, a.seq)?.contiguous()?,
        targets: all.narrow(1, 1, a.seq)?.contiguous()?,
    };
    for _ in 0..a.warmup {
        trainer.step(std::slice::from_ref(&batch))?;
    }
    let t = std::time::Instant::now();
    for _ in 0..a.steps {
        trainer.step(std::slice::from_ref(&batch))?;
    }
    let secs = t.elapsed().as_secs_f64();
    if a.breakdown {
        breakdown(&trainer, &batch, a.steps)?;
    }
    let tps = (a.steps * a.batch * a.seq) as f64 / secs;
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    let kernel = model::gemm::kernel();
    println!("gemm kernel: {kernel}");
    println!(
        "candle tokens_per_s={tps:.1} step_ms={:.1} params={} threads={threads} batch={} seq={} gemm={}:{}",
        secs * 1000.0 / a.steps as f64,
        cfg.num_params(),
        a.batch,
        a.seq,
        kernel.library(),
        kernel.name,
    );
    Ok(())
}
