//! Error feedback, aggregation and the outer optimizer.

use std::collections::BTreeMap;

use model::codec::{Codec, CodecError, CodecParams, Header, Payload, SparseTensor};
use model::outer::{
    aggregate, mean_dense, pseudo_gradient, Aggregate, ClipHistory, ClipRule, ErrorFeedback, Expected,
    OuterConfig, OuterOptimizer,
};
use model::rng::PortableRng;
use model::LlamaConfig;

fn random(codec: &Codec, seed: &str, std: f64) -> Vec<Vec<f32>> {
    let mut rng = PortableRng::from_hashed(seed.as_bytes());
    codec.layouts().iter().map(|l| rng.normal_vec(l.numel(), std)).collect()
}

const WANT: Expected = Expected { netuid: 1, window: 9, base: [4; 32], run_id: [6; 32] };

fn hotkey_of(uid: u16) -> [u8; 32] {
    let mut hotkey = [0; 32];
    hotkey[..2].copy_from_slice(&uid.to_le_bytes());
    hotkey
}

/// Every uid of `peers` registered with the hotkey its header should carry.
fn registered(peers: &[(u16, Payload)]) -> BTreeMap<u16, [u8; 32]> {
    peers.iter().map(|(uid, _)| (*uid, hotkey_of(*uid))).collect()
}

fn header(codec: &Codec, uid: u16) -> Header {
    let hotkey = hotkey_of(uid);
    Header {
        netuid: WANT.netuid,
        window: WANT.window,
        hotkey,
        base: WANT.base,
        run_id: WANT.run_id,
        codec: *codec.params(),
    }
}

/// Payloads of `n` peers with different update scales, as decoded from their bytes.
fn peers(codec: &Codec, n: u16) -> Vec<(u16, Payload)> {
    (0..n)
        .map(|uid| {
            let x = random(codec, &format!("peer {uid}"), 0.01 * (1 + uid) as f64);
            let bytes = codec.encode(&header(codec, uid * 3 + 1), codec.compress(&x).unwrap());
            (uid * 3 + 1, codec.decode(&bytes).unwrap())
        })
        .collect()
}

/// Aggregation with only the median bound and no history.
fn median_only(
    codec: &Codec,
    peers: &[(u16, Payload)],
    registered: &BTreeMap<u16, [u8; 32]>,
) -> Result<Aggregate, CodecError> {
    aggregate(
        codec,
        peers,
        &WANT,
        registered,
        &ClipRule::MEDIAN_ONLY,
        &ClipHistory::new(codec.layouts().len()),
    )
}

fn bits(update: &[Vec<f32>]) -> Vec<u32> {
    update.iter().flatten().map(|v| v.to_bits()).collect()
}

#[test]
fn error_feedback_keeps_what_was_not_sent() {
    let codec =
        Codec::for_model(&LlamaConfig::tiny(), CodecParams { dct: true, ..Default::default() }).unwrap();
    let beta = 0.9;
    let mut ef = ErrorFeedback::new(&codec, beta);
    for round in 0..3 {
        let before = ef.buffers().to_vec();
        let delta = random(&codec, &format!("delta {round}"), 0.01);
        let sent = ef.step(&codec, &delta).unwrap();
        for t in &sent {
            let i = t.index as usize;
            let dense = codec.decompress(t);
            for k in 0..dense.len() {
                let want = beta * before[i][k] + delta[i][k];
                let got = ef.buffers()[i][k] + dense[k];
                assert!((want - got).abs() <= 1e-6 * (1.0 + want.abs()), "tensor {i}[{k}]: {want} vs {got}");
            }
        }
        // Most of the mass stays behind at 1.6% density.
        let kept: f64 = ef.buffers().iter().flatten().map(|v| (*v as f64).powi(2)).sum();
        assert!(kept > 0.5 * delta.iter().flatten().map(|v| (*v as f64).powi(2)).sum::<f64>());
    }
}

