//! Moving TAO between a coldkey's balance and stake on a hotkey.

use crate::api::chain;
use crate::client::{AccountId, Chain, Included};
use crate::error::Result;
use crate::ops::registration::explained;
use crate::units::format_tao;
use crate::wallet::Keypair;

impl Chain {
    /// Stakes `amount` rao from `coldkey`'s balance on `hotkey` in `netuid`.
    pub async fn add_stake(
        &self,
        coldkey: &Keypair,
        hotkey: &AccountId,
        netuid: u16,
        amount: u64,
    ) -> Result<Included> {
        let call = chain::transactions().subtensor_module().add_stake(*hotkey, netuid, amount);
        match self.submit("add_stake", &call, coldkey).await {
            Err(e) if e.dispatch_error() == Some("NotEnoughBalanceToStake") => {
                let balance = self.balance(&coldkey.account_id()).await?;
                Err(explained(
                    e,
                    format!("balance {} TAO, asked to stake {} TAO", format_tao(balance), format_tao(amount)),
                ))
            }
            other => other,
        }
    }

    /// Unstakes `amount` rao from `hotkey` back to `coldkey`'s balance.
    pub async fn remove_stake(
        &self,
        coldkey: &Keypair,
        hotkey: &AccountId,
        netuid: u16,
        amount: u64,
    ) -> Result<Included> {
        let call = chain::transactions().subtensor_module().remove_stake(*hotkey, netuid, amount);
        match self.submit("remove_stake", &call, coldkey).await {
            Err(e) if e.dispatch_error() == Some("NotEnoughStakeToWithdraw") => {
                let staked = self.stake_of(hotkey, &coldkey.account_id(), netuid).await?;
                Err(explained(
                    e,
                    format!("staked {} TAO, asked to unstake {} TAO", format_tao(staked), format_tao(amount)),
                ))
            }
            other => other,
        }
    }
}

impl Chain {
    /// Sends `amount` rao from `from` to `to`, keeping `from` above the existential deposit.
    pub async fn transfer(&self, from: &Keypair, to: &AccountId, amount: u64) -> Result<Included> {
        let dest = subxt::utils::MultiAddress::Id(*to);
        let call = chain::transactions().balances().transfer_keep_alive(dest, amount);
        self.submit("transfer_keep_alive", &call, from).await
    }
}
