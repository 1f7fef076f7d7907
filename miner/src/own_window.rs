//! This window's own work: the inner round on `S_w`, error feedback into a copy, the payload
//! stored with the error buffer and the optimizer's moments, then the commit by the deadline
//! with the restart plan; or a skip with its reason, and nothing half-committed.

use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::Context;
use model::codec::{payload_hash, Header};
use model::train::{inner_round, window_batches, RoundEnd};
use std::sync::Mutex;
use subnet_peer::seam::SeamError;

use subnet_peer::state::{commit_plan, CommitPlan, StateDir, Status};
use subnet_peer::{ChainSeam, Phase, Window};

use crate::metrics::Metrics;
use crate::node::MinerStatus;
use crate::window_loop::{short, Loop, Round, Trained};

/// Records that nothing of `w` will be committed: its record, the metric, the status line. The
/// window loop and the reveal task (which settles what the loop has left behind) share it.
pub(crate) fn record_skip(
    state: &StateDir,
    metrics: &Metrics,
    status: &Mutex<MinerStatus>,
    w: Window,
    kind: &'static str,
    reason: String,
) -> anyhow::Result<()> {
    tracing::warn!("{w} skipped: {reason}");
    metrics.skipped(kind);
    state.set_record(w, &Status::Skipped { reason: reason.clone() })?;
    status.lock().expect("status lock").last_skip = Some((w.0, reason));
    Ok(())
}

/// Records that `w`'s commitment of `hash` landed in `block` (as [`record_skip`], shared).
pub(crate) fn record_commit(
    state: &StateDir,
    metrics: &Metrics,
    status: &Mutex<MinerStatus>,
    w: Window,
    hash: [u8; 32],
    block: u64,
) -> anyhow::Result<()> {
    state.set_record(w, &Status::Committed { hash: hex::encode(hash), block })?;
    metrics.windows_committed.inc();
    status.lock().expect("status lock").last_commit = Some((w.0, hex::encode(hash), block));
    Ok(())
}

