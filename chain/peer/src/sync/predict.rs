//! The next model before it settles. `S_{w+1}` settles once `A_w` is finalized, `a` blocks
//! plus finality after `D_w`, which leaves a miner a few blocks of window `w + 1` to train in.
//! But the candidates of `w` are fixed once `D_w` is finalized, and an honest validator
//! approves exactly those whose payloads pass the checks every peer can run (fetched by hash,
//! decoded, header right), so the update is predictable that early: the first `K` ranked
//! candidates that pass, aggregated on `S_w`. A miner trains on the prediction and commits
//! only once the settled model has the predicted fingerprint (docs/protocol.md, section 2).
//! Nothing of consensus changes: a wrong prediction costs its author the round.

use std::time::Duration;

use futures::future::join_all;

use crate::http::{FetchError, Fetcher};
use crate::seam::SeamError;
use crate::state::StateDir;
use crate::update::{candidates, UpdateError};
use crate::{ChainSeam, Window};

use crate::sync::global::{Global, UpdatePayload};
use crate::sync::run::Run;

/// `S_{w+1}` as predicted from the candidates of `w`.
pub struct Prediction {
    /// The window the model is for (`w + 1`).
    pub window: Window,
    /// Its parameters, flat in spec order.
    pub params: Vec<Vec<f32>>,
    /// Their fingerprint.
    pub fingerprint: [u8; 32],
    /// The predicted update: uids and payload hashes, in rank order.
    pub update: Vec<(u16, [u8; 32])>,
}

impl std::fmt::Debug for Prediction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prediction")
            .field("window", &self.window)
            .field("fingerprint", &hex::encode(self.fingerprint))
            .field("update", &self.update.iter().map(|(uid, _)| uid).collect::<Vec<_>>())
            .finish()
    }
}

/// Why no prediction could be made.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// Reading the candidates failed.
    #[error("reading the candidates of {window}: {source}")]
    Chain {
        /// The window.
        window: Window,
        /// Why.
        source: SeamError,
    },
    /// The predicted payloads do not aggregate (they each passed the checks, so this is a bug
    /// or a disk problem, not a peer's fault).
    #[error("aggregating the predicted update of {window}: {source:#}")]
    Apply {
        /// The window.
        window: Window,
        /// Why.
        source: anyhow::Error,
    },
}

/// Predicts `S_{w+1}` from `global` (`S_w`) once `D_w` is finalized; `Ok(None)` before.
/// Each ranked candidate's payload is asked of its author until `give_up` has passed (an author
/// reveals once it sees `D_w` finalized, as this peer does); those not served by then are
/// predicted to fail. The predicted payloads are kept in `state`, so the sync step that
/// follows reads them from disk.
pub async fn predict<C: ChainSeam>(
    chain: &C,
    run: &Run,
    global: &Global,
    fetcher: &Fetcher,
    state: &StateDir,
    give_up: Duration,
) -> Result<Option<Prediction>, PredictError> {
    let w = global.window;
    let chain_error = |source| PredictError::Chain { window: w, source };
    let ranked = match candidates(chain, run.netuid(), &run.schedule, run.ranked(), w).await {
        Ok(r) => r,
        Err(UpdateError::Chain(SeamError::NotFinalized(_)) | UpdateError::OutOfRange(_)) => return Ok(None),
        Err(UpdateError::Chain(e)) => return Err(chain_error(e)),
    };
    let axons: std::collections::BTreeMap<[u8; 32], std::net::SocketAddr> = chain
        .neurons_at(run.netuid(), ranked.deadline)
        .await
        .map_err(chain_error)?
        .into_iter()
        .filter_map(|n| Some((n.hotkey, n.axon?)))
        .collect();
    let size = run.codec.payload_bytes();
    let axons = &axons;
    let fetched = join_all(ranked.candidates.iter().map(|c| async move {
        let bytes = match state.payload(w, &c.hash, size as u64) {
            Ok(Some(b)) if b.len() == size => Some(b),
            _ => match axons.get(&c.hotkey) {
                Some(axon) => {
                    tokio::time::timeout(give_up, fetch(fetcher, *axon, &c.hash, size)).await.ok().flatten()
                }
                None => None,
            },
        }?;
        let payload = run.codec.decode(&bytes).ok()?;
        run.header_mismatch(&payload.header, w, global.fingerprint, &c.hotkey).is_none().then_some(bytes)
    }))
    .await;
    let mut update = Vec::new();
    for (c, bytes) in ranked.candidates.iter().zip(fetched) {
        if let Some(bytes) = bytes {
            update.push((c, bytes));
        }
    }
    update.truncate(run.k());
    // As the quorum rules: one payload alone must come from a miner the chain already rewards.
    if update.len() == 1 && update[0].0.incentive == 0 {
        update.clear();
    }
    for (c, bytes) in &update {
        if let Err(e) = state.store_payload(w, &c.hash, bytes) {
            tracing::warn!("keeping the predicted payload of uid {} for {w}: {e}", c.uid);
        }
    }
    let payloads: Vec<UpdatePayload> = update
        .iter()
        .map(|(c, bytes)| UpdatePayload { uid: c.uid, hotkey: c.hotkey, bytes: bytes.clone() })
        .collect();
    let (params, fingerprint) =
        global.predict(run, &payloads).map_err(|source| PredictError::Apply { window: w, source })?;
    Ok(Some(Prediction {
        window: w.next(),
        params,
        fingerprint,
        update: update.iter().map(|(c, _)| (c.uid, c.hash)).collect(),
    }))
}

/// The payload from its author, asked again while it is not revealed yet (the caller bounds
/// the time).
async fn fetch(
    fetcher: &Fetcher,
    axon: std::net::SocketAddr,
    hash: &[u8; 32],
    size: usize,
) -> Option<Vec<u8>> {
    loop {
        match fetcher.once(axon, hash, size).await {
            Ok(bytes) => return Some(bytes),
            Err(FetchError::Status(404) | FetchError::Connect(_) | FetchError::Timeout(_)) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(_) => return None,
        }
    }
}
