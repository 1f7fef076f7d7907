//! `validator status`: the dashboard of a running validator as a table in the terminal.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use subnet_peer::http::{Fetcher, FetcherConfig};
use validator::dashboard::{table, Snapshot};

/// Settings of `validator status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The validator's HTTP address (its `--listen`).
    #[arg(long, env = "VALIDATOR_URL", default_value = "http://127.0.0.1:8092")]
    url: String,
    /// Print the snapshot as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Print it again every this many seconds, until Ctrl-C.
    #[arg(long, value_name = "SECONDS")]
    watch: Option<u64>,
}

/// The most bytes of a snapshot read.
const LIMIT: usize = 8 << 20;

pub fn status(args: StatusArgs) -> anyhow::Result<std::process::ExitCode> {
    let url = format!("{}/dashboard.json", args.url.trim_end_matches('/'));
    let fetcher = Fetcher::new(FetcherConfig {
        timeout: Duration::from_secs(5),
        rounds: 1,
        backoff: Duration::from_millis(100),
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    loop {
        let body = runtime
            .block_on(fetcher.get(&url, LIMIT))
            .with_context(|| format!("asking {url} (is the validator running there? pass --url)"))?;
        let text = if args.json {
            String::from_utf8_lossy(&body).into_owned()
        } else {
            let snapshot: Snapshot = serde_json::from_slice(&body)
                .with_context(|| format!("{url} did not answer a dashboard snapshot"))?;
            table::render(&snapshot)
        };
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        if args.watch.is_some() {
            // Clear the screen and go home, as `watch` does.
            let _ = write!(out, "\x1b[2J\x1b[H");
        }
        if writeln!(out, "{}", text.trim_end()).is_err() {
            // A closed pipe (`| head`): stop quietly.
            return Ok(std::process::ExitCode::SUCCESS);
        }
        let _ = out.flush();
        match args.watch {
            Some(secs) => std::thread::sleep(Duration::from_secs(secs.max(1))),
            None => return Ok(std::process::ExitCode::SUCCESS),
        }
    }
}
