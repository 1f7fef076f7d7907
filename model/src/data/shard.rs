//! Token shard files: raw little-endian `.bin` (nanoGPT), llm.c `.bin` with its 1024-byte
//! header, and `.npy` (1-D, little-endian unsigned ints). Only headers are read on open; tokens
//! are read on demand with bounds checked against the file size.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// Width of one token on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenDtype {
    U16,
    U32,
}

impl TokenDtype {
    pub fn size(self) -> u64 {
        match self {
            Self::U16 => 2,
            Self::U32 => 4,
        }
    }
}

/// llm.c header: 256 little-endian i32; `[0]` magic, `[1]` version, `[2]` token count.
const LLMC_HEADER_BYTES: u64 = 1024;
const LLMC_MAGIC_GPT2: i32 = 20240520; // version 1: u16 tokens
const LLMC_MAGIC_LLAMA3: i32 = 20240801; // version 7: u32 tokens
const NPY_MAGIC: &[u8] = b"\x93NUMPY";
const NPY_MAX_HEADER: usize = 64 * 1024;

/// An opened shard: where its tokens start, how wide they are and how many there are.
#[derive(Debug)]
pub struct Shard {
    path: PathBuf,
    file: File,
    offset: u64,
    dtype: TokenDtype,
    tokens: u64,
}

fn data_err(path: &Path, msg: impl std::fmt::Display) -> ModelError {
    ModelError::Data(format!("{}: {msg}", path.display()))
}

impl Shard {
    /// Opens a shard. `raw_dtype` is the width of headerless `.bin` files (from the manifest);
    /// llm.c and `.npy` files carry their own and must agree with it.
    pub fn open(path: &Path, raw_dtype: TokenDtype) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| ModelError::io(path, e))?;
        let len = file.metadata().map_err(|e| ModelError::io(path, e))?.len();
        let mut head = vec![0u8; len.min(LLMC_HEADER_BYTES) as usize];
        file.read_exact(&mut head).map_err(|e| ModelError::io(path, e))?;
        // The extension decides `.npy`, so a raw shard whose first tokens happen to spell the
        // magic is never misread; llm.c files are recognised by their header magic.
        let is_npy = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"));
        let (offset, dtype) = if is_npy {
            if !head.starts_with(NPY_MAGIC) {
                return Err(data_err(path, "not a .npy file (bad magic)"));
            }
            parse_npy_header(path, &mut file, len)?
        } else if let Some((magic, version, count)) = llmc_header(&head) {
            let dtype = match (magic, version) {
                (LLMC_MAGIC_GPT2, 1) => TokenDtype::U16,
                (LLMC_MAGIC_LLAMA3, 7) => TokenDtype::U32,
                _ => {
                    return Err(data_err(
                        path,
                        format!("llm.c header magic {magic} with unknown version {version}"),
                    ))
                }
            };
            let expected = LLMC_HEADER_BYTES + count as u64 * dtype.size();
            if count < 0 || expected != len {
                return Err(data_err(
                    path,
                    format!(
                        "llm.c header says {count} tokens but the file has {len} bytes (expected {expected})"
                    ),
                ));
            }
            (LLMC_HEADER_BYTES, dtype)
        } else {
            (0, raw_dtype)
        };
        if dtype != raw_dtype {
            return Err(data_err(
                path,
                format!("file holds {dtype:?} tokens but the manifest says {raw_dtype:?}"),
            ));
        }
        let body = len - offset;
        if body % dtype.size() != 0 {
            return Err(data_err(
                path,
                format!("{body} data bytes is not a whole number of {dtype:?} tokens (truncated?)"),
            ));
        }
        Ok(Self { path: path.into(), file, offset, dtype, tokens: body / dtype.size() })
    }

    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    pub fn dtype(&self) -> TokenDtype {
        self.dtype
    }

    /// Reads `count` tokens starting at token `start`.
    pub fn read(&mut self, start: u64, count: usize) -> Result<Vec<u32>> {
        start.checked_add(count as u64).filter(|e| *e <= self.tokens).ok_or_else(|| {
            data_err(&self.path, format!("tokens {start}..+{count} past the end ({} tokens)", self.tokens))
        })?;
        let size = self.dtype.size() as usize;
        let mut buf = vec![0u8; count * size];
        self.file
            .seek(SeekFrom::Start(self.offset + start * size as u64))
            .and_then(|_| self.file.read_exact(&mut buf))
            .map_err(|e| ModelError::io(&self.path, e))?;
        Ok(match self.dtype {
            TokenDtype::U16 => buf.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as u32).collect(),
            TokenDtype::U32 => {
                buf.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
            }
        })
    }
}

fn llmc_header(head: &[u8]) -> Option<(i32, i32, i32)> {
    if head.len() < LLMC_HEADER_BYTES as usize {
        return None;
    }
    let word =
        |i: usize| i32::from_le_bytes([head[4 * i], head[4 * i + 1], head[4 * i + 2], head[4 * i + 3]]);
    matches!(word(0), LLMC_MAGIC_GPT2 | LLMC_MAGIC_LLAMA3).then(|| (word(0), word(1), word(2)))
}

