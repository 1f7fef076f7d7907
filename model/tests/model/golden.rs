//! The sync path pinned: genesis weights, three miners' payloads, decode, aggregate (per-tensor
//! clipping with its history), inverse DCT, outer step, fingerprint and the next clip history, each compared with a value checked in here. Every peer of
//! the network must compute these bits on any CPU, so a change that moves one of them splits
//! the network: it must come with a `consensus_version` bump (`docs/protocol.md`) and new
//! values here, never by accident.

use candle_core::Device;
use model::codec::{payload_hash, Codec, CodecParams, Header};
use model::outer::{aggregate, ClipHistory, ClipRule, Expected, OuterConfig, OuterOptimizer};
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
const UPDATED: &str = "613fc282f15ddb0b91244eb70f2c8c5f971fc0295c577f50274c139027e0da93";
const CLIP_HISTORY: &str = "621513050dbe11145e0304a9a52ca1f87b6ba0cd323a53bb2055948834dd003d";

/// A miner's pseudo-gradient: reproducible normals, a different scale per miner so clipping to
/// the lower median has work to do.
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
    // The history bound is below the median for some tensors, and the cap for others.
    let mut history = ClipHistory::new(codec.layouts().len());
    let recent: Vec<Option<f64>> =
        (0..codec.layouts().len()).map(|i| Some(0.01 + 0.02 * (i % 3) as f64)).collect();
    history.record(&recent).unwrap();
    let rule = ClipRule { cap: 0.05, history: 2.0 };
    let agg = aggregate(&codec, &peers, &want, &registered, &rule, &history).unwrap();
    // Each of the three bounds decides some tensor.
    let by = |bound: &dyn Fn(usize, f64) -> bool| {
        (0..recent.len()).filter(|&i| bound(i, agg.thresholds[i].unwrap())).count()
    };
    assert!(by(&|_, t| t == rule.cap) > 0);
    assert!(by(&|i, t| t == 2.0 * recent[i].unwrap() && t < rule.cap) > 0);
    assert!(by(&|i, t| t < history.bound(i, &rule)) > 0);
    OuterOptimizer::new(OuterConfig::sgd(1.0)).apply_to(&params, &agg.update).unwrap();
    got.push(("updated".to_string(), hex::encode(params.fingerprint().unwrap())));
    history.record(&agg.thresholds).unwrap();
    got.push(("clip history".to_string(), hex::encode(model::rng::blake2_256(&history.to_bytes()))));

    let pinned: Vec<&str> = [GENESIS].into_iter().chain(PAYLOADS).chain([UPDATED, CLIP_HISTORY]).collect();
    for (what, value) in &got {
        eprintln!("{what}: {value}");
    }
    for ((what, value), pin) in got.iter().zip(&pinned) {
        assert_eq!(value, pin, "{what} moved: every peer must compute it alike (see this file's header)");
    }
}
