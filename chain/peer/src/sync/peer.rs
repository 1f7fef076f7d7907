//! What a running miner and a running validator share: the handle a caller holds (bound
//! address, status, metrics, stop), the model a start-up loads (or the genesis), the HTTP
//! server's configuration from the peer's status and metrics, and the loop's retry logging.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::http::ServerConfig;
use crate::sync::follow::Offered;
use crate::sync::{Global, Run};

/// A running peer; dropping it stops the loop (and any helper task).
pub struct PeerHandle<S, M> {
    addr: SocketAddr,
    status: Arc<Mutex<S>>,
    metrics: M,
    stop: Arc<AtomicBool>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    helpers: Vec<JoinHandle<()>>,
    what: &'static str,
}

impl<S: Clone + Send + 'static, M> PeerHandle<S, M> {
    /// The handle of the loop `task` of a `what` ("miner", "validator") serving on `addr`;
    /// `helpers` are aborted when it stops.
    pub fn new(
        what: &'static str,
        addr: SocketAddr,
        status: Arc<Mutex<S>>,
        metrics: M,
        stop: Arc<AtomicBool>,
        task: JoinHandle<anyhow::Result<()>>,
        helpers: Vec<JoinHandle<()>>,
    ) -> Self {
        Self { addr, status, metrics, stop, task: Some(task), helpers, what }
    }

    /// The HTTP server's bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A snapshot of the status.
    pub fn status(&self) -> S {
        self.status.lock().expect("status lock").clone()
    }

    /// A function returning the current status (for a status line that outlives a borrow).
    pub fn status_source(&self) -> impl Fn() -> S + Send + 'static {
        let status = self.status.clone();
        move || status.lock().expect("status lock").clone()
    }

    /// The metrics.
    pub fn metrics(&self) -> &M {
        &self.metrics
    }

    /// Asks the loop to stop (a miner abandons a round in progress, never half-commits).
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops and waits for the loop; returns its error if it failed.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.request_stop();
        let result = match self.task.take() {
            Some(task) => task.await.with_context(|| format!("the {} loop panicked", self.what))?,
            None => Ok(()),
        };
        self.helpers.iter().for_each(JoinHandle::abort);
        result
    }

    /// Waits for the loop to end by itself (it only does on a fatal error or a stop request).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        match self.task.as_mut() {
            Some(task) => {
                let r = task.await.with_context(|| format!("the {} loop panicked", self.what))?;
                self.task = None;
                r
            }
            None => Ok(()),
        }
    }
}

impl<S, M> Drop for PeerHandle<S, M> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.helpers.iter().for_each(JoinHandle::abort);
    }
}

/// The model saved in the state directory `root`, or the run's genesis (saved there).
pub fn load_or_genesis(run: &Run, root: &Path) -> anyhow::Result<Global> {
    match Global::load(run, root)? {
        Some(g) => Ok(g),
        None => {
            let g = Global::genesis(run)?;
            g.save(root)?;
            Ok(g)
        }
    }
}

/// The HTTP server of a peer listening on `listen`: `/status` from `status`, `/metrics` from
/// `metrics`, bytes served counted by `served`, `/checkpoint` from `offered`.
pub fn server_config<S: Serialize + Send + 'static>(
    listen: SocketAddr,
    status: Arc<Mutex<S>>,
    metrics: impl Fn() -> String + Send + Sync + 'static,
    served: impl Fn(usize) + Send + Sync + 'static,
    offered: Offered,
) -> ServerConfig {
    let mut server = ServerConfig::new(listen);
    server.status =
        Arc::new(move || serde_json::to_value(&*status.lock().expect("status lock")).unwrap_or_default());
    server.metrics = Arc::new(metrics);
    server.on_served = Arc::new(served);
    server.checkpoint = Arc::new(move || offered.read().expect("checkpoint lock").clone());
    server
}

/// Logs a loop's failed ticks: the first of a run of failures, then every 20th (the chain
/// going away is expected now and then; the loop retries quietly).
#[derive(Default)]
pub struct Retries {
    failures: u32,
}

impl Retries {
    /// Notes one tick's result.
    pub fn note(&mut self, result: anyhow::Result<()>) {
        match result {
            Ok(()) => self.failures = 0,
            Err(e) => {
                self.failures += 1;
                if self.failures == 1 || self.failures.is_multiple_of(20) {
                    tracing::warn!("{e:#} (retrying)");
                }
            }
        }
    }
}

/// The run configuration at `path`, resolved, and checked against a `--netuid` if one was given.
pub fn load_run(path: &Path, netuid: Option<u16>) -> anyhow::Result<Run> {
    let config = crate::RunConfig::load(path)?;
    if let Some(netuid) = netuid {
        if netuid != config.netuid {
            anyhow::bail!("--netuid {netuid} but {} is the run of subnet {}", path.display(), config.netuid);
        }
    }
    Run::new(config).with_context(|| format!("{}", path.display()))
}

/// Refuses a run other than the one the subnet's owner published (none published: a warning).
pub async fn check_published_run(chain: &subnet_client::Chain, run: &Run, path: &Path) -> anyhow::Result<()> {
    let netuid = run.netuid();
    match chain.published_run(netuid).await? {
        Some(published) => run.config.ensure_same_run(crate::RunId(published), "the subnet owner", None)?,
        None => tracing::warn!(
            "the owner of subnet {netuid} has not published a run id; using {} as given",
            path.display()
        ),
    }
    Ok(())
}

/// Runs until the peer's loop ends or Ctrl-C / SIGTERM asks it to stop (`stopping` is logged);
/// a second signal exits at once.
pub async fn until_signal<S: Clone + Send + 'static, M>(
    handle: &mut PeerHandle<S, M>,
    stopping: &str,
) -> anyhow::Result<()> {
    use crate::signal::shutdown_signal;
    tokio::select! {
        r = handle.wait() => r,
        _ = shutdown_signal() => {
            tracing::info!("{stopping} (again to force)");
            handle.request_stop();
            tokio::select! {
                r = handle.wait() => r,
                _ = shutdown_signal() => std::process::exit(130),
            }
        }
    }
}
