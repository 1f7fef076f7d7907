//! An in-memory chain for the loops' unit tests: blocks advance when the test says, every
//! transaction lands in the next block, state is kept per block so reads "at" a block see it
//! as it was, and finality trails the head by a set lag. Like the real pallets it keeps one
//! commitment per account and accepts them only from registered hotkeys.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::seam::{ApprovalCommitment, BlockRef, ChainSeam, Hotkey, MinerCommitment, Neuron, SeamError};

#[derive(Clone, Debug)]
enum Entry {
    Miner { window: u64, hash: [u8; 32] },
    Approval { window: u64, bitmap: Vec<u8>, base: [u8; 32] },
}

/// Weights one hotkey set.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightsSet {
    /// Who set them.
    pub hotkey: Hotkey,
    /// The block they landed in.
    pub block: u64,
    /// `(uid, weight)` as sent.
    pub weights: Vec<(u16, f32)>,
    /// The version key sent.
    pub version_key: u64,
}

#[derive(Default)]
struct State {
    head: u64,
    lag: u64,
    unavailable: bool,
    /// Per subnet: the neuron table after each block that changed it.
    neurons: BTreeMap<u16, Vec<(u64, Vec<Neuron>)>>,
    /// `(block, netuid, hotkey, entry)`, in block order.
    commitments: Vec<(u64, u16, Hotkey, Entry)>,
    weights: BTreeMap<u16, Vec<WeightsSet>>,
}

impl State {
    fn finalized(&self) -> u64 {
        self.head.saturating_sub(self.lag)
    }

    fn table_at(&self, netuid: u16, at: u64) -> Vec<Neuron> {
        let history = self.neurons.get(&netuid).map(Vec::as_slice).unwrap_or_default();
        history.iter().rev().find(|(b, _)| *b <= at).map(|(_, t)| t.clone()).unwrap_or_default()
    }

    /// The table as of the head, to change in the head block.
    fn table_mut(&mut self, netuid: u16) -> &mut Vec<Neuron> {
        let head = self.head;
        let current = self.table_at(netuid, head);
        let history = self.neurons.entry(netuid).or_default();
        if history.last().map(|(b, _)| *b) != Some(head) {
            history.push((head, current));
        }
        &mut history.last_mut().expect("just pushed").1
    }

    fn check(&self) -> Result<(), SeamError> {
        if self.unavailable {
            return Err(SeamError::Unavailable("the in-memory chain is set unavailable".into()));
        }
        Ok(())
    }

    /// A transaction from `hotkey`: lands in a new block, if the hotkey is registered.
    fn include(&mut self, netuid: u16, hotkey: &Hotkey) -> Result<u64, SeamError> {
        self.check()?;
        if !self.table_at(netuid, self.head).iter().any(|n| &n.hotkey == hotkey) {
            return Err(SeamError::NotRegistered(hex::encode(hotkey)));
        }
        self.head += 1;
        Ok(self.head)
    }

    fn block(&self, number: u64) -> BlockRef {
        BlockRef { number, hash: sp_crypto_hashing::blake2_256(&number.to_le_bytes()) }
    }

    /// Each account's latest commitment in `netuid` as of `at`.
    fn latest(&self, netuid: u16, at: u64) -> BTreeMap<Hotkey, (u64, Entry)> {
        let mut out = BTreeMap::new();
        for (block, n, hotkey, entry) in &self.commitments {
            if *n == netuid && *block <= at {
                out.insert(*hotkey, (*block, entry.clone()));
            }
        }
        out
    }
}

/// The chain; clones share it.
#[derive(Clone, Default)]
pub struct MemoryChain {
    state: Arc<Mutex<State>>,
}

impl MemoryChain {
    /// An empty chain at block 0, finality at the head.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves consistent data behind.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Finality trails the head by `lag` blocks.
    pub fn set_finality_lag(&self, lag: u64) {
        self.lock().lag = lag;
    }

    /// Every call fails with `Unavailable` while set.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    /// Produces `n` empty blocks.
    pub fn advance(&self, n: u64) {
        self.lock().head += n;
    }

    /// Produces blocks until the head is `number` (no-op if past it).
    pub fn advance_to(&self, number: u64) {
        let mut s = self.lock();
        s.head = s.head.max(number);
    }

    /// The head block's number.
    pub fn head(&self) -> u64 {
        self.lock().head
    }

