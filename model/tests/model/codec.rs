//! The gradient codec: round trips, top-k and quantization properties, payload size, and
//! every way a hostile payload is refused.

use model::codec::{Codec, CodecError, CodecParams, Header, Payload};
use model::rng::PortableRng;
use model::LlamaConfig;
use proptest::prelude::*;

fn random_tensors(codec: &Codec, seed: &str) -> Vec<Vec<f32>> {
    let mut rng = PortableRng::from_hashed(seed.as_bytes());
    codec.layouts().iter().map(|l| rng.normal_vec(l.numel(), 0.01)).collect()
}

fn header(codec: &Codec) -> Header {
    Header { netuid: 3, window: 42, hotkey: [7; 32], base: [9; 32], run_id: [4; 32], codec: *codec.params() }
}

fn tiny_codec(params: CodecParams) -> Codec {
    Codec::for_model(&LlamaConfig::tiny(), params).unwrap()
}

/// Checks the codec's promises for one tensor set: per chunk exactly the `k` largest
/// magnitudes are chosen, each value is its nearest codebook level with its sign, and the bytes
/// decode back to the same thing.
fn check_round_trip(codec: &Codec, tensors: &[Vec<f32>]) {
    let sent = codec.compress(tensors).unwrap();
    let bits = codec.params().value_bits;
    for (t, l) in sent.iter().zip(codec.layouts()) {
        assert_eq!(t.positions.len(), l.sent());
        // Coefficients of this tensor (the DCT is off in these checks, so they are the values).
        let coeff = |p: u32| {
            let (chunk, local) = (p as usize / l.chunk_len(), p as usize % l.chunk_len());
            tensors[t.index as usize][l.offset(chunk, local)]
        };
        for chunk in 0..l.chunks {
            let picked = &t.positions[chunk * l.k..(chunk + 1) * l.k];
            let smallest_picked = picked.iter().map(|p| coeff(*p).abs()).fold(f32::INFINITY, f32::min);
            let base = (chunk * l.chunk_len()) as u32;
            for p in base..base + l.chunk_len() as u32 {
                if !picked.contains(&p) {
                    assert!(coeff(p).abs() <= smallest_picked, "a larger value was left out");
                }
            }
        }
        for (p, q) in t.values(bits) {
            let v = coeff(p);
            let nearest = t.levels.iter().map(|m| (m - v.abs()).abs()).fold(f32::INFINITY, f32::min);
            assert!((q.abs() - v.abs()).abs() <= nearest + 1e-7, "{v} -> {q} is not its nearest level");
            assert!(v == 0.0 || q == 0.0 || (v < 0.0) == (q < 0.0), "sign of {v} lost in {q}");
        }
    }
    let h = header(codec);
    let bytes = codec.encode(&h, sent.clone());
    assert_eq!(bytes.len(), codec.payload_bytes());
    let back = codec.decode(&bytes).unwrap();
    assert_eq!(back, Payload { header: h, tensors: sent });
}

