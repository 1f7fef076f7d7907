//! Fixtures the miner's and the validator's tests share (feature `testing`): a small
//! synthetic dataset and the shipped `tiny` run shrunk to fit a test.

use std::path::Path;

use model::data::{self, ShardOptions, TextTokenizer};

use crate::RunConfig;

/// The subnet the tests run on.
pub const NET: u16 = 1;

/// A small synthetic dataset (64-token pages) in `dir/train`; returns its content hash.
pub fn dataset(dir: &Path) -> String {
    let tk = TextTokenizer::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../model/assets/fortunes-bpe-4k.json"),
    )
    .expect("the shipped tokenizer loads");
    let docs: Vec<String> = (0..2000)
        .map(|i| format!("Fortune number {i}: the {} fox jumps over {} lazy dogs.", i % 7, i % 13))
        .collect();
    let opts = ShardOptions { page_len: 64, shard_tokens: 1 << 16 };
    data::write_dataset(&docs, &tk, &dir.join("train"), &opts).expect("the dataset writes").content_hash
}

/// The shipped `tiny` run, shrunk: 10-block windows, `steps` inner steps of one 64-token page.
pub fn run_config(content_hash: &str, steps: u32) -> RunConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/localnet-tiny.toml");
    let mut c = RunConfig::load(&path).expect("the shipped tiny run loads");
    c.data.content_hash = content_hash.into();
    c.data.page_len = 64;
    c.window.blocks = 10;
    c.window.approval_blocks = 3;
    c.window.commit_margin = 2;
    c.inner.steps = steps;
    c.inner.pages_per_step = 1;
    c
}
