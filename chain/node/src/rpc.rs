//! The node's JSON-RPC methods beyond sc-service's standard set: account nonces
//! (`system_accountNextIndex`) and fee estimates (`payment_queryInfo`), which wallets need.

use jsonrpsee::RpcModule;
use polkadot_sdk::{
    pallet_transaction_payment_rpc::{TransactionPayment, TransactionPaymentApiServer},
    sc_transaction_pool_api::TransactionPool,
    sp_api::ProvideRuntimeApi,
    sp_block_builder::BlockBuilder,
    sp_blockchain::{Error as BlockChainError, HeaderBackend, HeaderMetadata},
    substrate_frame_rpc_system::{System, SystemApiServer},
};
use std::sync::Arc;
use subnet_runtime::{opaque::Block, AccountId, Balance, Nonce};

/// What the RPC methods read from.
pub struct FullDeps<C, P> {
    pub client: Arc<C>,
    pub pool: Arc<P>,
}

pub fn create_full<C, P>(
    deps: FullDeps<C, P>,
) -> Result<RpcModule<()>, Box<dyn std::error::Error + Send + Sync>>
where
    C: ProvideRuntimeApi<Block>
        + HeaderBackend<Block>
        + HeaderMetadata<Block, Error = BlockChainError>
        + Send
        + Sync
        + 'static,
    C::Api: polkadot_sdk::substrate_frame_rpc_system::AccountNonceApi<Block, AccountId, Nonce>
        + polkadot_sdk::pallet_transaction_payment_rpc::TransactionPaymentRuntimeApi<Block, Balance>
        + BlockBuilder<Block>,
    P: TransactionPool + 'static,
{
    let FullDeps { client, pool } = deps;
    let mut module = RpcModule::new(());
    module.merge(System::new(client.clone(), pool).into_rpc())?;
    module.merge(TransactionPayment::new(client).into_rpc())?;
    Ok(module)
}