#[test]
fn a_bad_delta_leaves_the_error_buffer_untouched() {
    let codec = Codec::for_model(&LlamaConfig::tiny(), CodecParams::default()).unwrap();
    let mut ef = ErrorFeedback::new(&codec, 0.95);
    ef.step(&codec, &random(&codec, "first", 0.01)).unwrap();
    let before = bits(ef.buffers());
    let mut nan = random(&codec, "second", 0.01);
    nan[3][7] = f32::NAN;
    assert_eq!(ef.step(&codec, &nan).unwrap_err(), CodecError::NonFinite { tensor: 3, position: 7 });
    // Values the codec cannot carry fail in compression, after the fold: still untouched.
    let mut huge = random(&codec, "third", 0.01);
    huge[0].iter_mut().for_each(|v| *v = 1e30);
    assert!(matches!(ef.step(&codec, &huge), Err(CodecError::ValueRange { .. })));
    let mut short = random(&codec, "fourth", 0.01);
    short[1].pop();
    assert!(matches!(ef.step(&codec, &short), Err(CodecError::Shapes { .. })));
    assert_eq!(bits(ef.buffers()), before);
}

#[test]
fn error_feedback_survives_a_restart_and_refuses_bad_files() {
    let codec = Codec::for_model(&LlamaConfig::tiny(), CodecParams::default()).unwrap();
    let mut ef = ErrorFeedback::new(&codec, 0.95);
    ef.step(&codec, &random(&codec, "d", 0.01)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ef.safetensors");
    ef.save(&path, 17).unwrap();
    let (back, window) = ErrorFeedback::load(&path, &codec, 0.95).unwrap();
    assert_eq!((back, window), (ef, 17));

    let other = Codec::for_model(&LlamaConfig::small(), CodecParams::default()).unwrap();
    let err = ErrorFeedback::load(&path, &other, 0.95).unwrap_err().to_string();
    assert!(err.contains("tensors, expected"), "{err}");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 8]).unwrap();
    assert!(ErrorFeedback::load(&path, &codec, 0.95).is_err());
    model::Params::init(&LlamaConfig::tiny(), 0, &candle_core::Device::Cpu).unwrap().save(&path).unwrap();
    let err = ErrorFeedback::load(&path, &codec, 0.95).unwrap_err().to_string();
    assert!(err.contains("not a llm-subnet/error-feedback/v1 file"), "{err}");
}

#[test]
fn aggregation_is_bitwise_identical_across_threads_and_arrival_order() {
    let codec =
        Codec::for_model(&LlamaConfig::tiny(), CodecParams { dct: true, ..Default::default() }).unwrap();
    let mut ps = peers(&codec, 5);
    let run = |ps: &[(u16, Payload)], threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| median_only(&codec, ps, &registered(ps)).unwrap())
    };
    let a = run(&ps, 1);
    ps.reverse();
    ps.swap(0, 2);
    let b = run(&ps, 4);
    assert_eq!(bits(&a.update), bits(&b.update));
    assert_eq!(a.peers, b.peers);
    assert!(a.peers.windows(2).all(|w| w[0].uid < w[1].uid));
    // Per tensor, the two peers above the lower median of five were scaled down to it.
    let tensors = codec.layouts().len() as u32;
    assert!(a.thresholds.iter().all(Option::is_some));
    assert_eq!(a.peers.iter().map(|p| p.clipped).sum::<u32>(), 2 * tensors);
    assert_eq!(a.peers.iter().map(|p| p.clipped).collect::<Vec<_>>()[3..], [tensors, tensors]);
}

