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
        let binary = files.bin_dir.join(who.role.as_str());
        anyhow::ensure!(
            binary.is_file(),
            "no {} binary at {}: build it first",
            who.role.as_str(),
            binary.display()
        );
        let http = SocketAddr::from(([127, 0, 0, 1], port));
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let mut args: Vec<String> = vec![
            "run".into(),
            "--config".into(),
            path(&files.config),
            "--data".into(),
            path(&files.data),
            "--state-dir".into(),
            path(&files.run_dir.join("state").join(&who.name)),
            "--listen".into(),
            http.to_string(),
            "--chain-url".into(),
            files.url.clone(),
            "--wallet-path".into(),
            path(&crate::subnet::wallets_dir(&files.run_dir)),
            "--wallet-name".into(),
            who.name.clone(),
            "--wallet-hotkey".into(),
            "default".into(),
            "--netuid".into(),
            netuid.to_string(),
        ];
        if who.role == Role::Validator {
            args.extend(["--weights-every".into(), "1".into()]);
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
