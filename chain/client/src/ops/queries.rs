//! Read-only queries: balances, stake, uids and subnet hyperparameters, at the finalized block.

use crate::api::chain;
use crate::client::{rpc_error, AccountId, AtBlock, Chain};
use crate::error::{ChainError, Result};

/// A subnet's hyperparameters, as the chain stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hyperparameters {
    /// Blocks between two consensus epochs.
    pub tempo: u16,
    pub max_allowed_uids: u16,
    pub max_allowed_validators: u16,
    pub immunity_period: u16,
    /// Blocks a validator must wait between two `set_weights`.
    pub weights_rate_limit: u64,
    /// Lowest version key `set_weights` accepts (0: any).
    pub weights_version_key: u64,
    /// Current registration price, in rao, and its bounds.
    pub burn: u64,
    pub min_burn: u64,
    pub max_burn: u64,
    pub activity_cutoff: u16,
    pub kappa: u16,
    pub bonds_moving_average: u64,
    pub serving_rate_limit: u64,
    pub allow_loopback_axons: bool,
}

/// Fetches a storage value that has a default, mapping failures to our errors.
macro_rules! get {
    ($at:expr, $entry:ident, $keys:expr) => {
        $at.storage()
            .fetch($crate::api::chain::storage().subtensor_module().$entry(), $keys)
            .await
            .map_err($crate::client::rpc_error)?
            .decode()
            .map_err(|e| $crate::error::ChainError::Decode(format!("{}: {e}", stringify!($entry))))?
    };
}
pub(crate) use get;

/// Fetches an optional storage value.
macro_rules! try_get {
    ($at:expr, $pallet:ident, $entry:ident, $keys:expr) => {
        match $at
            .storage()
            .try_fetch($crate::api::chain::storage().$pallet().$entry(), $keys)
            .await
            .map_err($crate::client::rpc_error)?
        {
            Some(value) => Some(
                value
                    .decode()
                    .map_err(|e| $crate::error::ChainError::Decode(format!("{}: {e}", stringify!($entry))))?,
            ),
            None => None,
        }
    };
}
pub(crate) use try_get;

impl Chain {
    /// Free balance of an account, in rao.
    pub async fn balance(&self, account: &AccountId) -> Result<u64> {
        let at = self.finalized().await?;
        let info = at
            .storage()
            .fetch(chain::storage().system().account(), (*account,))
            .await
            .map_err(rpc_error)?
            .decode()
            .map_err(|e| ChainError::Decode(format!("System.Account: {e}")))?;
        Ok(info.data.free)
    }

    /// Whether the subnet exists.
    pub async fn subnet_exists(&self, netuid: u16) -> Result<bool> {
        let at = self.finalized().await?;
        Ok(get!(at, networks_added, (netuid,)))
    }

    /// The subnet's hyperparameters; a clear error if it does not exist.
    pub async fn hyperparameters(&self, netuid: u16) -> Result<Hyperparameters> {
        let at = self.finalized().await?;
        ensure_subnet(&at, netuid).await?;
        Ok(Hyperparameters {
            tempo: get!(at, tempo, (netuid,)),
            max_allowed_uids: get!(at, max_allowed_uids, (netuid,)),
            max_allowed_validators: get!(at, max_allowed_validators, (netuid,)),
            immunity_period: get!(at, immunity_period, (netuid,)),
            weights_rate_limit: get!(at, weights_set_rate_limit, (netuid,)),
            weights_version_key: get!(at, weights_version_key, (netuid,)),
            burn: get!(at, burn, (netuid,)),
            min_burn: get!(at, min_burn, (netuid,)),
            max_burn: get!(at, max_burn, (netuid,)),
            activity_cutoff: get!(at, activity_cutoff, (netuid,)),
            kappa: get!(at, kappa, (netuid,)),
            bonds_moving_average: get!(at, bonds_moving_average, (netuid,)),
            serving_rate_limit: get!(at, serving_rate_limit, (netuid,)),
            allow_loopback_axons: get!(at, allow_loopback_axons, (netuid,)),
        })
    }

    /// The uid of `hotkey` in the subnet, if registered.
    pub async fn uid_of(&self, netuid: u16, hotkey: &AccountId) -> Result<Option<u16>> {
        let at = self.finalized().await?;
        uid_at(&at, netuid, hotkey).await
    }

