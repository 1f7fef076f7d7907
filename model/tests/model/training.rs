//! Training: determinism, gradient accumulation, and learning on real text.

use crate::common;

use candle_core::Device;
use model::data::{random_pages, Batch, Dataset};
use model::train::{AdamWConfig, LrSchedule, TrainConfig, Trainer};
use model::{LlamaConfig, Params};

fn train_config(steps: u64, lr: f64) -> TrainConfig {
    TrainConfig {
        schedule: LrSchedule { peak: lr, min: lr / 10.0, warmup_steps: 10.min(steps), total_steps: steps },
        adamw: AdamWConfig::default(),
        grad_clip: 1.0,
        precision: Default::default(),
    }
}

fn random_batch(seed: &str, b: usize, t: usize, vocab: usize) -> Batch {
    let all = common::random_tokens(seed, b, t + 1, vocab);
    Batch {
        inputs: all.narrow(1, 0, t).unwrap().contiguous().unwrap(),
        targets: all.narrow(1, 1, t).unwrap().contiguous().unwrap(),
    }
}

fn run(steps: usize) -> [u8; 32] {
    run_at(steps, model::gemm::Precision::F32)
}

fn run_at(steps: usize, precision: model::gemm::Precision) -> [u8; 32] {
    let cfg = LlamaConfig::tiny();
    let tcfg = TrainConfig { precision, ..train_config(10, 1e-3) };
    let mut trainer = Trainer::new(Params::init(&cfg, 3, &Device::Cpu).unwrap(), &cfg, tcfg).unwrap();
    for s in 0..steps {
        let micro = [
            random_batch(&format!("a{s}"), 2, 32, cfg.vocab_size),
            random_batch(&format!("b{s}"), 2, 32, cfg.vocab_size),
        ];
        trainer.step(&micro).unwrap();
    }
    trainer.params().fingerprint().unwrap()
}

#[test]
fn two_runs_are_bitwise_equal() {
    let (a, b) = (run(3), run(3));
    assert_eq!(a, b, "same seed, data and threads must give identical parameters");
    assert_ne!(a, run(0), "training must change the parameters");
}

