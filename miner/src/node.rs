//! A running miner: start-up checks, its HTTP server and axon, and the window loop as one task
//! (with a clock task beside it so a long inner round still sees the chain move).
//!
//! Per window `w` (docs/protocol.md, section 2): reveal what it committed once `D_{w-1}` is
//! finalized; sync `S_w` once `A_{w-1}` is; train `H` steps on `pages(netuid, w, hotkey)`,
//! compress with error feedback, store, commit by `D_w - commit_margin`. A window that cannot
//! finish in time is skipped with its reason, and nothing of it is committed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use model::codec::{payload_hash, Header};
use model::data::Dataset;
use model::outer::ErrorFeedback;
use model::train::{inner_round, window_batches, RoundEnd, Trainer};
use serde::Serialize;
use subnet_peer::http::{self, Fetcher, FetcherConfig, ServerConfig, ServerHandle, Shelf};
use subnet_peer::seam::SeamError;
use subnet_peer::state::{commit_plan, CommitPlan, StateDir, Status};
use subnet_peer::{ChainSeam, Phase, Window};
use tokio::task::JoinHandle;

use subnet_peer::sync::{self, checkpoint, Global, Run, Step, SyncError};

use crate::metrics::Metrics;

/// How a miner runs, beyond the run configuration.
#[derive(Clone, Debug)]
pub struct MinerOptions {
    /// The state directory (one per hotkey and run).
    pub state_dir: PathBuf,
    /// The training dataset: a directory with `manifest.json`, or one with `train/manifest.json`.
    pub data_dir: PathBuf,
    /// Where the HTTP server listens (port 0: any free port).
    pub listen: SocketAddr,
    /// The address announced on chain as the axon; the bound address when `None`.
    pub external: Option<SocketAddr>,
    /// Windows of payloads kept and served.
    pub retention: u64,
    /// How often the loop looks at the chain.
    pub poll: Duration,
    /// Fetch bounds.
    pub fetch: FetcherConfig,
}

impl MinerOptions {
    /// Defaults for a state and a data directory: loopback on a free port, 8 windows kept,
    /// the chain polled every 250 ms.
    pub fn new(state_dir: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            external: None,
            retention: 8,
            poll: Duration::from_millis(250),
            fetch: FetcherConfig::default(),
        }
    }
}

/// What the miner is doing, for the status line and `GET /status`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MinerStatus {
    /// Always "miner".
    pub role: &'static str,
    /// Hotkey, hex.
    pub hotkey: String,
    /// Run id, hex.
    pub run_id: String,
    /// The chain's best block.
    pub head: u64,
    /// The window of the head.
    pub window: u64,
    /// "train" or "commit".
    pub phase: &'static str,
    /// The window of the model held (`S_w`).
    pub model_window: u64,
    /// Its fingerprint, hex.
    pub fingerprint: String,
    /// Inner step reached in the current round.
    pub step: usize,
    /// Inner steps per round.
    pub steps: usize,
    /// Loss of the last inner step.
    pub loss: Option<f64>,
    /// Training throughput of the current or last round.
    pub tokens_per_second: Option<f64>,
    /// The last commitment that landed: window, hash (hex), block.
    pub last_commit: Option<(u64, String, u64)>,
    /// Sync state, in words.
    pub sync: String,
    /// The last skipped window and why.
    pub last_skip: Option<(u64, String)>,
    /// The pages the last inner round trained on, with its window: `pages(netuid, w, hotkey)`.
    pub last_pages: Option<(u64, Vec<u64>)>,
    /// The window of the checkpoint this miner last joined from, if it did.
    pub joined_from: Option<u64>,
}

