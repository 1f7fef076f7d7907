//! [`ChainSeam`] over the real chain client, signing as one hotkey.

use std::net::SocketAddr;

use subnet_client::ops::commitments::Commitment;
use subnet_client::StoredCommitment;
use subnet_client::{BlockHash, Chain, ChainError, Keypair};

use crate::seam::{ApprovalCommitment, BlockRef, ChainSeam, Hotkey, MinerCommitment, Neuron, SeamError};

/// Axon protocol number served (4: HTTP, as Bittensor's axons).
const AXON_PROTOCOL: u8 = 4;

/// The chain as one hotkey sees it.
#[derive(Clone)]
pub struct ClientSeam {
    chain: Chain,
    hotkey: Keypair,
}

impl ClientSeam {
    /// A seam over `chain` that signs with `hotkey`.
    pub fn new(chain: Chain, hotkey: Keypair) -> Self {
        Self { chain, hotkey }
    }

    /// The underlying client.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    async fn at(&self, at: BlockRef) -> Result<subnet_client::client::AtBlock, SeamError> {
        let pinned = self.chain.at_hash(BlockHash::from(at.hash)).await.map_err(seam_error)?;
        if pinned.block_number() != at.number {
            return Err(SeamError::NotFinalized(at.number));
        }
        Ok(pinned)
    }
}

impl ClientSeam {
    /// Every protocol commitment in `netuid` at `at`.
    async fn stored(&self, netuid: u16, at: BlockRef) -> Result<Vec<StoredCommitment>, SeamError> {
        let pinned = self.at(at).await?;
        self.chain.protocol_commitments(&pinned, netuid).await.map_err(seam_error)
    }
}

/// The loops' view of a client error.
fn seam_error(e: ChainError) -> SeamError {
    match &e {
        _ if e.is_transient() => SeamError::Unavailable(e.to_string()),
        ChainError::Connect { .. } => SeamError::Unavailable(e.to_string()),
        ChainError::Unconfirmed { .. } => SeamError::Unconfirmed(e.to_string()),
        _ if matches!(
            e.dispatch_error(),
            Some("AccountNotAllowedCommit" | "HotKeyNotRegisteredInSubNet")
        ) =>
        {
            SeamError::NotRegistered(e.to_string())
        }
        _ => SeamError::Refused(e.to_string()),
    }
}

impl ChainSeam for ClientSeam {
    fn hotkey(&self) -> Hotkey {
        self.hotkey.account_id().0
    }

    async fn finalized(&self) -> Result<BlockRef, SeamError> {
        let at = self.chain.finalized().await.map_err(seam_error)?;
        Ok(BlockRef { number: at.block_number(), hash: at.block_hash().0 })
    }

    async fn best_number(&self) -> Result<u64, SeamError> {
        self.chain.best_number().await.map_err(seam_error)
    }

    async fn block_at(&self, number: u64) -> Result<BlockRef, SeamError> {
        match self.chain.at_number(number).await.map_err(seam_error)? {
            Some(at) => Ok(BlockRef { number, hash: at.block_hash().0 }),
            None => Err(SeamError::NotFinalized(number)),
        }
    }

    async fn neurons_at(&self, netuid: u16, at: BlockRef) -> Result<Vec<Neuron>, SeamError> {
        let pinned = self.at(at).await?;
        let graph = self.chain.metagraph_at(&pinned, netuid).await.map_err(seam_error)?;
        Ok(graph
            .neurons
            .into_iter()
            .map(|n| Neuron {
                uid: n.uid,
                hotkey: n.hotkey.0,
                incentive: n.incentive,
                dividends: n.dividends,
                emission: n.emission,
                permit: n.validator_permit,
                stake: n.stake,
                axon: n.axon.map(|a| SocketAddr::new(a.ip, a.port)),
                registered_at: n.registered_at,
            })
            .collect())
    }

    async fn commitments_at(
        &self,
        netuid: u16,
        window: u64,
        at: BlockRef,
    ) -> Result<Vec<MinerCommitment>, SeamError> {
        Ok(self
            .stored(netuid, at)
            .await?
            .into_iter()
            .filter_map(|c| match c.commitment {
                Commitment::Miner { window: w, hash } if w == window => {
                    Some(MinerCommitment { hotkey: c.hotkey.0, window, hash, block: c.block })
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
        Ok(self
            .stored(netuid, at)
            .await?
            .into_iter()
            .filter_map(|c| match c.commitment {
                Commitment::Approval { window, bitmap, base } if window >= since => {
                    Some(ApprovalCommitment {
                        hotkey: c.hotkey.0,
                        window,
                        bitmap: bitmap.to_vec(),
                        base,
                        block: c.block,
                    })
                }
                _ => None,
            })
            .collect())
    }

    async fn commit(&self, netuid: u16, window: u64, hash: [u8; 32]) -> Result<u64, SeamError> {
        let included = self.chain.commit(&self.hotkey, netuid, window, hash).await.map_err(seam_error)?;
        Ok(included.block_number)
    }

    async fn approve(
        &self,
        netuid: u16,
        window: u64,
        bitmap: Vec<u8>,
        base: [u8; 32],
    ) -> Result<u64, SeamError> {
        let bitmap: [u8; 32] = bitmap.try_into().map_err(|b: Vec<u8>| {
            SeamError::Refused(format!("an approval bitmap is 32 bytes, not {}", b.len()))
        })?;
        let included =
            self.chain.approve(&self.hotkey, netuid, window, bitmap, base).await.map_err(seam_error)?;
        Ok(included.block_number)
    }

    async fn serve_axon(&self, netuid: u16, addr: SocketAddr) -> Result<(), SeamError> {
        self.chain
            .serve_axon(&self.hotkey, netuid, addr.ip(), addr.port(), AXON_PROTOCOL)
            .await
            .map_err(seam_error)?;
        Ok(())
    }

    async fn set_weights(
        &self,
        netuid: u16,
        weights: Vec<(u16, f32)>,
        version_key: u64,
    ) -> Result<u64, SeamError> {
        let (uids, scores): (Vec<u16>, Vec<f32>) = weights.into_iter().unzip();
        let included = self
            .chain
            .set_weights(&self.hotkey, netuid, &uids, &scores, version_key)
            .await
            .map_err(seam_error)?;
        Ok(included.block_number)
    }
}
