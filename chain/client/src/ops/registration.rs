//! Joining a subnet: `burned_register` with a price limit, `serve_axon`, and `register_network`.

use std::net::IpAddr;

use crate::api::chain;
use crate::client::{AccountId, Chain, Included};
use crate::error::{ChainError, Result};
use crate::ops::queries::{ensure_subnet, get, uid_at};
use crate::units::format_tao;
use crate::wallet::Keypair;

/// Version number this client puts in served axons: major*1000 + minor*10 + patch.
pub fn axon_version() -> u32 {
    let part = |s: &str| s.parse::<u32>().unwrap_or(0);
    part(env!("CARGO_PKG_VERSION_MAJOR")) * 1000
        + part(env!("CARGO_PKG_VERSION_MINOR")) * 10
        + part(env!("CARGO_PKG_VERSION_PATCH"))
}

impl Chain {
    /// Registers `hotkey` in `netuid`, burning the current price from `coldkey`, but only if that
    /// price is at most `max_burn` rao. Returns the uid. Already registered: returns its uid.
    ///
    /// The price can rise between the check and inclusion (the chain takes no limit), by at most
    /// one adjustment; the check guards against paying a price you never saw.
    pub async fn register(
        &self,
        coldkey: &Keypair,
        hotkey: &AccountId,
        netuid: u16,
        max_burn: u64,
    ) -> Result<u16> {
        let at = self.finalized().await?;
        ensure_subnet(&at, netuid).await?;
        if let Some(uid) = uid_at(&at, netuid, hotkey).await? {
            return Ok(uid);
        }
        let burn: u64 = get!(at, burn, (netuid,));
        if burn > max_burn {
            return Err(ChainError::Refused(format!(
                "registration in subnet {netuid} costs {} TAO now, above your limit of {} TAO",
                format_tao(burn),
                format_tao(max_burn)
            )));
        }
        let call = chain::transactions().subtensor_module().burned_register(netuid, *hotkey);
        let included = match self.submit("burned_register", &call, coldkey).await {
            Err(e) if e.dispatch_error() == Some("NotEnoughBalanceToStake") => {
                let balance = self.balance(&coldkey.account_id()).await?;
                return Err(explained(
                    e,
                    format!(
                        "coldkey {} has {} TAO, registration burns {} TAO plus the fee",
                        coldkey.ss58(),
                        format_tao(balance),
                        format_tao(burn)
                    ),
                ));
            }
            other => other?,
        };
        let at = self.at_hash(included.block_hash).await?;
        uid_at(&at, netuid, hotkey).await?.ok_or_else(|| {
            ChainError::Decode(format!("registered at block {} but no uid found", included.block_number))
        })
    }

    /// Publishes where `hotkey` serves (its axon) in `netuid`.
    pub async fn serve_axon(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        ip: IpAddr,
        port: u16,
        protocol: u8,
    ) -> Result<Included> {
        let (ip, ip_type) = match ip {
            IpAddr::V4(v4) => (u32::from(v4) as u128, 4),
            IpAddr::V6(v6) => (u128::from(v6), 6),
        };
        let call = chain::transactions().subtensor_module().serve_axon(
            netuid,
            axon_version(),
            ip,
            port,
            ip_type,
            protocol,
            0,
            0,
        );
        self.submit("serve_axon", &call, hotkey).await
    }

    /// Creates a new subnet owned by `coldkey`, with `hotkey` as uid 0. Returns its netuid.
    pub async fn register_network(&self, coldkey: &Keypair, hotkey: &AccountId) -> Result<u16> {
        let call = chain::transactions().subtensor_module().register_network(*hotkey);
        let included = self.submit("register_network", &call, coldkey).await?;
        let at = self.at_hash(included.block_hash).await?;
        let total: u16 = get!(at, total_networks, ());
        for netuid in (1..=total).rev() {
            if uid_at(&at, netuid, hotkey).await? == Some(0) {
                return Ok(netuid);
            }
        }
        Err(ChainError::Decode("register_network succeeded but the new subnet was not found".into()))
    }
}

/// Adds what a dispatch error means for this call.
pub(crate) fn explained(error: ChainError, why: String) -> ChainError {
    match error {
        ChainError::Dispatch { call, pallet, error, .. } => {
            ChainError::Dispatch { call, pallet, error, explanation: Some(why) }
        }
        other => other,
    }
}