/// Why the miner did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The hotkey has no uid in the subnet.
    #[error("hotkey {hotkey} is not registered in subnet {netuid}; register it first (`miner subnet register --netuid {netuid}`)")]
    NotRegistered {
        /// Hex.
        hotkey: String,
        /// The subnet.
        netuid: u16,
    },
    /// The dataset is not there or not the run's.
    #[error("dataset at {path}: {reason}")]
    Dataset {
        /// Where it was looked for.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The chain could not be read.
    #[error("reading the chain: {0}")]
    Chain(#[from] SeamError),
    /// Anything else, with its context.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A running miner; dropping it stops the loop and the server.
pub struct MinerHandle {
    addr: SocketAddr,
    status: Arc<Mutex<MinerStatus>>,
    metrics: Metrics,
    stop: Arc<AtomicBool>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    clock: JoinHandle<()>,
}

impl MinerHandle {
    /// The HTTP server's bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A snapshot of the status.
    pub fn status(&self) -> MinerStatus {
        self.status.lock().expect("status lock").clone()
    }

    /// A function returning the current status (for a status line that outlives a borrow).
    pub fn status_source(&self) -> impl Fn() -> MinerStatus + Send + 'static {
        let status = self.status.clone();
        move || status.lock().expect("status lock").clone()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Asks the loop to stop (it abandons a round in progress, never half-commits).
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops and waits for the loop; returns its error if it failed.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.request_stop();
        let result = match self.task.take() {
            Some(task) => task.await.context("the miner loop panicked")?,
            None => Ok(()),
        };
        self.clock.abort();
        result
    }

    /// Waits for the loop to end by itself (it only does on a fatal error or a stop request).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        match self.task.as_mut() {
            Some(task) => {
                let r = task.await.context("the miner loop panicked")?;
                self.task = None;
                r
            }
            None => Ok(()),
        }
    }
}

impl Drop for MinerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.clock.abort();
    }
}

/// The training dataset directory inside `dir`.
pub fn dataset_dir(dir: &Path) -> PathBuf {
    if dir.join("manifest.json").exists() {
        dir.to_path_buf()
    } else {
        dir.join("train")
    }
}

/// Opens and verifies the run's training dataset in `dir` (see [`dataset_dir`]): its manifest,
/// content hash, page length and shard hashes.
pub fn open_dataset(run: &Run, dir: &Path) -> Result<Dataset, StartError> {
    let dir = dataset_dir(dir);
    let fail = |reason: String| StartError::Dataset { path: dir.display().to_string(), reason };
    if !dir.join("manifest.json").exists() {
        return Err(fail(
            "no manifest.json (prepare it with `model prepare`, or run scripts/localnet.sh once)".into(),
        ));
    }
    let data = Dataset::open(&dir).map_err(|e| fail(e.to_string()))?;
    let want = &run.config.data.content_hash;
    if &data.manifest().content_hash != want {
        return Err(fail(format!(
            "content hash {} is not the run's {want}: this is another dataset",
            data.manifest().content_hash
        )));
    }
    if data.page_len() != run.config.data.page_len as usize {
        return Err(fail(format!(
            "pages of {} tokens, the run uses {}",
            data.page_len(),
            run.config.data.page_len
        )));
    }
    data.verify().map_err(|e| fail(e.to_string()))?;
    Ok(data)
}

