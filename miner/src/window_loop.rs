//! The miner's window loop, one tick at a time: look at the chain, follow the run to `S_w`
//! (`subnet_peer::sync::Follower`: replay, join from a checkpoint, offer ours), prune, then do
//! this window's own work (`own_window`), or, while `S_w` has not settled, train on its
//! prediction (`predicted`). Revealing what was committed is a task of its own (`reveal`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use model::data::Dataset;
use model::outer::ErrorFeedback;
use model::train::Trainer;
use subnet_peer::http::{Fetcher, ServerHandle, Shelf};
use subnet_peer::state::StateDir;
use subnet_peer::sync::{Follower, Run};
use subnet_peer::{ChainSeam, Phase, Window};

use crate::metrics::Metrics;
use crate::node::{MinerOptions, MinerStatus};

/// Seconds spent on each part of the current window.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Timings {
    pub(crate) window: u64,
    /// When this peer first saw the window (the first one it sees is partial).
    pub(crate) started: Option<Instant>,
    pub(crate) predict: f64,
    pub(crate) sync: f64,
    pub(crate) train: f64,
    pub(crate) compress: f64,
    pub(crate) store: f64,
    pub(crate) commit: f64,
}

pub(crate) struct Loop<C> {
    pub(crate) chain: C,
    pub(crate) run: Arc<Run>,
    pub(crate) opts: MinerOptions,
    pub(crate) state: StateDir,
    /// `S_w` and how far it is vouched for.
    pub(crate) follower: Follower,
    pub(crate) trainer: Arc<Mutex<Trainer>>,
    pub(crate) feedback: ErrorFeedback,
    /// The window last folded into `feedback`.
    pub(crate) feedback_window: Option<Window>,
    pub(crate) data: Arc<Dataset>,
    pub(crate) shelf: Shelf,
    pub(crate) fetcher: Fetcher,
    pub(crate) metrics: Metrics,
    pub(crate) status: Arc<Mutex<MinerStatus>>,
    pub(crate) head: Arc<AtomicU64>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) timings: Timings,
    /// The last window a prediction was made (or given up) for.
    pub(crate) predicted: Option<Window>,
    pub(crate) speculation: Option<Speculation>,
    pub(crate) _server: ServerHandle,
}

/// How an inner round ended.
pub(crate) enum Round {
    Trained(Trained),
    Skipped(&'static str, String),
    Abandoned,
}

/// A finished round, compressed, not stored yet.
pub(crate) struct Trained {
    pub(crate) hash: [u8; 32],
    pub(crate) bytes: Vec<u8>,
    /// The error buffer with this round folded in.
    pub(crate) feedback: ErrorFeedback,
}

/// A round trained on the predicted `S_w`, kept until the model settles.
pub(crate) struct Speculation {
    pub(crate) window: Window,
    /// The predicted model's fingerprint, which the payload names as its base.
    pub(crate) base: [u8; 32],
    pub(crate) trained: Trained,
    /// The optimizer's state before the round, put back if the round is dropped.
    pub(crate) optimizer: model::train::AdamW,
}

impl<C: ChainSeam + Clone + 'static> Loop<C> {
    pub(crate) fn set_status(&self, change: impl FnOnce(&mut MinerStatus)) {
        change(&mut self.status.lock().expect("status lock"));
    }

    pub(crate) async fn run(mut self) -> anyhow::Result<()> {
        let mut retries = subnet_peer::sync::Retries::default();
        while !self.stop.load(Ordering::SeqCst) {
            retries.note(self.tick().await);
            tokio::time::sleep(self.opts.poll).await;
        }
        tracing::info!("miner stopped");
        Ok(())
    }

    async fn tick(&mut self) -> anyhow::Result<()> {
        let head = self.chain.best_number().await?;
        self.head.fetch_max(head, Ordering::SeqCst);
        let fin = self.chain.finalized().await?;
        let schedule = self.run.schedule;
        let now = schedule.window_of(head);
        self.set_status(|s| {
            s.head = head;
            s.window = now.0;
            s.phase = match schedule.phase(head) {
                Phase::Train => "train",
                Phase::Commit => "commit",
            };
        });
        if self.timings.window != now.0 {
            let t = self.timings;
            if let (Some(started), true) = (t.started, t.train > 0.0) {
                let secs = started.elapsed().as_secs_f64();
                tracing::info!(
                    "window {} took {secs:.1} s: predict {:.2} s, sync {:.2} s, train {:.2} s, compress {:.2} s, store {:.2} s, commit {:.2} s; training {:.0}% of it",
                    t.window,
                    t.predict,
                    t.sync,
                    t.train,
                    t.compress,
                    t.store,
                    t.commit,
                    100.0 * t.train / secs
                );
            }
            // A window this peer saw start is timed whole; the first one it joins is not.
            let seen_start = t.window != u64::MAX;
            self.timings =
                Timings { window: now.0, started: seen_start.then(Instant::now), ..Default::default() };
        }
        self.follow(fin, now).await;
        self.metrics.sync_lag_windows.set(now.0.saturating_sub(self.follower.global.window.0) as i64);
        self.retain(now);
        if self.follower.ready(now) {
            self.work(now, fin).await?;
        } else if self.follower.trusted() && self.follower.global.window.next() == now {
            self.speculate(now).await?;
        }
        Ok(())
    }

    async fn follow(&mut self, fin: subnet_peer::seam::BlockRef, now: Window) {
        let progress = self
            .follower
            .follow(&self.chain, &self.run, &self.fetcher, &self.shelf, &self.state, fin, now, &self.stop)
            .await;
        for (_, _, secs) in &progress.applied {
            self.metrics.updates_applied.inc();
            self.metrics.phase("sync", *secs);
            self.timings.sync += secs;
        }
        if progress.mismatch {
            self.metrics.fingerprint_mismatches.inc();
        }
        if let Some(reason) = progress.fetch_failure {
            self.metrics.fetch_failures.get_or_create(&vec![("reason".into(), reason.into())]).inc();
        }
        let global = &self.follower.global;
        let (window, fingerprint, sync) =
            (global.window.0, hex::encode(global.fingerprint), self.follower.state().to_string());
        self.set_status(|s| {
            s.model_window = window;
            s.fingerprint = fingerprint;
            s.sync = sync;
            if let Some(v) = progress.joined {
                s.joined_from = Some(v.0);
            }
            if let Some((from, to)) = progress.caught_up {
                s.caught_up = Some((from.0, to.0));
            }
        });
    }

    fn retain(&self, now: Window) {
        let keep = Window(now.0.saturating_sub(self.opts.retention));
        self.shelf.retain(keep);
        if let Err(e) = self.state.retain(keep) {
            tracing::warn!("pruning the state directory: {e}");
        }
    }
}

pub(crate) fn parse_hash(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(text).context("a recorded hash is not hex")?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("a recorded hash is not 32 bytes"))
}

pub(crate) use subnet_peer::sync::short;