    /// Registers `hotkey` in `netuid` in the head block; returns its uid.
    pub fn register(&self, netuid: u16, hotkey: Hotkey) -> u16 {
        let mut s = self.lock();
        let head = s.head;
        let table = s.table_mut(netuid);
        if let Some(n) = table.iter().find(|n| n.hotkey == hotkey) {
            return n.uid;
        }
        let uid = table.len() as u16;
        table.push(Neuron {
            uid,
            hotkey,
            incentive: 0,
            dividends: 0,
            emission: 0,
            permit: false,
            stake: 0,
            axon: None,
            registered_at: head,
        });
        uid
    }

    /// Changes a neuron in the head block.
    pub fn update_neuron(&self, netuid: u16, uid: u16, change: impl FnOnce(&mut Neuron)) {
        let mut s = self.lock();
        let table = s.table_mut(netuid);
        let n = table.iter_mut().find(|n| n.uid == uid).expect("update_neuron: no such uid");
        change(n);
    }

    /// The weights set in `netuid`, in order.
    pub fn weights(&self, netuid: u16) -> Vec<WeightsSet> {
        self.lock().weights.get(&netuid).cloned().unwrap_or_default()
    }

    /// Every miner commitment ever landed in `netuid` from `hotkey`: `(block, window, hash)`.
    pub fn commit_history(&self, netuid: u16, hotkey: &Hotkey) -> Vec<(u64, u64, [u8; 32])> {
        self.lock()
            .commitments
            .iter()
            .filter(|(_, n, h, _)| *n == netuid && h == hotkey)
            .filter_map(|(b, _, _, e)| match e {
                Entry::Miner { window, hash } => Some((*b, *window, *hash)),
                Entry::Approval { .. } => None,
            })
            .collect()
    }

    /// A seam that signs as `hotkey`.
    pub fn peer(&self, hotkey: Hotkey) -> MemoryPeer {
        MemoryPeer { chain: self.clone(), hotkey }
    }
}

/// [`MemoryChain`] as one hotkey sees it.
#[derive(Clone)]
pub struct MemoryPeer {
    chain: MemoryChain,
    hotkey: Hotkey,
}

fn finalized_ref(s: &State, at: BlockRef) -> Result<u64, SeamError> {
    s.check()?;
    if at.number > s.finalized() || s.block(at.number) != at {
        return Err(SeamError::NotFinalized(at.number));
    }
    Ok(at.number)
}

impl ChainSeam for MemoryPeer {
    fn hotkey(&self) -> Hotkey {
        self.hotkey
    }

    async fn finalized(&self) -> Result<BlockRef, SeamError> {
        let s = self.chain.lock();
        s.check()?;
        Ok(s.block(s.finalized()))
    }

    async fn best_number(&self) -> Result<u64, SeamError> {
        let s = self.chain.lock();
        s.check()?;
        Ok(s.head)
    }

    async fn block_at(&self, number: u64) -> Result<BlockRef, SeamError> {
        let s = self.chain.lock();
        s.check()?;
        if number > s.finalized() {
            return Err(SeamError::NotFinalized(number));
        }
        Ok(s.block(number))
    }

    async fn neurons_at(&self, netuid: u16, at: BlockRef) -> Result<Vec<Neuron>, SeamError> {
        let s = self.chain.lock();
        let at = finalized_ref(&s, at)?;
        Ok(s.table_at(netuid, at))
    }

    async fn commitments_at(
        &self,
        netuid: u16,
        window: u64,
        at: BlockRef,
    ) -> Result<Vec<MinerCommitment>, SeamError> {
        let s = self.chain.lock();
        let at = finalized_ref(&s, at)?;
        Ok(s.latest(netuid, at)
            .into_iter()
            .filter_map(|(hotkey, (block, e))| match e {
                Entry::Miner { window: w, hash } if w == window => {
                    Some(MinerCommitment { hotkey, window, hash, block })
                }
                _ => None,
            })
            .collect())
    }

    async fn approvals_since(
        &self,
        netuid: u16,
        since: u64,
        at: BlockRef,
    ) -> Result<Vec<ApprovalCommitment>, SeamError> {
        let s = self.chain.lock();
        let at = finalized_ref(&s, at)?;
        Ok(s.latest(netuid, at)
            .into_iter()
            .filter_map(|(hotkey, (block, e))| match e {
                Entry::Approval { window, bitmap, base } if window >= since => {
                    Some(ApprovalCommitment { hotkey, window, bitmap, base, block })
                }
                _ => None,
            })
            .collect())
    }