/// Starts a miner for `chain`'s hotkey: checks, loads or creates its state, serves its HTTP
/// endpoints, announces its axon, and spawns the loop. Call within a tokio runtime.
pub async fn spawn<C>(chain: C, run: Run, opts: MinerOptions) -> Result<MinerHandle, StartError>
where
    C: ChainSeam + Clone + 'static,
{
    let hotkey = chain.hotkey();
    let netuid = run.netuid();
    let fin = chain.finalized().await?;
    if !chain.neurons_at(netuid, fin).await?.iter().any(|n| n.hotkey == hotkey) {
        return Err(StartError::NotRegistered { hotkey: hex::encode(hotkey), netuid });
    }
    let data = open_dataset(&run, &opts.data_dir)?;
    let state = StateDir::open(&opts.state_dir, run.id, netuid, &hotkey).map_err(anyhow::Error::from)?;
    let global = match Global::load(&run, state.root())? {
        Some(g) => g,
        None => {
            let g = Global::genesis(&run)?;
            g.save(state.root())?;
            g
        }
    };
    let feedback_path = state.root().join("feedback.bin");
    let (feedback, feedback_window) = if feedback_path.exists() {
        let (f, w) = ErrorFeedback::load(&feedback_path, &run.codec, run.config.feedback.beta)
            .map_err(anyhow::Error::from)?;
        (f, Some(Window(w)))
    } else {
        (ErrorFeedback::new(&run.codec, run.config.feedback.beta), None)
    };
    let mut trainer =
        Trainer::new(Global::genesis(&run)?.params, &run.llama, run.train).map_err(anyhow::Error::from)?;
    let inner_path = state.root().join("inner.safetensors");
    if inner_path.exists() {
        trainer.load_optimizer(&inner_path).map_err(anyhow::Error::from)?;
    }

    let metrics = Metrics::new();
    let status = Arc::new(Mutex::new(MinerStatus {
        role: "miner",
        hotkey: hex::encode(hotkey),
        run_id: run.id.to_string(),
        model_window: global.window.0,
        fingerprint: hex::encode(global.fingerprint),
        steps: run.inner_steps(),
        sync: "starting".into(),
        ..Default::default()
    }));
    let shelf = Shelf::new();
    let mut server = ServerConfig::new(opts.listen);
    let (s, m) = (status.clone(), metrics.clone());
    server.status =
        Arc::new(move || serde_json::to_value(&*s.lock().expect("status lock")).unwrap_or_default());
    server.metrics = Arc::new(move || m.encode());
    let served = metrics.bytes_served.clone();
    server.on_served = Arc::new(move |n| {
        served.inc_by(n as u64);
    });
    let offered: Arc<RwLock<Option<Arc<[u8]>>>> = Arc::default();
    let offer = offered.clone();
    server.checkpoint = Arc::new(move || offer.read().expect("checkpoint lock").clone());
    let server = http::serve(server, shelf.clone()).await.map_err(anyhow::Error::from)?;
    let addr = server.local_addr();
    let axon = opts.external.unwrap_or(addr);
    chain.serve_axon(netuid, axon).await?;
    tracing::info!(%addr, %axon, run = %run.id, "serving; axon announced");

    let head = Arc::new(AtomicU64::new(chain.best_number().await?));
    let stop = Arc::new(AtomicBool::new(false));
    let clock = {
        let (chain, head, poll) = (chain.clone(), head.clone(), opts.poll);
        tokio::spawn(async move {
            loop {
                if let Ok(n) = chain.best_number().await {
                    head.store(n, Ordering::SeqCst);
                }
                tokio::time::sleep(poll).await;
            }
        })
    };
    let fetcher = Fetcher::new(opts.fetch);
    let window_loop = Loop {
        chain,
        run: Arc::new(run),
        opts,
        state,
        global,
        trainer: Arc::new(Mutex::new(trainer)),
        feedback,
        feedback_window,
        data: Arc::new(data),
        shelf,
        fetcher,
        metrics: metrics.clone(),
        status: status.clone(),
        head,
        stop: stop.clone(),
        diverged: None,
        unverified: None,
        offered,
        offered_window: None,
        timings: Timings { window: u64::MAX, ..Default::default() },
        last_warning: None,
        _server: server,
    };
    let task = tokio::spawn(window_loop.run());
    Ok(MinerHandle { addr, status, metrics, stop, task: Some(task), clock })
}

/// Seconds spent on each part of the current window.
#[derive(Clone, Copy, Debug, Default)]
struct Timings {
    window: u64,
    /// When this peer first saw the window (the first one it sees is partial).
    started: Option<Instant>,
    sync: f64,
    train: f64,
    compress: f64,
    store: f64,
    commit: f64,
}

struct Loop<C> {
    chain: C,
    run: Arc<Run>,
    opts: MinerOptions,
    state: StateDir,
    global: Global,
    trainer: Arc<Mutex<Trainer>>,
    feedback: ErrorFeedback,
    /// The window last folded into `feedback`.
    feedback_window: Option<Window>,
    data: Arc<Dataset>,
    shelf: Shelf,
    fetcher: Fetcher,
    metrics: Metrics,
    status: Arc<Mutex<MinerStatus>>,
    head: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    /// Set when the quorum's base is not our model: no commits until a checkpoint fixes it.
    diverged: Option<String>,
    /// Set after joining from a checkpoint of this window: no commits until a quorum's base
    /// has confirmed the model.
    unverified: Option<Window>,
    /// The checkpoint of `global` offered on `GET /checkpoint`.
    offered: Arc<RwLock<Option<Arc<[u8]>>>>,
    /// The window of the offered checkpoint.
    offered_window: Option<Window>,
    timings: Timings,
    /// The last sync warning and when it was logged, so a stuck sync does not flood the log.
    last_warning: Option<(String, Instant)>,
    _server: ServerHandle,
}

/// What an inner round left for the commit.
enum Outcome {
    Stored([u8; 32]),
    Skipped(&'static str, String),
    Abandoned,
}

impl<C: ChainSeam + Clone + 'static> Loop<C> {
    fn set_status(&self, change: impl FnOnce(&mut MinerStatus)) {
        change(&mut self.status.lock().expect("status lock"));
    }

