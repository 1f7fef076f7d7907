//! A peer binary (miner, validator, a scripted cheat) run as a child process with its output in
//! a log file, stopped by its pid: what the localnet and the tests both start.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running child process; killed (SIGKILL) and reaped on drop unless it was stopped before.
pub struct Process {
    /// The child.
    pub child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `binary` with `args` and `envs` (plus `RUST_LOG=info` unless `envs` sets it),
    /// stdin closed, stdout and stderr appended to `log`.
    pub fn start(
        binary: &Path,
        args: &[String],
        envs: &[(&str, String)],
        log: &Path,
    ) -> std::io::Result<Self> {
        let out = std::fs::File::options().create(true).append(true).open(log)?;
        let mut command = Command::new(binary);
        if !envs.iter().any(|(k, _)| *k == "RUST_LOG") {
            command.env("RUST_LOG", "info");
        }
        let child = command
            .args(args)
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("starting {}: {e}", binary.display())))?;
        Ok(Self { child, log: log.to_path_buf() })
    }

    /// [`Process::start`] for tests: panics if it cannot start.
    pub fn spawn(binary: &Path, args: &[String], envs: &[(&str, String)], log: &Path) -> Self {
        Self::start(binary, args, envs, log).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Panics with its log if it has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.exited() {
            panic!("{} exited with {status}:\n{}", self.log.display(), self.log());
        }
    }

    /// Sends SIGTERM by pid (unless it has exited already).
    pub fn signal_stop(&mut self) {
        if self.exited().is_none() {
            if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
                // SAFETY: `kill` has no memory effects; the pid is our own unreaped child.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
    }

    /// SIGTERM by pid, then waits up to `timeout` for the exit; panics if it does not exit.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.stop(timeout).unwrap_or_else(|| panic!("no exit {timeout:?} after SIGTERM:\n{}", self.log()))
    }

    /// SIGTERM by pid, then up to `timeout` for the exit; SIGKILL after that (`None`).
    pub fn stop(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.signal_stop();
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if started.elapsed() >= timeout {
                self.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
