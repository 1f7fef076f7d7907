//! Following the run: keeping `S_w` at the chain's window, the part the miner's and the
//! validator's loops share. Each call replays the settled updates up to the head's window (one
//! [`step`] each), joins from a peer's checkpoint when too far behind or diverged
//! (docs/protocol.md, sections 5 and 8), and offers the model as this peer's checkpoint once
//! a quorum's base has vouched for it.

use std::net::SocketAddr;

use anyhow::Context;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::http::{Fetcher, Shelf};
use crate::seam::BlockRef;
use crate::state::StateDir;
use crate::sync::archive::{LoggedUpdate, UpdateLog};
use crate::sync::global::UpdatePayload;
use crate::sync::step::{step, Step, SyncError};
use crate::sync::{checkpoint, Global, Run};
use crate::{ChainSeam, Window};

/// The wait between two checkpoint searches that found nothing to take (each search asks
/// every registered peer for its model).
const JOIN_RETRY: Duration = Duration::from_secs(3);

/// The most bytes of an update log answer read (`MAX_LOGGED` entries of up to `K` payloads).
const LOG_LIMIT: usize = 4 << 20;

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
    /// Caught up from a validator's update log: from the first window to the last.
    pub caught_up: Option<(Window, Window)>,
    /// Every window this call moved past, as an update log entry (an archive records them).
    pub updates: Vec<LoggedUpdate>,
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
        let retention = self.retention;
        let behind = |g: &Global| g.window.0.saturating_add(retention) < now.0;
        if behind(&self.global)
            && self.diverged.is_none()
            && self.next_join.is_none_or(|t| Instant::now() >= t)
        {
            progress.caught_up = self
                .catch_up(chain, run, fetcher, (shelf, state), fin, now, stop, &mut progress.updates)
                .await;
        }
        if (behind(&self.global) || self.diverged.is_some())
            && self.next_join.is_none_or(|t| Instant::now() >= t)
        {
            progress.joined = self.join(chain, run, fetcher, state, fin, now).await;
        }
        while self.global.window < now && !stop.load(Ordering::SeqCst) {
            let from = self.global.window;
            let base = hex::encode(self.global.fingerprint);
            let result = step(chain, run, &mut self.global, fetcher, shelf, state).await;
            if let Ok(Step::Empty(_) | Step::Applied { .. }) = &result {
                let payloads = match &result {
                    Ok(Step::Applied { logged, .. }) => logged.clone(),
                    _ => Vec::new(),
                };
                let fingerprint = hex::encode(self.global.fingerprint);
                progress.updates.push(LoggedUpdate { window: from.0, base, fingerprint, payloads });
            }
            match result {
                Ok(Step::Waiting) => {
                    self.sync = format!("waiting for the update of {from}");
                    break;
                }
                Ok(Step::Empty(w)) => tracing::info!("{w}: no update had a quorum; the model stays"),
                Ok(Step::Applied { window, payloads, fetch, apply, .. }) => {
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

    /// Replays the updates since this model from a validator's log (validators by stake
    /// first): the first must start from this model's window and fingerprint, each next one
    /// from where the one before ended, every payload is fetched by hash and the model it
    /// gives must be the one logged. The model is then unverified until a quorum's base
    /// confirms it, as after a join; a log that does not hold up leaves it diverged.
    #[allow(clippy::too_many_arguments)]
    async fn catch_up<C: ChainSeam>(
        &mut self,
        chain: &C,
        run: &Run,
        fetcher: &Fetcher,
        (shelf, state): (&Shelf, &StateDir),
        fin: BlockRef,
        now: Window,
        stop: &AtomicBool,
        replayed: &mut Vec<LoggedUpdate>,
    ) -> Option<(Window, Window)> {
        let me = chain.hotkey();
        let mut neurons = chain.neurons_at(run.netuid(), fin).await.ok()?;
        neurons.retain(|n| n.permit && n.hotkey != me && n.axon.is_some());
        neurons.sort_by_key(|n| std::cmp::Reverse(n.stake));
        let from = self.global.window;
        let ours = hex::encode(self.global.fingerprint);
        let size = run.codec.payload_bytes();
        for n in neurons {
            let axon = n.axon.expect("kept only peers with an axon");
            let log: UpdateLog = match fetcher.updates(axon, from.0, LOG_LIMIT).await {
                Ok(body) => match serde_json::from_slice(&body) {
                    Ok(log) => log,
                    Err(e) => {
                        tracing::debug!("{axon}: not an update log: {e}");
                        continue;
                    }
                },
                Err(e) => {
                    tracing::debug!("{axon}: no update log: {e}");
                    continue;
                }
            };
            let starts_here = log.updates.first().is_some_and(|u| u.window == from.0 && u.base == ours);
            if !starts_here {
                continue;
            }
            tracing::info!(
                "{from}: catching up from the update log of {axon} ({} windows)",
                log.updates.len()
            );
            for u in &log.updates {
                if stop.load(Ordering::SeqCst) || self.global.window >= now {
                    break;
                }
                if let Err(e) = self.replay(run, fetcher, shelf, state, axon, u, size).await {
                    tracing::warn!("{}: the update log of {axon} does not hold up: {e:#}", u.window);
                    break;
                }
                replayed.push(u.clone());
            }
            if self.global.window == from {
                return None;
            }
            if let Err(e) = self.global.save(state.root()) {
                tracing::warn!("saving the model: {e:#}");
            }
            self.unverified = Some(self.global.window);
            tracing::info!(
                "caught up from {from} to {} ({}); unconfirmed until the quorum's base vouches for it",
                self.global.window,
                short(&self.global.fingerprint)
            );
            return Some((from, self.global.window));
        }
        None
    }

    /// One logged update on this model; a model that ends elsewhere than logged is diverged.
    #[allow(clippy::too_many_arguments)]
    async fn replay(
        &mut self,
        run: &Run,
        fetcher: &Fetcher,
        shelf: &Shelf,
        state: &StateDir,
        axon: SocketAddr,
        u: &LoggedUpdate,
        size: usize,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(u.window == self.global.window.0, "the log skips to window {}", u.window);
        anyhow::ensure!(u.base == hex::encode(self.global.fingerprint), "it starts from another model");
        anyhow::ensure!(u.payloads.len() <= run.k(), "{} payloads, more than K", u.payloads.len());
        let (mut hashes, mut payloads) = (Vec::new(), Vec::with_capacity(u.payloads.len()));
        for p in &u.payloads {
            let hash = crate::http::server::parse_hash(&p.hash).context("a payload hash is not hex")?;
            let hotkey: [u8; 32] = hex::decode(&p.hotkey)
                .ok()
                .and_then(|h| h.try_into().ok())
                .context("a hotkey is not 32 bytes of hex")?;
            let bytes = fetcher.payload(&[axon], &hash, size).await?;
            hashes.push(hash);
            payloads.push(UpdatePayload { uid: p.uid, hotkey, bytes });
        }
        let w = self.global.window;
        if payloads.is_empty() {
            self.global.skip();
        } else {
            self.global.apply(run, &payloads)?;
        }
        if hex::encode(self.global.fingerprint) != u.fingerprint {
            self.diverged = Some(format!("replaying the update log, {w} gave another model than logged"));
            anyhow::bail!(
                "the update gives {}, the log says {}",
                hex::encode(self.global.fingerprint),
                u.fingerprint
            );
        }
        for (hash, p) in hashes.into_iter().zip(payloads) {
            if let Err(e) = state.store_payload(w, &hash, &p.bytes) {
                tracing::warn!("keeping payload of uid {} for {w}: {e}", p.uid);
            }
            shelf.put(w, hash, p.bytes.into());
        }
        Ok(())
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
