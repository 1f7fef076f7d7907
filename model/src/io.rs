//! Small file helpers: bounded reads and atomic writes.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{ModelError, Result};

/// Reads a whole file, refusing files larger than `limit` bytes before allocating.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let size = file.metadata().map_err(|e| ModelError::io(path, e))?.len();
    if size > limit {
        return Err(ModelError::TooLarge { path: path.into(), size, limit });
    }
    let mut buf = Vec::with_capacity(size as usize);
    // `take` also bounds a file that grows while we read it.
    file.take(limit + 1).read_to_end(&mut buf).map_err(|e| ModelError::io(path, e))?;
    if buf.len() as u64 > limit {
        return Err(ModelError::TooLarge { path: path.into(), size: buf.len() as u64, limit });
    }
    Ok(buf)
}

/// f32 values as little-endian bytes (the safetensors layout).
pub fn f32_to_le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Little-endian bytes back to f32 values; a trailing partial value is ignored.
pub fn f32_from_le_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it into place, so a
/// crash never leaves a half-written file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ModelError::io(path, e)
    })
}

/// Writes named 1-D f32 vectors as safetensors, with `format` and `meta` in the header,
/// atomically.
pub fn save_vectors(
    path: &Path,
    format: &str,
    meta: &[(&str, String)],
    vectors: &[(String, &[f32])],
) -> Result<()> {
    let fail =
        |e: safetensors::SafeTensorError| ModelError::Checkpoint { path: path.into(), reason: e.to_string() };
    let bytes: Vec<Vec<u8>> = vectors.iter().map(|(_, v)| f32_to_le_bytes(v)).collect();
    let mut views = Vec::with_capacity(vectors.len());
    for ((name, v), b) in vectors.iter().zip(&bytes) {
        views.push((name.clone(), TensorView::new(Dtype::F32, vec![v.len()], b).map_err(fail)?));
    }
    let mut header = HashMap::from([("format".to_string(), format.to_string())]);
    header.extend(meta.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let out = safetensors::serialize(views, Some(header)).map_err(fail)?;
    write_atomic(path, &out)
}

/// A vector file's header metadata and its vectors.
pub type Vectors = (HashMap<String, String>, Vec<Vec<f32>>);

/// Reads vectors written by [`save_vectors`]: the file size capped at the expected data plus
/// 1 MiB, the format checked, exactly the `expected` (name, length) vectors, all finite.
/// Returns the header metadata and the vectors in `expected` order.
pub fn load_vectors(path: &Path, format: &str, expected: &[(String, usize)]) -> Result<Vectors> {
    let fail = |reason: String| ModelError::Checkpoint { path: path.into(), reason };
    let limit = expected.iter().map(|(_, n)| *n as u64 * 4).sum::<u64>() + (1 << 20);
    let bytes = read_capped(path, limit)?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| fail(e.to_string()))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some(format) {
        return Err(fail(format!("not a {format} file")));
    }
    let st = SafeTensors::deserialize(&bytes).map_err(|e| fail(e.to_string()))?;
    if st.len() != expected.len() {
        return Err(fail(format!("{} tensors, expected {}", st.len(), expected.len())));
    }
    let mut out = Vec::with_capacity(expected.len());
    for (name, n) in expected {
        let v = st.tensor(name).map_err(|_| fail(format!("missing {name}")))?;
        if v.dtype() != Dtype::F32 || v.shape() != [*n] {
            return Err(fail(format!("{name} is {:?} {:?}, expected F32 [{n}]", v.dtype(), v.shape())));
        }
        let data = f32_from_le_bytes(v.data());
        if let Some(p) = data.iter().position(|x| !x.is_finite()) {
            return Err(fail(format!("{name} has a non-finite value at {p}")));
        }
        out.push(data);
    }
    Ok((meta, out))
}
