//! A dev node with a fresh subnet, for integration tests of this crate and of the crates built
//! on it (feature `testing`).

use crate::api::chain;
use crate::api::chain::runtime_types::pallet_admin_utils::pallet::Call as AdminCall;
use crate::api::chain::runtime_types::subnet_runtime::RuntimeCall;
use crate::units::RAO_PER_TAO;
use crate::{Chain, Keypair};
use subnet_devnode::DevNode;

/// One TAO in rao.
pub const TAO: u64 = RAO_PER_TAO;

/// The key of a dev URI (`//Alice`, `//Bob//validator`, ...).
pub fn key(uri: &str) -> Keypair {
    Keypair::from_uri(uri).expect("dev URI")
}

/// A running dev node and a client connected to it.
pub struct Net {
    /// The node; stopped when dropped.
    pub node: DevNode,
    /// A client connected to it.
    pub chain: Chain,
    /// Sudo and the funded account.
    pub alice: Keypair,
}

/// Starts a dev node on free ports and connects to it.
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

    /// A subnet the window loops can run on: tempo 6, a 0.001 TAO burn, no serving rate limit,
    /// loopback axons allowed.
    pub async fn loop_subnet(&self) -> u16 {
        self.subnet(|netuid| {
            vec![
                AdminCall::sudo_set_tempo { netuid, tempo: 6 },
                AdminCall::sudo_set_min_burn { netuid, min_burn: TAO / 1000 },
                AdminCall::sudo_set_serving_rate_limit { netuid, serving_rate_limit: 0 },
                AdminCall::sudo_set_allow_loopback_axons { netuid, allowed: true },
            ]
        })
        .await
    }

    /// Runs an AdminUtils call as Sudo, asserting it succeeded.
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

pub use subnet_devnode::Process;

/// A binary of another package of the workspace, next to `sibling` (a test's
/// `CARGO_BIN_EXE_...`): `cargo test --workspace` builds them all into one directory.
pub fn workspace_binary(sibling: &str, name: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(sibling).with_file_name(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests with --workspace, or `cargo build --release -p {name}`",
        path.display()
    );
    path
}
