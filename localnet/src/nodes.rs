//! The chain: two authority nodes of the `local` chain spec (Alice and Bob) on loopback, peered,
//! producing 1 s blocks and finalizing them, with their state and logs in the run directory.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use subnet_devnode::{node_key, Authority, DevNode};

/// The two running authorities; dropping them stops both (SIGTERM, then SIGKILL).
pub struct Nodes {
    /// Alice: the RPC endpoint everything else uses.
    pub alice: DevNode,
    /// Bob, bootstrapped from Alice.
    pub bob: DevNode,
    /// Their Prometheus ports (Alice, Bob).
    pub metrics: (u16, u16),
}

/// `n` distinct free loopback ports (all held open until every one is chosen).
pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .context("finding free ports")?;
    held.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

impl Nodes {
    /// Starts Alice and Bob with their state under `dir` (deleted first when `purge`), and
    /// waits until both have finalized block 2.
    pub async fn start(binary: &Path, dir: &Path, purge: bool) -> anyhow::Result<Nodes> {
        let (binary, dir) = (binary.to_path_buf(), dir.to_path_buf());
        tokio::task::spawn_blocking(move || Self::start_blocking(&binary, &dir, purge)).await?
    }

    fn start_blocking(binary: &Path, dir: &Path, purge: bool) -> anyhow::Result<Nodes> {
        if !binary.is_file() {
            bail!("no node at {}: build it with scripts/build-node.sh", binary.display());
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        if purge {
            for who in ["alice", "bob"] {
                let state = dir.join(who);
                if state.exists() {
                    std::fs::remove_dir_all(&state)
                        .with_context(|| format!("removing {}", state.display()))?;
                }
            }
        }
        let ports = free_ports(4)?;
        let key = |who: &str| dir.join(format!("{who}-node-key"));
        let alice_peer = node_key(binary, &key("alice"))?;
        node_key(binary, &key("bob"))?;
        let authority = |who: &str, p2p: u16, metrics: u16, bootnode: Option<String>| Authority {
            name: who.into(),
            base_path: dir.join(who),
            node_key_file: key(who),
            p2p_port: p2p,
            bootnode,
            prometheus_port: Some(metrics),
        };
        let start = |a: Authority| {
            let log = dir.join(format!("{}.log", a.name));
            let who = a.name.clone();
            DevNode::builder()
                .binary(binary)
                .authority(a)
                .log_file(log)
                .startup_timeout(Duration::from_secs(180))
                // Neither authors alone: blocks start once they are peered.
                .no_block_wait()
                .start()
                .with_context(|| format!("starting {who}"))
        };
        let alice = start(authority("alice", ports[0], ports[2], None))?;
        let boot = format!("/ip4/127.0.0.1/tcp/{}/p2p/{alice_peer}", ports[0]);
        let bob = start(authority("bob", ports[1], ports[3], Some(boot)))?;
        let nodes = Nodes { alice, bob, metrics: (ports[2], ports[3]) };
        let started = Instant::now();
        while nodes.finalized(&nodes.alice) < 2 || nodes.finalized(&nodes.bob) < 2 {
            if started.elapsed() > Duration::from_secs(180) {
                bail!("no block finalized within 180 s; Alice's last lines:\n{}", nodes.alice.log_tail());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Ok(nodes)
    }

    fn finalized(&self, node: &DevNode) -> u32 {
        let rpc = node.rpc();
        rpc.finalized_head().and_then(|h| rpc.header(&h)).map(|h| h.number).unwrap_or(0)
    }

    /// A node that exited, by name, if one did.
    pub fn exited(&mut self) -> Option<(&'static str, String)> {
        if let Some(status) = self.alice.exited() {
            return Some(("alice", format!("{status}: {}", self.alice.log_tail())));
        }
        self.bob.exited().map(|status| ("bob", format!("{status}: {}", self.bob.log_tail())))
    }
}
