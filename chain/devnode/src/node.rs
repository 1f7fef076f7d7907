//! Starting and stopping one `subnet-node --dev` process.

use crate::{rpc::RpcClient, Error, Result};
use std::{
    collections::VecDeque,
    env,
    fs::File,
    io::{BufRead, BufReader, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

/// How many of the node's last log lines an error or a failing test shows.
const LOG_TAIL_LINES: usize = 40;

/// Where the node binary is: `SUBNET_NODE_BIN`, else the release build in the project's target
/// directory (`CARGO_TARGET_DIR`, or `~/.cache/llm-subnet/target` as the scripts set it).
pub fn node_binary() -> PathBuf {
    if let Some(bin) = env::var_os("SUBNET_NODE_BIN") {
        return bin.into();
    }
    let target = env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let cache = env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env::var_os("HOME").unwrap_or_default()).join(".cache"));
        cache.join("llm-subnet/target")
    });
    target.join("release/subnet-node")
}

/// Options for [`DevNode`]; [`DevNode::start`] uses the defaults.
#[derive(Debug, Clone)]
pub struct DevNodeBuilder {
    binary: PathBuf,
    args: Vec<String>,
    startup_timeout: Duration,
}

impl Default for DevNodeBuilder {
    fn default() -> Self {
        // Generous: several nodes may be starting at once on a 2-core machine.
        Self { binary: node_binary(), args: Vec::new(), startup_timeout: Duration::from_secs(120) }
    }
}

impl DevNodeBuilder {
    /// Runs this binary instead of [`node_binary`].
    pub fn binary(mut self, binary: impl Into<PathBuf>) -> Self {
        self.binary = binary.into();
        self
    }

    /// Adds a command-line argument after the harness's own.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// How long to wait for the RPC server and the first block.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts the node and waits until its RPC answers and it has produced block 1.
    pub fn start(self) -> Result<DevNode> {
        if !self.binary.is_file() {
            return Err(Error::NodeBinaryMissing(self.binary));
        }
        let dir = tempfile::Builder::new().prefix("subnet-devnode-").tempdir()?;
        let log_path = dir.path().join("node.log");
        let log = File::create(&log_path)?;
        let mut child = Command::new(&self.binary)
            .args(["--dev", "--base-path"])
            .arg(dir.path().join("chain"))
            // Free ports on loopback only; no discovery, telemetry or metrics server.
            .args(["--rpc-port", "0", "--listen-addr", "/ip4/127.0.0.1/tcp/0"])
            .args(["--no-mdns", "--no-telemetry", "--no-prometheus"])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn { binary: self.binary.clone(), source })?;

        let log_tail = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_TAIL_LINES)));
        let (rpc_addr_tx, rpc_addr_rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr is piped");
        let tail = log_tail.clone();
        // Drains the node's log for its whole life (a full pipe would stall the node).
        let log_reader = thread::spawn(move || follow_log(BufReader::new(stderr), log, tail, rpc_addr_tx));

        let mut node =
            DevNode { child, rpc_addr: None, log_tail, log_path, log_reader: Some(log_reader), _dir: dir };
        let deadline = Instant::now() + self.startup_timeout;
        let secs = self.startup_timeout.as_secs();
        let addr = loop {
            if let Ok(addr) = rpc_addr_rx.recv_timeout(Duration::from_millis(100)) {
                break addr;
            }
            node.check_running()?;
            if Instant::now() > deadline {
                return Err(Error::Timeout { what: "start its RPC server", secs, log_tail: node.log_tail() });
            }
        };
        node.rpc_addr = Some(addr);
        let rpc = node.rpc();
        loop {
            if rpc.best_header().map(|h| h.number >= 1).unwrap_or(false) {
                return Ok(node);
            }
            node.check_running()?;
            if Instant::now() > deadline {
                return Err(Error::Timeout { what: "produce block 1", secs, log_tail: node.log_tail() });
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A running dev chain; stopped (SIGTERM, then SIGKILL) and its state deleted on drop.
pub struct DevNode {
    child: Child,
    rpc_addr: Option<SocketAddr>,
    log_tail: Arc<Mutex<VecDeque<String>>>,
    log_path: PathBuf,
    log_reader: Option<thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl DevNode {
    /// A `--dev` node with the default options.
    pub fn start() -> Result<DevNode> {
        DevNodeBuilder::default().start()
    }

    pub fn builder() -> DevNodeBuilder {
        DevNodeBuilder::default()
    }

    /// The HTTP JSON-RPC endpoint, e.g. `http://127.0.0.1:41234`.
    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc_socket())
    }

    /// The WebSocket endpoint on the same port, as subxt and polkadot.js use it.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.rpc_socket())
    }

    pub fn rpc(&self) -> RpcClient {
        RpcClient::new(self.rpc_url())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The node's full log (deleted with the node).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last lines the node logged.
    pub fn log_tail(&self) -> String {
        let tail = self.log_tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    fn rpc_socket(&self) -> SocketAddr {
        self.rpc_addr.expect("a started node has an RPC address")
    }

    fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            Some(status) => {
                // The reader stops at the end of the log; wait for it so the tail is complete.
                if let Some(reader) = self.log_reader.take() {
                    let _ = reader.join();
                }
                Err(Error::Exited { status, log_tail: self.log_tail() })
            }
            None => Ok(()),
        }
    }
}

impl Drop for DevNode {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("--- last lines of the dev node's log ---\n{}", self.log_tail());
        }
        // Already exited and reaped: its pid may belong to someone else by now.
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SIGTERM lets the node close its database; SIGKILL if it does not exit in time.
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: `kill` has no memory effects; the pid is our own unreaped child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies the node's log to `log`, keeps its tail, and reports the RPC address once seen.
fn follow_log(
    mut stderr: impl BufRead,
    mut log: File,
    tail: Arc<Mutex<VecDeque<String>>>,
    rpc_addr: mpsc::Sender<SocketAddr>,
) {
    let mut buf = Vec::new();
    // Byte lines, decoded lossily: one bad byte in the log must not stop the draining.
    while matches!(stderr.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
        let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
        buf.clear();
        let _ = writeln!(log, "{line}");
        if let Some(addr) = parse_rpc_addr(&line) {
            let _ = rpc_addr.send(addr);
        }
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == LOG_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// The IPv4 address in sc-rpc-server's `Running JSON-RPC server: addr=127.0.0.1:PORT,[::1]:PORT`.
fn parse_rpc_addr(line: &str) -> Option<SocketAddr> {
    let (_, addrs) = line.split_once("Running JSON-RPC server: addr=")?;
    addrs.split([',', ' ']).filter_map(|a| a.parse::<SocketAddr>().ok()).find(|a| a.is_ipv4())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rpc_server_log_line() {
        let line = "2026-11-22 12:00:00 Running JSON-RPC server: addr=127.0.0.1:41234,[::1]:41234";
        assert_eq!(parse_rpc_addr(line), Some("127.0.0.1:41234".parse().unwrap()));
        let single = "Running JSON-RPC server: addr=127.0.0.1:9944,";
        assert_eq!(parse_rpc_addr(single), Some("127.0.0.1:9944".parse().unwrap()));
        assert_eq!(parse_rpc_addr("Running JSON-RPC server: addr=[::1]:9944,"), None);
        assert_eq!(parse_rpc_addr("Imported #1"), None);
    }
}
