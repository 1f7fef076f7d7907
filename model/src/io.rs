//! Small file helpers: bounded reads and atomic writes.

use std::io::{Read, Write};
use std::path::Path;

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