/// Parses a `.npy` v1/v2/v3 header of a 1-D C-order little-endian u16/u32 (or non-negative
/// i32) array; returns the data offset and dtype after checking the size against `len`.
fn parse_npy_header(path: &Path, file: &mut File, len: u64) -> Result<(u64, TokenDtype)> {
    file.seek(SeekFrom::Start(0)).map_err(|e| ModelError::io(path, e))?;
    let mut pre = [0u8; 12];
    file.read_exact(&mut pre[..10]).map_err(|_| data_err(path, "truncated .npy header"))?;
    let major = pre[6];
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([pre[8], pre[9]]) as usize, 10u64),
        2 | 3 => {
            file.read_exact(&mut pre[10..12]).map_err(|_| data_err(path, "truncated .npy header"))?;
            (u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as usize, 12u64)
        }
        v => return Err(data_err(path, format!("unsupported .npy version {v}"))),
    };
    if hlen > NPY_MAX_HEADER || start + hlen as u64 > len {
        return Err(data_err(path, format!(".npy header length {hlen} is invalid")));
    }
    let mut header = vec![0u8; hlen];
    file.read_exact(&mut header).map_err(|e| ModelError::io(path, e))?;
    let header = String::from_utf8(header).map_err(|_| data_err(path, ".npy header is not text"))?;
    let field = |key: &str| -> Option<String> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
        let end = if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find([',', '}'])? };
        Some(rest[..end].trim().trim_matches('\'').to_string())
    };
    let descr = field("descr").ok_or_else(|| data_err(path, ".npy header has no descr"))?;
    let dtype = match descr.as_str() {
        "<u2" => TokenDtype::U16,
        "<u4" | "<i4" => TokenDtype::U32,
        other => {
            return Err(data_err(path, format!(".npy dtype {other} is not a token type (<u2, <u4, <i4)")))
        }
    };
    if field("fortran_order").as_deref() != Some("False") {
        return Err(data_err(path, ".npy array must be C-order"));
    }
    let shape = field("shape").ok_or_else(|| data_err(path, ".npy header has no shape"))?;
    let dims: Vec<&str> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let n: u64 = match dims.as_slice() {
        [n] => n.parse().map_err(|_| data_err(path, format!(".npy shape {shape} is not a number")))?,
        _ => return Err(data_err(path, format!(".npy array must be 1-D, shape is {shape}"))),
    };
    let offset = start + hlen as u64;
    if offset + n * dtype.size() != len {
        return Err(data_err(
            path,
            format!(".npy shape says {n} tokens but the file has {} data bytes", len - offset),
        ));
    }
    Ok((offset, dtype))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn reads_raw_llmc_and_npy() {
        let dir = tempfile::tempdir().unwrap();
        let toks: Vec<u16> = (0..100).collect();
        let raw: Vec<u8> = toks.iter().flat_map(|t| t.to_le_bytes()).collect();
        let p = write(dir.path(), "a.bin", &raw);
        let mut s = Shard::open(&p, TokenDtype::U16).unwrap();
        assert_eq!(s.tokens(), 100);
        assert_eq!(s.read(10, 3).unwrap(), vec![10, 11, 12]);
        assert!(s.read(99, 2).is_err());

        let mut llmc = vec![0u8; 1024];
        llmc[0..4].copy_from_slice(&LLMC_MAGIC_GPT2.to_le_bytes());
        llmc[4..8].copy_from_slice(&1i32.to_le_bytes());
        llmc[8..12].copy_from_slice(&100i32.to_le_bytes());
        llmc.extend_from_slice(&raw);
        let p = write(dir.path(), "b.bin", &llmc);
        let mut s = Shard::open(&p, TokenDtype::U16).unwrap();
        assert_eq!(s.read(98, 2).unwrap(), vec![98, 99]);
        // A truncated llm.c shard is caught by its header.
        let p = write(dir.path(), "c.bin", &llmc[..llmc.len() - 2]);
        assert!(Shard::open(&p, TokenDtype::U16).unwrap_err().to_string().contains("llm.c header"));

        let header = "{'descr': '<u2', 'fortran_order': False, 'shape': (100,), }";
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        let pad = 64 - (10 + header.len() + 1) % 64;
        let h = format!("{header}{}\n", " ".repeat(pad));
        npy.extend_from_slice(&(h.len() as u16).to_le_bytes());
        npy.extend_from_slice(h.as_bytes());
        npy.extend_from_slice(&raw);
        let p = write(dir.path(), "d.npy", &npy);
        let mut s = Shard::open(&p, TokenDtype::U16).unwrap();
        assert_eq!(s.read(0, 2).unwrap(), vec![0, 1]);
        assert!(Shard::open(&p, TokenDtype::U32).unwrap_err().to_string().contains("manifest says"));
        let p = write(dir.path(), "e.npy", &npy[..npy.len() - 1]);
        assert!(Shard::open(&p, TokenDtype::U16).is_err());
    }

    #[test]
    fn odd_length_raw_shard_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a.bin", &[1, 2, 3]);
        let err = Shard::open(&p, TokenDtype::U16).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let p = write(dir.path(), "f.npy", b"\x93NUMPY\x09\x00junk");
        assert!(Shard::open(&p, TokenDtype::U16).is_err());
        let p = write(dir.path(), "g.npy", &[0u8; 64]);
        assert!(Shard::open(&p, TokenDtype::U16).unwrap_err().to_string().contains("bad magic"));
        // Raw tokens that happen to start with the .npy magic are still raw tokens in a .bin.
        let p = write(dir.path(), "h.bin", b"\x93NUMPY\x01\x00");
        assert_eq!(Shard::open(&p, TokenDtype::U16).unwrap().tokens(), 4);
    }
}
