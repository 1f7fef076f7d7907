//! A dev node with a fresh subnet, for the client's integration tests.

#![allow(dead_code)]

use subnet_client::api::chain;
use subnet_client::api::chain::runtime_types::pallet_admin_utils::pallet::Call as AdminCall;
use subnet_client::api::chain::runtime_types::subnet_runtime::RuntimeCall;
use subnet_client::units::RAO_PER_TAO;
use subnet_client::{Chain, Keypair};
use subnet_devnode::DevNode;

pub const TAO: u64 = RAO_PER_TAO;

pub fn key(uri: &str) -> Keypair {
    Keypair::from_uri(uri).expect("dev URI")
}

/// A running dev node and a client connected to it.
pub struct Net {
    pub node: DevNode,
    pub chain: Chain,
    pub alice: Keypair,
}

pub async fn start() -> Net {
    let node = tokio::task::spawn_blocking(DevNode::start).await.unwrap().expect("dev node starts");
    let chain = Chain::connect(&node.ws_url()).await.expect("client connects");
    Net { node, chain, alice: key("//Alice") }
}

impl Net {
    /// Creates a subnet owned by Alice (hotkey //Alice//owner is uid 0) and applies `settings`
    /// through Sudo → AdminUtils.
    pub async fn subnet(&self, settings: impl FnOnce(u16) -> Vec<AdminCall>) -> u16 {
        let owner_hotkey = key("//Alice//owner").account_id();
        let netuid = self.chain.register_network(&self.alice, &owner_hotkey).await.expect("register_network");
        for call in settings(netuid) {
            self.sudo(call).await;
        }
        netuid
    }

    pub async fn sudo(&self, call: AdminCall) {
        let sudo = chain::transactions().sudo().sudo(RuntimeCall::AdminUtils(call));
        let included = self.chain.submit("sudo", &sudo, &self.alice).await.expect("sudo call");
        assert!(included.events.iter().any(|e| e == "Sudo.Sudid"), "{:?}", included.events);
    }

    /// Gives `who` some TAO from Alice.
    pub async fn fund(&self, who: &Keypair, tao: u64) {
        self.chain.transfer(&self.alice, &who.account_id(), tao * TAO).await.expect("transfer");
    }
}
