//! The whole subnet on one machine, as a library the `localnet` binary (behind
//! `scripts/localnet.sh`) and the end-to-end tests share: two authority nodes peered on
//! loopback ([`nodes`]), the subnet with wallets, registrations and stake ([`subnet`]), and the
//! validators and miners as real processes ([`peers`]). [`Localnet::start`] brings it all up;
//! dropping the [`Localnet`] stops every process it started, by pid.

#![warn(missing_docs)]

pub mod cheats;
pub mod nodes;
pub mod peers;
pub mod subnet;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use subnet_client::Chain;

use crate::nodes::{free_ports, Nodes};
use crate::peers::{Peer, PeerFiles};
use crate::subnet::Role;

/// What to bring up.
#[derive(Clone, Debug)]
pub struct Options {
    /// Chain state, logs, wallets, peer state, the run configuration.
    pub run_dir: PathBuf,
    /// The `subnet-node` binary.
    pub node: PathBuf,
    /// The directory with the `miner` and `validator` binaries.
    pub bin_dir: PathBuf,
    /// The run configuration template (`config/localnet-tiny.toml`, ...).
    pub template: PathBuf,
    /// The dataset every peer trains and scores on.
    pub data: PathBuf,
    /// Stake of each validator, in TAO (one validator per entry).
    pub validators: Vec<u64>,
    /// Honest miners.
    pub miners: usize,
    /// Start from genesis (delete the chain state of a previous run).
    pub purge: bool,
    /// Only the chain: no subnet, wallets or peers.
    pub chain_only: bool,
    /// `MODEL_THREADS` of each peer.
    pub threads: usize,
    /// Scripted bad miners to add (`localnet cheat` processes).
    pub bad_miners: Vec<cheats::Cheat>,
    /// Honest miners registered with the others but started only on
    /// [`Localnet::start_late`] (`late1`, `late2`, ...).
    pub late_miners: usize,
    /// More flags for some peers' `run` command: a participant's name or a role (`validator`,
    /// `miner`) and the flags.
    pub extra_args: Vec<(String, Vec<String>)>,
}

/// A running localnet.
pub struct Localnet {
    /// The two authorities.
    pub nodes: Nodes,
    /// A client connected to Alice.
    pub chain: Chain,
    /// The subnet (0 with `chain_only`).
    pub netuid: u16,
    /// The peers, validators first.
    pub peers: Vec<Peer>,
    /// The run directory.
    pub run_dir: PathBuf,
    /// How peers are started.
    files: Option<PeerFiles>,
    /// Enrolled, not started yet: the late miners and their ports.
    waiting: Vec<(subnet::Participant, u16)>,
}

impl Localnet {
    /// Starts the chain and, unless `chain_only`, the subnet and its peers. `progress` is told
    /// what happens, step by step.
    pub async fn start(opts: &Options, progress: impl Fn(&str)) -> anyhow::Result<Localnet> {
        std::fs::create_dir_all(&opts.run_dir)
            .with_context(|| format!("creating {}", opts.run_dir.display()))?;
        let run_dir = opts.run_dir.canonicalize()?;
        if opts.purge {
            for dir in ["state", "wallets"] {
                let _ = std::fs::remove_dir_all(run_dir.join(dir));
            }
        }
        progress("starting Alice and Bob");
        let nodes = Nodes::start(&opts.node, &run_dir, opts.purge).await?;
        let chain = Chain::connect(&nodes.alice.ws_url()).await?;
        let mut net = Localnet {
            nodes,
            chain,
            netuid: 0,
            peers: Vec::new(),
            run_dir,
            files: None,
            waiting: Vec::new(),
        };
        if opts.chain_only {
            return Ok(net);
        }
        progress("creating the subnet");
        let netuid = subnet::create_subnet(&net.chain).await?;
        net.netuid = netuid;
        let mut people = subnet::participants(&opts.validators, opts.miners, &opts.bad_miners)?;
        for i in 1..=opts.late_miners {
            people.push(subnet::Participant::new(&format!("late{i}"), Role::Miner, 0)?);
        }
        progress(&format!("wallets, funds and registrations for {} participants", people.len()));
        subnet::enroll(&net.chain, netuid, &subnet::wallets_dir(&net.run_dir), &people).await?;
        progress("waiting for the validators' permits (an epoch)");
        subnet::wait_for_permits(&net.chain, netuid, &people).await?;
        let config = net.run_dir.join("run.toml");
        let run = subnet::write_run(&net.chain, &opts.template, netuid, &config).await?;
        progress(&format!("run {} starts at window {}", run.run_id(), run.window.first));
        let ports = free_ports(people.len())?;
        // The bad miners base their payloads on the first validator's model; the copycat
        // copies the first miner.
        let validator = people.iter().position(|p| p.role == Role::Validator);
        let miner = people.iter().find(|p| p.role == Role::Miner);
        let bad_base = validator.zip(miner).map(|(v, m)| {
            (format!("http://127.0.0.1:{}/status", ports[v]), net.run_dir.join("state").join(&m.name))
        });
        let files = PeerFiles {
            bin_dir: opts.bin_dir.clone(),
            config,
            data: opts.data.clone(),
            run_dir: net.run_dir.clone(),
            url: net.nodes.alice.ws_url(),
            threads: opts.threads,
            bad_base,
            plot_by: validator.map(|v| people[v].name.clone()),
            extra_args: opts.extra_args.clone(),
        };
        for (who, port) in people.iter().zip(ports) {
            if who.name.starts_with("late") {
                net.waiting.push((who.clone(), port));
            } else {
                net.peers.push(Peer::start(&files, who, port, netuid)?);
            }
        }
        net.files = Some(files);
        Ok(net)
    }

