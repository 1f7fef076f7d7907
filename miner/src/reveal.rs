//! Revealing: once a window's commit deadline `D_w` is finalized, the payload committed for it
//! goes on the shelf, where validators and miners fetch it by hash. A task of its own rather
//! than a step of the window loop: the round trained on the predicted model starts the moment
//! `D_w` is finalized, and the validators have only until `A_w` minus their margin to fetch, so
//! a reveal must never wait for a round to end.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use subnet_peer::http::Shelf;
use subnet_peer::state::{StateDir, Status};
use subnet_peer::{ChainSeam, Schedule, Window};

use crate::window_loop::{parse_hash, short};

/// What the reveal task reads and where it puts the payloads.
pub(crate) struct Revealer<C> {
    pub(crate) chain: C,
    pub(crate) schedule: Schedule,
    /// The payload size the run's codec fixes (a larger file on disk is not served).
    pub(crate) payload_bytes: u64,
    /// Windows of payloads kept (as the loop prunes them).
    pub(crate) retention: u64,
    pub(crate) state: StateDir,
    pub(crate) shelf: Shelf,
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

    async fn tick(&mut self) -> anyhow::Result<()> {
        let now = self.schedule.window_of(self.chain.best_number().await?);
        let finalized = self.chain.finalized().await?.number;
        self.reveal(finalized, now)
    }

    /// Puts each committed payload whose deadline is finalized on the shelf. A window whose
    /// reveal is decided is not looked at again.
    pub(crate) fn reveal(&mut self, finalized: u64, now: Window) -> anyhow::Result<()> {
        let oldest = Window(now.0.saturating_sub(self.retention));
        self.revealed.retain(|w| *w >= oldest);
        for w in oldest.0..=now.0 {
            let w = Window(w);
            let Some(deadline) = self.schedule.commit_deadline(w) else { continue };
            if deadline > finalized || self.revealed.contains(&w) {
                continue;
            }
            match self.state.record(w)? {
                Some(Status::Committed { hash, .. }) => {
                    let hash = parse_hash(&hash)?;
                    match self.state.payload(w, &hash, self.payload_bytes)? {
                        Some(bytes) => {
                            self.shelf.put(w, hash, bytes.into());
                            tracing::info!("revealed the payload of {w} ({})", short(&hash));
                        }
                        None => {
                            tracing::warn!("the committed payload of {w} is missing from the state directory")
                        }
                    }
                }
                // A commit may still be confirmed: look again next time.
                Some(Status::Stored { .. } | Status::Committing { .. }) => continue,
                Some(Status::Skipped { .. }) | None => {}
            }
            self.revealed.insert(w);
        }
        Ok(())
    }
}
