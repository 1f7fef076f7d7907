//! Gradient codec throughput on the `small` preset's tensors, and the compression ratio.
//!
//! `cargo bench -p model --bench codec` (scripts/bench/codec.sh). Throughput is in bytes of
//! fp32 parameters per second. Before timing, prints the payload size against fp32 and what
//! entropy-coding the indices would save.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use model::codec::{Codec, CodecParams, Header, SparseTensor, TensorLayout};
use model::rng::PortableRng;
use model::LlamaConfig;

fn pseudo_gradient(codec: &Codec) -> Vec<Vec<f32>> {
    let mut rng = PortableRng::from_hashed(b"bench pseudo-gradient");
    codec.layouts().iter().map(|l| rng.normal_vec(l.numel(), 1e-3)).collect()
}

fn header(codec: &Codec) -> Header {
    Header { netuid: 1, window: 1, hotkey: [1; 32], base: [2; 32], run_id: [3; 32], codec: *codec.params() }
}

/// Bits of the indices with a Golomb-Rice code of the gaps between sorted indices (best
/// parameter per tensor): how much entropy coding would save over fixed-width indices.
fn rice_index_bits(t: &SparseTensor, l: &TensorLayout) -> u64 {
    let gaps: Vec<u32> = t
        .positions
        .chunks(l.k)
        .flat_map(|c| {
            let mut prev = None;
            c.iter().map(move |p| {
                let local = p % l.chunk_len() as u32;
                let gap = prev.map_or(local, |q: u32| local - q - 1);
                prev = Some(local);
                gap
            })
        })
        .collect();
    (0..16).map(|r| gaps.iter().map(|g| (g >> r) as u64 + 1 + r as u64).sum()).min().unwrap_or(0)
}

fn report(name: &str, params: CodecParams) {
    let codec = Codec::for_model(&LlamaConfig::small(), params).unwrap();
    let sent = codec.compress(&pseudo_gradient(&codec)).unwrap();
    let bytes = codec.encode(&header(&codec), sent.clone()).len();
    let dense = codec.dense_bytes();
    let fixed: u64 = sent
        .iter()
        .map(|t| (t.positions.len() as u64) * codec.layouts()[t.index as usize].index_bits as u64)
        .sum();
    let rice: u64 = sent.iter().map(|t| rice_index_bits(t, &codec.layouts()[t.index as usize])).sum();
    let with_rice = bytes - (fixed / 8) as usize + (rice / 8) as usize;
    println!(
        "{name}: fp32 {dense} B -> payload {bytes} B = {:.1}x; Rice-coded indices would make it {with_rice} B = {:.1}x",
        dense as f64 / bytes as f64,
        dense as f64 / with_rice as f64,
    );
}

fn bench(c: &mut Criterion) {
    report("small, defaults (1/64 density, 2-bit values)", CodecParams::default());
    report("small, 1/128 density", CodecParams { density_ppm: 7_813, ..Default::default() });
    report("small, 1/64 density, 1-bit values", CodecParams { value_bits: 1, ..Default::default() });

    let mut g = c.benchmark_group("codec small");
    g.sample_size(10);
    for dct in [false, true] {
        let codec =
            Codec::for_model(&LlamaConfig::small(), CodecParams { dct, ..Default::default() }).unwrap();
        let x = pseudo_gradient(&codec);
        let bytes = codec.encode(&header(&codec), codec.compress(&x).unwrap());
        g.throughput(Throughput::Bytes(codec.dense_bytes() as u64));
        let tag = if dct { "dct" } else { "no-dct" };
        g.bench_function(format!("encode {tag}"), |b| {
            b.iter(|| codec.encode(&header(&codec), codec.compress(&x).unwrap()))
        });
        g.bench_function(format!("decode {tag}"), |b| b.iter(|| codec.decode(&bytes).unwrap()));
        g.bench_function(format!("decode+densify {tag}"), |b| {
            b.iter(|| {
                let p = codec.decode(&bytes).unwrap();
                p.tensors.iter().map(|t| codec.decompress(t)).collect::<Vec<_>>()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