#[test]
fn tiny_model_round_trips_at_default_settings_without_dct() {
    let codec = tiny_codec(CodecParams { dct: false, ..Default::default() });
    check_round_trip(&codec, &random_tensors(&codec, "rt"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn round_trips_for_any_shape_density_and_bits(
        rows in 1usize..80, cols in 1usize..80, len in 1usize..300,
        density_ppm in 1u32..=1_000_000, value_bits in 1u8..=8, block in 1u16..=64, seed in any::<u64>(),
    ) {
        let params = CodecParams { block, chunk_1d: 64, density_ppm, value_bits, dct: false };
        let codec = Codec::new(&[vec![rows, cols], vec![len]], params).unwrap();
        check_round_trip(&codec, &random_tensors(&codec, &seed.to_string()));
    }
}

#[test]
fn dct_round_trip_reconstructs_within_the_dropped_energy() {
    let params = CodecParams { dct: true, density_ppm: 1_000_000, value_bits: 8, ..Default::default() };
    let codec = tiny_codec(params);
    let x = random_tensors(&codec, "dct");
    // Keeping every coefficient, only 8-bit quantization error remains.
    for (t, orig) in codec.compress(&x).unwrap().iter().zip(&x) {
        let back = codec.decompress(t);
        let err: f32 = back.iter().zip(orig).map(|(a, b)| (a - b).powi(2)).sum::<f32>().sqrt();
        let norm: f32 = orig.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!(err < 0.05 * norm, "tensor {}: error {err} of norm {norm}", t.index);
    }
    // A smooth tensor is captured by few DCT coefficients, unlike in the value domain.
    let smooth: Vec<Vec<f32>> = codec
        .layouts()
        .iter()
        .map(|l| {
            (0..l.numel()).map(|i| ((i % l.cols) as f32 * 0.01).sin() + (i / l.cols) as f32 * 1e-3).collect()
        })
        .collect();
    let sparse = |dct| {
        let c = tiny_codec(CodecParams { dct, ..Default::default() });
        let t = &c.compress(&smooth).unwrap()[1];
        let back = c.decompress(t);
        back.iter().zip(&smooth[1]).map(|(a, b)| (a - b).powi(2)).sum::<f32>()
    };
    assert!(sparse(true) < 0.1 * sparse(false), "DCT {} vs none {}", sparse(true), sparse(false));
}

#[test]
fn compression_ratio_of_the_small_model_is_about_146x() {
    let codec = Codec::for_model(&LlamaConfig::small(), CodecParams::default()).unwrap();
    let ratio = codec.dense_bytes() as f64 / codec.payload_bytes() as f64;
    // 2048 bits of fp32 per 64 elements against 64 * (12 + 2) bits, less the header and codebooks.
    assert!(ratio > 145.0 && ratio < 147.0, "ratio {ratio}");
}

#[test]
fn compression_is_deterministic_across_thread_counts() {
    let codec = tiny_codec(CodecParams { dct: true, ..Default::default() });
    let x = random_tensors(&codec, "threads");
    let run = |n| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
        pool.install(|| codec.encode(&header(&codec), codec.compress(&x).unwrap()))
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn non_finite_and_misshapen_inputs_are_refused() {
    let codec = tiny_codec(CodecParams::default());
    let mut x = random_tensors(&codec, "nan");
    x[2][5] = f32::NAN;
    assert_eq!(codec.compress(&x).unwrap_err(), CodecError::NonFinite { tensor: 2, position: 5 });
    x[2].fill(3e6);
    assert!(matches!(codec.compress(&x), Err(CodecError::ValueRange { tensor: 2, .. })));
    x.pop();
    assert!(matches!(codec.compress(&x), Err(CodecError::Shapes { .. })));
    assert!(Codec::new(&[vec![4]], CodecParams { value_bits: 9, ..Default::default() }).is_err());
    assert!(Codec::new(&[vec![4]], CodecParams { density_ppm: 0, ..Default::default() }).is_err());
}

#[test]
fn index_overlap_tells_a_copy_from_independent_work() {
    let codec = tiny_codec(CodecParams::default());
    let payload = |seed: &str| Payload {
        header: header(&codec),
        tensors: codec.compress(&random_tensors(&codec, seed)).unwrap(),
    };
    let (a, b) = (payload("a"), payload("b"));
    assert_eq!(model::eval::index_overlap(&a, &a), 1.0);
    // Independent top-k choices share about the density's share of positions.
    let independent = model::eval::index_overlap(&a, &b);
    assert!(independent < 0.2, "{independent}");
    // A copy with a little noise added keeps nearly every position.
    let mut noisy = random_tensors(&codec, "a");
    let noise = random_tensors(&codec, "noise");
    for (t, n) in noisy.iter_mut().zip(&noise) {
        for (x, e) in t.iter_mut().zip(n) {
            *x += 0.05 * e;
        }
    }
    let copy = Payload { header: header(&codec), tensors: codec.compress(&noisy).unwrap() };
    let copied = model::eval::index_overlap(&copy, &a);
    assert!(copied > 0.8, "{copied}");
    let empty = Payload { header: header(&codec), tensors: vec![] };
    assert_eq!(model::eval::index_overlap(&empty, &a), 0.0);
}
