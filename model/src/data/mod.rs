//! Datasets: token shards cut into fixed-length pages, the manifest that describes them, page
//! assignment, and text preparation.

mod dataset;
mod manifest;
mod pages;
mod prepare;
mod shard;
mod tokenize;

pub use dataset::{Batch, Dataset};
pub use manifest::{Manifest, ShardInfo, MANIFEST_FILE};
pub use pages::{page_seed, pages, random_pages};
pub use prepare::{read_documents, split_documents, write_dataset, DocumentOptions, ShardOptions};
pub use shard::{Shard, TokenDtype};
pub use tokenize::{train_bpe, TextTokenizer, EOS_TOKEN};
