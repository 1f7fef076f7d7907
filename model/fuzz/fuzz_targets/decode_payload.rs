//! Fuzzes the gradient payload decoder (`scripts/fuzz.sh`).
//!
//! Each input is tried twice: as raw bytes, and as edits (offset, value pairs) applied to a
//! valid payload so the fuzzer reaches the per-tensor checks quickly. Whatever decodes must
//! re-encode to the same bytes and decompress and aggregate without panicking.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use model::codec::{Codec, CodecParams, Header};
use model::outer::{aggregate, Expected};

struct Case {
    codec: Codec,
    valid: Vec<u8>,
}

fn cases() -> &'static [Case; 2] {
    static CASES: OnceLock<[Case; 2]> = OnceLock::new();
    CASES.get_or_init(|| {
        let make = |params: CodecParams, shapes: &[Vec<usize>]| {
            let codec = Codec::new(shapes, params).unwrap();
            let x: Vec<Vec<f32>> = codec
                .layouts()
                .iter()
                .map(|l| (0..l.numel()).map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0).collect())
                .collect();
            let h = Header { netuid: 1, window: 5, hotkey: [1; 32], base: [2; 32], run_id: [3; 32], codec: params };
            let valid = codec.encode(&h, codec.compress(&x).unwrap());
            Case { codec, valid }
        };
        [
            make(
                CodecParams { block: 4, chunk_1d: 5, density_ppm: 125_000, value_bits: 2, dct: false },
                &[vec![8, 8], vec![5]],
            ),
            make(
                CodecParams { block: 8, chunk_1d: 16, density_ppm: 200_000, value_bits: 3, dct: true },
                &[vec![16, 24], vec![12], vec![3, 7]],
            ),
        ]
    })
}

fn check(case: &Case, bytes: &[u8]) {
    let Ok(p) = case.codec.decode(bytes) else { return };
    assert_eq!(case.codec.encode(&p.header, p.tensors.clone()), bytes, "accepted bytes are not canonical");
    for t in &p.tensors {
        let dense = case.codec.decompress(t);
        assert_eq!(dense.len(), case.codec.layouts()[t.index as usize].numel());
    }
    let want = Expected { netuid: p.header.netuid, window: p.header.window, base: p.header.base, run_id: p.header.run_id };
    let registered = std::collections::BTreeMap::from([(0, p.header.hotkey)]);
    let history = model::outer::ClipHistory::new(case.codec.layouts().len());
    let rule = model::outer::ClipRule { cap: 10.0, history: 3.0 };
    aggregate(&case.codec, &[(0, p)], &want, &registered, &rule, &history).unwrap();
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let case = &cases()[pick as usize % 2];
    check(case, rest);
    let mut edited = case.valid.clone();
    for e in rest.chunks_exact(3) {
        let at = u16::from_le_bytes([e[0], e[1]]) as usize;
        match at % 7 {
            // Mostly overwrite a byte; sometimes truncate or extend.
            0 => edited.truncate(at % (edited.len() + 1)),
            1 => edited.push(e[2]),
            _ => {
                if let Some(b) = edited.get_mut(at % case.valid.len()) {
                    *b = e[2];
                }
            }
        }
    }
    check(case, &edited);
});
