//! `localnet`: the whole subnet on one machine (what `scripts/localnet.sh` runs after building).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use subnet_localnet::cheats::{self, Cheat};
use subnet_localnet::{Localnet, Options};

/// Starts two authority nodes, creates subnet 1, registers and stakes the validators, registers
/// the miners, and runs them all as processes with their logs in the run directory, until
/// Ctrl-C (which stops exactly the processes it started).
#[derive(Debug, Parser)]
#[command(name = "localnet", version, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Add two scripted bad miners: a freeloader (serves zeros) and a copycat (re-serves
    /// miner1's payload as its own).
    #[arg(long)]
    with_bad_miners: bool,
    /// The model preset: picks config/localnet-PRESET.toml.
    #[arg(long, default_value = "tiny", value_parser = ["tiny", "small"])]
    preset: String,
    /// Honest miners.
    #[arg(long, default_value_t = 3)]
    miners: usize,
    /// Stake of each validator in TAO, comma-separated (one validator each).
    #[arg(long, value_delimiter = ',', default_value = "1000,600")]
    validators: Vec<u64>,
    /// The dataset (scripts/localnet.sh prepares data/fortunes-256); needed unless --chain-only.
    #[arg(long, required_unless_present = "chain_only")]
    data: Option<PathBuf>,
    /// Chain state, logs, wallets and peer state.
    #[arg(long, env = "LOCALNET_DIR", required = true)]
    run_dir: Option<PathBuf>,
    /// The repository (for config/); default: where this binary was built from.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.."))]
    repo: PathBuf,
    /// The node binary [default: SUBNET_NODE_BIN or the release build].
    #[arg(long)]
    node: Option<PathBuf>,
    /// The directory with the miner and validator binaries [default: this binary's].
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Keep the chain state of the previous run (default: start from genesis).
    #[arg(long)]
    no_purge: bool,
    /// Only the two nodes: no subnet, wallets or peers.
    #[arg(long)]
    chain_only: bool,
    /// Once up, run this shell command (with ALICE_RPC, BOB_RPC, NETUID, LOCALNET_DIR set),
    /// stop everything and exit with its status.
    #[arg(long)]
    then: Option<String>,
    /// Worker threads of each peer (MODEL_THREADS).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds between two status summaries.
    #[arg(long, default_value_t = 10)]
    every: u64,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run one scripted bad miner (what --with-bad-miners starts).
    Cheat(CheatArgs),
}

