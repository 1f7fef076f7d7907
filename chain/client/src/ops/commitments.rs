//! Miners' on-chain commitments: `(window, blake2_256(payload))` in `Commitments.CommitmentOf`.
//!
//! Wire format, in subtensor's `CommitmentInfo { fields }`: field 0 is `Raw8` holding the window
//! as little-endian u64, field 1 is `BlakeTwo256` holding the payload hash. The chain keeps each
//! account's latest commitment, with the block it landed in.

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

/// `(window, hash)` from stored fields, or `None` if they are not in this protocol's format.
pub fn parse_commitment(info: &CommitmentInfo) -> Option<(u64, [u8; 32])> {
    match info.fields.0.as_slice() {
        [Data::Raw8(window), Data::BlakeTwo256(hash)] => Some((u64::from_le_bytes(*window), *hash)),
        _ => None,
    }
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
        let registration = match entry.value().decode() {
            Ok(registration) => registration,
            Err(_) => {
                skipped += 1;
                continue;
            }
        };
        let Some((committed_window, hash)) = parse_commitment(&registration.info) else {
            skipped += 1;
            continue;
        };
        if committed_window != window {
            continue;
        }
        // A deregistered hotkey's commitment stays in storage but no longer counts.
        let Some(uid) = uid_at(at, netuid, &hotkey).await? else {
            skipped += 1;
            continue;
        };
        found.push(WindowCommitment { hotkey, uid, window, hash, block: registration.block as u64 });
    }
    if skipped > 0 {
        tracing::debug!(
            netuid,
            window,
            skipped,
            "ignored commitments in another format or from unregistered keys"
        );
    }
    found.sort_by_key(|c| c.uid);
    Ok(found)
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
}
