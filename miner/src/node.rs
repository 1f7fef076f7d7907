//! A running miner: its options and status, start-up checks, its HTTP server and axon, and the
//! window loop (`window_loop`) as one task, with a clock task beside it so a long inner round
//! still sees the chain move, and the reveal task (`reveal`) so a long round never holds a
//! payload back from the validators.
//!
//! Per window `w` (docs/protocol.md, section 2): reveal what it committed once `D_{w-1}` is
//! finalized; sync `S_w` once `A_{w-1}` is (training meanwhile on the `S_w` predicted once
//! `D_{w-1}` is finalized, kept only if the settled model is that one); train `H` steps on `pages(netuid, w, hotkey)`,
//! compress with error feedback, store, commit by `D_w - commit_margin`. A window that cannot
//! finish in time is skipped with its reason, and nothing of it is committed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::outer::ErrorFeedback;
use model::train::Trainer;
use serde::Serialize;
use subnet_peer::http::{self, Fetcher, FetcherConfig, Shelf};
use subnet_peer::seam::SeamError;
use subnet_peer::state::StateDir;
use subnet_peer::{ChainSeam, Window};

use subnet_peer::sync::{load_or_genesis, server_config, Follower, PeerHandle, Run};

use crate::metrics::Metrics;
use crate::reveal::Revealer;
use crate::window_loop::{Loop, Timings};

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
    /// Train on the model predicted once the previous window's candidates are final, rather
    /// than waiting for it to settle (`subnet_peer::sync::predict`).
    pub predict: bool,
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
            predict: true,
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
    /// The last model predicted before it settled: its window, fingerprint (hex), and what
    /// came of it (`training`, `trained`, `confirmed`, `wrong`, `late`).
    pub predicted: Option<(u64, String, &'static str)>,
    /// The last skipped window and why.
    pub last_skip: Option<(u64, String)>,
    /// The pages the last inner round trained on, with its window: `pages(netuid, w, hotkey)`.
    pub last_pages: Option<(u64, Vec<u64>)>,
    /// The window of the checkpoint this miner last joined from, if it did.
    pub joined_from: Option<u64>,
    /// The windows it last replayed from a validator's update log (from, to), if it did.
    pub caught_up: Option<(u64, u64)>,
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
    #[error(transparent)]
    Dataset(#[from] subnet_peer::sync::DatasetError),
    /// The chain could not be read.
    #[error("reading the chain: {0}")]
    Chain(#[from] SeamError),
    /// Anything else, with its context.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A running miner; dropping it stops the loop and the server.
pub type MinerHandle = PeerHandle<MinerStatus, Metrics>;

pub use subnet_peer::sync::data::{dataset_dir, open_dataset};

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
    let global = load_or_genesis(&run, state.root())?;
    let feedback_path = state.root().join("feedback.bin");
    let (feedback, feedback_window) = if feedback_path.exists() {
        let (f, w) = ErrorFeedback::load(&feedback_path, &run.codec, run.config.feedback.beta)
            .map_err(anyhow::Error::from)?;
        (f, Some(Window(w)))
    } else {
        (ErrorFeedback::new(&run.codec, run.config.feedback.beta), None)
    };
    // The trainer's own copy of the weights: every round starts by setting it to `S_w`.
    let params = model::Params::init(&run.llama, run.config.model.seed, &candle_core::Device::Cpu)
        .map_err(anyhow::Error::from)?;
    let mut trainer = Trainer::new(params, &run.llama, run.train).map_err(anyhow::Error::from)?;
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
    let follower = Follower::new(global, opts.retention);
    let (m, served) = (metrics.clone(), metrics.bytes_served.clone());
    let server = server_config(
        opts.listen,
        status.clone(),
        move || m.encode(),
        move |n| {
            served.inc_by(n as u64);
        },
        follower.offered(),
    );
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
    let revealer = Revealer {
        chain: chain.clone(),
        netuid,
        schedule: run.schedule,
        payload_bytes: run.codec.payload_bytes() as u64,
        retention: opts.retention,
        state: state.clone(),
        shelf: shelf.clone(),
        metrics: metrics.clone(),
        status: status.clone(),
        head: head.clone(),
        revealed: Default::default(),
    };
    let reveal = tokio::spawn(revealer.run(opts.poll, stop.clone()));
    let fetcher = Fetcher::new(opts.fetch);
    let window_loop = Loop {
        chain,
        run: Arc::new(run),
        opts,
        state,
        follower,
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
        predicted: None,
        speculation: None,
        timings: Timings { window: u64::MAX, ..Default::default() },
        _server: server,
    };
    let task = tokio::spawn(window_loop.run());
    Ok(PeerHandle::new("miner", addr, status, metrics, stop, task, vec![clock, reveal]))
}
