//! Setting weights: floats normalized to the chain's u16 form, rate limit and version key respected.

use crate::api::chain;
use crate::client::{AccountId, Chain, Included};
use crate::error::{ChainError, Result};
use crate::ops::queries::{ensure_subnet, get, uid_at};
use crate::ops::registration::explained;
use crate::units::format_tao;
use crate::wallet::Keypair;

/// Turns scores into the chain's form: pairs sorted by uid, zeros dropped, the largest scaled to
/// 65535 and the rest in proportion (rounded). Refuses NaN, infinities, negatives, duplicate uids
/// and all-zero input.
pub fn normalize_weights(uids: &[u16], scores: &[f32]) -> Result<(Vec<u16>, Vec<u16>)> {
    let refuse = |why: String| Err(ChainError::Refused(format!("cannot set weights: {why}")));
    if uids.len() != scores.len() {
        return refuse(format!("{} uids but {} scores", uids.len(), scores.len()));
    }
    if let Some(bad) = scores.iter().find(|s| !s.is_finite() || **s < 0.0) {
        return refuse(format!("score {bad} is not a finite non-negative number"));
    }
    let mut pairs: Vec<(u16, f32)> = uids.iter().copied().zip(scores.iter().copied()).collect();
    pairs.sort_by_key(|p| p.0);
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return refuse(format!("uid {} appears twice", w[0].0));
    }
    let max = pairs.iter().map(|p| p.1).fold(0.0f32, f32::max);
    if max <= 0.0 {
        return refuse("every score is zero".into());
    }
    let (dests, weights) = pairs
        .into_iter()
        .map(|(uid, s)| (uid, ((s as f64 / max as f64) * u16::MAX as f64).round() as u16))
        .filter(|p| p.1 > 0)
        .unzip();
    Ok((dests, weights))
}

impl Chain {
    /// Sets `hotkey`'s weights in `netuid` from raw scores (see [`normalize_weights`]).
    /// `version_key` must be at least the subnet's `WeightsVersionKey`. The chain's refusals come
    /// back by name, with what they mean here (e.g. when the rate limit allows the next update).
    pub async fn set_weights(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        uids: &[u16],
        scores: &[f32],
        version_key: u64,
    ) -> Result<Included> {
        let (dests, weights) = normalize_weights(uids, scores)?;
        let call = chain::transactions().subtensor_module().set_weights(netuid, dests, weights, version_key);
        match self.submit("set_weights", &call, hotkey).await {
            Err(e @ ChainError::Dispatch { .. }) => {
                let why = self.explain_weights_refusal(&e, hotkey, netuid, version_key).await.ok().flatten();
                Err(match why {
                    Some(why) => explained(e, why),
                    None => e,
                })
            }
            other => other,
        }
    }

    /// Blocks until `hotkey` may set weights again in `netuid` (0: now). Not registered: error.
    pub async fn blocks_until_weights_allowed(&self, netuid: u16, hotkey: &AccountId) -> Result<u64> {
        let at = self.finalized().await?;
        ensure_subnet(&at, netuid).await?;
        let uid = uid_at(&at, netuid, hotkey).await?.ok_or_else(|| {
            ChainError::Refused(format!("hotkey {hotkey} is not registered in subnet {netuid}"))
        })?;
        let limit: u64 = get!(at, weights_set_rate_limit, (netuid,));
        let last_update: Vec<u64> = get!(at, last_update, (netuid,));
        let last = last_update.get(uid as usize).copied().unwrap_or(0);
        // The chain checks at the block that includes the transaction: one after the finalized head.
        Ok(blocks_until_allowed(last, limit, at.block_number().saturating_add(1)))
    }

