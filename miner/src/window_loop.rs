//! The miner's window loop, one tick at a time: look at the chain, reveal what was committed
//! once its deadline is finalized, join from a checkpoint when too far behind, sync `S_w`,
//! offer the model as a checkpoint, prune, then do this window's own work (`own_window`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use model::data::Dataset;
use model::outer::ErrorFeedback;
use model::train::Trainer;
use subnet_peer::http::{Fetcher, ServerHandle, Shelf};
use subnet_peer::state::{StateDir, Status};
use subnet_peer::sync::{self, checkpoint, Global, Run, Step, SyncError};
use subnet_peer::{ChainSeam, Phase, Window};

use crate::metrics::Metrics;
use crate::node::{MinerOptions, MinerStatus};

/// Seconds spent on each part of the current window.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Timings {
    pub(crate) window: u64,
    /// When this peer first saw the window (the first one it sees is partial).
    pub(crate) started: Option<Instant>,
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
    pub(crate) global: Global,
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
    /// Set when the quorum's base is not our model: no commits until a checkpoint fixes it.
    pub(crate) diverged: Option<String>,
    /// Set after joining from a checkpoint of this window: no commits until a quorum's base
    /// has confirmed the model.
    pub(crate) unverified: Option<Window>,
    /// The checkpoint of `global` offered on `GET /checkpoint`.
    pub(crate) offered: Arc<RwLock<Option<Arc<[u8]>>>>,
    /// The window of the offered checkpoint.
    pub(crate) offered_window: Option<Window>,
    /// Windows whose reveal is decided.
    pub(crate) revealed: std::collections::BTreeSet<Window>,
    pub(crate) timings: Timings,
    /// The last sync warning and when it was logged, so a stuck sync does not flood the log.
    pub(crate) last_warning: Option<(String, Instant)>,
    pub(crate) _server: ServerHandle,
}

/// What an inner round left for the commit.
pub(crate) enum Outcome {
    Stored([u8; 32]),
    Skipped(&'static str, String),
    Abandoned,
}

impl<C: ChainSeam + Clone + 'static> Loop<C> {
    pub(crate) fn set_status(&self, change: impl FnOnce(&mut MinerStatus)) {
        change(&mut self.status.lock().expect("status lock"));
    }

    pub(crate) async fn run(mut self) -> anyhow::Result<()> {
        let mut failures = 0u32;
        while !self.stop.load(Ordering::SeqCst) {
            match self.tick().await {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures += 1;
                    // The chain going away is expected now and then; say so once, then quietly retry.
                    if failures == 1 || failures % 20 == 0 {
                        tracing::warn!("{e:#} (retrying)");
                    }
                }
            }
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
                    "window {} took {secs:.1} s: sync {:.2} s, train {:.2} s, compress {:.2} s, store {:.2} s, commit {:.2} s; training {:.0}% of it",
                    t.window,
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
        self.reveal(fin.number, now)?;
        if self.global.window.0.saturating_add(self.opts.retention) < now.0 {
            self.join(fin, now).await;
        }
        self.sync(now).await;
        self.offer();
        self.metrics.sync_lag_windows.set(now.0.saturating_sub(self.global.window.0) as i64);
        self.retain(now);
        if self.global.window == now && self.diverged.is_none() && self.unverified.is_none() {
            self.work(now, fin).await?;
        }
        Ok(())
    }

    /// Puts each committed payload whose deadline is finalized on the shelf. A window whose
    /// reveal is decided (revealed, or nothing to reveal) is not looked at again.
    fn reveal(&mut self, finalized: u64, now: Window) -> anyhow::Result<()> {
        let size = self.run.codec.payload_bytes() as u64;
        let oldest = Window(now.0.saturating_sub(self.opts.retention));
        self.revealed.retain(|w| *w >= oldest);
        for w in oldest.0..=now.0 {
            let w = Window(w);
            let Some(deadline) = self.run.schedule.commit_deadline(w) else { continue };
            if deadline > finalized || self.revealed.contains(&w) {
                continue;
            }
            match self.state.record(w)? {
                Some(Status::Committed { hash, .. }) => {
                    let hash = parse_hash(&hash)?;
                    match self.state.payload(w, &hash, size)? {
                        Some(bytes) => {
                            self.shelf.put(w, hash, bytes.into());
                            tracing::info!("revealed the payload of {w} ({})", short(&hash));
                        }
                        None => {
                            tracing::warn!("the committed payload of {w} is missing from the state directory")
                        }
                    }
                }
                // A commit may still be confirmed: look again next tick.
                Some(Status::Stored { .. } | Status::Committing { .. }) => continue,
                Some(Status::Skipped { .. }) | None => {}
            }
            self.revealed.insert(w);
        }
        Ok(())
    }

