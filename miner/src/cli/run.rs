//! `miner run`: settings from flags, environment and a TOML file (in that order of
//! precedence), start-up checks with clear refusals, the live status line, Ctrl-C.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use subnet_client::cli::{daemon, ChainArgs, WalletArgs};
use subnet_peer::client::ClientSeam;

use miner::MinerOptions;

/// Settings of `miner run`. Each can also come from `--settings FILE`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The run configuration (TOML; the localnet's are in config/).
    #[arg(long, env = "MINER_CONFIG")]
    config: Option<PathBuf>,
    /// The training dataset (a directory with manifest.json, or with train/manifest.json).
    #[arg(long, env = "MINER_DATA")]
    data: Option<PathBuf>,
    /// The state directory (model, error buffer, payloads, window records) for this hotkey.
    #[arg(long, env = "MINER_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// The subnet; must be the run configuration's.
    #[arg(long, env = "MINER_NETUID")]
    netuid: Option<u16>,
    /// Address the HTTP server listens on [default: 127.0.0.1:8091].
    #[arg(long, env = "MINER_LISTEN")]
    listen: Option<SocketAddr>,
    /// Address announced on chain as the axon [default: the listening address].
    #[arg(long, env = "MINER_EXTERNAL")]
    external: Option<SocketAddr>,
    /// Windows of payloads kept and served [default: 8].
    #[arg(long, env = "MINER_RETENTION")]
    retention: Option<u64>,
    /// Wait for each window's model to settle before training, instead of training on the
    /// model predicted from the previous window's candidates (and dropping the round if the
    /// prediction was wrong).
    #[arg(long, env = "MINER_NO_PREDICT")]
    no_predict: bool,
    /// A TOML file with any of the settings above (keys as the flags, with `_`).
    #[arg(long, env = "MINER_SETTINGS")]
    settings: Option<PathBuf>,
    /// Worker threads for tensor math (default: all cores).
    #[arg(long, env = "MODEL_THREADS")]
    threads: Option<usize>,
    /// Matrix-product library: auto, gemm or openblas (logged at start-up).
    #[arg(long, env = "MODEL_GEMM", default_value = "auto")]
    gemm: model::gemm::Choice,
    /// Precision of the training step's matrix products: f32, or bf16 (operands rounded to
    /// bf16, f32 sums, weights and optimizer in f32; needs AVX512-BF16). A local choice: the
    /// payload format and every check on it are the same.
    #[arg(long, env = "MODEL_PRECISION", default_value = "f32")]
    precision: model::gemm::Precision,
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
    no_predict: Option<bool>,
}

pub fn run(args: RunArgs) -> anyhow::Result<std::process::ExitCode> {
    let bar = daemon::init_logging();
    // Before any thread starts: an OpenBLAS core switch sets an environment variable.
    let kernel = model::gemm::init(args.gemm).with_context(|| format!("--gemm {}", args.gemm))?;
    tracing::info!("gemm kernel: {kernel}");
    model::init_threads(args.threads);
    args.precision.check_supported().with_context(|| format!("--precision {}", args.precision))?;

    let file = match &args.settings {
        Some(path) => {
            let base = path.parent().unwrap_or(Path::new("."));
            let f: SettingsFile = daemon::read_settings(path).map_err(anyhow::Error::msg)?;
            SettingsFile {
                config: daemon::relative_to(base, f.config),
                data: daemon::relative_to(base, f.data),
                state_dir: daemon::relative_to(base, f.state_dir),
                ..f
            }
        }
        None => SettingsFile::default(),
    };
    let config_path = args.config.or(file.config).context("no run configuration: pass --config FILE")?;
    let data = args.data.or(file.data).context("no dataset: pass --data DIR")?;
    let state_dir = args.state_dir.or(file.state_dir).context("no state directory: pass --state-dir DIR")?;
    let mut run = subnet_peer::sync::peer::load_run(&config_path, args.netuid.or(file.netuid))?;
    run.train.precision = args.precision;
    let mut opts = MinerOptions::new(state_dir, data);
    opts.listen = args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8091)));
    opts.external = args.external.or(file.external);
    opts.retention = args.retention.or(file.retention).unwrap_or(opts.retention);
    opts.predict = !(args.no_predict || file.no_predict.unwrap_or(false));

    // Everything local first: a missing dataset or wallet is said before any chain round trip.
    miner::node::open_dataset(&run, &opts.data_dir)?;
    let hotkey = args.wallet.wallet()?.hotkey()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let chain = args.chain.connect().await?;
        subnet_peer::sync::peer::check_published_run(&chain, &run, &config_path).await?;
        tracing::info!(hotkey = %hotkey.ss58(), run = %run.id, preset = %run.config.model.preset, "starting");
        let mut handle = miner::spawn(ClientSeam::new(chain, hotkey), run, opts).await?;
        let status = handle.status_source();
        let line = daemon::status_line(bar, move || super::status_line::render(&status()));
        let stopped = subnet_peer::sync::peer::until_signal(
            &mut handle,
            "stopping: the window in progress is abandoned, nothing half-committed",
        )
        .await;
        line.abort();
        tokio::time::sleep(Duration::from_millis(10)).await;
        stopped
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}
