//! The calls this client builds encode to the same bytes against Bittensor mainnet's metadata
//! (`../shared/fixtures/subtensor-finney.scale`, copied to
//! `chain/runtime/tests/fixtures/`) as against ours: the same client can speak to
//! a real subtensor node.

use std::path::PathBuf;

use subnet_client::api::chain;
use subnet_client::ops::commitments::commitment_fields;
use subnet_client::Keypair;
use subxt::ext::frame_decode::extrinsics::encode_call_data;
use subxt::tx::Payload;
use subxt::Metadata;

fn load(path: PathBuf) -> Metadata {
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Metadata::decode_from(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ours() -> Metadata {
    load(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../metadata/subnet.scale"))
}

/// The runtime's compatibility test keeps a copy of the shared fixture in the repository.
fn finney() -> Metadata {
    load(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../runtime/tests/fixtures/subtensor-finney.scale"))
}

fn encode(payload: &impl Payload, metadata: &Metadata) -> Vec<u8> {
    encode_call_data(
        payload.pallet_name(),
        payload.call_name(),
        payload.call_data(),
        metadata,
        metadata.types(),
    )
    .unwrap_or_else(|e| panic!("{}.{}: {e}", payload.pallet_name(), payload.call_name()))
}

fn same_bytes(payload: &impl Payload, ours: &Metadata, finney: &Metadata) -> Vec<u8> {
    let a = encode(payload, ours);
    let b = encode(payload, finney);
    assert_eq!(
        hex::encode(&a),
        hex::encode(&b),
        "{}.{} encodes differently",
        payload.pallet_name(),
        payload.call_name()
    );
    a
}

#[test]
fn the_clients_calls_encode_identically_against_subtensor_finney() {
    let (ours, finney) = (ours(), finney());
    let hotkey = Keypair::from_uri("//Alice").unwrap().account_id();
    let tx = || chain::transactions();

    let set_weights =
        same_bytes(&tx().subtensor_module().set_weights(3, vec![0, 5], vec![65535, 100], 2), &ours, &finney);
    // Independently: pallet 7, call 0, netuid u16, two compact-prefixed u16 vectors, u64.
    let mut expected = vec![7, 0, 3, 0, 8, 0, 0, 5, 0, 8, 0xff, 0xff, 100, 0];
    expected.extend(2u64.to_le_bytes());
    assert_eq!(set_weights, expected);

    let register = same_bytes(&tx().subtensor_module().burned_register(3, hotkey), &ours, &finney);
    assert_eq!(&register[..4], &[7, 7, 3, 0]);
    assert_eq!(&register[4..], &hotkey.0);

    let serve = tx().subtensor_module().serve_axon(
        3,
        1000,
        u32::from(std::net::Ipv4Addr::LOCALHOST) as u128,
        8091,
        4,
        0,
        0,
        0,
    );
    let serve = same_bytes(&serve, &ours, &finney);
    assert_eq!(&serve[..2], &[7, 4]);

    let stake = same_bytes(&tx().subtensor_module().add_stake(hotkey, 3, 5_000_000_000), &ours, &finney);
    assert_eq!(&stake[..2], &[7, 2]);
    assert_eq!(&stake[36..], &5_000_000_000u64.to_le_bytes());

    let commit =
        same_bytes(&tx().commitments().set_commitment(3, commitment_fields(9, [0xab; 32])), &ours, &finney);
    // Commitments is pallet 18, call 0; two fields: Raw8 (tag 9) with the window, BlakeTwo256 (tag 130).
    let mut expected = vec![18, 0, 3, 0, 2 << 2, 9];
    expected.extend(9u64.to_le_bytes());
    expected.push(130);
    expected.extend([0xab; 32]);
    assert_eq!(commit, expected);
}
