//! Following the run: keeping `S_w` at the chain's window, the part the miner's and the
//! validator's loops share. Each call replays the settled updates up to the head's window (one
//! [`step`] each), joins from a peer's checkpoint when too far behind or diverged
//! (docs/protocol.md, sections 5 and 8), and offers the model as this peer's checkpoint once
//! a quorum's base has vouched for it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::http::{Fetcher, Shelf};
use crate::seam::BlockRef;
use crate::state::StateDir;
use crate::sync::step::{step, Step, SyncError};
use crate::sync::{checkpoint, Global, Run};
use crate::{ChainSeam, Window};

/// The wait between two checkpoint searches that found nothing to take (each search asks
/// every registered peer for its model).
const JOIN_RETRY: Duration = Duration::from_secs(3);

/// The same sync warning is logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// The checkpoint a peer offers on `GET /checkpoint` (shared with its HTTP server).
pub type Offered = Arc<RwLock<Option<Arc<[u8]>>>>;

/// What one [`Follower::follow`] call did, for the caller's metrics and status.
#[derive(Debug, Default)]
pub struct Progress {
    /// Updates applied: window, payloads, seconds fetching plus applying.
    pub applied: Vec<(Window, usize, f64)>,
    /// The quorum's base was not this model.
    pub mismatch: bool,
    /// A payload could not be fetched, with the fetch error's reason.
    pub fetch_failure: Option<&'static str>,
    /// The window of the checkpoint joined from.
    pub joined: Option<Window>,
}

/// `S_w` and how far it can be trusted.
pub struct Follower {
    /// The model.
    pub global: Global,
    retention: u64,
    /// Set when the quorum's base is not our model: no commits until a checkpoint fixes it.
    diverged: Option<String>,
    /// Set after joining from a checkpoint of this window: unconfirmed until a quorum's base
    /// has vouched for the model.
    unverified: Option<Window>,
    next_join: Option<Instant>,
    offered: Offered,
    offered_window: Option<Window>,
    last_warning: Option<(String, Instant)>,
    sync: String,
}

impl Follower {
    /// Follows from `global`; payloads are held `retention` windows, so a peer further behind
    /// joins from a checkpoint.
    pub fn new(global: Global, retention: u64) -> Self {
        Self {
            global,
            retention,
            diverged: None,
            unverified: None,
            next_join: None,
            offered: Offered::default(),
            offered_window: None,
            last_warning: None,
            sync: "starting".into(),
        }
    }

    /// The slot the HTTP server serves `GET /checkpoint` from.
    pub fn offered(&self) -> Offered {
        self.offered.clone()
    }

    /// The sync state in words, for a status line.
    pub fn state(&self) -> &str {
        &self.sync
    }

    /// Whether the model is `S_now` and vouched for: only then may a peer commit on it.
    pub fn ready(&self, now: Window) -> bool {
        self.global.window == now && self.trusted()
    }

    /// Whether the model is vouched for (not diverged, not an unconfirmed checkpoint),
    /// whatever its window.
    pub fn trusted(&self) -> bool {
        self.diverged.is_none() && self.unverified.is_none()
    }

    /// Brings the model as close to `S_now` as the finalized chain allows.
    #[allow(clippy::too_many_arguments)]
    pub async fn follow<C: ChainSeam>(
        &mut self,
        chain: &C,
        run: &Run,
        fetcher: &Fetcher,
        shelf: &Shelf,
        state: &StateDir,
        fin: BlockRef,
        now: Window,
        stop: &AtomicBool,
    ) -> Progress {
        let mut progress = Progress::default();
        let behind = self.global.window.0.saturating_add(self.retention) < now.0;
        if (behind || self.diverged.is_some()) && self.next_join.is_none_or(|t| Instant::now() >= t) {
            progress.joined = self.join(chain, run, fetcher, state, fin, now).await;
        }
        while self.global.window < now && !stop.load(Ordering::SeqCst) {
            let from = self.global.window;
            match step(chain, run, &mut self.global, fetcher, shelf, state).await {
                Ok(Step::Waiting) => {
                    self.sync = format!("waiting for the update of {from}");
                    break;
                }
                Ok(Step::Empty(w)) => tracing::info!("{w}: no update had a quorum; the model stays"),
                Ok(Step::Applied { window, payloads, fetch, apply }) => {
                    // The step checked the quorum's base against this model before applying.
                    if let Some(joined) = self.unverified.take() {
                        tracing::info!(
                            "the checkpoint of {joined} is confirmed by the quorum's base of {window}"
                        );
                    }
                    tracing::info!(
                        "{window}: applied {payloads} payloads (fetch {:.2} s, apply {:.2} s); model {}",
                        fetch.as_secs_f64(),
                        apply.as_secs_f64(),
                        short(&self.global.fingerprint)
                    );
                    progress.applied.push((window, payloads, (fetch + apply).as_secs_f64()));
                }
                Err(e) => {
                    match &e {
                        SyncError::Diverged { .. } => {
                            progress.mismatch = true;
                            if self.diverged.is_none() {
                                tracing::error!("{e}");
                            }
                            self.diverged = Some(e.to_string());
                        }
                        SyncError::Fetch { source, .. } => {
                            progress.fetch_failure = Some(source.reason());
                            self.warn(e.to_string());
                        }
                        _ => self.warn(e.to_string()),
                    }
                    self.sync = format!("behind: {e}");
                    break;
                }
            }
            if let Err(e) = self.global.save(state.root()) {
                tracing::warn!("saving the model of {}: {e:#}", self.global.window);
            }
        }
        if self.global.window >= now {
            self.sync = match self.unverified {
                Some(v) => format!("joined from the checkpoint of {v}; waiting for the quorum to confirm it"),
                None => "synced".into(),
            };
        }
        self.offer(run);
        progress
    }

