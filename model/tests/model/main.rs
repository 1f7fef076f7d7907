//! The model crate's integration tests, in one binary (one link step instead of eleven).

mod common;

mod cli;
mod codec;
mod codec_decode;
mod data;
mod gemm;
mod golden;
mod llama;
mod outer;
mod study;
mod training;
