//! The sync path pinned: genesis weights, three miners' payloads, decode, aggregate, inverse
//! DCT, outer step and fingerprint, each compared with a value checked in here. Every peer of
//! the network must compute these bits on any CPU, so a change that moves one of them splits
//! the network: it must come with a `consensus_version` bump (`docs/protocol.md`) and new
//! values here, never by accident.

use candle_core::Device;
use model::codec::{payload_hash, Codec, CodecParams, Header};
use model::outer::{aggregate, Expected, OuterConfig, OuterOptimizer};
use model::rng::PortableRng;
use model::{LlamaConfig, Params};

const NETUID: u16 = 1;
const WINDOW: u64 = 17;
const RUN: [u8; 32] = [0x52; 32];

/// Checked-in values (hex). Regenerate only with a consensus change: run this test, read the
/// values it prints, and say why in the commit.
const GENESIS: &str = "31f795a3b227a32c1996b8a9c59accfec4beccf06cdf14f0e5c38418246d55d7";
const PAYLOADS: [&str; 3] = [
    "a4a066440c894e1ec90cd523c347f65a002148161fca2e522a1e6556ebfea0d4",
    "d2fdc86520262d8d82ff3401a2ee1e722912d3384e6a0a058ff5bfa38cd96927",
    "062d314664827977b0acd6e5d6f63922f46be45e4fc77da1dfbcf3e3e7cb481c",
];
const UPDATED: &str = "6efba18931d899af6d512f2f8b212a6c9299342de1655ee64d776e5323df0164";

/// A miner's pseudo-gradient: reproducible normals, a different scale per miner so clipping to
/// the median norm has work to do.
fn delta(codec: &Codec, uid: u16) -> Vec<Vec<f32>> {
    let mut rng = PortableRng::from_hashed(format!("golden-delta-{uid}").as_bytes());
    let std = 1e-3 * uid as f64;
    codec.layouts().iter().map(|l| rng.normal_vec(l.numel(), std)).collect()
}

#[test]
fn the_sync_path_is_bitwise_pinned() {
    let cfg = LlamaConfig::by_name("tiny").unwrap();
    let params = Params::init(&cfg, 0, &Device::Cpu).unwrap();
    let base = params.fingerprint().unwrap();
    let codec = Codec::for_model(&cfg, CodecParams::default()).unwrap();

    let mut got = vec![("genesis".to_string(), hex::encode(base))];
    let mut peers = Vec::new();
    for uid in 1..=3u16 {
        let header = Header {
            netuid: NETUID,
            window: WINDOW,
            hotkey: [uid as u8; 32],
            base,
            run_id: RUN,
            codec: *codec.params(),
        };
        let bytes = codec.encode(&header, codec.compress(&delta(&codec, uid)).unwrap());
        assert_eq!(bytes.len(), codec.payload_bytes());
        got.push((format!("payload {uid}"), hex::encode(payload_hash(&bytes))));
        peers.push((uid, codec.decode(&bytes).unwrap()));
    }
    // Arrival order is not part of the result.
    peers.reverse();
    let want = Expected { netuid: NETUID, window: WINDOW, base, run_id: RUN };
    let registered = (1..=3u16).map(|uid| (uid, [uid as u8; 32])).collect();
    let agg = aggregate(&codec, &peers, &want, &registered).unwrap();
    OuterOptimizer::new(OuterConfig::sgd(1.0)).apply_to(&params, &agg.update).unwrap();
    got.push(("updated".to_string(), hex::encode(params.fingerprint().unwrap())));

    let pinned: Vec<&str> = [GENESIS].into_iter().chain(PAYLOADS).chain([UPDATED]).collect();
    for (what, value) in &got {
        eprintln!("{what}: {value}");
    }
    for ((what, value), pin) in got.iter().zip(&pinned) {
        assert_eq!(value, pin, "{what} moved: every peer must compute it alike (see this file's header)");
    }
}
