//! A window's update read off the chain (`docs/protocol.md`, section 5): the ranked candidates
//! at `D_w`, then the approvals at `A_w` against the stake snapshot at `w B`. Every read is at
//! a finalized block, so every peer that runs this gets the same answer.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::quorum::{self, Approval, Candidate, Decision};
use crate::seam::{BlockRef, ChainSeam, SeamError};
use crate::window::{Schedule, Window};

/// Why a window's candidates or update cannot be computed (yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// The window's deadlines lie past `u64` blocks.
    #[error("{0} has no deadline within u64 blocks")]
    OutOfRange(Window),
    /// A chain read failed; `NotFinalized` means "not yet".
    #[error(transparent)]
    Chain(#[from] SeamError),
}

/// `C_w` and the block it was read at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ranked {
    /// The window.
    pub window: Window,
    /// Block `D_w`.
    pub deadline: BlockRef,
    /// The ranked candidates (at most `K + R`).
    pub candidates: Vec<Candidate>,
}

/// The ranked candidates of `w`, once `D_w` is finalized.
pub async fn candidates<C: ChainSeam>(
    chain: &C,
    netuid: u16,
    schedule: &Schedule,
    limit: usize,
    w: Window,
) -> Result<Ranked, UpdateError> {
    let d = schedule.commit_deadline(w).ok_or(UpdateError::OutOfRange(w))?;
    let deadline = chain.block_at(d).await?;
    let neurons: BTreeMap<[u8; 32], (u16, u16)> = chain
        .neurons_at(netuid, deadline)
        .await?
        .into_iter()
        .map(|n| (n.hotkey, (n.uid, n.incentive)))
        .collect();
    let list = chain
        .commitments_at(netuid, w.0, deadline)
        .await?
        .into_iter()
        .filter(|c| schedule.in_commit_range(w, c.block))
        .filter_map(|c| {
            let (uid, incentive) = *neurons.get(&c.hotkey)?;
            Some(Candidate { uid, hotkey: c.hotkey, hash: c.hash, incentive })
        })
        .collect();
    Ok(Ranked { window: w, deadline, candidates: quorum::rank(list, &deadline.hash, limit) })
}

/// What the approvals of `ranked.window` decided, once `A_w` is finalized.
pub async fn decide<C: ChainSeam>(
    chain: &C,
    netuid: u16,
    schedule: &Schedule,
    ranked: &Ranked,
    k: usize,
) -> Result<Decision, UpdateError> {
    let w = ranked.window;
    let d = schedule.commit_deadline(w).ok_or(UpdateError::OutOfRange(w))?;
    let a = schedule.approval_deadline(w).ok_or(UpdateError::OutOfRange(w))?;
    let start = schedule.start(w).ok_or(UpdateError::OutOfRange(w))?;
    let approval_block = chain.block_at(a).await?;
    let snapshot_block = chain.block_at(start).await?;
    let snapshot: BTreeMap<[u8; 32], (bool, u64)> = chain
        .neurons_at(netuid, snapshot_block)
        .await?
        .into_iter()
        .map(|n| (n.hotkey, (n.permit, n.stake)))
        .collect();
    let approvals: Vec<Approval> = chain
        .approvals_at(netuid, w.0, approval_block)
        .await?
        .into_iter()
        // Approvals land in (D_w, A_w]: nobody can approve before the candidates are final.
        .filter(|appr| appr.block > d && appr.block <= a)
        .map(|a| {
            let (permit, stake) = snapshot.get(&a.hotkey).copied().unwrap_or((false, 0));
            Approval { hotkey: a.hotkey, permit, stake, bitmap: a.bitmap, base: a.base }
        })
        .collect();
    // The quorum's denominator: validators with a permit at the snapshot that approved one of
    // the last LIVE_WINDOWS windows (miners hold permits on a small subnet too, and a validator
    // gone for longer must not block updates forever).
    let live: std::collections::BTreeSet<[u8; 32]> = chain
        .approvals_since(netuid, w.0.saturating_sub(quorum::LIVE_WINDOWS), approval_block)
        .await?
        .into_iter()
        .map(|a| a.hotkey)
        .collect();
    let permitted: u128 = snapshot
        .iter()
        .filter(|(hotkey, (permit, _))| *permit && live.contains(*hotkey))
        .map(|(_, (_, stake))| *stake as u128)
        .sum();
    Ok(quorum::decide(&ranked.candidates, &approvals, permitted, k))
}

/// One payload of a decided update and who should hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// The candidate.
    pub candidate: Candidate,
    /// Axons to fetch it from, in order: its author, then each counted validator that approved
    /// it (axons as served at `A_w`).
    pub holders: Vec<SocketAddr>,
}

/// A window's update, settled once `A_w` is finalized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    /// The ranked candidates.
    pub ranked: Ranked,
    /// What the approvals decided.
    pub decision: Decision,
    /// The update's payloads, in rank order (empty: `S_{w+1} = S_w`).
    pub payloads: Vec<Selected>,
}

