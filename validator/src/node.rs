//! A running validator: its options and status, start-up checks, its HTTP server and axon,
//! the window loop (`window_loop`) as one task and the scorer (`score`) as another, joined by
//! bounded channels, so scoring a window runs beside the next window's approvals and sync.
//!
//! Per window `w` (docs/protocol.md, sections 4-5): once `D_w` is finalized and the model is
//! `S_w`, fetch and check every commitment, commit the approval bitmap of the ranked
//! candidates that passed by `A_w`, serve what it approved, hand the window to the scorer;
//! once `A_w` is finalized, apply the quorum's update like every peer. Scores become a moving
//! average per uid and, every few windows, weights on chain.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use subnet_peer::http::{self, Fetcher, FetcherConfig, Shelf};
use subnet_peer::seam::SeamError;
use subnet_peer::state::StateDir;
use subnet_peer::sync::{
    load_or_genesis, open_dataset, server_config, Archive, DatasetError, Follower, PeerHandle, Run,
};
use subnet_peer::ChainSeam;

use crate::dashboard;
use crate::metrics::Metrics;
use crate::score::{score, EvalSettings};
use crate::window_loop::Loop;

/// How a validator runs, beyond the run configuration.
#[derive(Clone, Debug)]
pub struct ValidatorOptions {
    /// The state directory (one per hotkey and run).
    pub state_dir: PathBuf,
    /// The training dataset (pages are scored on it).
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
    /// How payloads are scored.
    pub eval: EvalSettings,
    /// Weight of a new window's score in the moving average.
    pub alpha: f64,
    /// Exponent of the moving average in the weights (above 1: splitting does not pay).
    pub power: f64,
    /// Weights are set after every this many scored windows.
    pub weights_every: u64,
    /// The subnet's weights version key.
    pub version_key: u64,
    /// Blocks before `A_w` by which an approval must be submitted.
    pub approval_margin: u64,
    /// A checkpoint of the model every this many windows, with the update log since
    /// (`GET /checkpoint/{w}`, `GET /updates?from={w}`).
    pub checkpoint_every: u64,
    /// Checkpoints kept (the update log and its payloads go back to the oldest).
    pub checkpoints_kept: usize,
    /// Where the loss chart is written after every scored window (`None`: `loss.svg` in the
    /// state directory).
    pub plot: Option<PathBuf>,
    /// How often the dashboard reads the chain and the peers' status.
    pub dashboard_every: Duration,
}

impl ValidatorOptions {
    /// Defaults for a state and a data directory: loopback on a free port, 8 windows kept,
    /// the chain polled every 250 ms, weights every 2 windows, a checkpoint every 10 windows
    /// (3 kept).
    pub fn new(state_dir: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            external: None,
            retention: 8,
            poll: Duration::from_millis(250),
            fetch: FetcherConfig::default(),
            eval: EvalSettings::default(),
            alpha: 0.3,
            power: 2.0,
            weights_every: 2,
            version_key: 0,
            approval_margin: 2,
            checkpoint_every: 10,
            checkpoints_kept: 3,
            plot: None,
            dashboard_every: Duration::from_secs(2),
        }
    }
}

/// What the validator is doing, for the status line and `GET /status`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ValidatorStatus {
    /// Always "validator".
    pub role: &'static str,
    /// Hotkey, hex.
    pub hotkey: String,
    /// Run id, hex.
    pub run_id: String,
    /// The chain's best block.
    pub head: u64,
    /// The window of the head.
    pub window: u64,
    /// The head's phase: "train" or "commit".
    pub phase: &'static str,
    /// The window of the model held (`S_w`).
    pub model_window: u64,
    /// Its fingerprint, hex.
    pub fingerprint: String,
    /// Sync state, in words.
    pub sync: String,
    /// Whether it had a validator permit at the last look.
    pub permit: bool,
    /// The last approval: window, candidates approved, candidates ranked, block (none if not sent).
    pub last_approval: Option<(u64, usize, usize, Option<u64>)>,
    /// The last window scored.
    pub last_scored: Option<u64>,
    /// Loss of the global model on the last scored window's random pages.
    pub model_loss: Option<f64>,
    /// The last weights that landed: window, block.
    pub last_weights: Option<(u64, u64)>,
    /// Uid, moving average, weight.
    pub scores: Vec<(u16, f64, f32)>,
}