    /// Starts the late miner `name` (see [`Options::late_miners`]).
    pub fn start_late(&mut self, name: &str) -> anyhow::Result<()> {
        let i = self
            .waiting
            .iter()
            .position(|(who, _)| who.name == name)
            .with_context(|| format!("no late miner {name}"))?;
        let (who, port) = self.waiting.remove(i);
        let files = self.files.as_ref().context("the subnet is not running")?;
        self.peers.push(Peer::start(files, &who, port, self.netuid)?);
        Ok(())
    }

    /// Stops the peer `name` (SIGTERM, SIGKILL after 20 s) and starts it again on the same
    /// port and state, as an operator restarting it would.
    pub fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        let i =
            self.peers.iter().position(|p| p.who.name == name).with_context(|| format!("no peer {name}"))?;
        let files = self.files.as_ref().context("the subnet is not running")?;
        let old = &mut self.peers[i];
        old.process.signal_stop();
        old.process.stop(Duration::from_secs(20));
        let (who, port) = (old.who.clone(), old.http.port());
        self.peers[i] = Peer::start(files, &who, port, self.netuid)?;
        Ok(())
    }

    /// The first validator's dashboard (`http://.../`), if the subnet runs.
    pub fn dashboard(&self) -> Option<String> {
        self.peers.iter().find(|p| p.who.role == Role::Validator).map(|p| format!("http://{}/", p.http))
    }

    /// The first process that exited, with the end of its log.
    pub fn exited(&mut self) -> Option<String> {
        if let Some((who, why)) = self.nodes.exited() {
            return Some(format!("{who} exited ({why})"));
        }
        for p in &mut self.peers {
            if let Some(status) = p.process.exited() {
                let log = p.process.log();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Some(format!("{} exited ({status}):\n{}", p.who.name, tail.join("\n")));
            }
        }
        None
    }

    /// One line per peer from its `/status`: model window and fingerprint, and what it did last.
    pub async fn summary(&self) -> Vec<String> {
        let client = reqwest::Client::new();
        let mut lines = Vec::new();
        for p in &self.peers {
            if let Role::Bad(_) = p.who.role {
                lines.push(format!(
                    "{:<11} {} (scripted bad miner; see the validators' reports)",
                    p.who.name, p.http
                ));
                continue;
            }
            let line = match p.status(&client).await {
                None => format!("{:<11} {} (not answering yet)", p.who.name, p.http),
                Some(s) => {
                    let fp = s["fingerprint"].as_str().unwrap_or("");
                    let last = match p.who.role {
                        Role::Miner => match &s["last_commit"] {
                            c if c.is_array() => format!("committed w{}", c[0]),
                            _ => String::new(),
                        },
                        // Validators (bad miners were listed above).
                        _ => match (&s["last_scored"], &s["model_loss"]) {
                            (w, l) if !w.is_null() => {
                                format!("scored w{w}, model loss {:.4}", l.as_f64().unwrap_or(f64::NAN))
                            }
                            _ => String::new(),
                        },
                    };
                    format!(
                        "{:<11} window {:>4} model w{} {} {} | {last}",
                        p.who.name,
                        s["window"],
                        s["model_window"],
                        fp.get(..12).unwrap_or(fp),
                        s["phase"].as_str().or(s["sync"].as_str()).unwrap_or(""),
                    )
                }
            };
            lines.push(line);
        }
        lines
    }

    /// Stops the peers (SIGTERM, then SIGKILL after 20 s), then the nodes.
    pub fn shutdown(mut self) {
        for p in &mut self.peers {
            p.process.signal_stop();
        }
        for p in &mut self.peers {
            p.process.stop(Duration::from_secs(20));
        }
        // The nodes stop when dropped.
    }
}
