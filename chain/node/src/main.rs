//! `subnet-node`: the subnet's Substrate devnet node.

// `sc_cli::Error`, Substrate's error type that every command returns, is large; boxing it here
// would only move the allocation.
#![allow(clippy::result_large_err)]

mod chain_spec;
mod cli;
mod command;
mod rpc;
mod service;

fn main() -> polkadot_sdk::sc_cli::Result<()> {
    command::run()
}
