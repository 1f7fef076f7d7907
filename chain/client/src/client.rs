//! The connection to a node: connecting with backoff, reading at finalized blocks, and submitting
//! signed transactions with managed nonces and decoded failures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use subxt::config::DefaultExtrinsicParamsBuilder;
use subxt::error::{DispatchError, TransactionEventsError};
use subxt::rpcs::client::reconnecting_rpc_client::RpcClient as ReconnectingRpc;
use subxt::rpcs::{rpc_params, RpcClient};
use subxt::tx::{Payload, TransactionStatus};
use subxt::OnlineClient;
use tokio::sync::Mutex;

use crate::error::{ChainError, Result};
use crate::pool::PoolRejection;
use crate::wallet::Keypair;

/// The chain's configuration: Polkadot-style accounts, signatures and transaction extensions.
pub type Config = subxt::PolkadotConfig;
/// A 32-byte account id (ss58 prefix 42 when printed).
pub type AccountId = subxt::utils::AccountId32;
/// A block hash.
pub type BlockHash = subxt::utils::H256;
/// A client pinned to one block.
pub type AtBlock = subxt::client::ClientAtBlock<Config, subxt::client::OnlineClientAtBlockImpl<Config>>;

/// How hard to try before giving up on the node.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Attempts for the first connection, for each read, and for resubscribing to blocks.
    pub attempts: u32,
    /// Delay before the second attempt; it doubles up to `max_delay`.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// How long one RPC request may take.
    pub request_timeout: Duration,
    /// How long to wait for a transaction to be finalized.
    pub finality_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            attempts: 8,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            request_timeout: Duration::from_secs(30),
            finality_timeout: Duration::from_secs(120),
        }
    }
}

/// A transaction that made it into a finalized block.
#[derive(Debug, Clone)]
pub struct Included {
    pub block_hash: BlockHash,
    pub block_number: u64,
    /// `Pallet.Event` names the transaction emitted, in order.
    pub events: Vec<String>,
}

/// A connection to a node of the subnet chain.
#[derive(Clone)]
pub struct Chain {
    api: OnlineClient<Config>,
    rpc: RpcClient,
    url: String,
    options: ConnectOptions,
    /// Next nonce per account, so back-to-back transactions from one key don't reuse a nonce.
    nonces: Arc<Mutex<BTreeMap<[u8; 32], u64>>>,
}

impl Chain {
    /// Connects with the default options (8 attempts, backoff from 250 ms to 8 s).
    pub async fn connect(url: &str) -> Result<Chain> {
        Chain::connect_with(url, ConnectOptions::default()).await
    }

