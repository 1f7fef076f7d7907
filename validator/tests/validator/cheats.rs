//! The scripted cheating miners (`subnet_localnet::cheats`, which the localnet also runs as
//! processes) started the way these tests use them, and the validator's reports read back.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use subnet_peer::ChainSeam;
use validator::Run;

pub use subnet_localnet::cheats::Cheat;

/// Aborts the cheat's own task when the task running it is aborted.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs a cheating miner for `peer`'s hotkey until aborted. `base` gives the validator's
/// model window and fingerprint (the base a payload of that window must name); the copycat
/// copies from the honest miner's state directory `honest`.
pub fn cheat<C: ChainSeam + 'static>(
    peer: C,
    run: Run,
    how: Cheat,
    base: impl Fn() -> (u64, String) + Send + 'static,
    honest: PathBuf,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let base = Mutex::new(base);
        let base: subnet_localnet::cheats::BaseFn = Arc::new(move || Some(base.lock().unwrap()()));
        let local = ([127, 0, 0, 1], 0).into();
        let (_, task) = subnet_localnet::cheats::spawn(peer, run, how, base, honest, local).await.unwrap();
        let task = AbortOnDrop(task);
        std::future::pending::<()>().await;
        drop(task);
    })
}

/// The validator's report lines.
pub fn reports(state: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(state.join("reports.jsonl")).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The row of `uid` in a report line.
pub fn row(report: &Value, uid: u16) -> Option<Value> {
    report["rows"].as_array()?.iter().find(|x| x["uid"] == uid).cloned()
}