/// A restart mid-run (parameters and optimizer state saved, then loaded into a new trainer)
/// continues bitwise as if nothing had happened.
#[test]
fn the_optimizer_state_survives_a_restart() {
    let cfg = LlamaConfig::tiny();
    let batch = |s: usize| [random_batch(&format!("r{s}"), 2, 32, cfg.vocab_size)];
    let new = |params| Trainer::new(params, &cfg, train_config(10, 1e-3)).unwrap();
    let mut a = new(Params::init(&cfg, 5, &Device::Cpu).unwrap());
    for s in 0..2 {
        a.step(&batch(s)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let (params_path, opt_path) =
        (dir.path().join("model.safetensors"), dir.path().join("adamw.safetensors"));
    a.params().save(&params_path).unwrap();
    a.save_optimizer(&opt_path).unwrap();
    let mut b = new(Params::load(&cfg, &params_path, &Device::Cpu).unwrap());
    b.load_optimizer(&opt_path).unwrap();
    let mut fresh = new(Params::load(&cfg, &params_path, &Device::Cpu).unwrap());
    for s in 2..4 {
        a.step(&batch(s)).unwrap();
        b.step(&batch(s)).unwrap();
        fresh.step(&batch(s)).unwrap();
    }
    let fp = |t: &Trainer| t.params().fingerprint().unwrap();
    assert_eq!(fp(&a), fp(&b), "a restored optimizer must continue bitwise");
    assert_ne!(fp(&a), fp(&fresh), "without the state the run differs (the test can fail)");
    // Another model's state, or a damaged file, is refused.
    let small = LlamaConfig::small();
    let mut other =
        Trainer::new(Params::init(&small, 0, &Device::Cpu).unwrap(), &small, train_config(10, 1e-3)).unwrap();
    assert!(other.load_optimizer(&opt_path).is_err());
    let bytes = std::fs::read(&opt_path).unwrap();
    std::fs::write(&opt_path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(b.load_optimizer(&opt_path).is_err());
}

#[test]
fn accumulating_micro_batches_equals_one_big_batch() {
    let cfg = LlamaConfig::tiny();
    let trainer =
        Trainer::new(Params::init(&cfg, 1, &Device::Cpu).unwrap(), &cfg, train_config(1, 1e-3)).unwrap();
    let big = random_batch("big", 4, 16, cfg.vocab_size);
    let halves = [0, 2].map(|s| Batch {
        inputs: big.inputs.narrow(0, s, 2).unwrap(),
        targets: big.targets.narrow(0, s, 2).unwrap(),
    });
    let (g_big, l_big) = trainer.gradients(std::slice::from_ref(&big)).unwrap();
    let (g_acc, l_acc) = trainer.gradients(&halves).unwrap();
    assert!((l_big - l_acc).abs() < 1e-5, "{l_big} vs {l_acc}");
    let diff =
        g_big.iter().flatten().zip(g_acc.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff < 1e-5, "accumulated gradient differs by {diff}");
}

#[test]
fn tiny_model_learns_real_text() {
    let dir = tempfile::tempdir().unwrap();
    common::prepare_fortunes(dir.path(), 64);
    let train = Dataset::open(&dir.path().join("train")).unwrap();
    let val = Dataset::open(&dir.path().join("val")).unwrap();
    let cfg = LlamaConfig::tiny();
    let steps = 150;
    let mut trainer =
        Trainer::new(Params::init(&cfg, 0, &Device::Cpu).unwrap(), &cfg, train_config(steps, 5e-3)).unwrap();
    let eval: Vec<Batch> = random_pages(b"eval", 64, val.num_pages())
        .unwrap()
        .chunks(16)
        .map(|c| val.batch(c, &Device::Cpu).unwrap())
        .collect();
    let before = trainer.eval_loss(&eval).unwrap();
    for step in 0..steps {
        let pages = random_pages(&step.to_le_bytes(), 16, train.num_pages()).unwrap();
        trainer.step(&[train.batch(&pages, &Device::Cpu).unwrap()]).unwrap();
    }
    let after = trainer.eval_loss(&eval).unwrap();
    let ln_vocab = (cfg.vocab_size as f64).ln();
    let unigram = common::unigram_cross_entropy(&train, &val);
    eprintln!("held-out loss {before:.3} -> {after:.3} (ln vocab {ln_vocab:.3}, unigram {unigram:.3})");
    assert!((before - ln_vocab).abs() < 0.1);
    assert!(after < 0.75 * ln_vocab, "held-out loss {after} did not fall well below ln(vocab) = {ln_vocab}");
    // Beating the best context-free model by a clear margin shows attention and the MLPs learn.
    assert!(after < unigram - 0.4, "held-out loss {after} is not clearly below the unigram loss {unigram}");
}

/// bf16 products (operands rounded to bf16, f32 sums, f32 weights and optimizer) keep the
/// held-out loss curve of f32 training from the same start on the same pages: within a few
/// hundredths of a nat at every checkpoint, closer than a different initialization lands.
/// They are used (the parameters differ from f32's) and bitwise reproducible.
#[test]
fn bf16_products_follow_the_f32_loss_curve() {
    if model::gemm::Precision::Bf16.check_supported().is_err() {
        eprintln!("skipped: this CPU has no AVX512-BF16");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    common::prepare_fortunes(dir.path(), 64);
    let train = Dataset::open(&dir.path().join("train")).unwrap();
    let val = Dataset::open(&dir.path().join("val")).unwrap();
    let cfg = LlamaConfig::tiny();
    let (steps, every) = (150, 25);
    let eval: Vec<Batch> = random_pages(b"eval", 64, val.num_pages())
        .unwrap()
        .chunks(16)
        .map(|c| val.batch(c, &Device::Cpu).unwrap())
        .collect();
    let curve = |seed: u64, precision| {
        let tcfg = TrainConfig { precision, ..train_config(steps, 5e-3) };
        let mut trainer = Trainer::new(Params::init(&cfg, seed, &Device::Cpu).unwrap(), &cfg, tcfg).unwrap();
        let mut losses = Vec::new();
        for step in 0..steps {
            let pages = random_pages(&step.to_le_bytes(), 16, train.num_pages()).unwrap();
            trainer.step(&[train.batch(&pages, &Device::Cpu).unwrap()]).unwrap();
            if (step + 1) % every == 0 {
                losses.push(trainer.eval_loss(&eval).unwrap());
            }
        }
        (losses, trainer.params().fingerprint().unwrap())
    };
    use model::gemm::Precision::{Bf16, F32};
    let (f32_curve, f32_fp) = curve(0, F32);
    let (bf16_curve, bf16_fp) = curve(0, Bf16);
    let (other_seed, _) = curve(1, F32);
    eprintln!("held-out loss every {every} steps: f32 {f32_curve:.4?}, bf16 {bf16_curve:.4?}, f32 seed 1 {other_seed:.4?}");
    let gap = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    let (bf16_gap, seed_gap) = (gap(&f32_curve, &bf16_curve), gap(&f32_curve, &other_seed));
    assert!(bf16_gap < 0.03, "bf16 strays {bf16_gap:.4} nats from the f32 curve");
    assert!(bf16_gap < seed_gap, "bf16 strays {bf16_gap:.4} nats, another seed {seed_gap:.4}");
    assert!(bf16_curve.last().unwrap() < &(0.75 * (cfg.vocab_size as f64).ln()), "bf16 did not learn");
    assert_ne!(bf16_fp, f32_fp, "bf16 training gave f32's parameters: the products were not rounded");
    assert_eq!(run_at(3, Bf16), run_at(3, Bf16), "bf16 training is not reproducible");
    assert_ne!(run_at(3, Bf16), run(3));
}

#[test]
fn the_evaluator_matches_the_trainer_without_recording_a_graph() {
    let dir = tempfile::tempdir().unwrap();
    common::prepare_fortunes(dir.path(), 64);
    let val = Dataset::open(&dir.path().join("val")).unwrap();
    let cfg = LlamaConfig::tiny();
    let mut trainer =
        Trainer::new(Params::init(&cfg, 5, &Device::Cpu).unwrap(), &cfg, train_config(10, 5e-3)).unwrap();
    let pages = random_pages(b"evaluator", 6, val.num_pages()).unwrap();
    for _ in 0..3 {
        trainer.step(&[val.batch(&pages, &Device::Cpu).unwrap()]).unwrap();
    }
    let values = trainer.params().to_vecs().unwrap();
    let eval = model::eval::Evaluator::new(&cfg, &values).unwrap();
    // Batched 4 + 2 and one page at a time give the same per-page losses.
    let batched = eval.page_losses(&val, &pages, 4).unwrap();
    let single = eval.page_losses(&val, &pages, 1).unwrap();
    for (a, b) in batched.iter().zip(&single) {
        assert!((a - b).abs() < 1e-4, "{batched:?} vs {single:?}");
    }
    // Their mean is the trainer's (graph-recording) loss of the same pages.
    let mean = batched.iter().sum::<f64>() / batched.len() as f64;
    let reference = trainer.eval_loss(&[val.batch(&pages, &Device::Cpu).unwrap()]).unwrap();
    assert!((mean - reference).abs() < 1e-4, "{mean} vs {reference}");
    // Weights swapped in change the answer; weights of the wrong shape are refused.
    let mut other =
        model::eval::Evaluator::new(&cfg, &Params::init(&cfg, 6, &Device::Cpu).unwrap().to_vecs().unwrap())
            .unwrap();
    assert_ne!(other.page_losses(&val, &pages, 6).unwrap(), batched);
    other.set(&values).unwrap();
    assert_eq!(other.page_losses(&val, &pages, 4).unwrap(), batched);
    assert!(other.set(&values[1..]).is_err());
}
