//! The chain as the loops see it: a trait, so the loops run against the real client in the
//! end-to-end tests and against [`crate::memory::MemoryChain`] in fast unit tests (as pallets
//! use FRAME's mock runtime). One value speaks for one hotkey: the calls that send sign with it.

use std::future::Future;
use std::net::SocketAddr;

/// An sr25519 public key.
pub type Hotkey = [u8; 32];

/// A finalized block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRef {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: [u8; 32],
}

/// A registered neuron, as read at some block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neuron {
    /// Its uid.
    pub uid: u16,
    /// Its hotkey.
    pub hotkey: Hotkey,
    /// `Incentive[uid]`.
    pub incentive: u16,
    /// `Dividends[uid]`.
    pub dividends: u16,
    /// `Emission[uid]`: its payout at the last epoch, rao.
    pub emission: u64,
    /// `ValidatorPermit[uid]`.
    pub permit: bool,
    /// Stake on the hotkey in the subnet, rao.
    pub stake: u64,
    /// Its served axon, if any.
    pub axon: Option<SocketAddr>,
    /// The block it registered in (a new registration of the uid is a new participant).
    pub registered_at: u64,
}

/// A miner's commitment in this protocol's format, as stored at some block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinerCommitment {
    /// The committer.
    pub hotkey: Hotkey,
    /// The window it is for.
    pub window: u64,
    /// `blake2_256` of the payload.
    pub hash: [u8; 32],
    /// The block it landed in.
    pub block: u64,
}

/// A validator's approval commitment, as stored at some block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalCommitment {
    /// The validator.
    pub hotkey: Hotkey,
    /// The window it is for.
    pub window: u64,
    /// Bit `i` approves the `i`-th ranked candidate.
    pub bitmap: Vec<u8>,
    /// The fingerprint of `S_w` the validator checked against.
    pub base: [u8; 32],
    /// The block it landed in.
    pub block: u64,
}

/// A failed chain call, as the loops need to tell cases apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeamError {
    /// The node could not be reached or answered badly; worth retrying.
    #[error("chain unavailable: {0}")]
    Unavailable(String),
    /// The block is not finalized yet (or not known).
    #[error("block {0} is not finalized yet")]
    NotFinalized(u64),
    /// This hotkey is not registered in the subnet.
    #[error("hotkey {0} is not registered in the subnet")]
    NotRegistered(String),
    /// The chain refused the transaction for another reason (named).
    #[error("refused: {0}")]
    Refused(String),
    /// A transaction was sent but its fate is unknown; it may still land.
    #[error("unconfirmed: {0}")]
    Unconfirmed(String),
}

/// What the loops read from and send to the chain. Reads take a finalized block.
pub trait ChainSeam: Send + Sync {
    /// This seam's hotkey (the signer of what it sends).
    fn hotkey(&self) -> Hotkey;

    /// The latest finalized block.
    fn finalized(&self) -> impl Future<Output = Result<BlockRef, SeamError>> + Send;

    /// The number of the best (head) block: deadlines for landing a transaction are measured
    /// against it, decisions never are.
    fn best_number(&self) -> impl Future<Output = Result<u64, SeamError>> + Send;

    /// The finalized block with this number; `NotFinalized` if finality has not reached it.
    fn block_at(&self, number: u64) -> impl Future<Output = Result<BlockRef, SeamError>> + Send;

    /// The subnet's neurons at `at`, by uid.
    fn neurons_at(
        &self,
        netuid: u16,
        at: BlockRef,
    ) -> impl Future<Output = Result<Vec<Neuron>, SeamError>> + Send;

    /// Miner commitments for `window` in state at `at` (latest per account), from any account.
    fn commitments_at(
        &self,
        netuid: u16,
        window: u64,
        at: BlockRef,
    ) -> impl Future<Output = Result<Vec<MinerCommitment>, SeamError>> + Send;

    /// Approval commitments in state at `at` (latest per account) for window `since` or later:
    /// who has taken part lately.
    fn approvals_since(
        &self,
        netuid: u16,
        since: u64,
        at: BlockRef,
    ) -> impl Future<Output = Result<Vec<ApprovalCommitment>, SeamError>> + Send;

    /// Approval commitments for `window` in state at `at`.
    fn approvals_at(
        &self,
        netuid: u16,
        window: u64,
        at: BlockRef,
    ) -> impl Future<Output = Result<Vec<ApprovalCommitment>, SeamError>> + Send {
        async move {
            let mut all = self.approvals_since(netuid, window, at).await?;
            all.retain(|a| a.window == window);
            Ok(all)
        }
    }

    /// Commits `(window, hash)`; returns the block it landed in.
    fn commit(
        &self,
        netuid: u16,
        window: u64,
        hash: [u8; 32],
    ) -> impl Future<Output = Result<u64, SeamError>> + Send;

    /// Commits an approval; returns the block it landed in.
    fn approve(
        &self,
        netuid: u16,
        window: u64,
        bitmap: Vec<u8>,
        base: [u8; 32],
    ) -> impl Future<Output = Result<u64, SeamError>> + Send;

    /// Serves this hotkey's axon at `addr`.
    fn serve_axon(&self, netuid: u16, addr: SocketAddr)
        -> impl Future<Output = Result<(), SeamError>> + Send;

    /// Sets weights `(uid, weight)`; returns the block they landed in.
    fn set_weights(
        &self,
        netuid: u16,
        weights: Vec<(u16, f32)>,
        version_key: u64,
    ) -> impl Future<Output = Result<u64, SeamError>> + Send;
}
