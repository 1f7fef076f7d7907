//! Scoring one window's payloads (Templar's Gauntlet, `../shared/docs/protocol.md`): on `S_w`,
//! the loss on a sample of the miner's own pages and on random pages, both drawn from a seed
//! the validator picked after `D_w` (published in the report, so anyone can recompute the
//! scores), before and after applying that payload alone, clipped as in aggregation, at the
//! evaluation LR. Score = the relative loss improvement on the random pages; the gap (own
//! pages' relative gain minus the random pages') is reported and averaged by `weights`, which
//! pays nobody whose own pages do not gain more on average. Payloads that (nearly) share their
//! top-k positions with another of the window (the later commitment is blamed; in one block,
//! the one whose own pages gained less) or with another miner's of the previous window score
//! nothing, as do failed checks.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use model::codec::Payload;
use model::data::{pages, random_pages, Dataset};
use model::eval::{index_overlap, Evaluator};
use model::outer::{aggregate, ClipHistory, OuterConfig, OuterOptimizer};
use serde::{Deserialize, Serialize};
use subnet_peer::sync::Run;
use subnet_peer::Window;

use crate::check::{Checked, Failure, Reason};

/// How payloads are scored (validator-local; published with the scores).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalSettings {
    /// Pages sampled from the miner's own assignment.
    pub own_pages: usize,
    /// Random pages, the same for every payload of the window.
    pub random_pages: usize,
    /// Pages per forward pass.
    pub batch: usize,
    /// The LR of the single-payload step (the run's outer LR when `None`).
    pub lr: Option<f32>,
    /// How much more (relative) the own pages must gain than the random ones, on average over
    /// the windows (`weights::GAP_WINDOWS` at least), for the uid to be paid.
    pub min_gap: f64,
    /// Share of shared top-k positions from which two payloads count as one copied.
    pub copy_overlap: f64,
    /// Payloads evaluated per window at most; beyond it a sample drawn from the seed is, and
    /// the others are `not_sampled` (their averages do not move).
    pub max_payloads: usize,
}

impl Default for EvalSettings {
    fn default() -> Self {
        Self {
            own_pages: 8,
            random_pages: 8,
            batch: 8,
            lr: None,
            min_gap: 0.0,
            copy_overlap: 0.9,
            max_payloads: 32,
        }
    }
}

/// One window's scoring work, taken while the validator held `S_w`.
pub struct Job {
    /// The window.
    pub window: Window,
    /// `S_w`, flat per tensor.
    pub base: Vec<Vec<f32>>,
    /// The clip history that goes with `S_w`.
    pub clip: ClipHistory,
    /// The secret seed of this window's samples.
    pub seed: [u8; 32],
    /// Every commitment of the window and its check.
    pub checked: Vec<Checked>,
    /// The previous window's payloads that passed their check (replays of them score nothing).
    pub previous: Vec<(u16, Payload)>,
}

/// One uid's line in the window report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The uid.
    pub uid: u16,
    /// Its hotkey, hex.
    pub hotkey: String,
    /// The block it registered in.
    pub registered_at: u64,
    /// "ok", or the reason it scored nothing.
    pub status: String,
    /// Details of a failure.
    pub detail: String,
    /// Mean loss on its own sampled pages before / after its payload.
    pub own: Option<(f64, f64)>,
    /// Mean loss on the random pages before / after its payload.
    pub random: Option<(f64, f64)>,
    /// Relative loss improvement on the random pages.
    pub improvement: Option<f64>,
    /// Own-page relative gain minus the random pages'.
    pub gap: Option<f64>,
    /// The largest top-k overlap with another payload of this or the previous window.
    pub overlap: Option<f64>,
    /// The window's score.
    pub score: f64,
}

/// A scored window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowScores {
    /// The window.
    pub window: u64,
    /// The seed, hex: with it and `S_w` anyone can recompute the rows.
    pub seed: String,
    /// The settings used.
    pub settings: EvalSettings,
    /// Loss of `S_w` on the random pages: the global model's eval loss.
    pub model_loss: f64,
    /// One row per commitment.
    pub rows: Vec<Row>,
    /// Seconds spent scoring.
    pub seconds: f64,
}

/// The status of a payload left out of the window's sample: neither paid nor punished.
pub const NOT_SAMPLED: &str = "not_sampled";