/// Candidates, decision and holders of `w`'s update: everything a peer needs to sync past `w`.
pub async fn settle<C: ChainSeam>(
    chain: &C,
    netuid: u16,
    schedule: &Schedule,
    limit: usize,
    k: usize,
    w: Window,
) -> Result<Settled, UpdateError> {
    let ranked = candidates(chain, netuid, schedule, limit, w).await?;
    let decision = decide(chain, netuid, schedule, &ranked, k).await?;
    if decision.update.is_empty() {
        return Ok(Settled { ranked, decision, payloads: Vec::new() });
    }
    let a = schedule.approval_deadline(w).ok_or(UpdateError::OutOfRange(w))?;
    let at = chain.block_at(a).await?;
    let axons: BTreeMap<[u8; 32], SocketAddr> =
        chain.neurons_at(netuid, at).await?.into_iter().filter_map(|n| Some((n.hotkey, n.axon?))).collect();
    let approvals = chain.approvals_at(netuid, w.0, at).await?;
    let payloads = decision
        .update
        .iter()
        .map(|&i| {
            let candidate = ranked.candidates[i].clone();
            let approvers = approvals
                .iter()
                .filter(|appr| Some(appr.base) == decision.base && quorum::approves(&appr.bitmap, i))
                .filter_map(|appr| axons.get(&appr.hotkey).copied());
            let mut holders: Vec<SocketAddr> = axons.get(&candidate.hotkey).copied().into_iter().collect();
            for addr in approvers {
                if !holders.contains(&addr) {
                    holders.push(addr);
                }
            }
            Selected { candidate, holders }
        })
        .collect();
    Ok(Settled { ranked, decision, payloads })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryChain;
    use crate::quorum::bitmap;

    const NET: u16 = 1;

    /// Two validators (stake 60 and 40, permits) and three miners, registered at block 0.
    fn subnet() -> (MemoryChain, Schedule) {
        let chain = MemoryChain::new();
        for (i, stake) in [(100u8, 60u64), (101, 40)] {
            let uid = chain.register(NET, [i; 32]);
            chain.update_neuron(NET, uid, |n| {
                n.permit = true;
                n.stake = stake;
            });
        }
        for i in 1..=3u8 {
            chain.register(NET, [i; 32]);
        }
        (chain, Schedule::new(20, 6, 3).unwrap())
    }

    #[tokio::test]
    async fn the_update_follows_the_approving_stake() {
        let (chain, s) = subnet();
        let w = Window(2);
        chain.advance_to(s.start(w).unwrap());
        for i in 1..=3u8 {
            chain.peer([i; 32]).commit(NET, w.0, [i + 50; 32]).await.unwrap();
        }
        // Not yet: D_w is not finalized.
        let v = chain.peer([100; 32]);
        assert!(matches!(
            candidates(&v, NET, &s, 12, w).await,
            Err(UpdateError::Chain(SeamError::NotFinalized(_)))
        ));
        chain.advance_to(s.commit_deadline(w).unwrap());
        let ranked = candidates(&v, NET, &s, 12, w).await.unwrap();
        assert_eq!(ranked.candidates.len(), 3);
        // Validator 100 (60) approves the first two, 101 (40) the last.
        v.approve(NET, w.0, bitmap(3, [0, 1]), [9; 32]).await.unwrap();
        chain.peer([101; 32]).approve(NET, w.0, bitmap(3, [2]), [9; 32]).await.unwrap();
        chain.advance_to(s.approval_deadline(w).unwrap());
        let d = decide(&v, NET, &s, &ranked, 8).await.unwrap();
        assert_eq!((d.active_stake, d.update.clone()), (100, vec![0, 1]));
        // Every peer computes the same from the same chain.
        let m = chain.peer([1; 32]);
        let ranked_m = candidates(&m, NET, &s, 12, w).await.unwrap();
        assert_eq!(ranked_m, ranked);
        assert_eq!(decide(&m, NET, &s, &ranked_m, 8).await.unwrap(), d);
    }

    #[tokio::test]
    async fn only_commits_in_the_window_and_approvals_in_the_approval_blocks_count() {
        let (chain, s) = subnet();
        let w = Window(3);
        chain.update_neuron(NET, 2, |n| n.incentive = 5); // miner [1; 32]
                                                          // Miner 2 commits for w while window 2 still runs: too early.
        chain.advance_to(s.start(w).unwrap() - 2);
        chain.peer([2; 32]).commit(NET, w.0, [52; 32]).await.unwrap();
        chain.advance_to(s.start(w).unwrap());
        chain.peer([1; 32]).commit(NET, w.0, [51; 32]).await.unwrap();
        chain.advance_to(s.commit_deadline(w).unwrap());
        chain.peer([3; 32]).commit(NET, w.0, [53; 32]).await.unwrap(); // lands at D_w + 1: late
        let v = chain.peer([100; 32]);
        let ranked = candidates(&v, NET, &s, 12, w).await.unwrap();
        let hashes: Vec<[u8; 32]> = ranked.candidates.iter().map(|c| c.hash).collect();
        assert_eq!(hashes, vec![[51; 32]]);
        // Miner 3 (uid 4) gains a permit and stake after the snapshot at w B: not counted.
        chain.update_neuron(NET, 4, |n| {
            n.permit = true;
            n.stake = 1_000;
        });
        chain.peer([3; 32]).approve(NET, w.0, bitmap(1, []), [9; 32]).await.unwrap();
        v.approve(NET, w.0, bitmap(1, [0]), [9; 32]).await.unwrap();
        // Validator 101 approves only after A_w: not counted either.
        chain.advance_to(s.approval_deadline(w).unwrap());
        chain.peer([101; 32]).approve(NET, w.0, bitmap(1, []), [9; 32]).await.unwrap();
        let d = decide(&v, NET, &s, &ranked, 8).await.unwrap();
        assert_eq!((d.active_stake, d.update.clone()), (60, vec![0]));
        assert_eq!(d.ignored.len(), 1, "{:?}", d.ignored);
    }
}
