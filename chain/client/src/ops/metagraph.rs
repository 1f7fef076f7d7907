//! A snapshot of a subnet at one finalized block: every neuron with its keys, stake, axon,
//! consensus outputs and weights.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::future::try_join_all;

use crate::api::chain;
use crate::client::{rpc_error, AccountId, AtBlock, Chain};
use crate::error::{ChainError, Result};
use crate::ops::queries::{ensure_subnet, get, try_get};

/// Where a neuron serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Axon {
    pub ip: IpAddr,
    pub port: u16,
    pub protocol: u8,
    pub version: u32,
    /// Block at which it was published.
    pub block: u64,
}

/// One uid of a subnet. Consensus outputs are the chain's u16 fractions of 65535.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neuron {
    pub uid: u16,
    pub hotkey: AccountId,
    pub coldkey: Option<AccountId>,
    /// Total stake on the hotkey in this subnet, in rao.
    pub stake: u64,
    pub axon: Option<Axon>,
    pub validator_permit: bool,
    /// Block of the neuron's last `set_weights` (or registration).
    pub last_update: u64,
    pub incentive: u16,
    pub dividends: u16,
    pub consensus: u16,
    /// Rao earned at the last epoch.
    pub emission: u64,
    /// Its weights on other uids: (uid, weight), weights max-upscaled to 65535.
    pub weights: Vec<(u16, u16)>,
    /// The block its current registration happened in (a new one means a new participant).
    pub registered_at: u64,
}

/// A subnet at one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metagraph {
    pub netuid: u16,
    /// The finalized block it was read at.
    pub block: u64,
    pub neurons: Vec<Neuron>,
}

impl Metagraph {
    pub fn neuron(&self, hotkey: &AccountId) -> Option<&Neuron> {
        self.neurons.iter().find(|n| &n.hotkey == hotkey)
    }
}

/// A u16 fraction as a float in [0, 1].
pub fn fraction(value: u16) -> f64 {
    value as f64 / u16::MAX as f64
}

impl Chain {
    /// Reads the whole subnet at the latest finalized block.
    pub async fn metagraph(&self, netuid: u16) -> Result<Metagraph> {
        let at = self.finalized().await?;
        self.metagraph_at(&at, netuid).await
    }

    /// Reads the whole subnet at a given block (`Chain::at_number`, `Chain::at_hash`).
    pub async fn metagraph_at(&self, at: &AtBlock, netuid: u16) -> Result<Metagraph> {
        ensure_subnet(at, netuid).await?;
        let n: u16 = get!(at, subnetwork_n, (netuid,));
        let permits: Vec<bool> = get!(at, validator_permit, (netuid,));
        let last_update: Vec<u64> = get!(at, last_update, (netuid,));
        let incentive: Vec<u16> = get!(at, incentive, (netuid,));
        let dividends: Vec<u16> = get!(at, dividends, (netuid,));
        let consensus: Vec<u16> = get!(at, consensus, (netuid,));
        let emission: Vec<u64> = get!(at, emission, (netuid,));

        let mut weights: BTreeMap<u16, Vec<(u16, u16)>> = BTreeMap::new();
        let mut rows = at
            .storage()
            .iter(chain::storage().subtensor_module().weights(), (netuid,))
            .await
            .map_err(rpc_error)?;
        while let Some(row) = rows.next().await {
            let row = row.map_err(rpc_error)?;
            let (_, uid) = row
                .key()
                .and_then(|k| k.decode())
                .map_err(|e| ChainError::Decode(format!("Weights key: {e}")))?;
            let value = row.value().decode().map_err(|e| ChainError::Decode(format!("Weights: {e}")))?;
            weights.insert(uid, value);
        }

        let neurons = try_join_all((0..n).map(|uid| {
            let at = &at;
            async move {
                let hotkey: AccountId =
                    try_get!(at, subtensor_module, keys, (netuid, uid)).ok_or_else(|| {
                        ChainError::Decode(format!("uid {uid} of subnet {netuid} has no hotkey"))
                    })?;
                let coldkey = try_get!(at, subtensor_module, owner, (hotkey,));
                let stake: u64 = get!(at, total_hotkey_alpha, (hotkey, netuid));
                let axon = try_get!(at, subtensor_module, axons, (netuid, hotkey)).and_then(axon);
                let registered_at: u64 = get!(at, block_at_registration, (netuid, uid));
                Ok::<_, ChainError>((uid, hotkey, coldkey, stake, axon, registered_at))
            }
        }))
        .await?;

        let at_index = |v: &[u16], i: usize| v.get(i).copied().unwrap_or(0);
        let neurons = neurons
            .into_iter()
            .map(|(uid, hotkey, coldkey, stake, axon, registered_at)| {
                let i = uid as usize;
                Neuron {
                    uid,
                    hotkey,
                    coldkey,
                    stake,
                    axon,
                    validator_permit: permits.get(i).copied().unwrap_or(false),
                    last_update: last_update.get(i).copied().unwrap_or(0),
                    incentive: at_index(&incentive, i),
                    dividends: at_index(&dividends, i),
                    consensus: at_index(&consensus, i),
                    emission: emission.get(i).copied().unwrap_or(0),
                    weights: weights.remove(&uid).unwrap_or_default(),
                    registered_at,
                }
            })
            .collect();
        Ok(Metagraph { netuid, block: at.block_number(), neurons })
    }
}

/// The stored axon as an address; `None` for one never served (ip 0) or with a bad ip type.
fn axon(info: chain::runtime_types::pallet_subnet::AxonInfo) -> Option<Axon> {
    let ip = match info.ip_type {
        4 => IpAddr::V4(Ipv4Addr::from(u32::try_from(info.ip).ok()?)),
        6 => IpAddr::V6(Ipv6Addr::from(info.ip)),
        _ => return None,
    };
    Some(Axon { ip, port: info.port, protocol: info.protocol, version: info.version, block: info.block })
}
