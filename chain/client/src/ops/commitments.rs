//! The window protocol's on-chain commitments in `Commitments.CommitmentOf` (`docs/protocol.md`,
//! section 4), in subtensor's `CommitmentInfo { fields }`:
//! - a miner's `[Raw8(window LE), BlakeTwo256(payload hash)]`;
//! - a validator's approval `[Raw8(window LE), Raw32(bitmap), BlakeTwo256(base fingerprint)]`;
//! - the subnet owner's run id `[Raw4(b"RUN1"), BlakeTwo256(run id)]`.
//!
//! The chain keeps each account's latest commitment, with the block it landed in, so reads that
//! decide something are made at a given block.

use crate::api::chain;
use crate::api::chain::runtime_types::bounded_collections::bounded_vec::BoundedVec;
use crate::api::chain::runtime_types::pallet_commitments::data::Data;
use crate::api::chain::runtime_types::pallet_commitments::CommitmentInfo;
use crate::client::{rpc_error, AccountId, AtBlock, Chain, Included};
use crate::error::{ChainError, Result};
use crate::ops::queries::{ensure_subnet, uid_at};
use crate::wallet::Keypair;

/// One miner's commitment for a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowCommitment {
    pub hotkey: AccountId,
    pub uid: u16,
    pub window: u64,
    /// blake2_256 of the payload.
    pub hash: [u8; 32],
    /// Block the commitment landed in.
    pub block: u64,
}

/// The fields a commitment to `(window, hash)` carries.
pub fn commitment_fields(window: u64, hash: [u8; 32]) -> CommitmentInfo {
    CommitmentInfo { fields: BoundedVec(vec![Data::Raw8(window.to_le_bytes()), Data::BlakeTwo256(hash)]) }
}

/// `(window, hash)` from stored fields, or `None` if they are not a miner's commitment.
pub fn parse_commitment(info: &CommitmentInfo) -> Option<(u64, [u8; 32])> {
    match parse(info)? {
        Commitment::Miner { window, hash } => Some((window, hash)),
        _ => None,
    }
}

/// The tag of the owner's run-id commitment.
pub const RUN_TAG: [u8; 4] = *b"RUN1";

/// A commitment in one of the protocol's formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commitment {
    /// A miner's payload hash for a window.
    Miner { window: u64, hash: [u8; 32] },
    /// A validator's approval of ranked candidates of a window, checked against `base`.
    Approval { window: u64, bitmap: [u8; 32], base: [u8; 32] },
    /// The subnet owner's run id.
    Run { run_id: [u8; 32] },
}

/// The fields of an approval.
pub fn approval_fields(window: u64, bitmap: [u8; 32], base: [u8; 32]) -> CommitmentInfo {
    CommitmentInfo {
        fields: BoundedVec(vec![
            Data::Raw8(window.to_le_bytes()),
            Data::Raw32(bitmap),
            Data::BlakeTwo256(base),
        ]),
    }
}

/// The fields of the owner's run-id commitment.
pub fn run_fields(run_id: [u8; 32]) -> CommitmentInfo {
    CommitmentInfo { fields: BoundedVec(vec![Data::Raw4(RUN_TAG), Data::BlakeTwo256(run_id)]) }
}

/// Stored fields in one of the protocol's formats, or `None`.
pub fn parse(info: &CommitmentInfo) -> Option<Commitment> {
    match info.fields.0.as_slice() {
        [Data::Raw8(window), Data::BlakeTwo256(hash)] => {
            Some(Commitment::Miner { window: u64::from_le_bytes(*window), hash: *hash })
        }
        [Data::Raw8(window), Data::Raw32(bitmap), Data::BlakeTwo256(base)] => {
            Some(Commitment::Approval { window: u64::from_le_bytes(*window), bitmap: *bitmap, base: *base })
        }
        [Data::Raw4(tag), Data::BlakeTwo256(run_id)] if *tag == RUN_TAG => {
            Some(Commitment::Run { run_id: *run_id })
        }
        _ => None,
    }
}

/// A commitment as stored, from a hotkey registered in the subnet at the block read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCommitment {
    pub hotkey: AccountId,
    pub uid: u16,
    /// Block the commitment landed in.
    pub block: u64,
    pub commitment: Commitment,
}

impl Chain {
    /// Commits `(window, hash)` for `hotkey` in `netuid`.
    pub async fn commit(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        window: u64,
        hash: [u8; 32],
    ) -> Result<Included> {
        let call =
            chain::transactions().commitments().set_commitment(netuid, commitment_fields(window, hash));
        self.submit("set_commitment", &call, hotkey).await
    }

    /// Commits an approval of window `window`'s ranked candidates (`bitmap`) on base `base`.
    pub async fn approve(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        window: u64,
        bitmap: [u8; 32],
        base: [u8; 32],
    ) -> Result<Included> {
        let call =
            chain::transactions().commitments().set_commitment(netuid, approval_fields(window, bitmap, base));
        self.submit("set_commitment", &call, hotkey).await
    }

