//! `validator run`: settings from flags, environment and a TOML file (in that order of
//! precedence), start-up checks with clear refusals, the live status line, Ctrl-C.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use subnet_client::cli::{daemon, ChainArgs, WalletArgs};
use subnet_peer::client::ClientSeam;

use validator::{ValidatorOptions, ValidatorStatus};

/// Settings of `validator run`. Each can also come from `--settings FILE`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The run configuration (TOML; the localnet's are in config/).
    #[arg(long, env = "VALIDATOR_CONFIG")]
    config: Option<PathBuf>,
    /// The training dataset payloads are scored on (a directory with manifest.json, or with train/manifest.json).
    #[arg(long, env = "VALIDATOR_DATA")]
    data: Option<PathBuf>,
    /// The state directory (model, approvals, scores, reports, payloads) for this hotkey.
    #[arg(long, env = "VALIDATOR_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// The subnet; must be the run configuration's.
    #[arg(long, env = "VALIDATOR_NETUID")]
    netuid: Option<u16>,
    /// Address the HTTP server listens on [default: 127.0.0.1:8092].
    #[arg(long, env = "VALIDATOR_LISTEN")]
    listen: Option<SocketAddr>,
    /// Address announced on chain as the axon [default: the listening address].
    #[arg(long, env = "VALIDATOR_EXTERNAL")]
    external: Option<SocketAddr>,
    /// Windows of payloads kept and served [default: 8].
    #[arg(long, env = "VALIDATOR_RETENTION")]
    retention: Option<u64>,
    /// Set weights after every this many scored windows [default: 2].
    #[arg(long, env = "VALIDATOR_WEIGHTS_EVERY")]
    weights_every: Option<u64>,
    /// The subnet's weights version key [default: 0].
    #[arg(long, env = "VALIDATOR_VERSION_KEY")]
    version_key: Option<u64>,
    /// Save a checkpoint every this many windows, served with the update log since [default: 10].
    #[arg(long, env = "VALIDATOR_CHECKPOINT_EVERY")]
    checkpoint_every: Option<u64>,
    /// Checkpoints kept; the update log and its payloads go back to the oldest [default: 3].
    #[arg(long, env = "VALIDATOR_CHECKPOINTS_KEPT")]
    checkpoints_kept: Option<usize>,
    /// Where the loss chart (SVG) is written after every scored window [default: loss.svg in
    /// the state directory]. The live dashboard is at the HTTP address's `/`.
    #[arg(long, env = "VALIDATOR_PLOT")]
    plot: Option<PathBuf>,
    /// A TOML file with any of the settings above (keys as the flags, with `_`).
    #[arg(long, env = "VALIDATOR_SETTINGS")]
    settings: Option<PathBuf>,
    /// Worker threads for tensor math (default: all cores).
    #[arg(long, env = "MODEL_THREADS")]
    threads: Option<usize>,
    /// Matrix-product library: auto, gemm or openblas (logged at start-up).
    #[arg(long, env = "MODEL_GEMM", default_value = "auto")]
    gemm: model::gemm::Choice,
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    wallet: WalletArgs,
}

/// `--settings FILE`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    config: Option<PathBuf>,
    data: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    netuid: Option<u16>,
    listen: Option<SocketAddr>,
    external: Option<SocketAddr>,
    retention: Option<u64>,
    weights_every: Option<u64>,
    version_key: Option<u64>,
    checkpoint_every: Option<u64>,
    checkpoints_kept: Option<usize>,
    plot: Option<PathBuf>,
}

pub fn run(args: RunArgs) -> anyhow::Result<std::process::ExitCode> {
    let bar = daemon::init_logging();
    // Before any thread starts: an OpenBLAS core switch sets an environment variable.
    let kernel = model::gemm::init(args.gemm).with_context(|| format!("--gemm {}", args.gemm))?;
    tracing::info!("gemm kernel: {kernel}");
    model::init_threads(args.threads);

    let file = match &args.settings {
        Some(path) => {
            let base = path.parent().unwrap_or(Path::new("."));
            let f: SettingsFile = daemon::read_settings(path).map_err(anyhow::Error::msg)?;
            SettingsFile {
                config: daemon::relative_to(base, f.config),
                data: daemon::relative_to(base, f.data),
                state_dir: daemon::relative_to(base, f.state_dir),
                plot: daemon::relative_to(base, f.plot),
                ..f
            }
        }
        None => SettingsFile::default(),
    };
    let config_path = args.config.or(file.config).context("no run configuration: pass --config FILE")?;
    let data = args.data.or(file.data).context("no dataset: pass --data DIR")?;
    let state_dir = args.state_dir.or(file.state_dir).context("no state directory: pass --state-dir DIR")?;
    let run = subnet_peer::sync::peer::load_run(&config_path, args.netuid.or(file.netuid))?;
    let mut opts = ValidatorOptions::new(state_dir, data);
    opts.listen = args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8092)));
    opts.external = args.external.or(file.external);
    opts.retention = args.retention.or(file.retention).unwrap_or(opts.retention);
    opts.weights_every = args.weights_every.or(file.weights_every).unwrap_or(opts.weights_every);
    opts.version_key = args.version_key.or(file.version_key).unwrap_or(opts.version_key);
    opts.checkpoint_every = args.checkpoint_every.or(file.checkpoint_every).unwrap_or(opts.checkpoint_every);
    opts.checkpoints_kept = args.checkpoints_kept.or(file.checkpoints_kept).unwrap_or(opts.checkpoints_kept);
    opts.plot = args.plot.or(file.plot);

    // Everything local first: a missing dataset or wallet is said before any chain round trip.
    subnet_peer::sync::open_dataset(&run, &opts.data_dir)?;
    let hotkey = args.wallet.wallet()?.hotkey()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let chain = args.chain.connect().await?;
        subnet_peer::sync::peer::check_published_run(&chain, &run, &config_path).await?;
        tracing::info!(hotkey = %hotkey.ss58(), run = %run.id, preset = %run.config.model.preset, "starting");
        let mut handle = validator::spawn(ClientSeam::new(chain, hotkey), run, opts).await?;
        let status = handle.status_source();
        let line = daemon::status_line(bar, move || render(&status()));
        let stopped = subnet_peer::sync::peer::until_signal(&mut handle, "stopping").await;
        line.abort();
        tokio::time::sleep(Duration::from_millis(10)).await;
        stopped
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// One line of status: window, model, last approval, last scores, weights.
fn render(s: &ValidatorStatus) -> String {
    let mut line = format!("window {} (block {})", s.window, s.head);
    line += &format!(
        " | model w{} {} | {}",
        s.model_window,
        &s.fingerprint[..12.min(s.fingerprint.len())],
        s.sync
    );
    match s.last_approval {
        Some((w, n, total, Some(block))) => line += &format!(" | approved w{w} {n}/{total} @{block}"),
        Some((w, n, total, None)) => line += &format!(" | w{w}: {n}/{total} pass (no permit)"),
        None => line += " | no approval yet",
    }
    if let (Some(w), Some(loss)) = (s.last_scored, s.model_loss) {
        line += &format!(" | scored w{w}, model loss {loss:.3}");
    }
    if let Some((w, block)) = s.last_weights {
        line += &format!(" | weights after w{w} @{block}");
    }
    line
}