/// Why the validator did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The hotkey has no uid in the subnet.
    #[error("hotkey {hotkey} is not registered in subnet {netuid}; register it first (`validator subnet register --netuid {netuid}`)")]
    NotRegistered {
        /// Hex.
        hotkey: String,
        /// The subnet.
        netuid: u16,
    },
    /// The dataset is not there or not the run's.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The chain could not be read.
    #[error("reading the chain: {0}")]
    Chain(#[from] SeamError),
    /// Anything else, with its context.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A running validator; dropping it stops the loop, the scorer and the server.
pub type ValidatorHandle = PeerHandle<ValidatorStatus, Metrics>;

/// Starts a validator for `chain`'s hotkey: checks, loads or creates its state, serves its
/// HTTP endpoints, announces its axon, and spawns the loop and the scorer. Call within a
/// tokio runtime.
pub async fn spawn<C>(chain: C, run: Run, opts: ValidatorOptions) -> Result<ValidatorHandle, StartError>
where
    C: ChainSeam + Clone + 'static,
{
    let hotkey = chain.hotkey();
    let netuid = run.netuid();
    let fin = chain.finalized().await?;
    if !chain.neurons_at(netuid, fin).await?.iter().any(|n| n.hotkey == hotkey) {
        return Err(StartError::NotRegistered { hotkey: hex::encode(hotkey), netuid });
    }
    let data = Arc::new(open_dataset(&run, &opts.data_dir)?);
    let state = StateDir::open(&opts.state_dir, run.id, netuid, &hotkey).map_err(anyhow::Error::from)?;
    let global = load_or_genesis(&run, state.root())?;
    let run = Arc::new(run);
    let scores = crate::window_loop::load_scores(state.root())?;

    let metrics = Metrics::new();
    let status = Arc::new(Mutex::new(ValidatorStatus {
        role: "validator",
        hotkey: hex::encode(hotkey),
        run_id: run.id.to_string(),
        model_window: global.window.0,
        fingerprint: hex::encode(global.fingerprint),
        sync: "starting".into(),
        ..Default::default()
    }));
    let board = {
        let history =
            crate::report::Report::history(&state.root().join("reports.jsonl"), dashboard::board::MAX_POINTS);
        let tokens = crate::window_loop::load_tokens(state.root(), global.window);
        dashboard::Board::new(
            status.clone(),
            netuid,
            run.config.model.preset.clone(),
            run.config.window.blocks,
            history,
            global.window,
            tokens,
        )
    };
    let follower = Follower::new(global, opts.retention);
    let shelf = Shelf::new();
    let archive = Arc::new(
        Archive::open(state.root(), opts.checkpoint_every, opts.checkpoints_kept)
            .map_err(StartError::Other)?,
    );
    let (m, served) = (metrics.clone(), metrics.bytes_served.clone());
    let mut server = server_config(
        opts.listen,
        status.clone(),
        move || m.encode(),
        move |n| {
            served.inc_by(n as u64);
        },
        follower.offered(),
    );
    {
        let (a, st, size) = (archive.clone(), state.clone(), run.codec.payload_bytes() as u64);
        server.archived_payload =
            Arc::new(move |hash| st.payload(a.window_of(hash)?, hash, size).ok().flatten());
        let (a, r) = (archive.clone(), run.clone());
        server.archived_checkpoint = Arc::new(move |w| a.checkpoint_bytes(&r, w));
        let a = archive.clone();
        server.updates = Arc::new(move |from| serde_json::to_value(a.log(from)).ok());
        server.extra = dashboard::routes(board.clone());
    }
    let server = http::serve(server, shelf.clone()).await.map_err(anyhow::Error::from)?;
    let addr = server.local_addr();
    let axon = opts.external.unwrap_or(addr);
    chain.serve_axon(netuid, axon).await?;
    tracing::info!(%addr, %axon, run = %run.id, "serving; axon announced; dashboard at http://{addr}/");

    // The scorer: one window at a time, CPU-bound, off the async workers. Two windows may
    // wait; beyond that the loop says scoring is behind and leaves a window unscored.
    let (jobs, mut job_rx) = tokio::sync::mpsc::channel::<crate::score::Job>(2);
    let (results_tx, results) = tokio::sync::mpsc::channel(4);
    {
        let (run, data, settings) = (run.clone(), data.clone(), opts.eval.clone());
        tokio::task::spawn_blocking(move || {
            while let Some(job) = job_rx.blocking_recv() {
                let window = job.window;
                let scored = score(&run, &data, &settings, &job).map_err(|e| (window, format!("{e:#}")));
                if results_tx.blocking_send(scored).is_err() {
                    break;
                }
            }
        });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(dashboard::watch(
        chain.clone(),
        run.clone(),
        board.clone(),
        stop.clone(),
        opts.dashboard_every,
    ));
    let plot = opts.plot.clone().unwrap_or_else(|| state.root().join("loss.svg"));
    let window_loop = Loop {
        board,
        plot,
        fetcher: Fetcher::new(opts.fetch),
        chain,
        run,
        opts,
        state,
        follower,
        shelf,
        archive,
        metrics: metrics.clone(),
        status: status.clone(),
        stop: stop.clone(),
        scores,
        jobs,
        results,
        previous: None,
        scored_since_weights: 0,
        _server: server,
    };
    let task = tokio::spawn(window_loop.run());
    Ok(PeerHandle::new("validator", addr, status, metrics, stop, task, vec![watcher]))
}