    fn warn(&mut self, text: String) {
        let repeat =
            self.last_warning.as_ref().is_some_and(|(last, at)| *last == text && at.elapsed() < WARN_EVERY);
        if !repeat {
            tracing::warn!("{text} (retrying)");
            self.last_warning = Some((text, Instant::now()));
        }
    }

    /// Takes the newest checkpoint a peer offers that decodes for this run and is ahead of this
    /// model (or, diverged, of this model's window with another fingerprint). Validators are
    /// asked first. The model stays unverified until a quorum's base confirms it.
    async fn join<C: ChainSeam>(
        &mut self,
        chain: &C,
        run: &Run,
        fetcher: &Fetcher,
        state: &StateDir,
        fin: BlockRef,
        now: Window,
    ) -> Option<Window> {
        self.next_join = Some(Instant::now() + JOIN_RETRY);
        let me = chain.hotkey();
        let mut neurons = chain.neurons_at(run.netuid(), fin).await.ok()?;
        neurons.sort_by_key(|n| (!n.permit, std::cmp::Reverse(n.stake)));
        let diverged = self.diverged.is_some();
        let (ours, our_fp) = (self.global.window, self.global.fingerprint);
        let usable = |g: &Global| {
            g.window <= now && (g.window > ours || (diverged && g.window == ours && g.fingerprint != our_fp))
        };
        let limit = checkpoint::limit(run) as usize;
        let mut best: Option<(Global, SocketAddr)> = None;
        for n in neurons.iter().filter(|n| n.hotkey != me) {
            let Some(axon) = n.axon else { continue };
            let got = match fetcher.checkpoint(axon, limit).await {
                Ok(bytes) => checkpoint::decode(run, &bytes),
                Err(e) => Err(e.into()),
            };
            match got {
                Ok(g) if usable(&g) => {
                    if best.as_ref().is_none_or(|(b, _)| g.window > b.window) {
                        best = Some((g, axon));
                    }
                }
                Ok(g) => tracing::debug!("{axon} offers a checkpoint of {}, not one to take", g.window),
                Err(e) => tracing::debug!("no usable checkpoint from {axon}: {e:#}"),
            }
        }
        let Some((g, from)) = best else {
            let why = if diverged { "diverged at" } else { "behind since" };
            self.sync = format!("{why} {ours}: no peer offers a checkpoint to take");
            return None;
        };
        tracing::info!(
            "joined from the checkpoint of {} ({}) served by {from}; unconfirmed until the quorum's base vouches for it",
            g.window,
            short(&g.fingerprint)
        );
        if let Some(why) = self.diverged.take() {
            tracing::info!("the checkpoint replaces the model that diverged ({why})");
        }
        let window = g.window;
        self.unverified = Some(window);
        self.global = g;
        if let Err(e) = self.global.save(state.root()) {
            tracing::warn!("saving the joined model: {e:#}");
        }
        Some(window)
    }

    /// Offers the current model as the checkpoint (re-encoded when it moves); an unconfirmed
    /// or diverged model is not offered.
    fn offer(&mut self, run: &Run) {
        if self.unverified.is_some() || self.diverged.is_some() {
            if self.offered_window.take().is_some() {
                *self.offered.write().expect("checkpoint lock") = None;
            }
            return;
        }
        if self.offered_window == Some(self.global.window) {
            return;
        }
        match checkpoint::encode(run, &self.global) {
            Ok(bytes) => *self.offered.write().expect("checkpoint lock") = Some(bytes.into()),
            Err(e) => tracing::debug!("no checkpoint offered: {e:#}"),
        }
        self.offered_window = Some(self.global.window);
    }
}

/// The first 6 bytes of a hash, hex: enough to tell models apart in a log line.
pub fn short(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..6])
}