/// Three peers on one 4-element vector, two values each: a hand-worked average.
#[test]
fn aggregation_clips_to_the_lower_median_and_averages_over_contributors() {
    let params = CodecParams { block: 64, chunk_1d: 4, density_ppm: 500_000, value_bits: 2, dct: false };
    let codec = Codec::new(&[vec![4]], params).unwrap();
    let sparse = |levels: [f32; 2], positions: [u32; 2], codes: [u8; 2]| SparseTensor {
        index: 0,
        levels: levels.to_vec(),
        positions: positions.to_vec(),
        codes: codes.to_vec(),
    };
    // Codes: bit 1 = sign, bit 0 = level.
    let a = sparse([1.0, 2.0], [0, 1], [0, 0b11]); // (1, -2): norm sqrt 5
    let b = sparse([2.0, 2.0], [1, 2], [0, 0]); // (2, 2): norm sqrt 8, clipped to sqrt 5
    let c = sparse([1.0, 1.0], [2, 3], [0, 0]); // (1, 1): norm sqrt 2
    let payloads: Vec<(u16, Payload)> = [(5, a), (1, b), (3, c)]
        .into_iter()
        .map(|(uid, t)| (uid, Payload { header: header(&codec, uid), tensors: vec![t] }))
        .collect();
    let agg = median_only(&codec, &payloads, &registered(&payloads)).unwrap();
    let s = (5f32 / 8.0).sqrt();
    let want = [1.0, (-2.0 + 2.0 * s) / 2.0, (2.0 * s + 1.0) / 2.0, 1.0];
    for (g, w) in agg.update[0].iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{:?} vs {want:?}", agg.update[0]);
    }
    assert_eq!(agg.thresholds, vec![Some(5f64.sqrt())]);
    assert_eq!(agg.peers.iter().map(|p| p.clipped).collect::<Vec<_>>(), [1, 0, 0]);

    // Header checks and duplicate uids.
    let mut dup = payloads.clone();
    dup[1].0 = 5;
    assert_eq!(median_only(&codec, &dup, &registered(&dup)).unwrap_err(), CodecError::DuplicatePeer(5));
    for (field, edit) in [
        ("netuid", Box::new(|h: &mut Header| h.netuid = 2) as Box<dyn Fn(&mut Header)>),
        ("window", Box::new(|h: &mut Header| h.window = 8)),
        ("base model", Box::new(|h: &mut Header| h.base = [0; 32])),
        ("run id", Box::new(|h: &mut Header| h.run_id = [0; 32])),
        ("hotkey", Box::new(|h: &mut Header| h.hotkey = [9; 32])),
    ] {
        let mut bad = payloads.clone();
        edit(&mut bad[2].1.header);
        match median_only(&codec, &bad, &registered(&bad)).unwrap_err() {
            CodecError::Header { what, .. } => assert_eq!(what, field),
            other => panic!("{other:?}"),
        }
    }
    // No peers: a zero update.
    assert!(median_only(&codec, &[], &BTreeMap::new()).unwrap().update[0].iter().all(|v| *v == 0.0));
    // A uid the chain does not have is refused.
    let mut partial = registered(&payloads);
    partial.remove(&3);
    match median_only(&codec, &payloads, &partial).unwrap_err() {
        CodecError::Header { uid: 3, what: "hotkey", detail } => assert!(detail.contains("not registered")),
        other => panic!("{other:?}"),
    }
}

