//! Payload format v2: the bytes a miner publishes and whose `blake2_256` it commits on chain.
//! `docs/payload-format.md` is the reference; this module is its implementation.
//!
//! All integers little-endian. Header (128 bytes):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `LSGP` |
//! | 4 | 2 | version, 2 |
//! | 6 | 2 | netuid |
//! | 8 | 8 | window |
//! | 16 | 32 | miner hotkey (sr25519 public key) |
//! | 48 | 32 | fingerprint of the base model the update was trained from |
//! | 80 | 32 | run id (`blake2_256` of the run configuration) |
//! | 112 | 2 | codec `block` |
//! | 114 | 4 | codec `chunk_1d` |
//! | 118 | 4 | codec `density_ppm` |
//! | 122 | 1 | codec `value_bits` |
//! | 123 | 1 | flags: bit 0 = DCT, other bits zero |
//! | 124 | 4 | number of tensor entries: every tensor of the model |
//!
//! Then per tensor, indices `0, 1, ..` in order: `u32` index into the model's parameter list,
//! `2^(value_bits-1)` `f32` codebook levels (finite, ascending, in `0..=1e6`), `u32` body
//! length, and the body: for each chunk, its `k` indices (`index_bits` each, strictly
//! ascending) then its `k` value codes (`value_bits` each), all bit-packed LSB-first, the last
//! byte zero-padded. Every tensor is present, so a payload's size is a constant of the model
//! and codec ([`len`]). Version 1 (no run id, tensors optional) is refused by its version.

use super::bits::{BitReader, BitWriter};
use super::error::CodecError;
use super::layout::{CodecParams, TensorLayout};

pub const MAGIC: [u8; 4] = *b"LSGP";
pub const VERSION: u16 = 2;
pub const HEADER_LEN: usize = 128;
/// Largest codebook magnitude accepted. Parameter deltas are orders of magnitude smaller;
/// the cap keeps every sum in aggregation far from f32 overflow.
pub const MAX_LEVEL: f32 = 1.0e6;

/// Who sent an update, for which window, trained from which model, with which codec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub netuid: u16,
    pub window: u64,
    pub hotkey: [u8; 32],
    pub base: [u8; 32],
    /// The run's id (`subnet_peer::RunId`); a payload of another run is refused on it.
    pub run_id: [u8; 32],
    pub codec: CodecParams,
}

/// One tensor's sent coefficients: positions (`chunk * chunk_len + local`, ascending) and
/// their value codes against `levels`.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseTensor {
    pub index: u32,
    pub levels: Vec<f32>,
    pub positions: Vec<u32>,
    pub codes: Vec<u8>,
}

impl SparseTensor {
    /// `(position, dequantized value)` pairs.
    pub fn values(&self, value_bits: u8) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.positions
            .iter()
            .zip(&self.codes)
            .map(move |(p, c)| (*p, super::quant::dequantize(*c, &self.levels, value_bits)))
    }
}

/// A decoded payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Payload {
    pub header: Header,
    pub tensors: Vec<SparseTensor>,
}

/// The size of every valid payload for these layouts (every tensor is present).
pub fn len(layouts: &[TensorLayout], p: &CodecParams) -> usize {
    HEADER_LEN + layouts.iter().map(|l| 8 + 4 * p.levels() + l.body_bytes(p.value_bits)).sum::<usize>()
}

/// Serializes a payload whose tensors came from [`super::Codec::compress`] (one per tensor of
/// the model, in order).
pub fn encode(payload: &Payload, layouts: &[TensorLayout]) -> Vec<u8> {
    let (h, p) = (&payload.header, &payload.header.codec);
    assert!(
        payload.tensors.iter().map(|t| t.index as usize).eq(0..layouts.len()),
        "encode: a payload carries every tensor of the model, in order"
    );
    let mut out = Vec::with_capacity(len(layouts, p));
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&h.netuid.to_le_bytes());
    out.extend_from_slice(&h.window.to_le_bytes());
    out.extend_from_slice(&h.hotkey);
    out.extend_from_slice(&h.base);
    out.extend_from_slice(&h.run_id);
    out.extend_from_slice(&p.block.to_le_bytes());
    out.extend_from_slice(&p.chunk_1d.to_le_bytes());
    out.extend_from_slice(&p.density_ppm.to_le_bytes());
    out.push(p.value_bits);
    out.push(u8::from(p.dct));
    out.extend_from_slice(&(payload.tensors.len() as u32).to_le_bytes());
    for t in &payload.tensors {
        let l = &layouts[t.index as usize];
        out.extend_from_slice(&t.index.to_le_bytes());
        for v in &t.levels {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let mut w = BitWriter::with_capacity(l.body_bytes(p.value_bits));
        let chunk_len = l.chunk_len() as u32;
        for (pos, codes) in t.positions.chunks(l.k).zip(t.codes.chunks(l.k)) {
            for q in pos {
                w.put(q % chunk_len, l.index_bits);
            }
            for c in codes {
                w.put(*c as u32, p.value_bits as u32);
            }
        }
        let body = w.finish();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
    }
    out
}