    /// The stake `coldkey` has on `hotkey` in the subnet, in rao.
    pub async fn stake_of(&self, hotkey: &AccountId, coldkey: &AccountId, netuid: u16) -> Result<u64> {
        let at = self.finalized().await?;
        Ok(get!(at, stake_of, (*hotkey, *coldkey, netuid)))
    }

    /// All the stake on `hotkey` in the subnet (the `S` of consensus), in rao.
    pub async fn total_hotkey_stake(&self, hotkey: &AccountId, netuid: u16) -> Result<u64> {
        let at = self.finalized().await?;
        Ok(get!(at, total_hotkey_alpha, (*hotkey, netuid)))
    }

    /// The coldkey that owns `hotkey`, if it has one.
    pub async fn owner_of(&self, hotkey: &AccountId) -> Result<Option<AccountId>> {
        let at = self.finalized().await?;
        Ok(try_get!(at, subtensor_module, owner, (*hotkey,)))
    }
}

/// The uid of `hotkey` at a block.
pub(crate) async fn uid_at(at: &AtBlock, netuid: u16, hotkey: &AccountId) -> Result<Option<u16>> {
    Ok(try_get!(at, subtensor_module, uids, (netuid, *hotkey)))
}

/// Refuses early, with a clear message, when the subnet does not exist.
pub(crate) async fn ensure_subnet(at: &AtBlock, netuid: u16) -> Result<()> {
    let exists: bool = get!(at, networks_added, (netuid,));
    if exists {
        Ok(())
    } else {
        Err(ChainError::Refused(format!("subnet {netuid} does not exist on this chain")))
    }
}

/// What one epoch paid, from its `EpochRun` event (rao).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochPaid {
    /// The subnet.
    pub netuid: u16,
    /// The block it ran in.
    pub block: u64,
    /// To the subnet owner.
    pub owner: u64,
    /// To the miners, by incentive.
    pub miners: u64,
    /// To the validators, by dividends.
    pub validators: u64,
    /// Left pending for the next epoch.
    pub carried: u64,
}

impl EpochPaid {
    /// Everything it paid out (and minted).
    pub fn paid(&self) -> u64 {
        self.owner.saturating_add(self.miners).saturating_add(self.validators)
    }
}

impl Chain {
    /// `Balances.TotalIssuance` at block `number` (rao); `None` if there is no such block.
    pub async fn total_issuance_at(&self, number: u64) -> Result<Option<u64>> {
        let Some(at) = self.at_number(number).await? else { return Ok(None) };
        let issuance = at
            .storage()
            .fetch(chain::storage().balances().total_issuance(), ())
            .await
            .map_err(rpc_error)?
            .decode()
            .map_err(|e| ChainError::Decode(format!("Balances.TotalIssuance: {e}")))?;
        Ok(Some(issuance))
    }

    /// The epochs that ran in block `number` (none if there is no such block).
    pub async fn epochs_at(&self, number: u64) -> Result<Vec<EpochPaid>> {
        let events = self.events_at::<chain::subtensor_module::events::EpochRun>(number).await?;
        Ok(events
            .into_iter()
            .map(|e| EpochPaid {
                netuid: e.netuid,
                block: e.block,
                owner: e.owner,
                miners: e.miners,
                validators: e.validators,
                carried: e.carried,
            })
            .collect())
    }

    /// The events of type `E` in finalized block `number` (none if there is no such block yet).
    pub(crate) async fn events_at<E: subxt::events::DecodeAsEvent>(&self, number: u64) -> Result<Vec<E>> {
        let Some(at) = self.at_number(number).await? else { return Ok(Vec::new()) };
        let events = at
            .events()
            .fetch()
            .await
            .map_err(|e| ChainError::Decode(format!("events of block {number}: {e}")))?;
        let name = std::any::type_name::<E>().rsplit("::").next().unwrap_or("event");
        events
            .find::<E>()
            .map(|e| e.map_err(|e| ChainError::Decode(format!("{name} in block {number}: {e}"))))
            .collect()
    }
}

impl Chain {
    /// Transaction fees charged in block `number` (its `TransactionFeePaid` events, tips
    /// included), rao. This runtime burns them, so they leave the total issuance.
    pub async fn fees_at(&self, number: u64) -> Result<u64> {
        let events = self.events_at::<chain::transaction_payment::events::TransactionFeePaid>(number).await?;
        Ok(events.iter().fold(0u64, |sum, e| sum.saturating_add(e.actual_fee)))
    }
}