    /// The numbers behind a `set_weights` refusal, read at the finalized block.
    async fn explain_weights_refusal(
        &self,
        e: &ChainError,
        hotkey: &Keypair,
        netuid: u16,
        version_key: u64,
    ) -> Result<Option<String>> {
        let at = self.finalized().await?;
        let account = hotkey.account_id();
        let Some(name) = e.dispatch_error() else { return Ok(None) };
        let why = match name {
            "SettingWeightsTooFast" => {
                let Some(uid) = uid_at(&at, netuid, &account).await? else { return Ok(None) };
                let limit: u64 = get!(at, weights_set_rate_limit, (netuid,));
                let last: Vec<u64> = get!(at, last_update, (netuid,));
                let last = last.get(uid as usize).copied().unwrap_or(0);
                match next_weights_block(last, limit) {
                    Some(next) => format!(
                        "weights were set at block {last}; subnet {netuid} allows one update every {limit} blocks, \
                         so the next can land at block {next}"
                    ),
                    None => format!(
                        "weights were set at block {last}; subnet {netuid}'s rate limit of {limit} blocks is so \
                         large that no block will ever allow another update"
                    ),
                }
            }
            "IncorrectWeightVersionKey" => {
                let required: u64 = get!(at, weights_version_key, (netuid,));
                format!("sent version key {version_key}, subnet {netuid} requires at least {required}: upgrade the validator")
            }
            "HotKeyNotRegisteredInSubNet" => {
                format!("hotkey {} has no uid in subnet {netuid}; register it first", hotkey.ss58())
            }
            "NotEnoughStakeToSetWeights" => {
                let stake: u64 = get!(at, total_hotkey_alpha, (account, netuid));
                let threshold: u64 = get!(at, stake_threshold, ());
                format!(
                    "hotkey has {} TAO staked, the chain requires {} TAO",
                    format_tao(stake),
                    format_tao(threshold)
                )
            }
            "NeuronNoValidatorPermit" => {
                let max: u16 = get!(at, max_allowed_validators, (netuid,));
                format!("only the top {max} uids by stake at the last epoch may set weights on others")
            }
            _ => return Ok(None),
        };
        Ok(Some(why))
    }
}

/// The first block at which weights set at `last` may be set again under the rate limit
/// `limit`; `None` when that is past the last block number there can be.
fn next_weights_block(last: u64, limit: u64) -> Option<u64> {
    last.checked_add(limit)
}

/// Blocks from `next_block` until weights set at `last` may be set again (`u64::MAX`: never).
fn blocks_until_allowed(last: u64, limit: u64, next_block: u64) -> u64 {
    next_weights_block(last, limit).map_or(u64::MAX, |b| b.saturating_sub(next_block))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_never_overflows() {
        assert_eq!(blocks_until_allowed(100, 10, 101), 9);
        assert_eq!(blocks_until_allowed(100, 10, 111), 0);
        // A limit no block reaches (an owner may set u64::MAX) is "never", not a wrapped sum.
        assert_eq!(next_weights_block(100, u64::MAX), None);
        assert_eq!(blocks_until_allowed(100, u64::MAX, 101), u64::MAX);
        assert_eq!(blocks_until_allowed(u64::MAX, 1, 5), u64::MAX);
    }

    #[test]
    fn scores_are_max_upscaled_sorted_and_zeros_dropped() {
        let (uids, weights) = normalize_weights(&[3, 1, 2], &[0.5, 1.0, 0.0]).unwrap();
        assert_eq!(uids, vec![1, 3]);
        assert_eq!(weights, vec![65535, 32768]);
        let (_, weights) = normalize_weights(&[0, 1], &[1e-30, 1e-30]).unwrap();
        assert_eq!(weights, vec![65535, 65535]);
    }

    #[test]
    fn bad_scores_are_refused() {
        assert!(normalize_weights(&[1], &[f32::NAN]).is_err());
        assert!(normalize_weights(&[1], &[f32::INFINITY]).is_err());
        assert!(normalize_weights(&[1], &[-0.1]).is_err());
        assert!(normalize_weights(&[1, 1], &[0.1, 0.2]).is_err());
        assert!(normalize_weights(&[1, 2], &[0.1]).is_err());
        assert!(normalize_weights(&[1, 2], &[0.0, 0.0]).is_err());
    }
}
