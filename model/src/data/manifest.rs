//! `manifest.json`: what a dataset directory holds.
//!
//! ```json
//! { "version": 1, "tokenizer": "fortunes-bpe-4k", "tokenizer_hash": "<blake2_256 hex>",
//!   "vocab_size": 4096, "eos_token_id": 0, "dtype": "u16", "page_len": 256,
//!   "shards": [{ "file": "shard_000000.bin", "tokens": 123, "pages": 0, "blake2_256": "<hex>" }],
//!   "total_tokens": 123, "total_pages": 0, "content_hash": "<hex>" }
//! ```
//! A shard of `n` tokens holds `floor((n - 1) / page_len)` pages; page `k` is the tokens
//! `[k * page_len, (k + 1) * page_len + 1)` (inputs and their next-token targets). Pages are
//! numbered globally across shards in manifest order. `content_hash` is
//! `blake2_256(page_len as u32 LE ‖ dtype ("u16"/"u32") ‖ each shard's 32-byte hash in order)`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::shard::TokenDtype;
use crate::error::{ModelError, Result};

pub const MANIFEST_FILE: &str = "manifest.json";
const MAX_MANIFEST_BYTES: u64 = 4 << 20;
const MAX_SHARDS: usize = 100_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub file: String,
    pub tokens: u64,
    pub pages: u64,
    pub blake2_256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub tokenizer: String,
    pub tokenizer_hash: String,
    pub vocab_size: usize,
    pub eos_token_id: Option<u32>,
    pub dtype: TokenDtype,
    pub page_len: usize,
    pub shards: Vec<ShardInfo>,
    pub total_tokens: u64,
    pub total_pages: u64,
    pub content_hash: String,
}

pub fn pages_in(tokens: u64, page_len: usize) -> u64 {
    tokens.saturating_sub(1) / page_len as u64
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> ModelError {
    ModelError::Data(format!("{}: {msg}", path.display()))
}

impl Manifest {
    pub fn compute_content_hash(page_len: usize, dtype: TokenDtype, shard_hashes: &[[u8; 32]]) -> [u8; 32] {
        let mut buf = (page_len as u32).to_le_bytes().to_vec();
        buf.extend_from_slice(match dtype {
            TokenDtype::U16 => b"u16",
            TokenDtype::U32 => b"u32",
        });
        for h in shard_hashes {
            buf.extend_from_slice(h);
        }
        crate::rng::blake2_256(&buf)
    }

    /// Reads and checks a manifest: version, counts that add up, file names that stay inside
    /// the directory, and the content hash over the listed shard hashes.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::io::read_capped(path, MAX_MANIFEST_BYTES)?;
        let m: Self =
            serde_json::from_slice(&bytes).map_err(|e| bad(path, format!("invalid manifest: {e}")))?;
        if m.version != 1 {
            return Err(bad(path, format!("manifest version {} is not supported (expected 1)", m.version)));
        }
        if m.page_len == 0 || m.page_len > 1 << 20 {
            return Err(bad(path, format!("page_len {} is out of range", m.page_len)));
        }
        if m.vocab_size == 0 || (m.dtype == TokenDtype::U16 && m.vocab_size > 1 << 16) {
            return Err(bad(path, format!("vocab_size {} does not fit dtype {:?}", m.vocab_size, m.dtype)));
        }
        if m.shards.is_empty() || m.shards.len() > MAX_SHARDS {
            return Err(bad(path, format!("{} shards listed (expected 1..={MAX_SHARDS})", m.shards.len())));
        }
        let mut hashes = Vec::with_capacity(m.shards.len());
        let (mut tokens, mut pages) = (0u64, 0u64);
        for s in &m.shards {
            let plain = Path::new(&s.file).file_name().map(|f| f == s.file.as_str()).unwrap_or(false);
            if !plain || s.file.starts_with('.') {
                return Err(bad(path, format!("shard file {:?} must be a plain file name", s.file)));
            }
            if s.pages != pages_in(s.tokens, m.page_len) {
                return Err(bad(
                    path,
                    format!(
                        "shard {} lists {} pages, its {} tokens make {}",
                        s.file,
                        s.pages,
                        s.tokens,
                        pages_in(s.tokens, m.page_len)
                    ),
                ));
            }
            hashes.push(
                parse_hash(&s.blake2_256)
                    .ok_or_else(|| bad(path, format!("shard {} has a malformed hash", s.file)))?,
            );
            tokens = tokens.checked_add(s.tokens).ok_or_else(|| bad(path, "token count overflows"))?;
            pages += s.pages;
        }
        if tokens != m.total_tokens || pages != m.total_pages {
            return Err(bad(
                path,
                format!(
                    "totals {}/{} do not match the shards' {tokens}/{pages}",
                    m.total_tokens, m.total_pages
                ),
            ));
        }
        if hex::encode(Self::compute_content_hash(m.page_len, m.dtype, &hashes)) != m.content_hash {
            return Err(bad(path, "content_hash does not match the shard hashes"));
        }
        Ok(m)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| ModelError::Data(e.to_string()))?;
        crate::io::write_atomic(path, &json)
    }
}

pub fn parse_hash(s: &str) -> Option<[u8; 32]> {
    let v = hex::decode(s).ok()?;
    v.try_into().ok()
}
