//! Text <-> token ids with a HF `tokenizer.json`, and training a small byte-level BPE offline.

use std::path::Path;

use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::{ModelError, Result};

/// The end-of-text token every tokenizer of this project carries; it separates documents.
pub const EOS_TOKEN: &str = "<|endoftext|>";
const MAX_TOKENIZER_BYTES: u64 = 64 << 20;

fn tk_err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer(e.to_string())
}

/// A loaded tokenizer with its name and content hash (recorded in dataset manifests).
pub struct TextTokenizer {
    inner: Tokenizer,
    name: String,
    hash: [u8; 32],
}

impl TextTokenizer {
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::io::read_capped(path, MAX_TOKENIZER_BYTES)?;
        let inner = Tokenizer::from_bytes(&bytes).map_err(|e| tk_err(format!("{}: {e}", path.display())))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().trim_end_matches(".json").to_string())
            .unwrap_or_default();
        Ok(Self { inner, name, hash: crate::rng::blake2_256(&bytes) })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.inner.token_to_id(EOS_TOKEN)
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.inner.encode(text, false).map_err(tk_err)?.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(tk_err)
    }
}

/// Trains a byte-level BPE with `vocab_size` entries (including [`EOS_TOKEN`], id 0) on
/// `docs` and writes it as `tokenizer.json` to `out`.
pub fn train_bpe(docs: &[String], vocab_size: usize, out: &Path) -> Result<()> {
    let mut tk = Tokenizer::new(BPE::default());
    // No prefix space: text decodes back exactly as it was written (GPT-2 style).
    tk.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tk.with_post_processor(Some(ByteLevel::default()));
    tk.with_decoder(Some(ByteLevel::default()));
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(vec![AddedToken::from(EOS_TOKEN, true)])
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    tk.train(&mut trainer, docs.iter()).map_err(tk_err)?;
    let json = tk.to_string(false).map_err(tk_err)?;
    crate::io::write_atomic(out, json.as_bytes())
}
