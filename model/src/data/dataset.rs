//! A dataset directory: a manifest plus token shards, read page by page.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::{Device, Tensor};

use super::manifest::{Manifest, MANIFEST_FILE};
use super::shard::Shard;
use crate::error::{ModelError, Result};

/// Inputs and next-token targets, both `[batch, page_len]` u32.
#[derive(Clone, Debug)]
pub struct Batch {
    pub inputs: Tensor,
    pub targets: Tensor,
}

impl Batch {
    pub fn tokens(&self) -> usize {
        self.inputs.elem_count()
    }
}

pub struct Dataset {
    dir: PathBuf,
    manifest: Manifest,
    shards: Vec<Mutex<Shard>>,
    /// First global page index of each shard.
    first_page: Vec<u64>,
}

impl Dataset {
    /// Opens `dir`, checking the manifest and that each shard has the listed size and format.
    /// Contents are hashed only by [`Dataset::verify`].
    pub fn open(dir: &Path) -> Result<Self> {
        let manifest = Manifest::load(&dir.join(MANIFEST_FILE))?;
        let mut shards = Vec::with_capacity(manifest.shards.len());
        let mut first_page = Vec::with_capacity(manifest.shards.len());
        let mut next = 0u64;
        for info in &manifest.shards {
            let path = dir.join(&info.file);
            let shard = Shard::open(&path, manifest.dtype)?;
            if shard.tokens() != info.tokens {
                return Err(ModelError::Data(format!(
                    "{}: has {} tokens, the manifest lists {}",
                    path.display(),
                    shard.tokens(),
                    info.tokens
                )));
            }
            shards.push(Mutex::new(shard));
            first_page.push(next);
            next += info.pages;
        }
        Ok(Self { dir: dir.into(), manifest, shards, first_page })
    }

    /// Hashes every shard file and compares with the manifest.
    pub fn verify(&self) -> Result<()> {
        for info in &self.manifest.shards {
            let path = self.dir.join(&info.file);
            let limit = info.tokens * self.manifest.dtype.size() + (1 << 16);
            let bytes = crate::io::read_capped(&path, limit)?;
            if hex::encode(crate::rng::blake2_256(&bytes)) != info.blake2_256 {
                return Err(ModelError::Data(format!(
                    "{}: content hash differs from the manifest",
                    path.display()
                )));
            }
        }
        Ok(())
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn num_pages(&self) -> u64 {
        self.manifest.total_pages
    }

    pub fn page_len(&self) -> usize {
        self.manifest.page_len
    }

    /// The `page_len + 1` tokens of global page `index`; every id is checked against the vocabulary.
    pub fn page(&self, index: u64) -> Result<Vec<u32>> {
        if index >= self.num_pages() {
            return Err(ModelError::Data(format!(
                "page {index} is out of range (dataset has {})",
                self.num_pages()
            )));
        }
        let shard = self.first_page.partition_point(|&p| p <= index) - 1;
        let local = index - self.first_page[shard];
        let len = self.manifest.page_len;
        let mut reader =
            self.shards[shard].lock().map_err(|_| ModelError::Data("shard lock poisoned".into()))?;
        let tokens = reader.read(local * len as u64, len + 1)?;
        if let Some(bad) = tokens.iter().find(|&&t| t as usize >= self.manifest.vocab_size) {
            return Err(ModelError::Data(format!(
                "{}: token id {bad} in page {index} is outside the vocabulary of {}",
                self.manifest.shards[shard].file, self.manifest.vocab_size
            )));
        }
        Ok(tokens)
    }

    /// A batch of the given pages, in order.
    pub fn batch(&self, pages: &[u64], device: &Device) -> Result<Batch> {
        let len = self.manifest.page_len;
        let mut inputs = Vec::with_capacity(pages.len() * len);
        let mut targets = Vec::with_capacity(pages.len() * len);
        for &p in pages {
            let t = self.page(p)?;
            inputs.extend_from_slice(&t[..len]);
            targets.extend_from_slice(&t[1..]);
        }
        Ok(Batch {
            inputs: Tensor::from_vec(inputs, (pages.len(), len), device)?,
            targets: Tensor::from_vec(targets, (pages.len(), len), device)?,
        })
    }
}