/// A bounds-checked cursor over hostile bytes.
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.data.len());
        let end = end.ok_or(CodecError::Truncated { offset: self.at, needed: n })?;
        let s = &self.data[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn key(&mut self) -> Result<[u8; 32], CodecError> {
        Ok(self.take(32)?.try_into().expect("32 bytes"))
    }
}

fn expect_eq(field: &'static str, got: u64, want: u64) -> Result<(), CodecError> {
    if got == want {
        Ok(())
    } else {
        Err(CodecError::CodecMismatch { field, got, want })
    }
}

/// Parses and validates `bytes` against the model's layouts and the subnet's codec. Memory
/// use is bounded by the layouts, never by what the bytes claim.
pub fn decode(bytes: &[u8], layouts: &[TensorLayout], want: &CodecParams) -> Result<Payload, CodecError> {
    let limit = len(layouts, want);
    if bytes.len() > limit {
        return Err(CodecError::TooLarge { size: bytes.len(), limit });
    }
    let mut c = Cursor { data: bytes, at: 0 };
    if c.take(4)? != MAGIC {
        return Err(CodecError::BadMagic);
    }
    let version = c.u16()?;
    if version != VERSION {
        return Err(CodecError::Version(version));
    }
    let (netuid, window, hotkey, base, run_id) = (c.u16()?, c.u64()?, c.key()?, c.key()?, c.key()?);
    expect_eq("block", c.u16()? as u64, want.block as u64)?;
    expect_eq("chunk_1d", c.u32()? as u64, want.chunk_1d as u64)?;
    expect_eq("density_ppm", c.u32()? as u64, want.density_ppm as u64)?;
    expect_eq("value_bits", c.u8()? as u64, want.value_bits as u64)?;
    expect_eq("flags", c.u8()? as u64, u8::from(want.dct) as u64)?;
    let count = c.u32()?;
    if count as usize != layouts.len() {
        return Err(CodecError::TensorCount { count, max: layouts.len() });
    }
    let mut tensors = Vec::with_capacity(count as usize);
    let mut prev: Option<u32> = None;
    for expected in 0..count {
        let index = c.u32()?;
        if index != expected {
            return Err(CodecError::TensorIndex { index, prev, max: layouts.len() });
        }
        prev = Some(index);
        let l = &layouts[index as usize];
        let mut levels = Vec::with_capacity(want.levels());
        for level in 0..want.levels() {
            let value = f32::from_le_bytes(c.take(4)?.try_into().expect("4 bytes"));
            let ascending = levels.last().is_none_or(|p: &f32| value >= *p);
            if !(0.0..=MAX_LEVEL).contains(&value) || !ascending {
                return Err(CodecError::Codebook { tensor: index, level, value });
            }
            levels.push(value);
        }
        if !super::quant::ratio_ok(&levels) {
            let level = levels.iter().position(|l| *l != 0.0).unwrap_or(0);
            return Err(CodecError::Codebook { tensor: index, level, value: levels[level] });
        }
        let body_len = c.u32()?;
        let need = l.body_bytes(want.value_bits);
        if body_len as usize != need {
            return Err(CodecError::BodyLength { tensor: index, got: body_len, want: need });
        }
        let body = c.take(need)?;
        tensors.push(decode_body(body, index, l, levels, want.value_bits)?);
    }
    // Every entry has a fixed size and the total was capped at their sum, so nothing is left.
    debug_assert_eq!(c.at, bytes.len());
    let codec = *want;
    Ok(Payload { header: Header { netuid, window, hotkey, base, run_id, codec }, tensors })
}

fn decode_body(
    body: &[u8],
    index: u32,
    l: &TensorLayout,
    levels: Vec<f32>,
    value_bits: u8,
) -> Result<SparseTensor, CodecError> {
    let mut r = BitReader::new(body);
    let (mut positions, mut codes) = (Vec::with_capacity(l.sent()), Vec::with_capacity(l.sent()));
    let short = || CodecError::Truncated { offset: body.len(), needed: 1 };
    for chunk in 0..l.chunks {
        let mut last: Option<u32> = None;
        for _ in 0..l.k {
            let i = r.get(l.index_bits).ok_or_else(short)?;
            if i as usize >= l.chunk_len() || last.is_some_and(|p| i <= p) {
                return Err(CodecError::ChunkIndex { tensor: index, chunk, index: i });
            }
            last = Some(i);
            positions.push((chunk * l.chunk_len()) as u32 + i);
        }
        for _ in 0..l.k {
            codes.push(r.get(value_bits as u32).ok_or_else(short)? as u8);
        }
    }
    if !r.at_clean_end() {
        return Err(CodecError::Padding { tensor: index });
    }
    Ok(SparseTensor { index, levels, positions, codes })
}
