//! The watcher: every few seconds, the chain at the finalized block (neurons, their latest
//! commitments, the stake they held when the run began) and each registered peer's
//! `/status` (the model it says it holds), into the [`Board`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use subnet_peer::http::{Fetcher, FetcherConfig};
use subnet_peer::seam::{Neuron, SeamError};
use subnet_peer::sync::Run;
use subnet_peer::{ChainSeam, Window};

use super::board::{Board, ChainView};

/// Peers asked for their status in one look (the first by uid).
const MAX_PEERS: usize = 64;
/// Status requests in flight at once.
const CONCURRENCY: usize = 8;
/// The most bytes of a peer's status read.
const STATUS_LIMIT: usize = 64 * 1024;

/// Runs until `stop`, looking every `every`.
pub(crate) async fn watch<C: ChainSeam>(
    chain: C,
    run: Arc<Run>,
    board: Board,
    stop: Arc<AtomicBool>,
    every: Duration,
) {
    let fetcher = Fetcher::new(FetcherConfig {
        timeout: Duration::from_secs(1),
        rounds: 1,
        backoff: Duration::from_millis(100),
    });
    let mut commits = BTreeMap::new();
    while !stop.load(Ordering::SeqCst) {
        match look(&chain, &run, &fetcher, &board, &mut commits).await {
            Ok(view) => board.set_chain(view),
            Err(e) => tracing::debug!("dashboard: reading the chain: {e}"),
        }
        tokio::time::sleep(every).await;
    }
}

async fn look<C: ChainSeam>(
    chain: &C,
    run: &Run,
    fetcher: &Fetcher,
    board: &Board,
    commits: &mut BTreeMap<[u8; 32], (u64, u64)>,
) -> Result<ChainView, SeamError> {
    let netuid = run.netuid();
    let schedule = run.schedule;
    let head = chain.best_number().await?;
    let fin = chain.finalized().await?;
    let neurons = chain.neurons_at(netuid, fin).await?;
    let now = schedule.window_of(fin.number);
    for w in [Window(now.0.saturating_sub(1)), now] {
        for c in chain.commitments_at(netuid, w.0, fin).await? {
            if schedule.in_commit_range(w, c.block) {
                let e = commits.entry(c.hotkey).or_insert((w.0, c.block));
                *e = (*e).max((w.0, c.block));
            }
        }
    }
    commits.retain(|hotkey, _| neurons.iter().any(|n| n.hotkey == *hotkey));
    let mut baseline = board.baseline();
    if baseline.is_empty() {
        baseline = stake_at_start(chain, run, fin.number, &neurons).await;
    }
    let me = chain.hotkey();
    let asked: Vec<([u8; 32], std::net::SocketAddr)> = neurons
        .iter()
        .filter(|n| n.hotkey != me)
        .filter_map(|n| Some((n.hotkey, n.axon?)))
        .take(MAX_PEERS)
        .collect();
    let mut peers = BTreeMap::new();
    for chunk in asked.chunks(CONCURRENCY) {
        let got = futures::future::join_all(
            chunk.iter().map(|(hotkey, addr)| peer_status(fetcher, *hotkey, *addr)),
        )
        .await;
        peers.extend(got.into_iter().flatten());
    }
    Ok(ChainView { head, finalized: fin.number, neurons, commits: commits.clone(), baseline, peers })
}

/// What `addr` says of itself on `/status`, if it answers plainly.
async fn peer_status(
    fetcher: &Fetcher,
    hotkey: [u8; 32],
    addr: std::net::SocketAddr,
) -> Option<([u8; 32], (String, u64, String))> {
    let body = fetcher.status(addr, STATUS_LIMIT).await.ok()?;
    Some((hotkey, parse_status(&body)?))
}

/// Stake by (hotkey, registration block) at the run's first block; uids registered later
/// started from none. If that block cannot be read (a pruned node), the stake now.
async fn stake_at_start<C: ChainSeam>(
    chain: &C,
    run: &Run,
    finalized: u64,
    now: &[Neuron],
) -> BTreeMap<([u8; 32], u64), u64> {
    let start = run.schedule.start(Window(run.config.window.first)).unwrap_or(0);
    let of = |neurons: &[Neuron]| -> BTreeMap<([u8; 32], u64), u64> {
        neurons.iter().map(|n| ((n.hotkey, n.registered_at), n.stake)).collect()
    };
    if start > finalized {
        // Not begun: nothing to count yet (asked again next look).
        return BTreeMap::new();
    }
    let then = match chain.block_at(start).await {
        Ok(b) => chain.neurons_at(run.netuid(), b).await,
        Err(e) => Err(e),
    };
    match then {
        Ok(neurons) => of(&neurons),
        Err(e) => {
            tracing::info!("dashboard: block {start} cannot be read ({e}); payouts are counted from now");
            of(now)
        }
    }
}

/// Role, model window and fingerprint from a peer's `/status`, if it says them plainly.
fn parse_status(body: &[u8]) -> Option<(String, u64, String)> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let role = doc.get("role")?.as_str()?;
    if role.is_empty() || role.len() > 16 || !role.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return None;
    }
    let window = doc.get("model_window")?.as_u64()?;
    let fp = doc.get("fingerprint")?.as_str()?;
    if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((role.to_string(), window, fp.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::parse_status;

    #[test]
    fn a_peer_status_is_taken_only_when_well_formed() {
        let fp = "ab".repeat(32);
        let good = format!(r#"{{"role":"miner","model_window":7,"fingerprint":"{fp}","head":3}}"#);
        assert_eq!(parse_status(good.as_bytes()), Some(("miner".into(), 7, fp.clone())));
        for bad in [
            format!(r#"{{"role":"<script>","model_window":7,"fingerprint":"{fp}"}}"#),
            format!(r#"{{"role":"miner","model_window":-1,"fingerprint":"{fp}"}}"#),
            r#"{"role":"miner","model_window":7,"fingerprint":"xyz"}"#.to_string(),
            "not json".to_string(),
        ] {
            assert_eq!(parse_status(bad.as_bytes()), None, "{bad}");
        }
    }
}
