//! The edge of the long-running peer commands (`miner run`, `validator run`): logs with a
//! live status line under them, Ctrl-C and SIGTERM, and the `--settings` TOML file.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

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

/// Redraws the status line from `render` twice a second (call within a tokio runtime).
pub fn status_line(
    bar: ProgressBar,
    render: impl Fn() -> String + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            bar.set_message(render());
            bar.tick();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// A settings file: at most 64 KiB of UTF-8 TOML, unknown keys refused by `T`.
pub fn read_settings<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let fail = |e: String| format!("{}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, 64 * 1024 + 1), &mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() > 64 * 1024 {
        return Err(fail("larger than 64 KiB".into()));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| fail("not UTF-8".into()))?;
    toml::from_str(text).map_err(|e| fail(e.to_string()))
}

/// A path from a settings file in `dir`: relative ones are relative to the file.
pub fn relative_to(dir: &Path, path: Option<PathBuf>) -> Option<PathBuf> {
    path.map(|p| if p.is_relative() { dir.join(p) } else { p })
}