/// Scores `job` (CPU-bound: run it off the async workers).
pub fn score(run: &Run, data: &Dataset, settings: &EvalSettings, job: &Job) -> anyhow::Result<WindowScores> {
    let started = Instant::now();
    let w = job.window;
    let total = data.num_pages();
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let mut eval = Evaluator::new(&run.llama, &job.base).context("the evaluation model")?;
    let random = random_pages(&[&job.seed[..], &b"random"[..]].concat(), settings.random_pages, total)?;
    let random_before = mean(eval.page_losses(data, &random, settings.batch)?);
    let lr = settings.lr.unwrap_or(run.outer.lr);
    let assigned = run.inner_steps() * run.config.inner.pages_per_step as usize;

    let mut rows = Vec::with_capacity(job.checked.len());
    // (row, payload, commit block) of every payload that was evaluated.
    let mut payloads: Vec<(usize, &Payload, u64)> = Vec::new();
    // Which of the payloads that passed their checks are evaluated.
    let passed: Vec<usize> = (0..job.checked.len()).filter(|i| job.checked[*i].outcome.is_ok()).collect();
    let sampled: std::collections::BTreeSet<usize> = if passed.len() > settings.max_payloads {
        random_pages(&[&job.seed[..], &b"sample"[..]].concat(), settings.max_payloads, passed.len() as u64)?
            .into_iter()
            .map(|i| passed[i as usize])
            .collect()
    } else {
        passed.into_iter().collect()
    };
    for (index, c) in job.checked.iter().enumerate() {
        let mut row = Row {
            uid: c.uid,
            hotkey: hex::encode(c.hotkey),
            registered_at: c.registered_at,
            status: "ok".into(),
            detail: String::new(),
            own: None,
            random: None,
            improvement: None,
            gap: None,
            overlap: None,
            score: 0.0,
        };
        let payload = match &c.outcome {
            Ok(_) if !sampled.contains(&index) => {
                row.status = NOT_SAMPLED.into();
                row.detail = format!("not in this window's sample of {}", settings.max_payloads);
                rows.push(row);
                continue;
            }
            Ok((_, p)) => p,
            Err(f) => {
                fail(&mut row, f.clone());
                rows.push(row);
                continue;
            }
        };
        // A sample of the pages it was assigned: pages(netuid, w, hotkey).
        let mine = pages(run.netuid(), w.0, &c.hotkey, assigned, total)?;
        let pick = random_pages(
            &[&job.seed[..], &c.uid.to_le_bytes()[..]].concat(),
            settings.own_pages.min(assigned),
            assigned as u64,
        )?;
        let own: Vec<u64> = pick.iter().map(|i| mine[*i as usize]).collect();
        eval.set(&job.base)?;
        let own_before = mean(eval.page_losses(data, &own, settings.batch)?);
        // The payload alone, clipped as in aggregation (a lone payload's median is its own norm).
        let registered = BTreeMap::from([(c.uid, c.hotkey)]);
        let want = run.expected(w, payload.header.base);
        let agg =
            aggregate(&run.codec, &[(c.uid, payload.clone())], &want, &registered, &run.clip, &job.clip)?;
        let mut theta = job.base.clone();
        OuterOptimizer::new(OuterConfig::sgd(lr)).apply(&mut theta, &agg.update)?;
        eval.set(&theta)?;
        let own_after = mean(eval.page_losses(data, &own, settings.batch)?);
        let random_after = mean(eval.page_losses(data, &random, settings.batch)?);
        let improvement = relative(random_before, random_after);
        let gap = relative(own_before, own_after) - improvement;
        row.own = Some((own_before, own_after));
        row.random = Some((random_before, random_after));
        row.improvement = Some(improvement);
        row.gap = Some(gap);
        row.score = improvement.max(0.0);
        payloads.push((rows.len(), payload, c.block));
        rows.push(row);
    }
    // Copies within the window: the later commitment is the copy (a copier needs the bytes
    // first); in the same block, the one whose own pages gained less.
    for a in 0..payloads.len() {
        for b in a + 1..payloads.len() {
            let (ia, pa, block_a) = payloads[a];
            let (ib, pb, block_b) = payloads[b];
            let overlap = index_overlap(pa, pb).max(index_overlap(pb, pa));
            for i in [ia, ib] {
                rows[i].overlap = Some(rows[i].overlap.unwrap_or(0.0).max(overlap));
            }
            if overlap >= settings.copy_overlap {
                let gap = |i: usize| rows[i].gap.unwrap_or(f64::NEG_INFINITY);
                let a_copied = match block_a.cmp(&block_b) {
                    std::cmp::Ordering::Greater => true,
                    std::cmp::Ordering::Less => false,
                    std::cmp::Ordering::Equal => gap(ia) < gap(ib),
                };
                let (copier, original) = if a_copied { (ia, ib) } else { (ib, ia) };
                let detail = format!(
                    "shares {:.0}% of top-k positions with uid {}, committed {}",
                    overlap * 100.0,
                    rows[original].uid,
                    if block_a == block_b { "in the same block" } else { "earlier" }
                );
                fail(&mut rows[copier], Failure { reason: Reason::Copy, detail });
            }
        }
    }
    // Replays of another miner's payload of the previous window (a miner's own payloads share
    // positions from one window to the next through its error buffer).
    for (i, p, _) in &payloads {
        let author = rows[*i].uid;
        for (uid, q) in job.previous.iter().filter(|(uid, _)| *uid != author) {
            let overlap = index_overlap(p, q);
            rows[*i].overlap = Some(rows[*i].overlap.unwrap_or(0.0).max(overlap));
            if overlap >= settings.copy_overlap && rows[*i].status == "ok" {
                let detail = format!(
                    "shares {:.0}% of top-k positions with uid {uid}'s payload of {}",
                    overlap * 100.0,
                    w.0.saturating_sub(1)
                );
                fail(&mut rows[*i], Failure { reason: Reason::Replay, detail });
            }
        }
    }
    Ok(WindowScores {
        window: w.0,
        seed: hex::encode(job.seed),
        settings: settings.clone(),
        model_loss: random_before,
        rows,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn fail(row: &mut Row, f: Failure) {
    row.status = f.reason.as_str().into();
    row.detail = f.detail;
    row.score = 0.0;
}

fn relative(before: f64, after: f64) -> f64 {
    if before > 0.0 {
        (before - after) / before
    } else {
        0.0
    }
}