/// Two 4-element tensors, worked by hand: an empty tensor neither lowers the median nor
/// dilutes the mean, a concentrated payload is cut to the honest one's norm, a lone payload is
/// held by the history bound, and the cap holds everything.
#[test]
fn clipping_is_per_tensor_with_history_and_cap() {
    let params = CodecParams { block: 64, chunk_1d: 4, density_ppm: 500_000, value_bits: 2, dct: false };
    let codec = Codec::new(&[vec![4], vec![4]], params).unwrap();
    let t = |index, levels: [f32; 2], positions: [u32; 2], codes: [u8; 2]| SparseTensor {
        index,
        levels: levels.to_vec(),
        positions: positions.to_vec(),
        codes: codes.to_vec(),
    };
    let empty = |index| t(index, [0.0, 0.0], [0, 1], [0, 0]);
    let payload = |uid, tensors| (uid, Payload { header: header(&codec, uid), tensors });
    let peers = vec![
        payload(1, vec![t(0, [1.0, 1.0], [0, 1], [0, 0]), empty(1)]), // (1, 1, 0, 0): sqrt 2
        payload(2, vec![t(0, [3.0, 4.0], [2, 3], [0, 1]), empty(1)]), // (0, 0, 3, 4): 5
        payload(3, vec![empty(0), t(1, [1.0, 2.0], [0, 1], [1, 0])]), // (2, 1, 0, 0): sqrt 5
    ];
    let reg = registered(&peers);
    let mut history = ClipHistory::new(2);
    history.record(&[None, Some(0.5)]).unwrap();
    let rule = ClipRule { cap: 10.0, history: 2.0 };
    let agg = aggregate(&codec, &peers, &WANT, &reg, &rule, &history).unwrap();
    // Tensor 0: lower median of {sqrt 2, 5} (the empty one is not counted); tensor 1: only
    // peer 3, held to 2 x 0.5.
    assert_eq!(agg.thresholds, vec![Some(2f64.sqrt()), Some(1.0)]);
    let s = (2f64.sqrt() / 5.0) as f32;
    let want0 = [1.0, 1.0, 3.0 * s, 4.0 * s];
    let r = 1.0 / 5f32.sqrt();
    let want1 = [2.0 * r, r, 0.0, 0.0];
    for (got, want) in agg.update.iter().zip([want0, want1]) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{:?}", agg.update);
        }
    }
    assert_eq!(agg.peers.iter().map(|p| p.clipped).collect::<Vec<_>>(), [0, 1, 1]);
    assert!((agg.peers[1].norm - 5.0).abs() < 1e-9);

    // The cap bounds every tensor.
    let capped = ClipRule { cap: 0.5, history: 2.0 };
    let agg = aggregate(&codec, &peers, &WANT, &reg, &capped, &history).unwrap();
    assert_eq!(agg.thresholds, vec![Some(0.5), Some(0.5)]);
    // A history for another model is refused.
    let err = aggregate(&codec, &peers, &WANT, &reg, &rule, &ClipHistory::new(3)).unwrap_err();
    assert_eq!(err, CodecError::Shapes { want: 2, got: 3 });
    // Only empty payloads: a zero update, and no threshold to record.
    let agg =
        aggregate(&codec, &[payload(1, vec![empty(0), empty(1)])], &WANT, &reg, &rule, &history).unwrap();
    assert_eq!(agg.thresholds, vec![None, None]);
    assert!(agg.update.iter().flatten().all(|v| *v == 0.0));
}

#[test]
fn outer_optimizers_follow_their_formulas() {
    let g = vec![vec![1.0f32, -2.0]];
    let mut theta = vec![vec![10.0f32, 10.0]];
    OuterOptimizer::new(OuterConfig::sgd(0.5)).apply(&mut theta, &g).unwrap();
    assert_eq!(theta, vec![vec![9.5, 11.0]]);

    let mut opt = OuterOptimizer::new(OuterConfig::nesterov(0.5, 0.9));
    let mut theta = vec![vec![0.0f32, 0.0]];
    opt.apply(&mut theta, &g).unwrap(); // m = g; step = g + 0.9 g
    opt.apply(&mut theta, &g).unwrap(); // m = 1.9 g; step = g + 1.71 g
    let want = -0.5 * (1.9 + 2.71);
    assert!((theta[0][0] - want).abs() < 1e-6 && (theta[0][1] + 2.0 * want).abs() < 1e-5);
}

#[test]
fn dense_mean_and_pseudo_gradient() {
    let u = vec![vec![vec![1.0f32, 3.0]], vec![vec![3.0, 5.0]]];
    assert_eq!(mean_dense(&u).unwrap(), vec![vec![2.0, 4.0]]);
    assert_eq!(pseudo_gradient(&[vec![1.0, 1.0]], &[vec![0.5, 2.0]]).unwrap(), vec![vec![0.5, -1.0]]);
    // Shape mismatches are refused, never truncated.
    assert!(pseudo_gradient(&[vec![1.0, 1.0]], &[vec![0.5]]).is_err());
    assert!(pseudo_gradient(&[vec![1.0]], &[vec![0.5], vec![1.0]]).is_err());
    assert!(mean_dense(&[vec![vec![1.0, 2.0]], vec![vec![1.0]]]).is_err());
    let mut theta = vec![vec![1.0f32, 2.0]];
    assert!(OuterOptimizer::new(OuterConfig::sgd(1.0)).apply(&mut theta, &[vec![1.0]]).is_err());
    assert_eq!(theta, vec![vec![1.0, 2.0]], "a refused update changes nothing");
}