    async fn sync(&mut self, now: Window) {
        while self.global.window < now && !self.stop.load(Ordering::SeqCst) {
            let from = self.global.window;
            let step =
                sync::step(&self.chain, &self.run, &mut self.global, &self.fetcher, &self.shelf, &self.state)
                    .await;
            match step {
                Ok(Step::Waiting) => {
                    self.set_status(|s| s.sync = format!("waiting for the update of {from}"));
                    return;
                }
                Ok(Step::Empty(w)) => tracing::info!("{w}: no update had a quorum; the model stays"),
                Ok(Step::Applied { window, payloads, fetch, apply }) => {
                    self.metrics.updates_applied.inc();
                    // The step checked the quorum's base against this model before applying.
                    if let Some(joined) = self.unverified.take() {
                        tracing::info!(
                            "the checkpoint of {joined} is confirmed by the quorum's base of {window}"
                        );
                    }
                    let secs = (fetch + apply).as_secs_f64();
                    self.metrics.phase("sync", secs);
                    self.timings.sync += secs;
                    tracing::info!(
                        "{window}: applied {payloads} payloads (fetch {:.2} s, apply {:.2} s); model {}",
                        fetch.as_secs_f64(),
                        apply.as_secs_f64(),
                        short(&self.global.fingerprint)
                    );
                }
                Err(e) => {
                    if let SyncError::Diverged { .. } = &e {
                        self.metrics.fingerprint_mismatches.inc();
                        if self.diverged.is_none() {
                            tracing::error!("{e}");
                        }
                        self.diverged = Some(e.to_string());
                    } else {
                        if let SyncError::Fetch { source, .. } = &e {
                            self.metrics
                                .fetch_failures
                                .get_or_create(&vec![("reason".into(), source.reason().into())])
                                .inc();
                        }
                        let text = e.to_string();
                        let repeat = self.last_warning.as_ref().is_some_and(|(last, at)| {
                            *last == text && at.elapsed() < Duration::from_secs(30)
                        });
                        if !repeat {
                            tracing::warn!("{text} (retrying)");
                            self.last_warning = Some((text, Instant::now()));
                        }
                    }
                    self.set_status(|s| s.sync = format!("behind: {e}"));
                    return;
                }
            }
            if let Err(e) = self.global.save(self.state.root()) {
                tracing::warn!("saving the model of {}: {e:#}", self.global.window);
            }
            self.set_status(|s| {
                s.model_window = self.global.window.0;
                s.fingerprint = hex::encode(self.global.fingerprint);
            });
        }
        if self.global.window >= now {
            self.set_status(|s| s.sync = "synced".into());
        }
    }

    /// Too far behind to replay from the payloads peers still hold: takes the newest
    /// checkpoint a peer offers that decodes for this run and is ahead of this model.
    /// Validators are asked first. The model stays unverified until a quorum's base confirms it.
    async fn join(&mut self, fin: subnet_peer::seam::BlockRef, now: Window) {
        let me = self.chain.hotkey();
        let Ok(mut neurons) = self.chain.neurons_at(self.run.netuid(), fin).await else { return };
        neurons.sort_by_key(|n| (!n.permit, std::cmp::Reverse(n.stake)));
        let limit = checkpoint::limit(&self.run) as usize;
        let mut best: Option<(Global, SocketAddr)> = None;
        for n in neurons.iter().filter(|n| n.hotkey != me) {
            let Some(axon) = n.axon else { continue };
            let got = match self.fetcher.checkpoint(axon, limit).await {
                Ok(bytes) => checkpoint::decode(&self.run, &bytes),
                Err(e) => Err(e.into()),
            };
            match got {
                Ok(g) if g.window > self.global.window && g.window <= now => {
                    if best.as_ref().is_none_or(|(b, _)| g.window > b.window) {
                        best = Some((g, axon));
                    }
                }
                Ok(g) => tracing::debug!("{axon} offers a checkpoint of {}, not ahead of ours", g.window),
                Err(e) => tracing::debug!("no usable checkpoint from {axon}: {e:#}"),
            }
        }
        let Some((g, from)) = best else {
            self.set_status(|s| {
                s.sync = format!("behind since {}: no peer offers a checkpoint", self.global.window)
            });
            return;
        };
        tracing::info!(
            "joined from the checkpoint of {} ({}) served by {from}; no commits until the quorum confirms it",
            g.window,
            short(&g.fingerprint)
        );
        self.unverified = Some(g.window);
        self.set_status(|s| {
            s.joined_from = Some(g.window.0);
            s.sync =
                format!("joined from the checkpoint of {}; waiting for the quorum to confirm it", g.window);
        });
        self.global = g;
        if let Err(e) = self.global.save(self.state.root()) {
            tracing::warn!("saving the joined model: {e:#}");
        }
    }

    /// Offers the current model as the checkpoint (re-encoded when it moves).
    fn offer(&mut self) {
        if self.offered_window == Some(self.global.window) || self.unverified.is_some() {
            return;
        }
        match checkpoint::encode(&self.run, &self.global) {
            Ok(bytes) => *self.offered.write().expect("checkpoint lock") = Some(bytes.into()),
            Err(e) => tracing::debug!("no checkpoint offered: {e:#}"),
        }
        self.offered_window = Some(self.global.window);
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

pub(crate) fn short(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..6])
}