impl<C: ChainSeam + Clone + 'static> Loop<C> {
    pub(crate) fn skip(&self, w: Window, kind: &'static str, reason: String) -> anyhow::Result<()> {
        record_skip(&self.state, &self.metrics, &self.status, w, kind, reason)
    }

    /// This window's own work: train and store if nothing is recorded yet, then commit.
    pub(crate) async fn work(&mut self, now: Window, fin: subnet_peer::seam::BlockRef) -> anyhow::Result<()> {
        let schedule = self.run.schedule;
        self.settle_prediction(now)?;
        let head = self.head.load(Ordering::SeqCst);
        match self.state.record(now)? {
            None if self.feedback_window >= Some(now) => {
                // A restart between folding the error buffer and recording the payload.
                self.skip(now, "restart", "the payload was stored but not recorded before a restart".into())?
            }
            None if schedule.phase(head) == Phase::Commit => {
                let reason = format!(
                    "too late to train: block {head} is past {}",
                    schedule.commit_by(now).unwrap_or(0)
                );
                self.skip(now, "late_start", reason)?
            }
            None => {
                let start = self.follower.global.params.to_vecs()?;
                match self.round(now, start, self.follower.global.fingerprint).await? {
                    Round::Trained(trained) => self.persist(now, trained)?,
                    Round::Skipped(kind, reason) => return self.skip(now, kind, reason),
                    Round::Abandoned => return Ok(()),
                }
            }
            Some(_) => {}
        }
        self.commit(now, fin).await
    }

    async fn commit(&mut self, now: Window, fin: subnet_peer::seam::BlockRef) -> anyhow::Result<()> {
        let record = self.state.record(now)?;
        if !matches!(record, Some(Status::Stored { .. } | Status::Committing { .. })) {
            return Ok(());
        }
        let schedule = self.run.schedule;
        let hotkey = self.chain.hotkey();
        let netuid = self.run.netuid();
        let ours = self
            .chain
            .commitments_at(netuid, now.0, fin)
            .await?
            .into_iter()
            .find(|c| c.hotkey == hotkey && schedule.in_commit_range(now, c.block));
        let head = self.head.load(Ordering::SeqCst);
        let open = schedule.commit_by(now).is_some_and(|by| head <= by);
        match commit_plan(record.as_ref(), ours.as_ref().map(|c| c.hash), open) {
            CommitPlan::Done => {
                let c = ours.expect("Done means it is on chain");
                self.committed(now, c.hash, c.block)?;
            }
            CommitPlan::Submit(hash) => {
                self.state.set_record(now, &Status::Committing { hash: hex::encode(hash) })?;
                let started = Instant::now();
                match self.chain.commit(netuid, now.0, hash).await {
                    Ok(block) => {
                        let secs = started.elapsed().as_secs_f64();
                        self.metrics.phase("commit", secs);
                        self.timings.commit += secs;
                        if schedule.in_commit_range(now, block) {
                            self.committed(now, hash, block)?;
                        } else {
                            self.skip(
                                now,
                                "late_commit",
                                format!("the commitment landed in block {block}, after the deadline"),
                            )?;
                        }
                    }
                    // It may still land: the next tick looks at the chain before resubmitting.
                    Err(SeamError::Unconfirmed(e)) => tracing::warn!("{now}: commit unconfirmed: {e}"),
                    Err(SeamError::NotRegistered(e)) => {
                        self.skip(now, "deregistered", format!("the hotkey is no longer registered: {e}"))?
                    }
                    Err(e) => tracing::warn!("{now}: commit failed: {e} (retrying while the window is open)"),
                }
            }
            CommitPlan::Nothing if matches!(record, Some(Status::Stored { .. })) => {
                // Never submitted, and the window closed meanwhile: it will not be.
                let by = schedule.commit_by(now).unwrap_or(0);
                self.skip(
                    now,
                    "late_commit",
                    format!("the payload was stored, but block {head} is past {by}"),
                )?;
            }
            CommitPlan::Nothing => {
                let deadline = schedule.commit_deadline(now).unwrap_or(u64::MAX);
                if fin.number >= deadline {
                    self.skip(now, "not_committed", format!("no commitment landed by block {deadline}"))?;
                }
            }
        }
        Ok(())
    }

    fn committed(&mut self, w: Window, hash: [u8; 32], block: u64) -> anyhow::Result<()> {
        record_commit(&self.state, &self.metrics, &self.status, w, hash, block)?;
        let t = self.timings;
        tracing::info!(
            "{w}: committed {} in block {block} (train {:.2} s, compress {:.2} s, store {:.2} s, commit {:.2} s)",
            short(&hash),
            t.train,
            t.compress,
            t.store,
            t.commit
        );
        Ok(())
    }

    /// Runs the inner round of `now` from `start` (`S_now`, or its prediction, whose
    /// fingerprint is `base`) and compresses it into the error buffer's copy; nothing is
    /// stored yet (see [`Loop::persist`]).
    pub(crate) async fn round(
        &mut self,
        now: Window,
        start: Vec<Vec<f32>>,
        base: [u8; 32],
    ) -> anyhow::Result<Round> {
        let run = self.run.clone();
        let schedule = run.schedule;
        let commit_by = schedule.commit_by(now).unwrap_or(0);
        let hotkey = self.chain.hotkey();
        let (data, trainer, head, stop, status) = (
            self.data.clone(),
            self.trainer.clone(),
            self.head.clone(),
            self.stop.clone(),
            self.status.clone(),
        );
        let steps = run.inner_steps();
        let pages = run.config.inner.pages_per_step as usize;
        let started = Instant::now();
        self.set_status(|s| {
            s.step = 0;
            s.loss = None;
        });
        let count = steps * pages;
        if let Ok(picked) = model::data::pages(run.netuid(), now.0, &hotkey, count, data.num_pages()) {
            self.set_status(|s| s.last_pages = Some((now.0, picked)));
        }
        let round = tokio::task::spawn_blocking(move || -> anyhow::Result<(RoundEnd, f64, usize)> {
            let batches = window_batches(&data, run.netuid(), now.0, &hotkey, steps, pages)?;
            let tokens: usize = batches.iter().map(|b| b.tokens()).sum();
            let mut trainer = trainer.lock().expect("trainer lock");
            let clock = Instant::now();
            let mut loss_sum = 0.0;
            let end = inner_round(&mut trainer, &start, &batches, run.first_step(now), |st| {
                loss_sum += st.loss;
                let mut s = status.lock().expect("status lock");
                s.step += 1;
                s.loss = Some(st.loss);
                s.tokens_per_second =
                    Some((s.step * tokens / steps.max(1)) as f64 / clock.elapsed().as_secs_f64());
                !stop.load(Ordering::SeqCst) && head.load(Ordering::SeqCst) <= commit_by
            })?;
            Ok((end, loss_sum, tokens))
        })
        .await
        .context("the inner round panicked")?;
        let (end, loss_sum, tokens) = match round {
            Ok(r) => r,
            Err(e) => return Ok(Round::Skipped("train_error", format!("training failed: {e:#}"))),
        };
        let train_secs = started.elapsed().as_secs_f64();
        let delta = match end {
            RoundEnd::Done(delta) => delta,
            RoundEnd::Stopped(_) if self.stop.load(Ordering::SeqCst) => return Ok(Round::Abandoned),
            RoundEnd::Stopped(n) => {
                return Ok(Round::Skipped(
                    "deadline",
                    format!("training reached step {n} of {steps} when the chain passed block {commit_by}"),
                ))
            }
        };
        self.metrics.windows_trained.inc();
        self.metrics.loss.set(loss_sum / steps.max(1) as f64);
        self.metrics.tokens_per_second.set(tokens as f64 / train_secs);
        self.metrics.phase("train", train_secs);
        self.timings.train += train_secs;

        let started = Instant::now();
        // The fold goes into a copy: a failure (a non-finite delta) leaves the buffer as it was.
        let mut next = self.feedback.clone();
        let codec = &self.run.codec;
        let sent = match next.step(codec, &delta) {
            Ok(sent) => sent,
            Err(e) => {
                return Ok(Round::Skipped("bad_delta", format!("the pseudo-gradient was refused: {e}")))
            }
        };
        let header = Header {
            netuid: self.run.netuid(),
            window: now.0,
            hotkey,
            base,
            run_id: self.run.id.0,
            codec: *codec.params(),
        };
        let bytes = codec.encode(&header, sent);
        let hash = payload_hash(&bytes);
        let compress_secs = started.elapsed().as_secs_f64();
        self.metrics.phase("compress", compress_secs);
        self.timings.compress += compress_secs;
        let head = self.head.load(Ordering::SeqCst);
        if head > commit_by {
            return Ok(Round::Skipped(
                "deadline",
                format!("the payload was ready at block {head}, after {commit_by}"),
            ));
        }
        Ok(Round::Trained(Trained { hash, bytes, feedback: next }))
    }

    /// Stores a round's payload with the error buffer and the optimizer's moments, before the
    /// record says `stored`.
    pub(crate) fn persist(&mut self, now: Window, trained: Trained) -> anyhow::Result<()> {
        let Trained { hash, bytes, feedback } = trained;
        let started = Instant::now();
        self.state.store_payload(now, &hash, &bytes)?;
        feedback.save(&self.state.root().join("feedback.bin"), now.0)?;
        self.trainer
            .lock()
            .expect("trainer lock")
            .save_optimizer(&self.state.root().join("inner.safetensors"))?;
        self.feedback = feedback;
        self.feedback_window = Some(now);
        self.state.set_record(now, &Status::Stored { hash: hex::encode(hash) })?;
        let store_secs = started.elapsed().as_secs_f64();
        self.metrics.phase("store", store_secs);
        self.timings.store += store_secs;
        tracing::debug!("{now}: stored {}", short(&hash));
        Ok(())
    }
}
