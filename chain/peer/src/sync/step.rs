//! Sync: moving `S_w` to `S_{w+1}` from what the chain settled for `w` (docs/protocol.md,
//! section 5): every payload of the update fetched by hash from its holders and verified,
//! aggregated, applied. A peer never moves to a model the quorum's base does not vouch for.

use std::time::{Duration, Instant};

use crate::http::{FetchError, Fetcher, Shelf};
use crate::seam::SeamError;
use crate::state::StateDir;
use crate::update::{settle, Selected, UpdateError};
use crate::{ChainSeam, Window};

use crate::sync::archive::LoggedPayload;
use crate::sync::global::{Global, UpdatePayload};
use crate::sync::run::Run;

/// Payloads fetched at once.
const FETCH_CONCURRENCY: usize = 4;

/// What one sync step did.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// `A_w` is not finalized yet.
    Waiting,
    /// Nothing had a quorum: `S_{w+1} = S_w`.
    Empty(Window),
    /// The update of this window was applied.
    Applied {
        /// The window whose update it was.
        window: Window,
        /// Payloads in it.
        payloads: usize,
        /// Time fetching.
        fetch: Duration,
        /// Time aggregating and applying.
        apply: Duration,
        /// What was applied, by uid (for an update log).
        logged: Vec<LoggedPayload>,
    },
}

/// Why a sync step failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The chain read failed (retry).
    #[error("reading the update of {window}: {source}")]
    Chain {
        /// The window.
        window: Window,
        /// The read's error.
        source: SeamError,
    },
    /// The validators agree on another model than ours: this peer's model is not the run's.
    #[error("the quorum's base for {window} is {quorum}, this peer's model is {ours}: it diverged (a checkpoint is needed)")]
    Diverged {
        /// The window.
        window: Window,
        /// The quorum's fingerprint.
        quorum: String,
        /// Ours.
        ours: String,
    },
    /// A payload of the update could not be fetched from any holder (retry).
    #[error("payload of uid {uid} for {window}: {source}")]
    Fetch {
        /// The window.
        window: Window,
        /// Its author.
        uid: u16,
        /// Why.
        source: FetchError,
    },
    /// The approved payloads do not aggregate on this model.
    #[error("applying the update of {window}: {source:#}")]
    Apply {
        /// The window.
        window: Window,
        /// Why.
        source: anyhow::Error,
    },
}

/// Tries to move `global` one window forward.
pub async fn step<C: ChainSeam>(
    chain: &C,
    run: &Run,
    global: &mut Global,
    fetcher: &Fetcher,
    shelf: &Shelf,
    state: &StateDir,
) -> Result<Step, SyncError> {
    let w = global.window;
    let settled = match settle(chain, run.netuid(), &run.schedule, run.ranked(), run.k(), w).await {
        Ok(s) => s,
        Err(UpdateError::Chain(SeamError::NotFinalized(_))) => return Ok(Step::Waiting),
        Err(UpdateError::Chain(source)) => return Err(SyncError::Chain { window: w, source }),
        Err(UpdateError::OutOfRange(_)) => return Ok(Step::Waiting),
    };
    if settled.payloads.is_empty() {
        global.skip();
        return Ok(Step::Empty(w));
    }
    let base = settled.decision.base.expect("an update has a base");
    if base != global.fingerprint {
        return Err(SyncError::Diverged {
            window: w,
            quorum: hex::encode(base),
            ours: hex::encode(global.fingerprint),
        });
    }
    let size = run.codec.payload_bytes();
    let started = Instant::now();
    let mut payloads = Vec::with_capacity(settled.payloads.len());
    for chunk in settled.payloads.chunks(FETCH_CONCURRENCY) {
        let got =
            futures::future::join_all(chunk.iter().map(|sel| fetch_one(fetcher, state, w, sel, size))).await;
        for p in got {
            payloads.push(p?);
        }
    }
    let fetch = started.elapsed();
    let started = Instant::now();
    global.apply(run, &payloads).map_err(|source| SyncError::Apply { window: w, source })?;
    let apply = started.elapsed();
    // An applier holds what it applied, for the peers behind it.
    for (p, sel) in payloads.iter().zip(&settled.payloads) {
        if let Err(e) = state.store_payload(w, &sel.candidate.hash, &p.bytes) {
            tracing::warn!("keeping payload of uid {} for {w}: {e}", p.uid);
        }
        shelf.put(w, sel.candidate.hash, p.bytes.clone().into());
    }
    let logged = payloads
        .iter()
        .zip(&settled.payloads)
        .map(|(p, sel)| LoggedPayload {
            uid: p.uid,
            hotkey: hex::encode(p.hotkey),
            hash: hex::encode(sel.candidate.hash),
        })
        .collect();
    Ok(Step::Applied { window: w, payloads: payloads.len(), fetch, apply, logged })
}

/// One payload of the update: from the state directory if held (our own, or fetched before a
/// restart), else from its holders.
async fn fetch_one(
    fetcher: &Fetcher,
    state: &StateDir,
    w: Window,
    sel: &Selected,
    size: usize,
) -> Result<UpdatePayload, SyncError> {
    let c = &sel.candidate;
    let bytes = match state.payload(w, &c.hash, size as u64) {
        Ok(Some(bytes)) if bytes.len() == size => bytes,
        _ => fetcher.payload(&sel.holders, &c.hash, size).await.map_err(|source| SyncError::Fetch {
            window: w,
            uid: c.uid,
            source,
        })?,
    };
    Ok(UpdatePayload { uid: c.uid, hotkey: c.hotkey, bytes })
}