    /// Connects to `url` (`ws://` or `wss://`), retrying with exponential backoff for at most
    /// `attempts` tries; later disconnections are healed in the background with the same backoff,
    /// for as long as it takes (requests meanwhile fail as transient and are retried by reads).
    pub async fn connect_with(url: &str, options: ConnectOptions) -> Result<Chain> {
        let connect_error =
            |reason: String| ChainError::Connect { url: url.to_string(), attempts: options.attempts, reason };
        let backoff = Backoff::new(options.first_delay, options.max_delay);
        // The first connection gets `attempts` tries: the sum of their delays plus a connection
        // timeout each. Reconnections later are not bounded.
        let connection_timeout = Duration::from_secs(5);
        let budget = backoff.clone().take(options.attempts.saturating_sub(1) as usize).sum::<Duration>()
            + connection_timeout * options.attempts.max(1);
        let builder = ReconnectingRpc::builder()
            .retry_policy(backoff)
            .request_timeout(options.request_timeout)
            .connection_timeout(connection_timeout);
        let reconnecting = match tokio::time::timeout(budget, builder.build(url)).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(connect_error(e.to_string())),
            Err(_) => return Err(connect_error(format!("no connection within {} s", budget.as_secs()))),
        };
        let rpc = RpcClient::new(reconnecting);
        let api = OnlineClient::from_rpc_client_with_config(Config::default(), rpc.clone())
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        tracing::debug!("connected to the chain");
        Ok(Chain { api, rpc, url: url.to_string(), options, nonces: Arc::default() })
    }

    /// The URL this client talks to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The retry and timeout settings this client uses.
    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }

    /// The underlying subxt client, for queries this crate does not wrap.
    pub fn api(&self) -> &OnlineClient<Config> {
        &self.api
    }

    /// A client pinned to the latest finalized block (retried if the connection is healing).
    pub async fn finalized(&self) -> Result<AtBlock> {
        self.retry("finalized block", || async { self.api.at_current_block().await.map_err(rpc_error) }).await
    }

    /// A client pinned to the block with this hash.
    pub async fn at_hash(&self, hash: BlockHash) -> Result<AtBlock> {
        self.retry("block", || async {
            let at = self.api.at_block(subxt::backend::BlockRef::from_hash(hash)).await;
            at.map_err(rpc_error)
        })
        .await
    }

    /// The number of the latest finalized block.
    pub async fn finalized_number(&self) -> Result<u64> {
        Ok(self.finalized().await?.block_number())
    }

    /// The number of the best (head) block, which finality trails by a few blocks: what a
    /// deadline for *landing* a transaction is measured against.
    pub async fn best_number(&self) -> Result<u64> {
        #[derive(serde::Deserialize)]
        struct Header {
            number: String,
        }
        let header: Header = self
            .retry("best block", || async {
                self.rpc.request("chain_getHeader", rpc_params![]).await.map_err(rpc_error)
            })
            .await?;
        let digits = header.number.trim_start_matches("0x");
        u64::from_str_radix(digits, 16)
            .map_err(|e| ChainError::Decode(format!("best block number {:?}: {e}", header.number)))
    }

    /// A client pinned to the finalized block with this number, or `None` while finality has
    /// not reached it.
    pub async fn at_number(&self, number: u64) -> Result<Option<AtBlock>> {
        if number > self.finalized_number().await? {
            return Ok(None);
        }
        let hash: Option<BlockHash> = self
            .retry("block hash", || async {
                self.rpc.request("chain_getBlockHash", rpc_params![number]).await.map_err(rpc_error)
            })
            .await?;
        match hash {
            Some(hash) => Ok(Some(self.at_hash(hash).await?)),
            None => Err(ChainError::Decode(format!("the node has no hash for finalized block {number}"))),
        }
    }

    /// Runs a read, retrying with backoff while the error is transient (a broken connection).
    pub async fn retry<T, F, Fut>(&self, what: &str, mut read: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut delay = self.options.first_delay;
        let mut attempt = 1;
        loop {
            match read().await {
                Err(e) if e.is_transient() && attempt < self.options.attempts => {
                    tracing::warn!(what, attempt, error = %e, "chain read failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.options.max_delay);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The nonce the next transaction from `account` must use: the pool's view
    /// (`system_accountNextIndex` counts pending transactions) or our own count, whichever is higher.
    async fn reserve_nonce(&self, account: &AccountId) -> Result<u64> {
        let mut nonces = self.nonces.lock().await;
        let from_pool: u64 = self
            .rpc
            .request("system_accountNextIndex", rpc_params![account.to_string()])
            .await
            .map_err(rpc_error)?;
        let next = nonces.get(&account.0).copied().unwrap_or(0).max(from_pool);
        nonces.insert(account.0, next + 1);
        Ok(next)
    }

    /// Gives a nonce back after its transaction was refused. If a later nonce is already out,
    /// keep counting (re-reading would hand that later nonce out twice).
    async fn release_nonce(&self, account: &AccountId, nonce: u64) {
        let mut nonces = self.nonces.lock().await;
        if nonces.get(&account.0) == Some(&(nonce + 1)) {
            nonces.remove(&account.0);
        }
    }

    /// Signs `payload` with `signer`, submits it and waits until it is in a finalized block.
    ///
    /// Refusals come back as [`ChainError::Pool`] (never entered a block) or
    /// [`ChainError::Dispatch`] (executed and failed). [`ChainError::Unconfirmed`] means the
    /// transaction may still land: do not blindly resubmit it.
    pub async fn submit<P: Payload>(
        &self,
        call: &'static str,
        payload: &P,
        signer: &Keypair,
    ) -> Result<Included> {
        let at = self.finalized().await?;
        let mut transactions = at.transactions();
        transactions
            .validate(payload)
            .map_err(|e| ChainError::IncompatibleRuntime(format!("{call}: {e}")))?;
        let account = signer.account_id();
        let nonce = self.reserve_nonce(&account).await?;
        let params = DefaultExtrinsicParamsBuilder::<Config>::new().nonce(nonce).mortal(64).build();
        let signed = match transactions.create_signed(payload, signer, params).await {
            Ok(signed) => signed,
            Err(e) => {
                self.release_nonce(&account, nonce).await;
                return Err(rpc_error(e));
            }
        };
        tracing::debug!(call, nonce, signer = %signer.ss58(), "submitting");
        let mut progress = match signed.submit_and_watch().await {
            Ok(progress) => progress,
            Err(e) => {
                self.release_nonce(&account, nonce).await;
                return Err(pool_or_rpc(call, e.to_string()));
            }
        };
        let tx_hash = format!("{:?}", progress.extrinsic_hash());
        let unconfirmed = |reason: String| ChainError::Unconfirmed { call, tx_hash: tx_hash.clone(), reason };
        let watch = async {
            while let Some(status) = progress.next().await {
                let status = status.map_err(|e| unconfirmed(e.to_string()))?;
                match status {
                    TransactionStatus::InFinalizedBlock(in_block) => {
                        let block_hash = in_block.block_hash();
                        let events = match in_block.wait_for_success().await {
                            Ok(events) => events,
                            Err(TransactionEventsError::ExtrinsicFailed(e)) => {
                                return Err(dispatch_error(call, e))
                            }
                            Err(e) => {
                                return Err(unconfirmed(format!(
                                    "finalized, but its events are unreadable: {e}"
                                )))
                            }
                        };
                        let names = events
                            .iter()
                            .filter_map(|e| e.ok())
                            .map(|e| format!("{}.{}", e.pallet_name(), e.event_name()))
                            .collect();
                        let block_number = self.at_hash(block_hash).await?.block_number();
                        tracing::debug!(call, block_number, "finalized");
                        return Ok(Included { block_hash, block_number, events: names });
                    }
                    TransactionStatus::Invalid { message } => {
                        return Err(ChainError::Pool { call, reason: PoolRejection::from_message(&message) })
                    }
                    TransactionStatus::Dropped { message } | TransactionStatus::Error { message } => {
                        return Err(unconfirmed(message))
                    }
                    _ => continue,
                }
            }
            Err(unconfirmed("the node stopped reporting on it".into()))
        };
        let result = tokio::time::timeout(self.options.finality_timeout, watch).await.unwrap_or_else(|_| {
            Err(unconfirmed(format!("not finalized within {} s", self.options.finality_timeout.as_secs())))
        });
        if matches!(result, Err(ChainError::Pool { .. })) {
            self.release_nonce(&account, nonce).await;
        }
        result
    }
}

/// Delays that double from `first` up to `max`, forever (callers bound the count).
#[derive(Debug, Clone)]
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { next: first.max(Duration::from_millis(1)), max }
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.next.min(self.max);
        self.next = delay.saturating_mul(2);
        Some(delay)
    }
}

/// Any transport or node-side failure: worth a retry.
pub(crate) fn rpc_error(e: impl std::fmt::Display) -> ChainError {
    ChainError::Rpc(e.to_string())
}

/// An error from submitting: the pool's refusal (JSON-RPC 1010-1014) or a transport failure.
fn pool_or_rpc(call: &'static str, message: String) -> ChainError {
    let pool_codes = ["1010", "1011", "1012", "1013", "1014", "Invalid Transaction", "Priority is too low"];
    if pool_codes.iter().any(|c| message.contains(c)) {
        ChainError::Pool { call, reason: PoolRejection::from_message(&message) }
    } else {
        ChainError::Rpc(message)
    }
}

/// The runtime's refusal, by pallet and error name.
fn dispatch_error(call: &'static str, error: DispatchError) -> ChainError {
    let (pallet, name) = match &error {
        DispatchError::Module(module) => match module.details() {
            Ok(details) => (details.pallet.name().to_string(), details.variant.name.clone()),
            Err(_) => ("Unknown".into(), module.details_string()),
        },
        other => ("Runtime".into(), format!("{other:?}")),
    };
    ChainError::Dispatch { call, pallet, error: name, explanation: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let delays: Vec<u64> = Backoff::new(Duration::from_millis(250), Duration::from_secs(2))
            .take(6)
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(delays, vec![250, 500, 1000, 2000, 2000, 2000]);
    }
}
