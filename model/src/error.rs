//! Typed errors of the model crate.

use std::path::PathBuf;

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid model config: {0}")]
    Config(String),
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: file is {size} bytes, more than the limit of {limit}")]
    TooLarge { path: PathBuf, size: u64, limit: u64 },
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("dataset: {0}")]
    Data(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("gradient payload: {0}")]
    Codec(#[from] crate::codec::CodecError),
    #[error("training: {0}")]
    Train(String),
}

impl ModelError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// A checkpoint error read from bytes, named after the file they came from.
    pub fn at(self, path: &std::path::Path) -> Self {
        match self {
            Self::Checkpoint { reason, .. } => Self::Checkpoint { path: path.into(), reason },
            other => other,
        }
    }
}