    /// Publishes the run id as the subnet owner's hotkey (uid 0's) commitment.
    pub async fn publish_run(
        &self,
        owner_hotkey: &Keypair,
        netuid: u16,
        run_id: [u8; 32],
    ) -> Result<Included> {
        let call = chain::transactions().commitments().set_commitment(netuid, run_fields(run_id));
        self.submit("set_commitment", &call, owner_hotkey).await
    }

    /// Every commitment in the protocol's formats in `netuid` at `at`, from hotkeys registered
    /// there, sorted by uid.
    pub async fn protocol_commitments(&self, at: &AtBlock, netuid: u16) -> Result<Vec<StoredCommitment>> {
        stored_at(at, netuid).await
    }

    /// The run id the subnet owner (uid 0) published, at the latest finalized block.
    pub async fn published_run(&self, netuid: u16) -> Result<Option<[u8; 32]>> {
        let at = self.finalized().await?;
        Ok(stored_at(&at, netuid).await?.into_iter().find_map(|c| match c.commitment {
            Commitment::Run { run_id } if c.uid == 0 => Some(run_id),
            _ => None,
        }))
    }

    /// Every valid commitment for `window` in `netuid` at the latest finalized block: in this
    /// protocol's format and from a hotkey that is still registered. Sorted by uid.
    pub async fn commitments(&self, netuid: u16, window: u64) -> Result<Vec<WindowCommitment>> {
        let at = self.finalized().await?;
        commitments_at(&at, netuid, window).await
    }

    /// As [`Chain::commitments`], at a given block (e.g. the window's deadline).
    pub async fn commitments_at_block(
        &self,
        netuid: u16,
        window: u64,
        block: crate::client::BlockHash,
    ) -> Result<Vec<WindowCommitment>> {
        let at = self.at_hash(block).await?;
        commitments_at(&at, netuid, window).await
    }
}

async fn commitments_at(at: &AtBlock, netuid: u16, window: u64) -> Result<Vec<WindowCommitment>> {
    Ok(stored_at(at, netuid)
        .await?
        .into_iter()
        .filter_map(|c| match c.commitment {
            Commitment::Miner { window: w, hash } if w == window => {
                Some(WindowCommitment { hotkey: c.hotkey, uid: c.uid, window, hash, block: c.block })
            }
            _ => None,
        })
        .collect())
}

async fn stored_at(at: &AtBlock, netuid: u16) -> Result<Vec<StoredCommitment>> {
    ensure_subnet(at, netuid).await?;
    let mut entries = at
        .storage()
        .iter(chain::storage().commitments().commitment_of(), (netuid,))
        .await
        .map_err(rpc_error)?;
    let mut found = Vec::new();
    let mut skipped = 0usize;
    while let Some(entry) = entries.next().await {
        let entry = entry.map_err(rpc_error)?;
        let (_, hotkey) = entry
            .key()
            .and_then(|k| k.decode())
            .map_err(|e| ChainError::Decode(format!("CommitmentOf key: {e}")))?;
        let Some((registration, commitment)) =
            entry.value().decode().ok().and_then(|r| parse(&r.info).map(|c| (r, c)))
        else {
            skipped += 1;
            continue;
        };
        // A deregistered hotkey's commitment stays in storage but no longer counts.
        let Some(uid) = uid_at(at, netuid, &hotkey).await? else {
            skipped += 1;
            continue;
        };
        found.push(StoredCommitment { hotkey, uid, block: registration.block as u64, commitment });
    }
    if skipped > 0 {
        tracing::debug!(netuid, skipped, "ignored commitments in another format or from unregistered keys");
    }
    found.sort_by_key(|c| c.uid);
    Ok(found)
}

impl Chain {
    /// Who set a commitment in block `number` (its `Commitments.Commitment` events), with the
    /// subnet; none if there is no such block.
    pub async fn commitments_set_at(&self, number: u64) -> Result<Vec<(u16, AccountId)>> {
        let events = self.events_at::<chain::commitments::events::Commitment>(number).await?;
        Ok(events.into_iter().map(|e| (e.netuid, e.who)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_foreign_formats_are_ignored() {
        let info = commitment_fields(42, [7; 32]);
        assert_eq!(parse_commitment(&info), Some((42, [7; 32])));
        let foreign = CommitmentInfo { fields: BoundedVec(vec![Data::Raw4(*b"http")]) };
        assert_eq!(parse_commitment(&foreign), None);
        let reversed =
            CommitmentInfo { fields: BoundedVec(vec![Data::BlakeTwo256([7; 32]), Data::Raw8([0; 8])]) };
        assert_eq!(parse_commitment(&reversed), None);
    }

    #[test]
    fn approvals_and_run_ids_round_trip_and_stay_apart() {
        let a = approval_fields(9, [0b101; 32], [4; 32]);
        assert_eq!(parse(&a), Some(Commitment::Approval { window: 9, bitmap: [0b101; 32], base: [4; 32] }));
        assert_eq!(parse_commitment(&a), None);
        let r = run_fields([6; 32]);
        assert_eq!(parse(&r), Some(Commitment::Run { run_id: [6; 32] }));
        let other_tag =
            CommitmentInfo { fields: BoundedVec(vec![Data::Raw4(*b"RUN2"), Data::BlakeTwo256([6; 32])]) };
        assert_eq!(parse(&other_tag), None);
    }
}
