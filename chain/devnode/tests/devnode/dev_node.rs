//! Smoke tests of the real node: a `--dev` chain produces and finalizes blocks, and serves the
//! runtime's state over standard JSON-RPC. Needs the node binary (scripts/build-node.sh).

use parity_scale_codec::Decode;
use std::{
    thread,
    time::{Duration, Instant},
};
use subnet_devnode::{
    storage::{map_key, prefix, Hasher},
    DevNode, RpcClient,
};

/// Alice's public key (`//Alice`, sr25519): the dev chain's authority, sudo and a funded account.
const ALICE: &str = "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";
/// What the runtime's genesis presets give each dev account: 1,000,000 TAO of 1e9 units.
const DEV_BALANCE: u64 = 1_000_000 * 1_000_000_000;
/// The subnet pallet's account (`PalletId(*b"py/subnt")`), which holds all stake.
const STAKE_ACCOUNT: &[u8; 32] = b"modlpy/subnt\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

/// `frame_system::AccountInfo<u32, pallet_balances::AccountData<u64>>`.
#[derive(Decode, Debug)]
struct AccountInfo {
    _nonce: u32,
    _consumers: u32,
    _providers: u32,
    _sufficients: u32,
    free: u64,
    _reserved: u64,
    _frozen: u64,
    _flags: u128,
}

fn account(rpc: &RpcClient, who: &[u8; 32], at: &str) -> Option<AccountInfo> {
    let key = map_key("System", "Account", &[(Hasher::Blake2_128Concat, who)]);
    let raw = rpc.storage(&key, Some(at)).expect("state_getStorage")?;
    Some(AccountInfo::decode(&mut &raw[..]).expect("System.Account decodes"))
}

/// Waits until a block at height `min` or above is finalized; returns its hash and number.
fn wait_finalized(rpc: &RpcClient, min: u32, timeout: Duration) -> (String, u32) {
    let deadline = Instant::now() + timeout;
    loop {
        let hash = rpc.finalized_head().expect("chain_getFinalizedHead");
        let number = rpc.header(&hash).expect("chain_getHeader").number;
        if number >= min {
            return (hash, number);
        }
        assert!(
            Instant::now() < deadline,
            "block {min} not finalized within {timeout:?} (finalized: {number})"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn dev_chain_finalizes_blocks_and_serves_the_subnet_runtime_state() {
    let node = DevNode::start().expect("dev node starts");
    let rpc = node.rpc();

    assert_eq!(rpc.system_chain().unwrap(), "Development");
    let version = rpc.runtime_version().unwrap();
    assert_eq!(version["specName"], "llm-subnet", "{version}");

    // GRANDPA with the single dev authority finalizes what Aura produces.
    let (finalized, number) = wait_finalized(&rpc, 3, Duration::from_secs(60));
    assert_eq!(
        rpc.block_hash(number).unwrap().as_deref(),
        Some(finalized.as_str()),
        "finalized block is canonical"
    );
    let header = rpc.header(&finalized).unwrap();
    let parent = rpc.header(&header.parent_hash).unwrap();
    assert_eq!(parent.number + 1, header.number);

    // Genesis state, read at the finalized block through raw storage keys.
    let alice: [u8; 32] = hex::decode(ALICE).unwrap().try_into().unwrap();
    let alice_info = account(&rpc, &alice, &finalized).expect("Alice has an account");
    assert_eq!(alice_info.free, DEV_BALANCE);
    let stake_account =
        account(&rpc, STAKE_ACCOUNT, &finalized).expect("the stake account exists from genesis");
    assert_eq!(stake_account.free, 500, "it holds exactly the existential deposit");
    // No subnet yet: `TotalNetworks` is unset (0) and subnet 1 has no neurons.
    assert_eq!(rpc.storage(&prefix("SubtensorModule", "TotalNetworks"), Some(&finalized)).unwrap(), None);
    let n_key = map_key("SubtensorModule", "SubnetworkN", &[(Hasher::Identity, &1u16)]);
    assert_eq!(rpc.storage(&n_key, Some(&finalized)).unwrap(), None);
    // Sudo is Alice, as the localnet relies on for subnet setup.
    let sudo = rpc.storage(&prefix("Sudo", "Key"), Some(&finalized)).unwrap();
    assert_eq!(sudo.as_deref(), Some(&alice[..]));
}

#[test]
fn dev_nodes_run_side_by_side_without_finding_each_other() {
    let nodes: Vec<DevNode> = thread::scope(|s| {
        let handles: Vec<_> = (0..2).map(|_| s.spawn(DevNode::start)).collect();
        handles.into_iter().map(|h| h.join().unwrap().expect("dev node starts")).collect()
    });
    assert_ne!(nodes[0].rpc_url(), nodes[1].rpc_url());
    for node in &nodes {
        let rpc = node.rpc();
        wait_finalized(&rpc, 2, Duration::from_secs(60));
        let health = rpc.call("system_health", serde_json::json!([])).unwrap();
        assert_eq!(health["peers"], 0, "test nodes must not peer: {health}");
    }
    // Dropping stops them by pid; the processes must be gone.
    let pids: Vec<u32> = nodes.iter().map(DevNode::pid).collect();
    drop(nodes);
    for pid in pids {
        // SAFETY: signal 0 only checks whether the process exists.
        let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
        assert!(!alive, "node {pid} still running after drop");
    }
}

#[test]
fn a_missing_node_binary_is_a_clear_error() {
    let err = DevNode::builder().binary("/nonexistent/subnet-node").start().err().expect("must fail");
    assert!(err.to_string().contains("scripts/build-node.sh"), "{err}");
}

#[test]
fn a_node_that_exits_at_startup_reports_its_log() {
    // An unknown flag makes the node exit before it serves RPC.
    let err = DevNode::builder().arg("--no-such-flag").start().err().expect("must fail");
    let text = err.to_string();
    assert!(text.contains("exited during startup"), "{text}");
    assert!(text.contains("no-such-flag"), "the node's own complaint is shown: {text}");
}
