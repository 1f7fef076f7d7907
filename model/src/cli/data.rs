//! `train-tokenizer` and `prepare`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use model::data::{self, DocumentOptions, ShardOptions, TextTokenizer};

#[derive(Args, Debug)]
pub struct TrainTokenizerArgs {
    /// Text files or directories (walked; symlinks and non-UTF-8 files skipped).
    #[arg(long, required = true, num_args = 1..)]
    input: Vec<PathBuf>,
    /// A line equal to this ends a document (use % for fortune files).
    #[arg(long)]
    separator: Option<String>,
    #[arg(long, default_value_t = 4096)]
    vocab_size: usize,
    /// Where to write tokenizer.json.
    #[arg(long)]
    out: PathBuf,
}

pub fn train_tokenizer(a: TrainTokenizerArgs) -> anyhow::Result<()> {
    let docs = data::read_documents(&a.input, &DocumentOptions { separator: a.separator })?;
    anyhow::ensure!(!docs.is_empty(), "no text documents found in {:?}", a.input);
    tracing::info!(documents = docs.len(), vocab = a.vocab_size, "training BPE tokenizer");
    data::train_bpe(&docs, a.vocab_size, &a.out)?;
    let tk = TextTokenizer::load(&a.out)?;
    println!("wrote {} (vocabulary {})", a.out.display(), tk.vocab_size());
    Ok(())
}

#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// HF tokenizer.json (must contain <|endoftext|>).
    #[arg(long)]
    tokenizer: PathBuf,
    /// Text files or directories (walked; symlinks and non-UTF-8 files skipped).
    #[arg(long, required = true, num_args = 1..)]
    input: Vec<PathBuf>,
    /// A line equal to this ends a document (use % for fortune files).
    #[arg(long)]
    separator: Option<String>,
    /// Output directory; train/ and val/ are written inside, with a copy of the tokenizer.
    #[arg(long)]
    out: PathBuf,
    /// Tokens per page (the training sequence length).
    #[arg(long, default_value_t = 256)]
    page_len: usize,
    /// Maximum tokens per shard file.
    #[arg(long, default_value_t = 1 << 24)]
    shard_tokens: usize,
    /// Every N-th document goes to val/ (0: no validation split).
    #[arg(long, default_value_t = 20)]
    val_every: usize,
}

pub fn prepare(a: PrepareArgs) -> anyhow::Result<()> {
    let tk = TextTokenizer::load(&a.tokenizer)?;
    let docs = data::read_documents(&a.input, &DocumentOptions { separator: a.separator })?;
    anyhow::ensure!(!docs.is_empty(), "no text documents found in {:?}", a.input);
    let (train, val) = data::split_documents(docs, a.val_every);
    let opts = ShardOptions { page_len: a.page_len, shard_tokens: a.shard_tokens };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    std::fs::copy(&a.tokenizer, a.out.join("tokenizer.json")).context("copying the tokenizer")?;
    for (name, docs) in [("train", &train), ("val", &val)] {
        if docs.is_empty() {
            continue;
        }
        let m = data::write_dataset(docs, &tk, &a.out.join(name), &opts)?;
        println!(
            "{name}: {} documents, {} tokens, {} pages of {} in {} shard(s) -> {}",
            docs.len(),
            m.total_tokens,
            m.total_pages,
            m.page_len,
            m.shards.len(),
            a.out.join(name).display()
        );
    }
    Ok(())
}
