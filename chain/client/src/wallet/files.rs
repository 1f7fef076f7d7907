//! Keyfile I/O: bounded reads, atomic 0600 writes into 0700 directories.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::WalletError;

/// Keyfiles are a few hundred bytes; anything this large is not one.
pub const MAX_KEYFILE_BYTES: u64 = 64 * 1024;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WalletError + '_ {
    move |error| WalletError::Io { path: path.to_path_buf(), error }
}

/// Reads a keyfile, refusing missing files and files over [`MAX_KEYFILE_BYTES`].
pub fn read_bounded(path: &Path) -> Result<Vec<u8>, WalletError> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(WalletError::Missing { path: path.to_path_buf() })
        }
        Err(e) => return Err(io(path)(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_KEYFILE_BYTES + 1).read_to_end(&mut bytes).map_err(io(path))?;
    if bytes.len() as u64 > MAX_KEYFILE_BYTES {
        return Err(WalletError::BadKeyfile {
            path: path.to_path_buf(),
            why: format!("larger than {MAX_KEYFILE_BYTES} bytes, not a keyfile"),
        });
    }
    Ok(bytes)
}

pub fn refuse_existing(path: &Path, overwrite: bool) -> Result<(), WalletError> {
    if !overwrite && path.exists() {
        return Err(WalletError::Exists { path: path.to_path_buf() });
    }
    Ok(())
}

/// Writes `bytes` to `path` with mode 0600: a temporary file in the same directory, synced, then
/// renamed over the target, so a crash leaves either the old file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WalletError> {
    let dir =
        path.parent().ok_or_else(|| WalletError::Invalid(format!("{} has no directory", path.display())))?;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io(dir))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("keyfile");
    let tmp: PathBuf = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        file.write_all(bytes).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, path).map_err(io(path))?;
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Names of the entries of a directory (empty if it does not exist), sorted.
pub fn dir_names(dir: &Path) -> Result<Vec<String>, WalletError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_are_private_and_replace_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w/hotkeys/default");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(dir_names(path.parent().unwrap()).unwrap(), vec!["default".to_string()]);
    }

    #[test]
    fn reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        fs::write(&big, vec![b'x'; MAX_KEYFILE_BYTES as usize + 1]).unwrap();
        assert!(matches!(read_bounded(&big), Err(WalletError::BadKeyfile { .. })));
        assert!(matches!(read_bounded(&dir.path().join("none")), Err(WalletError::Missing { .. })));
    }
}
