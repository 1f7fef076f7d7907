//! Hostile payloads: every decode error path, and fuzzing that nothing panics and that any
//! accepted payload re-encodes to the same bytes.

use model::codec::{Codec, CodecError, CodecParams, Header};
use proptest::prelude::*;

// [8, 8] in 4x4 chunks (k = 2, 4-bit indices; body 6 bytes at 112..118) and [5] whole
// (k = 1, 3-bit indices; body 1 byte at 134). Entries start at 96 and 118.
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
    let h = Header { netuid: 1, window: 5, hotkey: [1; 32], base: [2; 32], codec: *codec.params() };
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
    assert_eq!(b.len(), 135);
    assert_eq!(c.payload_bytes(), 135);
    assert_eq!(&b[96..100], &0u32.to_le_bytes());
    assert_eq!(&b[108..112], &6u32.to_le_bytes());
    assert_eq!(&b[118..122], &1u32.to_le_bytes());
    assert_eq!(&b[130..134], &1u32.to_le_bytes());
    c.decode(&b).unwrap();
}

#[test]
fn size_and_framing_errors() {
    assert_eq!(with(|b| b.push(0)), CodecError::TooLarge { size: 136, limit: 135 });
    assert_eq!(with(|b| b.truncate(50)), CodecError::Truncated { offset: 48, needed: 32 });
    assert_eq!(with(|b| b.truncate(115)), CodecError::Truncated { offset: 112, needed: 6 });
    assert_eq!(refused(&[]), CodecError::Truncated { offset: 0, needed: 4 });
    assert_eq!(with(|b| b[0] ^= 1), CodecError::BadMagic);
    assert_eq!(with(|b| b[4] = 2), CodecError::Version(2));
    // Only the first tensor, then one stray byte.
    let e = with(|b| {
        b[92] = 1;
        b.truncate(118);
        b.push(0);
    });
    assert_eq!(e, CodecError::Trailing(1));
}

#[test]
fn codec_mismatches_name_the_field() {
    let field = |e: CodecError| match e {
        CodecError::CodecMismatch { field, .. } => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(with(|b| b[80] = 8)), "block");
    assert_eq!(field(with(|b| b[82] = 6)), "chunk_1d");
    assert_eq!(field(with(|b| b[86] ^= 1)), "density_ppm");
    assert_eq!(field(with(|b| b[90] = 3)), "value_bits");
    assert_eq!(field(with(|b| b[91] = 1)), "flags");
    assert_eq!(field(with(|b| b[91] = 2)), "flags");
}

#[test]
fn tensor_list_errors() {
    assert_eq!(with(|b| b[92] = 3), CodecError::TensorCount { count: 3, max: 2 });
    assert_eq!(with(|b| b[96] = 2), CodecError::TensorIndex { index: 2, prev: None, max: 2 });
    assert_eq!(with(|b| b[118] = 0), CodecError::TensorIndex { index: 0, prev: Some(0), max: 2 });
    assert_eq!(with(|b| b[108] = 7), CodecError::BodyLength { tensor: 0, got: 7, want: 6 });
}

#[test]
fn codebook_errors() {
    let level = |e: CodecError| match e {
        CodecError::Codebook { tensor, level, .. } => (tensor, level),
        other => panic!("{other:?}"),
    };
    assert_eq!(level(with(|b| b[100..104].copy_from_slice(&f32::NAN.to_le_bytes()))), (0, 0));
    assert_eq!(level(with(|b| b[104..108].copy_from_slice(&f32::INFINITY.to_le_bytes()))), (0, 1));
    assert_eq!(level(with(|b| b[122..126].copy_from_slice(&(-1f32).to_le_bytes()))), (1, 0));
    assert_eq!(level(with(|b| b[104..108].copy_from_slice(&2e6f32.to_le_bytes()))), (0, 1));
    // Descending levels.
    assert_eq!(level(with(|b| b[100..104].copy_from_slice(&5e5f32.to_le_bytes()))), (0, 1));
}

#[test]
fn chunk_index_and_padding_errors() {
    // Two equal indices in the first chunk (low nibble, high nibble of byte 112).
    assert_eq!(with(|b| b[112] = 0x33), CodecError::ChunkIndex { tensor: 0, chunk: 0, index: 3 });
    // Descending.
    assert_eq!(with(|b| b[112] = 0x35), CodecError::ChunkIndex { tensor: 0, chunk: 0, index: 3 });
    // Index 6 in a 5-element chunk fits 3 bits but is out of range.
    assert_eq!(
        with(|b| b[134] = (b[134] & !7) | 6),
        CodecError::ChunkIndex { tensor: 1, chunk: 0, index: 6 }
    );
    assert_eq!(with(|b| b[134] |= 0x80), CodecError::Padding { tensor: 1 });
}

#[test]
fn an_empty_update_is_valid() {
    let c = codec();
    let h = Header { netuid: 1, window: 5, hotkey: [1; 32], base: [2; 32], codec: *c.params() };
    let bytes = c.encode(&h, vec![]);
    assert_eq!(bytes.len(), 96);
    assert!(c.decode(&bytes).unwrap().tensors.is_empty());
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
        edits in proptest::collection::vec((0usize..135, any::<u8>()), 1..4), cut in 0usize..=135,
    ) {
        let mut b = valid(&codec());
        for (at, v) in edits {
            b[at] = v;
        }
        b.truncate(cut);
        accepted_payloads_are_canonical(&b);
    }
}
