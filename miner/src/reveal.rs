//! Revealing: once a window's commit deadline `D_w` is finalized, the payload committed for it
//! goes on the shelf, where validators and miners fetch it by hash. A task of its own rather
//! than a step of the window loop: the round trained on the predicted model starts the moment
//! `D_w` is finalized, and the validators have only until `A_w` minus their margin to fetch, so
//! a reveal must never wait for a round to end.
//!
//! It also settles what the loop cannot: the loop only works on the current window, so a
//! commit left unconfirmed (submitted, no answer) is decided here, from the chain at `D_w`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use subnet_peer::http::Shelf;
use subnet_peer::seam::BlockRef;
use subnet_peer::state::{StateDir, Status};
use subnet_peer::{ChainSeam, Schedule, Window};

use crate::metrics::Metrics;
use crate::node::MinerStatus;
use crate::own_window::{record_commit, record_skip};
use crate::window_loop::{parse_hash, short};

/// What the reveal task reads and where it puts the payloads.
pub(crate) struct Revealer<C> {
    pub(crate) chain: C,
    pub(crate) netuid: u16,
    pub(crate) schedule: Schedule,
    /// The payload size the run's codec fixes (a larger file on disk is not served).
    pub(crate) payload_bytes: u64,
    /// Windows of payloads kept (as the loop prunes them).
    pub(crate) retention: u64,
    pub(crate) state: StateDir,
    pub(crate) shelf: Shelf,
    pub(crate) metrics: Metrics,
    pub(crate) status: Arc<Mutex<MinerStatus>>,
    /// The chain's head, kept by the clock task.
    pub(crate) head: Arc<AtomicU64>,
    /// Windows whose reveal is decided (revealed, or nothing to reveal).
    pub(crate) revealed: BTreeSet<Window>,
}

impl<C: ChainSeam> Revealer<C> {
    /// Looks every `poll` until `stop`; a failure is logged once until it changes.
    pub(crate) async fn run(mut self, poll: Duration, stop: Arc<AtomicBool>) {
        let mut last_error = String::new();
        while !stop.load(Ordering::SeqCst) {
            match self.tick().await {
                Ok(()) => last_error.clear(),
                Err(e) => {
                    let text = format!("{e:#}");
                    if text != last_error {
                        tracing::warn!("revealing: {text}");
                        last_error = text;
                    }
                }
            }
            tokio::time::sleep(poll).await;
        }
    }

    pub(crate) async fn tick(&mut self) -> anyhow::Result<()> {
        let finalized = self.chain.finalized().await?;
        let now = self.schedule.window_of(self.head.load(Ordering::SeqCst).max(finalized.number));
        self.reveal(finalized, now).await;
        Ok(())
    }

    /// Puts each committed payload whose deadline is finalized on the shelf. A window whose
    /// reveal is decided is not looked at again; one that fails (a damaged file, the chain
    /// unreachable) is logged and tried again next time, without holding the others back.
    async fn reveal(&mut self, finalized: BlockRef, now: Window) {
        let oldest = Window(now.0.saturating_sub(self.retention));
        self.revealed.retain(|w| *w >= oldest);
        for w in oldest.0..=now.0 {
            let w = Window(w);
            let Some(deadline) = self.schedule.commit_deadline(w) else { continue };
            if deadline > finalized.number || self.revealed.contains(&w) {
                continue;
            }
            match self.decide(w, finalized).await {
                Ok(true) => {
                    self.revealed.insert(w);
                }
                Ok(false) => {}
                Err(e) => tracing::warn!("revealing the payload of {w}: {e:#}"),
            }
        }
    }

    /// Reveals `w` if it was committed; `true` once nothing more is to be done for it.
    async fn decide(&self, w: Window, finalized: BlockRef) -> anyhow::Result<bool> {
        let hash = match self.state.record(w)? {
            Some(Status::Committed { hash, .. }) => parse_hash(&hash)?,
            // Submitted, never confirmed, and the loop has moved on: the chain at `D_w` says.
            Some(Status::Committing { hash }) => match self.settle(w, &hash, finalized).await? {
                Some(hash) => hash,
                None => return Ok(true),
            },
            Some(Status::Stored { .. }) => {
                let reason = "the payload was stored but never submitted by the deadline".to_string();
                record_skip(&self.state, &self.metrics, &self.status, w, "late_commit", reason)?;
                return Ok(true);
            }
            Some(Status::Skipped { .. }) | None => return Ok(true),
        };
        match self.state.payload(w, &hash, self.payload_bytes)? {
            Some(bytes) => {
                self.shelf.put(w, hash, bytes.into());
                tracing::info!("revealed the payload of {w} ({})", short(&hash));
            }
            None => tracing::warn!("the committed payload of {w} is missing from the state directory"),
        }
        Ok(true)
    }

