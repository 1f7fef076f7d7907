//! The subnet's peers as processes: `validator run` and `miner run` for each participant, on
//! their own loopback ports, state and logs in the run directory, stopped by pid.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use subnet_devnode::Process;

use crate::subnet::{Participant, Role};

/// Where the peers' binaries and files are.
#[derive(Clone, Debug)]
pub struct PeerFiles {
    /// The directory with the `miner` and `validator` binaries.
    pub bin_dir: PathBuf,
    /// The run configuration.
    pub config: PathBuf,
    /// The dataset.
    pub data: PathBuf,
    /// The run directory (`state/NAME/`, `NAME.log`, `wallets/`).
    pub run_dir: PathBuf,
    /// The chain's WebSocket URL.
    pub url: String,
    /// Worker threads per peer (`MODEL_THREADS`).
    pub threads: usize,
    /// A validator's `/status` URL (the bad miners' base) and the state directory a copycat
    /// copies from.
    pub bad_base: Option<(String, PathBuf)>,
    /// The validator that writes the loss chart to `loss.svg` in the run directory.
    pub plot_by: Option<String>,
    /// More flags, by participant name or role (see `Options::extra_args`).
    pub extra_args: Vec<(String, Vec<String>)>,
}

/// A running peer.
pub struct Peer {
    /// Its wallet.
    pub who: Participant,
    /// Its HTTP server (status, metrics, payloads).
    pub http: SocketAddr,
    /// The process.
    pub process: Process,
}

impl Peer {
    /// Starts `who`'s binary on `port`.
    pub fn start(files: &PeerFiles, who: &Participant, port: u16, netuid: u16) -> anyhow::Result<Peer> {
        let program = match who.role {
            Role::Bad(_) => "localnet",
            role => role.as_str(),
        };
        let binary = files.bin_dir.join(program);
        anyhow::ensure!(binary.is_file(), "no {program} binary at {}: build it first", binary.display());
        let http = SocketAddr::from(([127, 0, 0, 1], port));
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let mut args: Vec<String> = match who.role {
            Role::Bad(_) => {
                let (base, honest) =
                    files.bad_base.clone().context("bad miners need a validator and a miner")?;
                let kind = who.role.as_str().to_string();
                ["cheat", "--kind", &kind, "--base-url", &base, "--copy-from", &path(&honest)]
                    .map(String::from)
                    .to_vec()
            }
            _ => {
                let state = path(&files.run_dir.join("state").join(&who.name));
                ["run", "--data", &path(&files.data), "--state-dir", &state].map(String::from).to_vec()
            }
        };
        let wallets = path(&crate::subnet::wallets_dir(&files.run_dir));
        let common = [
            "--config",
            &path(&files.config),
            "--listen",
            &http.to_string(),
            "--chain-url",
            &files.url,
            "--wallet-path",
            &wallets,
            "--wallet-name",
            &who.name,
            "--wallet-hotkey",
            "default",
            "--netuid",
            &netuid.to_string(),
        ]
        .map(String::from);
        args.extend(common);
        if who.role == Role::Validator {
            args.extend(["--weights-every".into(), "1".into()]);
            if files.plot_by.as_ref() == Some(&who.name) {
                args.extend(["--plot".into(), path(&files.run_dir.join("loss.svg"))]);
            }
        }
        for (key, extra) in &files.extra_args {
            if *key == who.name || key == who.role.as_str() {
                args.extend(extra.iter().cloned());
            }
        }
        let envs = [("MODEL_THREADS", files.threads.to_string())];
        let log = files.run_dir.join(format!("{}.log", who.name));
        let process =
            Process::start(&binary, &args, &envs, &log).with_context(|| format!("starting {}", who.name))?;
        Ok(Peer { who: who.clone(), http, process })
    }

    /// Its `/status` document, if it answers within 2 s.
    pub async fn status(&self, client: &reqwest::Client) -> Option<serde_json::Value> {
        let r = client
            .get(format!("http://{}/status", self.http))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let body = r.bytes().await.ok()?;
        serde_json::from_slice(&body).ok()
    }
}
