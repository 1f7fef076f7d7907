//! Shared helpers for the model crate's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use model::data::{self, DocumentOptions, ShardOptions, TextTokenizer};

pub fn tokenizer_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/fortunes-bpe-4k.json")
}

/// The default corpus (Debian's `fortunes`), installed by `scripts/setup.sh`.
pub fn corpus_dir() -> PathBuf {
    let dir =
        PathBuf::from(std::env::var("FORTUNES_DIR").unwrap_or_else(|_| "/usr/share/games/fortunes".into()));
    assert!(
        dir.join("fortunes").exists(),
        "the fortunes corpus is missing at {}: run scripts/setup.sh (apt package `fortunes`) or set FORTUNES_DIR",
        dir.display()
    );
    dir
}

/// Prepares the real-text dataset into `out` (train/ and val/).
pub fn prepare_fortunes(out: &Path, page_len: usize) {
    let tk = TextTokenizer::load(&tokenizer_path()).unwrap();
    let docs =
        data::read_documents(&[corpus_dir()], &DocumentOptions { separator: Some("%".into()) }).unwrap();
    let (train, val) = data::split_documents(docs, 20);
    let opts = ShardOptions { page_len, shard_tokens: 1 << 20 };
    data::write_dataset(&train, &tk, &out.join("train"), &opts).unwrap();
    data::write_dataset(&val, &tk, &out.join("val"), &opts).unwrap();
}

/// Deterministic pseudo-random token ids `[b, t]`.
pub fn random_tokens(seed: &str, b: usize, t: usize, vocab: usize) -> Tensor {
    let mut rng = model::rng::PortableRng::from_hashed(seed.as_bytes());
    let v: Vec<u32> = (0..b * t).map(|_| rng.below(vocab as u64) as u32).collect();
    Tensor::from_vec(v, (b, t), &Device::Cpu).unwrap()
}

/// Cross-entropy on `val`'s tokens of a unigram model fitted on `train`'s (add-0.5 smoothing):
/// the loss a model reaches without using any context.
pub fn unigram_cross_entropy(train: &data::Dataset, val: &data::Dataset) -> f64 {
    let vocab = train.manifest().vocab_size;
    let mut counts = vec![0.5f64; vocab];
    for p in 0..train.num_pages() {
        for t in &train.page(p).unwrap()[1..] {
            counts[*t as usize] += 1.0;
        }
    }
    let total: f64 = counts.iter().sum();
    let (mut sum, mut n) = (0.0, 0usize);
    for p in 0..val.num_pages() {
        for t in &val.page(p).unwrap()[1..] {
            sum -= (counts[*t as usize] / total).ln();
            n += 1;
        }
    }
    sum / n as f64
}
