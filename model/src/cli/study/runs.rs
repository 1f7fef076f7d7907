//! The three training runs of the study, on the same pages and token budget:
//! a centralized AdamW baseline, DiLoCo (dense pseudo-gradients, Nesterov outer step), and
//! SparseLoCo (error feedback, the gradient codec, payload bytes, the subnet's per-tensor
//! clipped aggregation with its history).

use candle_core::Device;
use model::codec::{Codec, Header};
use model::data::{Batch, Dataset};
use model::outer::{aggregate, mean_dense, ClipHistory, ClipRule, ErrorFeedback, Expected, OuterOptimizer};
use model::train::{eval_loss, inner_round, window_batches, RoundEnd, TrainConfig, Trainer};
use model::{Llama, LlamaConfig, Params};

/// What every run shares.
pub struct Setup<'a> {
    pub cfg: &'a LlamaConfig,
    pub train: &'a Dataset,
    pub evals: &'a [Batch],
    pub tcfg: TrainConfig,
    pub seed: u64,
    pub miners: usize,
    pub windows: u64,
    pub inner_steps: usize,
    pub batch: usize,
    /// Called after each unit of work (one inner step of one miner, or one baseline step).
    pub tick: &'a (dyn Fn(&str) + Sync),
}

/// Eval loss after each window, with the tokens seen so far.
pub struct Curve {
    pub points: Vec<(u64, f64)>,
    /// Bytes each miner sends per window (0 for the baseline).
    pub bytes_per_window: usize,
}

const NETUID: u16 = 1;
/// The study is no chain run; its payloads carry a fixed id.
const STUDY_RUN: [u8; 32] = [0; 32];

fn hotkey(miner: usize) -> [u8; 32] {
    model::rng::blake2_256(format!("study miner {miner}").as_bytes())
}

impl Setup<'_> {
    /// Miner `m`'s batches for window `w`: its own pages, one batch per inner step.
    fn miner_batches(&self, w: u64, m: usize) -> anyhow::Result<Vec<Batch>> {
        Ok(window_batches(self.train, NETUID, w, &hotkey(m), self.inner_steps, self.batch)?)
    }

    fn window_tokens(&self) -> u64 {
        (self.miners * self.inner_steps * self.batch * self.train.page_len()) as u64
    }

    fn genesis(&self) -> anyhow::Result<Params> {
        Ok(Params::init(self.cfg, self.seed, &Device::Cpu)?)
    }

    fn eval(&self, params: &Params) -> anyhow::Result<f64> {
        let llama = Llama::load(params.var_builder(), self.cfg)?;
        Ok(eval_loss(&llama, self.evals)?)
    }

    /// One AdamW run whose step `h` of window `w` averages the gradients of every miner's
    /// batch `h` of window `w`: the same tokens as the distributed runs, `H * W` steps.
    pub fn baseline(&self) -> anyhow::Result<Curve> {
        let mut trainer = Trainer::new(self.genesis()?, self.cfg, self.tcfg)?;
        let mut points = vec![(0, self.eval(trainer.params())?)];
        for w in 0..self.windows {
            let per_miner: Vec<Vec<Batch>> =
                (0..self.miners).map(|m| self.miner_batches(w, m)).collect::<anyhow::Result<_>>()?;
            for h in 0..self.inner_steps {
                let micro: Vec<Batch> = per_miner.iter().map(|b| b[h].clone()).collect();
                trainer.step(&micro)?;
                for _ in 0..self.miners {
                    (self.tick)("baseline");
                }
            }
            points.push(((w + 1) * self.window_tokens(), self.eval(trainer.params())?));
        }
        Ok(Curve { points, bytes_per_window: 0 })
    }

    /// Every miner starts the window from `global`, runs `H` inner steps with its own AdamW
    /// state, and returns its pseudo-gradient.
    fn inner_round(
        &self,
        w: u64,
        global: &[Vec<f32>],
        miners: &mut [Trainer],
        run: &str,
    ) -> anyhow::Result<Vec<Vec<Vec<f32>>>> {
        let mut deltas = Vec::with_capacity(miners.len());
        for (m, trainer) in miners.iter_mut().enumerate() {
            let batches = self.miner_batches(w, m)?;
            let first_step = w * self.inner_steps as u64;
            match inner_round(trainer, global, &batches, first_step, |_| {
                (self.tick)(run);
                true
            })? {
                RoundEnd::Done(delta) => deltas.push(delta),
                RoundEnd::Stopped(n) => anyhow::bail!("miner {m}'s round stopped after {n} steps"),
            }
        }
        Ok(deltas)
    }

    fn miners(&self) -> anyhow::Result<Vec<Trainer>> {
        (0..self.miners).map(|_| Ok(Trainer::new(self.genesis()?, self.cfg, self.tcfg)?)).collect()
    }

    /// DiLoCo: the plain mean of dense pseudo-gradients through `outer`.
    pub fn diloco(&self, mut outer: OuterOptimizer) -> anyhow::Result<Curve> {
        let global = self.genesis()?;
        let mut miners = self.miners()?;
        let mut points = vec![(0, self.eval(&global)?)];
        for w in 0..self.windows {
            let start = global.to_vecs()?;
            let deltas = self.inner_round(w, &start, &mut miners, "diloco")?;
            outer.apply_to(&global, &mean_dense(&deltas)?)?;
            points.push(((w + 1) * self.window_tokens(), self.eval(&global)?));
        }
        // Each miner sends its whole pseudo-gradient as fp32.
        Ok(Curve { points, bytes_per_window: self.cfg.num_params() * 4 })
    }

    /// SparseLoCo: error feedback, the codec, real payload bytes, and the aggregator every
    /// validator runs.
    pub fn sparseloco(
        &self,
        codec: &Codec,
        beta: f32,
        clip: &ClipRule,
        mut outer: OuterOptimizer,
    ) -> anyhow::Result<Curve> {
        let global = self.genesis()?;
        let mut miners = self.miners()?;
        let mut feedback: Vec<ErrorFeedback> =
            (0..self.miners).map(|_| ErrorFeedback::new(codec, beta)).collect();
        let mut points = vec![(0, self.eval(&global)?)];
        let mut bytes_per_window = 0;
        let mut history = ClipHistory::new(codec.layouts().len());
        for w in 0..self.windows {
            let start = global.to_vecs()?;
            let base = global.fingerprint()?;
            let deltas = self.inner_round(w, &start, &mut miners, "sparseloco")?;
            let mut received = Vec::with_capacity(self.miners);
            for (m, (delta, ef)) in deltas.iter().zip(&mut feedback).enumerate() {
                let sent = ef.step(codec, delta)?;
                let header = Header {
                    netuid: NETUID,
                    window: w,
                    hotkey: hotkey(m),
                    base,
                    run_id: STUDY_RUN,
                    codec: *codec.params(),
                };
                let bytes = codec.encode(&header, sent);
                bytes_per_window = bytes.len();
                received.push((m as u16, codec.decode(&bytes)?));
            }
            let agg = aggregate(
                codec,
                &received,
                &Expected { netuid: NETUID, window: w, base, run_id: STUDY_RUN },
                &(0..self.miners).map(|m| (m as u16, hotkey(m))).collect(),
                clip,
                &history,
            )?;
            outer.apply_to(&global, &agg.update)?;
            history.record(&agg.thresholds)?;
            points.push(((w + 1) * self.window_tokens(), self.eval(&global)?));
        }
        Ok(Curve { points, bytes_per_window })
    }
}
