//! Starting and stopping one `subnet-node` process: a throwaway `--dev` chain (the default), or
//! one authority of the two-node `local` chain the localnet runs.

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

/// One authority of the `local` chain spec (Alice or Bob), with its state kept.
#[derive(Debug, Clone)]
pub struct Authority {
    /// `alice` or `bob` (the node's `--alice` / `--bob` dev key).
    pub name: String,
    /// Its chain state (kept across runs unless deleted).
    pub base_path: PathBuf,
    /// Its libp2p key file (`subnet-node key generate-node-key`).
    pub node_key_file: PathBuf,
    /// The loopback port it listens on for peers.
    pub p2p_port: u16,
    /// The multiaddr of a node to connect to first, if any.
    pub bootnode: Option<String>,
    /// Where its Prometheus metrics are served, if anywhere.
    pub prometheus_port: Option<u16>,
}

/// Options for [`DevNode`]; [`DevNode::start`] uses the defaults.
#[derive(Debug, Clone)]
pub struct DevNodeBuilder {
    binary: PathBuf,
    args: Vec<String>,
    startup_timeout: Duration,
    authority: Option<Authority>,
    log_file: Option<PathBuf>,
    await_block: bool,
}

impl Default for DevNodeBuilder {
    fn default() -> Self {
        // Generous: several nodes may be starting at once on a 2-core machine.
        Self {
            binary: node_binary(),
            args: Vec::new(),
            startup_timeout: Duration::from_secs(120),
            authority: None,
            log_file: None,
            await_block: true,
        }
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

    /// Runs an authority of the `local` chain instead of a `--dev` chain.
    pub fn authority(mut self, authority: Authority) -> Self {
        self.authority = Some(authority);
        self
    }

    /// Returns once the RPC server answers, without waiting for block 1 (an authority of a
    /// multi-node chain authors only once it has a peer).
    pub fn no_block_wait(mut self) -> Self {
        self.await_block = false;
        self
    }

    /// Writes the node's whole log here (default: a file deleted with the node).
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_file = Some(path.into());
        self
    }

    /// How long to wait for the RPC server and the first block.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts the node and waits until its RPC answers and it has produced block 1 (unless
    /// [`Self::no_block_wait`]).
    pub fn start(self) -> Result<DevNode> {
        if !self.binary.is_file() {
            return Err(Error::NodeBinaryMissing(self.binary));
        }
        let dir = tempfile::Builder::new().prefix("subnet-devnode-").tempdir()?;
        let log_path = self.log_file.clone().unwrap_or_else(|| dir.path().join("node.log"));
        let log = File::create(&log_path)?;
        let mut command = Command::new(&self.binary);
        match &self.authority {
            None => {
                command.args(["--dev", "--base-path"]).arg(dir.path().join("chain"));
                command.args(["--listen-addr", "/ip4/127.0.0.1/tcp/0", "--no-prometheus"]);
            }
            Some(a) => {
                command.args(["--chain", "local", "--validator", &format!("--{}", a.name)]);
                command.arg("--base-path").arg(&a.base_path).arg("--node-key-file").arg(&a.node_key_file);
                command.args(["--listen-addr", &format!("/ip4/127.0.0.1/tcp/{}", a.p2p_port)]);
                // Every window reads state at old blocks (the commit and approval deadlines).
                command.args(["--state-pruning", "archive"]);
                if let Some(boot) = &a.bootnode {
                    command.args(["--bootnodes", boot]);
                }
                match a.prometheus_port {
                    Some(port) => command.args(["--prometheus-port", &port.to_string()]),
                    None => command.arg("--no-prometheus"),
                };
            }
        }
        let mut child = command
            // A free RPC port on loopback only; no discovery or telemetry.
            .args(["--rpc-port", "0", "--no-mdns", "--no-telemetry"])
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
        if !self.await_block {
            return Ok(node);
        }
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

    /// The node's full log (deleted with the node unless [`DevNodeBuilder::log_file`] named it).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last lines the node logged.
    pub fn log_tail(&self) -> String {
        let tail = self.log_tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
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

/// Creates the libp2p key file `file` with `binary` if it is missing, and returns its peer id
/// (for another node's `--bootnodes`).
pub fn node_key(binary: &Path, file: &Path) -> Result<String> {
    let run = |args: &[&std::ffi::OsStr]| -> Result<String> {
        let out = Command::new(binary)
            .args(args)
            .output()
            .map_err(|source| Error::Spawn { binary: binary.to_path_buf(), source })?;
        if !out.status.success() {
            let log_tail = String::from_utf8_lossy(&out.stderr).into_owned();
            return Err(Error::Exited { status: out.status, log_tail });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    if !file.exists() {
        run(&["key".as_ref(), "generate-node-key".as_ref(), "--file".as_ref(), file.as_os_str()])?;
    }
    run(&["key".as_ref(), "inspect-node-key".as_ref(), "--file".as_ref(), file.as_os_str()])
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
