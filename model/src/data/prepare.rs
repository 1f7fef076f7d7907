//! Text files -> token shards + manifest (`model prepare`).

use std::path::{Path, PathBuf};

use super::manifest::{pages_in, Manifest, ShardInfo, MANIFEST_FILE};
use super::shard::TokenDtype;
use super::tokenize::TextTokenizer;
use crate::error::{ModelError, Result};

/// Largest single text file read.
const MAX_TEXT_FILE: u64 = 256 << 20;

/// How text inputs are cut into documents.
#[derive(Clone, Debug)]
pub struct DocumentOptions {
    /// A line equal to this string ends a document (fortune files use `%`); `None`: one
    /// document per file.
    pub separator: Option<String>,
}

/// Reads text documents from files and directories (walked in sorted order). Symlinks and
/// files that are not UTF-8 text are skipped with a warning; a missing input is an error.
pub fn read_documents(inputs: &[PathBuf], opts: &DocumentOptions) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for input in inputs {
        collect_files(input, &mut files)?;
    }
    let mut docs = Vec::new();
    let mut skipped = 0usize;
    for f in files {
        let bytes = crate::io::read_capped(&f, MAX_TEXT_FILE)?;
        let Ok(text) = String::from_utf8(bytes) else {
            tracing::debug!(file = %f.display(), "skipping: not UTF-8 text");
            skipped += 1;
            continue;
        };
        match &opts.separator {
            None => docs.push(text),
            Some(sep) => {
                let mut cur = String::new();
                for line in text.lines() {
                    if line == sep {
                        docs.push(std::mem::take(&mut cur));
                    } else {
                        cur.push_str(line);
                        cur.push('\n');
                    }
                }
                docs.push(cur);
            }
        }
    }
    if skipped > 0 {
        tracing::info!(skipped, "skipped files that are not UTF-8 text");
    }
    docs.retain(|d| !d.trim().is_empty());
    Ok(docs)
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| ModelError::io(path, e))?;
    if meta.file_type().is_symlink() {
        tracing::debug!(file = %path.display(), "skipping symlink");
    } else if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| ModelError::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            collect_files(&e, out)?;
        }
    } else if meta.is_file() {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Options for writing one dataset directory.
#[derive(Clone, Debug)]
pub struct ShardOptions {
    pub page_len: usize,
    pub shard_tokens: usize,
}

/// Tokenizes `docs` (each followed by the EOS token) into `out/shard_NNNNNN.bin` files of raw
/// little-endian tokens and writes `out/manifest.json`. Returns the manifest.
pub fn write_dataset(
    docs: &[String],
    tk: &TextTokenizer,
    out: &Path,
    opts: &ShardOptions,
) -> Result<Manifest> {
    let eos =
        tk.eos_id().ok_or_else(|| ModelError::Tokenizer("tokenizer has no <|endoftext|> token".into()))?;
    let vocab = tk.vocab_size();
    let dtype = if vocab <= 1 << 16 { TokenDtype::U16 } else { TokenDtype::U32 };
    if opts.page_len == 0 || opts.shard_tokens <= opts.page_len {
        return Err(ModelError::Data("shard_tokens must exceed page_len > 0".into()));
    }
    std::fs::create_dir_all(out).map_err(|e| ModelError::io(out, e))?;
    let mut shards = Vec::new();
    let mut hashes = Vec::new();
    let mut buf: Vec<u32> = Vec::with_capacity(opts.shard_tokens);
    let mut flush = |buf: &mut Vec<u32>| -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let file = format!("shard_{:06}.bin", shards.len());
        let bytes: Vec<u8> = match dtype {
            TokenDtype::U16 => buf.iter().flat_map(|t| (*t as u16).to_le_bytes()).collect(),
            TokenDtype::U32 => buf.iter().flat_map(|t| t.to_le_bytes()).collect(),
        };
        crate::io::write_atomic(&out.join(&file), &bytes)?;
        let hash = crate::rng::blake2_256(&bytes);
        hashes.push(hash);
        let tokens = buf.len() as u64;
        shards.push(ShardInfo {
            file,
            tokens,
            pages: pages_in(tokens, opts.page_len),
            blake2_256: hex::encode(hash),
        });
        buf.clear();
        Ok(())
    };
    for doc in docs {
        for id in tk.encode(doc)?.into_iter().chain([eos]) {
            buf.push(id);
            if buf.len() == opts.shard_tokens {
                flush(&mut buf)?;
            }
        }
    }
    flush(&mut buf)?;
    let manifest = Manifest {
        version: 1,
        tokenizer: tk.name().to_string(),
        tokenizer_hash: hex::encode(tk.hash()),
        vocab_size: vocab,
        eos_token_id: Some(eos),
        dtype,
        page_len: opts.page_len,
        total_tokens: shards.iter().map(|s| s.tokens).sum(),
        total_pages: shards.iter().map(|s| s.pages).sum(),
        content_hash: hex::encode(Manifest::compute_content_hash(opts.page_len, dtype, &hashes)),
        shards,
    };
    if manifest.total_pages == 0 {
        return Err(ModelError::Data(format!(
            "{} tokens make no page of {}",
            manifest.total_tokens, opts.page_len
        )));
    }
    manifest.save(&out.join(MANIFEST_FILE))?;
    Ok(manifest)
}

/// Splits documents deterministically: every `val_every`-th document (by index) is held out.
pub fn split_documents(docs: Vec<String>, val_every: usize) -> (Vec<String>, Vec<String>) {
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (i, d) in docs.into_iter().enumerate() {
        if val_every > 0 && i % val_every == val_every - 1 {
            val.push(d);
        } else {
            train.push(d);
        }
    }
    (train, val)
}
