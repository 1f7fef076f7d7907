//! The approval check of one window (docs/protocol.md, sections 3-6): every miner commitment
//! for `w` at finalized `D_w` is fetched from its author's axon (exact size, timeout, retries
//! while the author may not have revealed yet), its bytes hashed against the commitment,
//! decoded, and its header matched against the run, the window, the uid's hotkey and the
//! fingerprint of this validator's `S_w`. What passes may be approved; what fails carries
//! its reason into the scores.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{FutureExt, StreamExt};

use model::codec::Payload;
use serde::{Deserialize, Serialize};
use subnet_peer::http::{FetchError, Fetcher};
use subnet_peer::seam::{BlockRef, Neuron};
use subnet_peer::sync::Run;
use subnet_peer::{ChainSeam, Window};

/// Payloads fetched at once.
const CONCURRENCY: usize = 8;

/// Why a committed payload earns nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The uid serves no axon.
    NoAxon,
    /// The author never served it (404, refused connection, timeouts) before the approval deadline.
    NotServed,
    /// The response was longer than the run's exact payload size.
    Oversized,
    /// The response was shorter than the payload size.
    Truncated,
    /// The bytes do not hash to the commitment.
    WrongHash,
    /// The bytes are not a payload of this run's codec.
    Malformed,
    /// The header names another run, subnet, window, hotkey or base model.
    WrongHeader,
    /// Its top-k positions are (nearly) another payload's of this window, and its own pages
    /// gained less than that one's.
    Copy,
    /// Its top-k positions are (nearly) a payload's of the previous window.
    Replay,
    /// Registered, but nothing committed for the window.
    NoCommit,
}

impl Reason {
    /// The label used in metrics and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoAxon => "no_axon",
            Self::NotServed => "not_served",
            Self::Oversized => "oversized",
            Self::Truncated => "truncated",
            Self::WrongHash => "wrong_hash",
            Self::Malformed => "malformed",
            Self::WrongHeader => "wrong_header",
            Self::Copy => "copy",
            Self::Replay => "replay",
            Self::NoCommit => "no_commit",
        }
    }

    fn of_fetch(e: &FetchError) -> Self {
        match e {
            FetchError::TooLarge { .. } => Self::Oversized,
            FetchError::Truncated { .. } => Self::Truncated,
            FetchError::WrongHash { .. } => Self::WrongHash,
            _ => Self::NotServed,
        }
    }
}

/// A failed check: the reason and the details, for the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Why.
    pub reason: Reason,
    /// What exactly.
    pub detail: String,
}

/// One commitment of the window and what came of fetching it.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The author's uid at `D_w`.
    pub uid: u16,
    /// Its hotkey.
    pub hotkey: [u8; 32],
    /// The block it registered in (scores are kept per registration).
    pub registered_at: u64,
    /// The committed hash.
    pub hash: [u8; 32],
    /// The block the commitment landed in.
    pub block: u64,
    /// The bytes and their decoded payload, or why not.
    pub outcome: Result<(Vec<u8>, Payload), Failure>,
}

/// Fetches and checks every commitment for `w` in state at `deadline` (`D_w`), against `base`
/// (the fingerprint of `S_w`). A 404 is asked again until the head reaches `give_up`, since an
/// author reveals only once it has seen `D_w` finalized.
pub async fn check_window<C: ChainSeam>(
    chain: &C,
    run: &Run,
    fetcher: &Fetcher,
    w: Window,
    deadline: BlockRef,
    base: [u8; 32],
    give_up: u64,
) -> Result<Vec<Checked>, subnet_peer::seam::SeamError> {
    let netuid = run.netuid();
    let neurons: BTreeMap<[u8; 32], Neuron> =
        chain.neurons_at(netuid, deadline).await?.into_iter().map(|n| (n.hotkey, n)).collect();
    let mut commitments: Vec<_> = chain
        .commitments_at(netuid, w.0, deadline)
        .await?
        .into_iter()
        .filter(|c| run.schedule.in_commit_range(w, c.block))
        .filter_map(|c| neurons.get(&c.hotkey).map(|n| (n.clone(), c.hash, c.block)))
        .collect();
    commitments.sort_by_key(|(n, ..)| n.uid);
    let checks: Vec<futures::future::BoxFuture<'_, Checked>> = commitments
        .iter()
        .cloned()
        .map(|(n, hash, block)| {
            async move {
                let outcome = match n.axon {
                    None => Err(Failure { reason: Reason::NoAxon, detail: "no axon served".into() }),
                    Some(axon) => fetch(chain, run, fetcher, axon, &hash, give_up).await.and_then(|bytes| {
                        let payload = decode(run, w, base, &n.hotkey, &bytes)?;
                        Ok((bytes, payload))
                    }),
                };
                Checked { uid: n.uid, hotkey: n.hotkey, registered_at: n.registered_at, hash, block, outcome }
            }
            .boxed()
        })
        .collect();
    // All at once up to the bound: the approval has only `a` blocks after D_w is finalized,
    // and a slow holder must not hold it past `give_up`.
    let mut pending = futures::stream::iter(checks).buffer_unordered(CONCURRENCY);
    let mut out: Vec<Checked> = Vec::with_capacity(commitments.len());
    loop {
        tokio::select! {
            next = pending.next() => match next {
                Some(c) => out.push(c),
                None => break,
            },
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                if chain.best_number().await.is_ok_and(|head| head >= give_up) {
                    break;
                }
            }
        }
    }
    for (n, hash, block) in &commitments {
        if !out.iter().any(|c| c.uid == n.uid) {
            let detail = format!("still fetching at block {give_up}, when the approval had to go");
            let outcome = Err(Failure { reason: Reason::NotServed, detail });
            out.push(Checked {
                uid: n.uid,
                hotkey: n.hotkey,
                registered_at: n.registered_at,
                hash: *hash,
                block: *block,
                outcome,
            });
        }
    }
    out.sort_by_key(|c| c.uid);
    Ok(out)
}

async fn fetch<C: ChainSeam>(
    chain: &C,
    run: &Run,
    fetcher: &Fetcher,
    axon: SocketAddr,
    hash: &[u8; 32],
    give_up: u64,
) -> Result<Vec<u8>, Failure> {
    let size = run.codec.payload_bytes();
    loop {
        let err = match fetcher.once(axon, hash, size).await {
            Ok(bytes) => return Ok(bytes),
            Err(e) => e,
        };
        // Not revealed yet, or the author is restarting: ask again until the approval must go.
        let transient = matches!(
            err,
            FetchError::Status(404)
                | FetchError::Connect(_)
                | FetchError::Timeout(_)
                | FetchError::Truncated { .. }
        );
        let head = chain.best_number().await.unwrap_or(u64::MAX);
        if !transient || head >= give_up {
            return Err(Failure { reason: Reason::of_fetch(&err), detail: format!("from {axon}: {err}") });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Decodes `bytes` and checks the header against what a payload of `w` by `hotkey` on `base` must say.
pub fn decode(
    run: &Run,
    w: Window,
    base: [u8; 32],
    hotkey: &[u8; 32],
    bytes: &[u8],
) -> Result<Payload, Failure> {
    let payload =
        run.codec.decode(bytes).map_err(|e| Failure { reason: Reason::Malformed, detail: e.to_string() })?;
    match run.header_mismatch(&payload.header, w, base, hotkey) {
        Some((what, got, want)) => {
            Err(Failure { reason: Reason::WrongHeader, detail: format!("{what} is {got}, expected {want}") })
        }
        None => Ok(payload),
    }
}
