//! The live status line on a terminal (window, phase, step, loss, tokens/s, last commit, sync),
//! with log lines printed above it; plain logs when stderr is not a terminal.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use miner::{MinerHandle, MinerStatus};

/// A log writer that prints above the status line.
struct AboveBar {
    bar: ProgressBar,
    buf: Vec<u8>,
}

impl Write for AboveBar {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let buf = std::mem::take(&mut self.buf);
        self.bar.suspend(|| std::io::stderr().write_all(&buf))
    }
}

impl Drop for AboveBar {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Installs the log subscriber (`RUST_LOG`, default info) and returns the status line, hidden
/// unless stderr is a terminal.
pub fn init_logging() -> ProgressBar {
    let bar =
        if std::io::stderr().is_terminal() { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"));
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let writer_bar = bar.clone();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || AboveBar { bar: writer_bar.clone(), buf: Vec::new() })
        .try_init();
    bar
}

/// One line of status.
pub fn render(s: &MinerStatus) -> String {
    let mut line = format!("window {} ({}, block {})", s.window, s.phase, s.head);
    if s.step > 0 {
        line += &format!(" | step {}/{}", s.step, s.steps);
    }
    if let Some(loss) = s.loss {
        line += &format!(" loss {loss:.3}");
    }
    if let Some(tps) = s.tokens_per_second {
        line += &format!(" {tps:.0} tok/s");
    }
    match &s.last_commit {
        Some((w, hash, block)) => {
            line += &format!(" | last commit w{w} {} @{block}", &hash[..12.min(hash.len())])
        }
        None => line += " | no commit yet",
    }
    line += &format!(
        " | model w{} {} | {}",
        s.model_window,
        &s.fingerprint[..12.min(s.fingerprint.len())],
        s.sync
    );
    line
}

/// Redraws the line twice a second.
pub fn spawn(bar: ProgressBar, handle: &MinerHandle) -> tokio::task::JoinHandle<()> {
    let status = handle.status_source();
    tokio::spawn(async move {
        loop {
            bar.set_message(render(&status()));
            bar.tick();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}