    async fn commit(&self, netuid: u16, window: u64, hash: [u8; 32]) -> Result<u64, SeamError> {
        let mut s = self.chain.lock();
        let block = s.include(netuid, &self.hotkey)?;
        s.commitments.push((block, netuid, self.hotkey, Entry::Miner { window, hash }));
        Ok(block)
    }

    async fn approve(
        &self,
        netuid: u16,
        window: u64,
        bitmap: Vec<u8>,
        base: [u8; 32],
    ) -> Result<u64, SeamError> {
        let mut s = self.chain.lock();
        let block = s.include(netuid, &self.hotkey)?;
        s.commitments.push((block, netuid, self.hotkey, Entry::Approval { window, bitmap, base }));
        Ok(block)
    }

    async fn serve_axon(&self, netuid: u16, addr: SocketAddr) -> Result<(), SeamError> {
        let mut s = self.chain.lock();
        s.include(netuid, &self.hotkey)?;
        let hotkey = self.hotkey;
        let table = s.table_mut(netuid);
        table.iter_mut().filter(|n| n.hotkey == hotkey).for_each(|n| n.axon = Some(addr));
        Ok(())
    }

    async fn set_weights(
        &self,
        netuid: u16,
        weights: Vec<(u16, f32)>,
        version_key: u64,
    ) -> Result<u64, SeamError> {
        let mut s = self.chain.lock();
        let block = s.include(netuid, &self.hotkey)?;
        let set = WeightsSet { hotkey: self.hotkey, block, weights, version_key };
        s.weights.entry(netuid).or_default().push(set);
        Ok(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_at_a_block_see_the_state_of_that_block() {
        let chain = MemoryChain::new();
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(chain.register(1, a), 0);
        assert_eq!(chain.register(1, b), 1);
        let pa = chain.peer(a);
        let first = pa.commit(1, 7, [10; 32]).await.unwrap();
        let second = pa.commit(1, 8, [11; 32]).await.unwrap();
        assert_eq!(second, first + 1);
        let at_first = pa.block_at(first).await.unwrap();
        let c = pa.commitments_at(1, 7, at_first).await.unwrap();
        assert_eq!(c, vec![MinerCommitment { hotkey: a, window: 7, hash: [10; 32], block: first }]);
        // The chain keeps one commitment per account: at the head, window 7's is gone.
        let head = pa.finalized().await.unwrap();
        assert!(pa.commitments_at(1, 7, head).await.unwrap().is_empty());
        assert_eq!(pa.commitments_at(1, 8, head).await.unwrap().len(), 1);
        // Approvals are a separate format.
        chain.peer(b).approve(1, 8, vec![1], [3; 32]).await.unwrap();
        let head = pa.finalized().await.unwrap();
        assert_eq!(pa.approvals_at(1, 8, head).await.unwrap().len(), 1);
        assert_eq!(pa.commitments_at(1, 8, head).await.unwrap().len(), 1);
        // Neuron changes are per block too.
        let before = pa.finalized().await.unwrap();
        chain.advance(1);
        chain.update_neuron(1, 0, |n| n.incentive = 9);
        let after = pa.finalized().await.unwrap();
        assert_eq!(pa.neurons_at(1, before).await.unwrap()[0].incentive, 0);
        assert_eq!(pa.neurons_at(1, after).await.unwrap()[0].incentive, 9);
    }

    #[tokio::test]
    async fn unregistered_keys_unfinalized_blocks_and_outages_are_errors() {
        let chain = MemoryChain::new();
        let p = chain.peer([5; 32]);
        assert!(matches!(p.commit(1, 0, [0; 32]).await, Err(SeamError::NotRegistered(_))));
        chain.register(1, [5; 32]);
        chain.set_finality_lag(3);
        chain.advance(10);
        assert_eq!(p.finalized().await.unwrap().number, 7);
        assert_eq!(p.block_at(8).await, Err(SeamError::NotFinalized(8)));
        let forged = BlockRef { number: 5, hash: [0; 32] };
        assert_eq!(p.neurons_at(1, forged).await, Err(SeamError::NotFinalized(5)));
        chain.set_unavailable(true);
        assert!(matches!(p.finalized().await, Err(SeamError::Unavailable(_))));
        chain.set_unavailable(false);
        let block = p.set_weights(1, vec![(0, 1.0)], 7).await.unwrap();
        assert_eq!(chain.weights(1)[0].block, block);
    }
}
