//! Flags every chain command takes: which node, which wallet.

use std::path::PathBuf;

use clap::Args;

use crate::wallet::{default_wallets_dir, Wallet, WalletError};
use crate::{Chain, ChainError, ConnectOptions};

/// Which node to talk to.
#[derive(Debug, Clone, Args)]
pub struct ChainArgs {
    /// WebSocket RPC endpoint of a subnet node (the localnet's Alice is ws://127.0.0.1:9944).
    #[arg(
        long = "chain-url",
        alias = "subtensor.chain_endpoint",
        env = "SUBNET_CHAIN_URL",
        default_value = "ws://127.0.0.1:9944"
    )]
    pub url: String,
    /// Connection attempts before giving up (the delay doubles from 250 ms up to 8 s).
    #[arg(long = "chain-attempts", env = "SUBNET_CHAIN_ATTEMPTS", default_value_t = 8)]
    pub attempts: u32,
}

impl ChainArgs {
    pub async fn connect(&self) -> Result<Chain, ChainError> {
        Chain::connect_with(
            &self.url,
            ConnectOptions { attempts: self.attempts.max(1), ..Default::default() },
        )
        .await
    }
}

/// Which wallet: btcli's layout and names (`--wallet.name` works too).
#[derive(Debug, Clone, Args)]
pub struct WalletArgs {
    /// Wallet name: the directory under the wallets path holding the coldkey.
    #[arg(long = "wallet-name", alias = "wallet.name", env = "BT_WALLET_NAME", default_value = "default")]
    pub name: String,
    /// Hotkey name: the file under NAME/hotkeys/.
    #[arg(
        long = "wallet-hotkey",
        alias = "wallet.hotkey",
        env = "BT_WALLET_HOTKEY",
        default_value = "default"
    )]
    pub hotkey: String,
    /// Directory holding the wallets [default: ~/.bittensor/wallets].
    #[arg(long = "wallet-path", alias = "wallet.path", env = "BT_WALLET_PATH")]
    pub path: Option<PathBuf>,
}

impl WalletArgs {
    pub fn root(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(default_wallets_dir)
    }

    pub fn wallet(&self) -> Result<Wallet, WalletError> {
        Wallet::new(self.root(), &self.name, &self.hotkey)
    }
}
