//! Why a gradient payload was refused. Every variant is reachable from hostile bytes; none
//! of them panics or allocates more than the model's shapes allow.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    #[error("invalid codec parameters: {0}")]
    Params(String),
    #[error("payload is {size} bytes, more than the {limit} bytes a full payload for this model can take")]
    TooLarge { size: usize, limit: usize },
    #[error("payload ends early: needed {needed} bytes at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("not a gradient payload (bad magic)")]
    BadMagic,
    #[error("unsupported payload version {0}")]
    Version(u16),
    #[error("payload codec {field} is {got}, this subnet uses {want}")]
    CodecMismatch { field: &'static str, got: u64, want: u64 },
    #[error("payload lists {count} tensors; the model has {max} and a payload carries every one")]
    TensorCount { count: u32, max: usize },
    #[error("tensor index {index} is out of order (after {prev:?}; tensors 0..{max} come in order)")]
    TensorIndex { index: u32, prev: Option<u32>, max: usize },
    #[error("tensor {tensor}: codebook level {level} is {value}: levels must ascend in 0..=1e6, non-zero ones within 2^24 of the top one")]
    Codebook { tensor: u32, level: usize, value: f32 },
    #[error("tensor {tensor}: body is {got} bytes, its shape and codec need exactly {want}")]
    BodyLength { tensor: u32, got: u32, want: usize },
    #[error("tensor {tensor} chunk {chunk}: index {index} is out of range or not strictly ascending")]
    ChunkIndex { tensor: u32, chunk: usize, index: u32 },
    #[error("tensor {tensor}: non-zero padding bits")]
    Padding { tensor: u32 },
    #[error("tensor {tensor}: value at {position} is not finite")]
    NonFinite { tensor: usize, position: usize },
    #[error("tensor {tensor}: values above {limit} cannot be encoded")]
    ValueRange { tensor: usize, limit: f32 },
    #[error("expected {want} tensors of the model's shapes, got {got}")]
    Shapes { want: usize, got: usize },
    #[error("peer uid {0} appears twice")]
    DuplicatePeer(u16),
    #[error("peer {uid}: payload {what} does not match ({detail})")]
    Header { uid: u16, what: &'static str, detail: String },
}