    /// Records what became of an unconfirmed commit of `w`: the hash if it landed in time.
    async fn settle(&self, w: Window, hash: &str, finalized: BlockRef) -> anyhow::Result<Option<[u8; 32]>> {
        let hash = parse_hash(hash)?;
        let me = self.chain.hotkey();
        let landed = self
            .chain
            .commitments_at(self.netuid, w.0, finalized)
            .await?
            .into_iter()
            .find(|c| c.hotkey == me && c.hash == hash && self.schedule.in_commit_range(w, c.block));
        match landed {
            Some(c) => {
                record_commit(&self.state, &self.metrics, &self.status, w, hash, c.block)?;
                tracing::info!("{w}: the unconfirmed commit of {} landed in block {}", short(&hash), c.block);
                Ok(Some(hash))
            }
            None => {
                let reason = format!(
                    "the commit was never confirmed and no commitment landed by block {}",
                    self.schedule.commit_deadline(w).unwrap_or(u64::MAX)
                );
                record_skip(&self.state, &self.metrics, &self.status, w, "not_committed", reason)?;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use subnet_peer::memory::MemoryChain;
    use subnet_peer::RunId;

    const NETUID: u16 = 1;

    fn revealer(chain: &MemoryChain, dir: &std::path::Path) -> Revealer<subnet_peer::memory::MemoryPeer> {
        let hotkey = [7u8; 32];
        chain.register(NETUID, hotkey);
        Revealer {
            chain: chain.peer(hotkey),
            netuid: NETUID,
            schedule: Schedule::new(10, 3, 2).unwrap(),
            payload_bytes: 4,
            retention: 8,
            state: StateDir::open(dir, RunId([1; 32]), NETUID, &hotkey).unwrap(),
            shelf: Shelf::new(),
            metrics: Metrics::new(),
            status: Default::default(),
            head: Arc::new(AtomicU64::new(0)),
            revealed: BTreeSet::new(),
        }
    }

    fn stored(r: &Revealer<subnet_peer::memory::MemoryPeer>, w: u64, bytes: &[u8]) -> [u8; 32] {
        let hash = model::codec::payload_hash(bytes);
        r.state.store_payload(Window(w), &hash, bytes).unwrap();
        hash
    }

    #[tokio::test]
    async fn a_payload_is_revealed_only_once_its_deadline_is_finalized() {
        let (chain, dir) = (MemoryChain::new(), tempfile::tempdir().unwrap());
        let mut r = revealer(&chain, dir.path());
        chain.set_finality_lag(4);
        let hash = stored(&r, 1, b"abcd");
        chain.advance_to(12);
        let block = r.chain.commit(NETUID, 1, hash).await.unwrap();
        r.state.set_record(Window(1), &Status::Committed { hash: hex::encode(hash), block }).unwrap();
        // D_1 = 19 is the head, not yet final.
        chain.advance_to(19);
        r.tick().await.unwrap();
        assert!(!r.shelf.contains(&hash));
        chain.advance_to(23);
        r.tick().await.unwrap();
        assert_eq!(r.shelf.get(&hash).as_deref(), Some(&b"abcd"[..]));
    }

    #[tokio::test]
    async fn an_unconfirmed_commit_is_settled_from_the_chain() {
        let (chain, dir) = (MemoryChain::new(), tempfile::tempdir().unwrap());
        let mut r = revealer(&chain, dir.path());
        // Window 1: submitted and landed, but the answer never came back.
        let landed = stored(&r, 1, b"land");
        chain.advance_to(12);
        r.chain.commit(NETUID, 1, landed).await.unwrap();
        r.state.set_record(Window(1), &Status::Committing { hash: hex::encode(landed) }).unwrap();
        // Window 2: submitted, never landed.
        let lost = stored(&r, 2, b"lost");
        r.state.set_record(Window(2), &Status::Committing { hash: hex::encode(lost) }).unwrap();
        // Window 3: stored, never submitted.
        let never = stored(&r, 3, b"nevr");
        r.state.set_record(Window(3), &Status::Stored { hash: hex::encode(never) }).unwrap();
        chain.advance_to(45);
        r.tick().await.unwrap();
        assert!(matches!(r.state.record(Window(1)).unwrap(), Some(Status::Committed { block: 13, .. })));
        assert!(r.shelf.contains(&landed));
        assert!(matches!(r.state.record(Window(2)).unwrap(), Some(Status::Skipped { .. })));
        assert!(matches!(r.state.record(Window(3)).unwrap(), Some(Status::Skipped { .. })));
        assert!(!r.shelf.contains(&lost) && !r.shelf.contains(&never));
        assert_eq!(r.metrics.windows_committed.get(), 1);
    }

    #[tokio::test]
    async fn a_damaged_window_does_not_hold_back_the_next() {
        let (chain, dir) = (MemoryChain::new(), tempfile::tempdir().unwrap());
        let mut r = revealer(&chain, dir.path());
        r.state.set_record(Window(1), &Status::Committed { hash: "not hex".into(), block: 12 }).unwrap();
        let hash = stored(&r, 2, b"good");
        r.state.set_record(Window(2), &Status::Committed { hash: hex::encode(hash), block: 22 }).unwrap();
        chain.advance_to(40);
        r.tick().await.unwrap();
        assert!(r.shelf.contains(&hash));
        assert!(!r.revealed.contains(&Window(1)), "the damaged window is tried again");
    }
}
