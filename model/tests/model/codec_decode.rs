//! Hostile payloads: every decode error path, and fuzzing that nothing panics and that any
//! accepted payload re-encodes to the same bytes.

use model::codec::{Codec, CodecError, CodecParams, Header};
use proptest::prelude::*;

// [8, 8] in 4x4 chunks (k = 2, 4-bit indices; body 6 bytes at 144..150) and [5] whole
// (k = 1, 3-bit indices; body 1 byte at 166). Entries start at 128 and 150.
fn codec() -> Codec {
    let p = CodecParams { block: 4, chunk_1d: 5, density_ppm: 125_000, value_bits: 2, dct: false };
    Codec::new(&[vec![8, 8], vec![5]], p).unwrap()
}

fn valid(codec: &Codec) -> Vec<u8> {
    let x: Vec<Vec<f32>> = codec
        .layouts()
        .iter()
        .map(|l| (0..l.numel()).map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0).collect())
        .collect();
    let h = Header {
        netuid: 1,
        window: 5,
        hotkey: [1; 32],
        base: [2; 32],
        run_id: [3; 32],
        codec: *codec.params(),
    };
    codec.encode(&h, codec.compress(&x).unwrap())
}

fn refused(bytes: &[u8]) -> CodecError {
    codec().decode(bytes).unwrap_err()
}

fn with(edit: impl FnOnce(&mut Vec<u8>)) -> CodecError {
    let mut b = valid(&codec());
    edit(&mut b);
    refused(&b)
}

#[test]
fn the_layout_under_test_is_as_described() {
    let c = codec();
    let b = valid(&c);
    assert_eq!(b.len(), 167);
    assert_eq!(c.payload_bytes(), 167);
    assert_eq!(&b[4..6], &2u16.to_le_bytes());
    assert_eq!(&b[80..112], &[3; 32]);
    assert_eq!(&b[124..128], &2u32.to_le_bytes());
    assert_eq!(&b[128..132], &0u32.to_le_bytes());
    assert_eq!(&b[140..144], &6u32.to_le_bytes());
    assert_eq!(&b[150..154], &1u32.to_le_bytes());
    assert_eq!(&b[162..166], &1u32.to_le_bytes());
    assert_eq!(c.decode(&b).unwrap().header.run_id, [3; 32]);
}

#[test]
fn size_and_framing_errors() {
    assert_eq!(with(|b| b.push(0)), CodecError::TooLarge { size: 168, limit: 167 });
    assert_eq!(with(|b| b.truncate(50)), CodecError::Truncated { offset: 48, needed: 32 });
    assert_eq!(with(|b| b.truncate(100)), CodecError::Truncated { offset: 80, needed: 32 });
    assert_eq!(with(|b| b.truncate(147)), CodecError::Truncated { offset: 144, needed: 6 });
    assert_eq!(refused(&[]), CodecError::Truncated { offset: 0, needed: 4 });
    assert_eq!(with(|b| b[0] ^= 1), CodecError::BadMagic);
    // Version 1 (no run id, optional tensors) is refused, as is any other.
    assert_eq!(with(|b| b[4] = 1), CodecError::Version(1));
    assert_eq!(with(|b| b[4] = 3), CodecError::Version(3));
}

#[test]
fn codec_mismatches_name_the_field() {
    let field = |e: CodecError| match e {
        CodecError::CodecMismatch { field, .. } => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(with(|b| b[112] = 8)), "block");
    assert_eq!(field(with(|b| b[114] = 6)), "chunk_1d");
    assert_eq!(field(with(|b| b[118] ^= 1)), "density_ppm");
    assert_eq!(field(with(|b| b[122] = 3)), "value_bits");
    assert_eq!(field(with(|b| b[123] = 1)), "flags");
    assert_eq!(field(with(|b| b[123] = 2)), "flags");
}

#[test]
fn tensor_list_errors() {
    assert_eq!(with(|b| b[124] = 3), CodecError::TensorCount { count: 3, max: 2 });
    // Every tensor is mandatory: fewer is refused before any entry is read.
    assert_eq!(with(|b| b[124] = 1), CodecError::TensorCount { count: 1, max: 2 });
    assert_eq!(with(|b| b[128] = 1), CodecError::TensorIndex { index: 1, prev: None, max: 2 });
    assert_eq!(with(|b| b[150] = 0), CodecError::TensorIndex { index: 0, prev: Some(0), max: 2 });
    assert_eq!(with(|b| b[140] = 7), CodecError::BodyLength { tensor: 0, got: 7, want: 6 });
}

#[test]
fn codebook_errors() {
    let level = |e: CodecError| match e {
        CodecError::Codebook { tensor, level, .. } => (tensor, level),
        other => panic!("{other:?}"),
    };
    assert_eq!(level(with(|b| b[132..136].copy_from_slice(&f32::NAN.to_le_bytes()))), (0, 0));
    assert_eq!(level(with(|b| b[136..140].copy_from_slice(&f32::INFINITY.to_le_bytes()))), (0, 1));
    assert_eq!(level(with(|b| b[154..158].copy_from_slice(&(-1f32).to_le_bytes()))), (1, 0));
    assert_eq!(level(with(|b| b[136..140].copy_from_slice(&2e6f32.to_le_bytes()))), (0, 1));
    // Descending levels.
    assert_eq!(level(with(|b| b[132..136].copy_from_slice(&5e5f32.to_le_bytes()))), (0, 1));
    // A vanishing level next to a large one (an absurd ratio), and NaN.
    let absurd = with(|b| {
        b[132..136].copy_from_slice(&1e-9f32.to_le_bytes());
        b[136..140].copy_from_slice(&1e3f32.to_le_bytes());
    });
    assert_eq!(level(absurd), (0, 0));
    assert_eq!(level(with(|b| b[136..140].copy_from_slice(&f32::NAN.to_le_bytes()))), (0, 1));
}

#[test]
fn chunk_index_and_padding_errors() {
    // Two equal indices in the first chunk (low nibble, high nibble of byte 144).
    assert_eq!(with(|b| b[144] = 0x33), CodecError::ChunkIndex { tensor: 0, chunk: 0, index: 3 });
    // Descending.
    assert_eq!(with(|b| b[144] = 0x35), CodecError::ChunkIndex { tensor: 0, chunk: 0, index: 3 });
    // Index 6 in a 5-element chunk fits 3 bits but is out of range.
    assert_eq!(
        with(|b| b[166] = (b[166] & !7) | 6),
        CodecError::ChunkIndex { tensor: 1, chunk: 0, index: 6 }
    );
    assert_eq!(with(|b| b[166] |= 0x80), CodecError::Padding { tensor: 1 });
}

#[test]
fn a_header_without_tensors_is_refused() {
    let mut b = valid(&codec());
    b.truncate(128);
    b[124..128].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(refused(&b), CodecError::TensorCount { count: 0, max: 2 });
}

fn accepted_payloads_are_canonical(bytes: &[u8]) {
    let c = codec();
    if let Ok(p) = c.decode(bytes) {
        assert_eq!(c.encode(&p.header, p.tensors), bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        accepted_payloads_are_canonical(&bytes);
    }

    #[test]
    fn mutated_payloads_never_panic(
        edits in proptest::collection::vec((0usize..167, any::<u8>()), 1..4), cut in 0usize..=167,
    ) {
        let mut b = valid(&codec());
        for (at, v) in edits {
            b[at] = v;
        }
        b.truncate(cut);
        accepted_payloads_are_canonical(&b);
    }
}