    async fn run(mut self) -> anyhow::Result<()> {
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

    /// Puts each committed payload whose deadline is finalized on the shelf.
    fn reveal(&self, finalized: u64, now: Window) -> anyhow::Result<()> {
        let size = self.run.codec.payload_bytes() as u64;
        for w in now.0.saturating_sub(self.opts.retention)..=now.0 {
            let w = Window(w);
            let Some(Status::Committed { hash, .. }) = self.state.record(w)? else { continue };
            let Some(deadline) = self.run.schedule.commit_deadline(w) else { continue };
            let hash = parse_hash(&hash)?;
            if deadline > finalized || self.shelf.contains(&hash) {
                continue;
            }
            match self.state.payload(w, &hash, size)? {
                Some(bytes) => {
                    self.shelf.put(w, hash, bytes.into());
                    tracing::info!("revealed the payload of {w} ({})", short(&hash));
                }
                None => tracing::warn!("the committed payload of {w} is missing from the state directory"),
            }
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

    fn skip(&self, w: Window, kind: &'static str, reason: String) -> anyhow::Result<()> {
        tracing::warn!("{w} skipped: {reason}");
        self.metrics.skipped(kind);
        self.state.set_record(w, &Status::Skipped { reason: reason.clone() })?;
        self.set_status(|s| s.last_skip = Some((w.0, reason)));
        Ok(())
    }

    /// This window's own work: train and store if nothing is recorded yet, then commit.
    async fn work(&mut self, now: Window, fin: subnet_peer::seam::BlockRef) -> anyhow::Result<()> {
        let schedule = self.run.schedule;
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
            None => match self.train(now).await? {
                Outcome::Stored(hash) => tracing::debug!("{now}: stored {}", short(&hash)),
                Outcome::Skipped(kind, reason) => return self.skip(now, kind, reason),
                Outcome::Abandoned => return Ok(()),
            },
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
        self.state.set_record(w, &Status::Committed { hash: hex::encode(hash), block })?;
        self.metrics.windows_committed.inc();
        self.set_status(|s| s.last_commit = Some((w.0, hex::encode(hash), block)));
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

    /// Runs the inner round of `now` on `S_now` and stores the payload; the error buffer and
    /// the optimizer's moments are saved with it, before the record says `stored`.
    async fn train(&mut self, now: Window) -> anyhow::Result<Outcome> {
        let run = self.run.clone();
        let schedule = run.schedule;
        let commit_by = schedule.commit_by(now).unwrap_or(0);
        let hotkey = self.chain.hotkey();
        let start = self.global.params.to_vecs()?;
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
            Err(e) => return Ok(Outcome::Skipped("train_error", format!("training failed: {e:#}"))),
        };
        let train_secs = started.elapsed().as_secs_f64();
        let delta = match end {
            RoundEnd::Done(delta) => delta,
            RoundEnd::Stopped(_) if self.stop.load(Ordering::SeqCst) => return Ok(Outcome::Abandoned),
            RoundEnd::Stopped(n) => {
                return Ok(Outcome::Skipped(
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
                return Ok(Outcome::Skipped("bad_delta", format!("the pseudo-gradient was refused: {e}")))
            }
        };
        let header = Header {
            netuid: self.run.netuid(),
            window: now.0,
            hotkey,
            base: self.global.fingerprint,
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
            return Ok(Outcome::Skipped(
                "deadline",
                format!("the payload was ready at block {head}, after {commit_by}"),
            ));
        }

        let started = Instant::now();
        self.state.store_payload(now, &hash, &bytes)?;
        next.save(&self.state.root().join("feedback.bin"), now.0)?;
        self.trainer
            .lock()
            .expect("trainer lock")
            .save_optimizer(&self.state.root().join("inner.safetensors"))?;
        self.feedback = next;
        self.feedback_window = Some(now);
        self.state.set_record(now, &Status::Stored { hash: hex::encode(hash) })?;
        let store_secs = started.elapsed().as_secs_f64();
        self.metrics.phase("store", store_secs);
        self.timings.store += store_secs;
        Ok(Outcome::Stored(hash))
    }
}

fn parse_hash(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(text).context("a recorded hash is not hex")?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("a recorded hash is not 32 bytes"))
}

fn short(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..6])
}