#[derive(Debug, clap::Args)]
struct CheatArgs {
    /// How it cheats.
    #[arg(long, value_enum)]
    kind: Cheat,
    /// The run configuration.
    #[arg(long)]
    config: PathBuf,
    /// A validator's /status URL: its model is the base the payloads name.
    #[arg(long)]
    base_url: String,
    /// The honest miner's state directory a copycat copies from.
    #[arg(long)]
    copy_from: PathBuf,
    /// Where it serves its payloads.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// The subnet; must be the run configuration's.
    #[arg(long)]
    netuid: Option<u16>,
    #[command(flatten)]
    chain: subnet_client::cli::ChainArgs,
    #[command(flatten)]
    wallet: subnet_client::cli::WalletArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Some(Command::Cheat(cheat)) => run_cheat(cheat),
        None => run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("localnet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One bad miner, until Ctrl-C or SIGTERM.
fn run_cheat(args: CheatArgs) -> anyhow::Result<ExitCode> {
    let run = subnet_peer::sync::peer::load_run(&args.config, args.netuid)?;
    let hotkey = args.wallet.wallet()?.hotkey()?;
    tokio::runtime::Runtime::new()?.block_on(async move {
        let chain = args.chain.connect().await?;
        let peer = subnet_peer::client::ClientSeam::new(chain, hotkey);
        let base = cheats::base_from_status(args.base_url);
        let (addr, task) = cheats::spawn(peer, run, args.kind, base, args.copy_from, args.listen).await?;
        eprintln!("{:?} serving on {addr}", args.kind);
        subnet_peer::signal::shutdown_signal().await;
        task.abort();
        Ok(ExitCode::SUCCESS)
    })
}

fn say(text: &str) {
    eprintln!("==> {text}");
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bin_dir = match args.bin_dir {
        Some(d) => d,
        None => std::env::current_exe()?.parent().context("this binary has no directory")?.to_path_buf(),
    };
    let opts = Options {
        run_dir: args.run_dir.clone().context("--run-dir is needed")?,
        node: args.node.unwrap_or_else(subnet_devnode::node_binary),
        bin_dir,
        template: args.repo.join("config").join(format!("localnet-{}.toml", args.preset)),
        data: args.data.clone().unwrap_or_default(),
        validators: args.validators.clone(),
        miners: args.miners,
        purge: !args.no_purge,
        chain_only: args.chain_only,
        threads: args.threads,
        bad_miners: if args.with_bad_miners { vec![Cheat::Freeloader, Cheat::Copycat] } else { Vec::new() },
        late_miners: 0,
        extra_args: Vec::new(),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let started = std::time::Instant::now();
        let start = Localnet::start(&opts, say);
        let mut net = tokio::select! {
            net = start => net?,
            _ = subnet_peer::signal::shutdown_signal() => {
                say("interrupted while starting");
                return Ok(ExitCode::from(130));
            }
        };
        let alice = net.nodes.alice.ws_url();
        let bob = net.nodes.bob.ws_url();
        let env_file = net.run_dir.join("endpoints.env");
        std::fs::write(
            &env_file,
            format!(
                "ALICE_RPC={alice}\nBOB_RPC={bob}\nNETUID={}\nLOCALNET_DIR={}\n",
                net.netuid,
                net.run_dir.display()
            ),
        )?;
        say(&format!(
            "up after {} s: Alice {alice}, Bob {bob}; endpoints in {}",
            started.elapsed().as_secs(),
            env_file.display()
        ));
        if let Some(cmd) = &args.then {
            let status = tokio::process::Command::new("bash")
                .args(["-c", cmd])
                .env("ALICE_RPC", &alice)
                .env("BOB_RPC", &bob)
                .env("NETUID", net.netuid.to_string())
                .env("LOCALNET_DIR", &net.run_dir)
                .status()
                .await?;
            net.shutdown();
            return Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        print_welcome(&net, &alice);
        let mut tick = tokio::time::interval(Duration::from_secs(args.every.max(1)));
        let failed = loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Some(why) = net.exited() {
                        break Some(why);
                    }
                    for line in net.summary().await {
                        eprintln!("  {line}");
                    }
                }
                _ = subnet_peer::signal::shutdown_signal() => break None,
            }
        };
        say("stopping every process it started");
        net.shutdown();
        match failed {
            Some(why) => anyhow::bail!("{why}"),
            None => Ok(ExitCode::SUCCESS),
        }
    })
}

fn print_welcome(net: &Localnet, alice: &str) {
    eprintln!(
        "\nLocal subnet {} is up (Ctrl-C stops it). Run directory: {}",
        net.netuid,
        net.run_dir.display()
    );
    eprintln!("  Alice RPC  {alice} (polkadot.js: https://polkadot.js.org/apps/?rpc={alice})");
    eprintln!(
        "  Metrics    nodes: http://127.0.0.1:{}/metrics, http://127.0.0.1:{}/metrics",
        net.nodes.metrics.0, net.nodes.metrics.1
    );
    if let Some(url) = net.dashboard() {
        eprintln!("  Dashboard  {url} (in a terminal: validator status --url {})", url.trim_end_matches('/'));
        eprintln!("  Loss chart {} (after the first scored window)", net.run_dir.join("loss.svg").display());
    }
    for p in &net.peers {
        eprintln!(
            "  {:<11} {:<9} http://{}/status  log {}",
            p.who.name,
            p.who.role.as_str(),
            p.http,
            p.process.log_path().display()
        );
    }
    eprintln!();
}
