//! f32 and bf16 matrix products on the shapes of a `small` training step (batch 8 x 256
//! tokens, hidden 384, MLP 1024, vocabulary 4096), in both threads counts a miner uses. The
//! throughput is in multiply-adds x 2 (FLOP); the bf16 line against the f32 one in the same
//! run is the speed-up of `--precision bf16` on the products.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use model::gemm::{bf16, sgemm, sgemm_bf16, MatRef};

fn data(len: usize, seed: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * 7919 + seed) % 1013) as f32 / 1013.0 - 0.5).collect()
}

fn bench(c: &mut Criterion) {
    let rows = 8 * 256;
    // (name, m, n, k, a transposed, b transposed): forward y = x w^T, input grad dx = dy w,
    // weight grad dw = dy^T x.
    let shapes = [
        ("mlp forward", rows, 1024, 384, false, true),
        ("mlp dx", rows, 384, 1024, false, false),
        ("mlp dw", 1024, 384, rows, true, false),
        ("head forward", rows, 4096, 384, false, true),
    ];
    let threads = candle_core::utils::get_num_threads().min(2);
    let mut g = c.benchmark_group("gemm");
    g.sample_size(10);
    for (name, m, n, k, at, bt) in shapes {
        let (a, b) = (data(m * k, 1), data(k * n, 2));
        let am = if at { MatRef::transposed(&a, m) } else { MatRef::rows(&a, k) };
        let bm = if bt { MatRef::transposed(&b, k) } else { MatRef::rows(&b, n) };
        let mut out = vec![0f32; m * n];
        g.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        g.bench_function(BenchmarkId::new("f32", name), |bch| {
            bch.iter(|| sgemm(m, n, k, am, bm, &mut out, threads))
        });
        if bf16::available() {
            g.bench_function(BenchmarkId::new("bf16", name), |bch| {
                bch.iter(|| sgemm_bf16(m, n, k, am, bm, &mut out, threads))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
