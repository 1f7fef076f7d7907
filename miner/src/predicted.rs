//! Training on the predicted `S_w` (`subnet_peer::sync::predict`): once `D_{w-1}` is
//! finalized the miner predicts the update of `w - 1` and runs window `w`'s inner round on the
//! result while the validators approve; the round is stored and committed only once the
//! settled `S_w` has the predicted fingerprint, in time. A wrong or late prediction is dropped
//! (the optimizer's moments go back to before it), and the window is trained again on the
//! settled model if there is still time.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use subnet_peer::sync::predict;
use subnet_peer::{ChainSeam, Phase, Window};

use crate::window_loop::{short, Loop, Round, Speculation};

/// How long the predictor waits for a candidate's author to serve its payload; one not
/// served by then is predicted to fail its approval.
const PREDICT_FETCH: Duration = Duration::from_secs(2);

impl<C: ChainSeam + Clone + 'static> Loop<C> {
    fn predicted_status(&self, w: Window, fingerprint: [u8; 32], what: &'static str) {
        self.set_status(|s| s.predicted = Some((w.0, hex::encode(fingerprint), what)));
    }

    /// While the model is `S_{now-1}`: predicts `S_now` as soon as the candidates of `now - 1`
    /// are final, and trains `now`'s round on it (once per window).
    pub(crate) async fn speculate(&mut self, now: Window) -> anyhow::Result<()> {
        if !self.opts.predict || self.predicted >= Some(now) || self.speculation.is_some() {
            return Ok(());
        }
        if self.state.record(now)?.is_some() || self.feedback_window >= Some(now) {
            self.predicted = Some(now);
            return Ok(());
        }
        if self.run.schedule.phase(self.head.load(Ordering::SeqCst)) == Phase::Commit {
            return Ok(());
        }
        let started = Instant::now();
        let global = &self.follower.global;
        let prediction =
            match predict(&self.chain, &self.run, global, &self.fetcher, &self.state, PREDICT_FETCH).await {
                Ok(None) => return Ok(()),
                Ok(Some(p)) => p,
                Err(e) => {
                    self.predicted = Some(now);
                    tracing::warn!("{now}: no prediction, waiting for the model to settle: {e}");
                    return Ok(());
                }
            };
        self.predicted = Some(now);
        let secs = started.elapsed().as_secs_f64();
        self.metrics.phase("predict", secs);
        self.timings.predict += secs;
        let base = prediction.fingerprint;
        tracing::info!(
            "{now}: training on the predicted model {} ({} payloads of {}, predicted in {secs:.2} s)",
            short(&base),
            prediction.update.len(),
            self.follower.global.window
        );
        self.predicted_status(now, base, "training");
        let optimizer = self.trainer.lock().expect("trainer lock").optimizer().clone();
        match self.round(now, prediction.params, base).await? {
            Round::Trained(trained) => {
                self.predicted_status(now, base, "trained");
                self.speculation = Some(Speculation { window: now, base, trained, optimizer });
            }
            Round::Skipped(_, reason) => {
                self.trainer.lock().expect("trainer lock").set_optimizer(optimizer);
                tracing::warn!("{now}: the round on the predicted model failed: {reason}");
            }
            Round::Abandoned => {}
        }
        Ok(())
    }

    /// Once the model is `S_now`: stores the round trained on its prediction if the prediction
    /// was right and there is time to commit it, else drops it.
    pub(crate) fn settle_prediction(&mut self, now: Window) -> anyhow::Result<()> {
        let Some(spec) = self.speculation.take() else { return Ok(()) };
        let drop_round = |me: &mut Self, spec: Speculation| {
            me.trainer.lock().expect("trainer lock").set_optimizer(spec.optimizer);
        };
        if spec.window != now || self.state.record(now)?.is_some() {
            drop_round(self, spec);
            return Ok(());
        }
        let settled = self.follower.global.fingerprint;
        if spec.base != settled {
            tracing::info!(
                "{now}: the model settled as {}, not the predicted {}: the round trained on the prediction is dropped",
                short(&settled),
                short(&spec.base)
            );
            self.metrics.prediction("wrong");
            self.predicted_status(now, spec.base, "wrong");
            drop_round(self, spec);
            return Ok(());
        }
        let head = self.head.load(Ordering::SeqCst);
        let by = self.run.schedule.commit_by(now).unwrap_or(0);
        if head > by {
            self.metrics.prediction("late");
            self.predicted_status(now, spec.base, "late");
            drop_round(self, spec);
            return self.skip(
                now,
                "late_settle",
                format!("the model of {now} settled as predicted at block {head}, after {by}"),
            );
        }
        self.metrics.prediction("confirmed");
        self.predicted_status(now, spec.base, "confirmed");
        self.persist(now, spec.trained)
    }
}
