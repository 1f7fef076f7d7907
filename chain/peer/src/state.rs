//! A peer's state directory (`docs/protocol.md`, section 7): every file written atomically,
//! every read size-capped, payloads kept by window for a bounded number of windows, and the
//! per-window record that keeps a restarted miner from committing a window twice.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::RunId;
use crate::window::Window;

/// Largest JSON record read (run.json, a window record).
const MAX_RECORD: u64 = 64 * 1024;

/// Why a state operation failed.
#[allow(missing_docs)] // the fields are the message's
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {size} bytes, more than the limit of {limit}")]
    TooLarge { path: PathBuf, size: u64, limit: u64 },
    #[error("{path}: not a valid record: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("{path} belongs to run {found} (netuid {netuid}, hotkey {hotkey}), not to this peer's run {ours}; use another --state-dir")]
    OtherRun { path: PathBuf, found: String, netuid: u16, hotkey: String, ours: String },
    #[error("payload bytes hash to {actual}, not to {expected}")]
    HashMismatch { expected: String, actual: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io { path: path.to_path_buf(), source }
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one: a
/// temporary file in the same directory, fsync, rename over `path`, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io(path))?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Reads a whole file of at most `limit` bytes; a larger one is refused before it is read.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, StateError> {
    let f = fs::File::open(path).map_err(io(path))?;
    let size = f.metadata().map_err(io(path))?.len();
    if size > limit {
        return Err(StateError::TooLarge { path: path.into(), size, limit });
    }
    let mut buf = Vec::with_capacity(size as usize);
    // `take` also bounds a file that grows while it is read.
    f.take(limit + 1).read_to_end(&mut buf).map_err(io(path))?;
    if buf.len() as u64 > limit {
        return Err(StateError::TooLarge { path: path.into(), size: buf.len() as u64, limit });
    }
    Ok(buf)
}

/// Reads a JSON record written by [`write_json`] (at most 64 KiB); `None` if there is none.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, StateError> {
    match read_capped(path, MAX_RECORD) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::Corrupt { path: path.into(), message: e.to_string() }),
        Err(StateError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes a JSON record atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StateError> {
    let bytes = serde_json::to_vec_pretty(value).expect("state records serialize");
    write_atomic(path, &bytes)
}

/// What `run.json` holds: whose directory this is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The run id, hex.
    pub run_id: String,
    /// The subnet.
    pub netuid: u16,
    /// The peer's hotkey, hex.
    pub hotkey: String,
}

/// Where a window stands for this peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// The payload is stored; nothing sent yet.
    Stored {
        /// Its hash, hex.
        hash: String,
    },
    /// A commit of this hash was (or is about to be) submitted; it may have landed.
    Committing {
        /// Its hash, hex.
        hash: String,
    },
    /// The commitment is on chain.
    Committed {
        /// Its hash, hex.
        hash: String,
        /// The block it landed in.
        block: u64,
    },
    /// Nothing will be committed for this window.
    Skipped {
        /// Why, for the log and the status line.
        reason: String,
    },
}

/// What to do about a window's commit, given the record and the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitPlan {
    /// The chain already has this peer's commitment for the window: nothing to send.
    Done,
    /// Submit the commit of this hash (first time, or again after a restart while open: it is
    /// always the hash recorded before the first submission).
    Submit([u8; 32]),
    /// Nothing to commit: no payload, skipped, or the window closed first.
    Nothing,
}

/// Never two hashes for one window: the record's hash is the only one ever submitted for it.
/// `on_chain` is this hotkey's commitment for the window at the latest finalized block.
pub fn commit_plan(record: Option<&Status>, on_chain: Option<[u8; 32]>, window_open: bool) -> CommitPlan {
    let hash = match record {
        Some(Status::Stored { hash } | Status::Committing { hash } | Status::Committed { hash, .. }) => hash,
        Some(Status::Skipped { .. }) | None => return CommitPlan::Nothing,
    };
    let Some(hash) = parse_hash(hash) else { return CommitPlan::Nothing };
    if on_chain == Some(hash) {
        return CommitPlan::Done;
    }
    if matches!(record, Some(Status::Committed { .. })) || !window_open {
        return CommitPlan::Nothing;
    }
    CommitPlan::Submit(hash)
}

fn parse_hash(hex_hash: &str) -> Option<[u8; 32]> {
    hex::decode(hex_hash).ok()?.try_into().ok()
}

/// An open state directory.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Opens (creating if needed) the directory for this run, subnet and hotkey; refuses one
    /// that belongs to another.
    pub fn open(root: &Path, run: RunId, netuid: u16, hotkey: &[u8; 32]) -> Result<Self, StateError> {
        for dir in [root.to_path_buf(), root.join("windows"), root.join("payloads")] {
            create_private_dir(&dir)?;
        }
        let owner = Owner { run_id: run.to_string(), netuid, hotkey: hex::encode(hotkey) };
        let path = root.join("run.json");
        match read_json::<Owner>(&path)? {
            Some(found) if found != owner => Err(StateError::OtherRun {
                path,
                found: found.run_id,
                netuid: found.netuid,
                hotkey: found.hotkey,
                ours: owner.run_id,
            }),
            Some(_) => Ok(Self { root: root.into() }),
            None => {
                write_json(&path, &owner)?;
                Ok(Self { root: root.into() })
            }
        }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn record_path(&self, w: Window) -> PathBuf {
        self.root.join("windows").join(format!("{}.json", w.0))
    }

    /// The window's record, if any.
    pub fn record(&self, w: Window) -> Result<Option<Status>, StateError> {
        read_json(&self.record_path(w))
    }

    /// Replaces the window's record (atomically).
    pub fn set_record(&self, w: Window, status: &Status) -> Result<(), StateError> {
        write_json(&self.record_path(w), status)
    }

    fn payload_path(&self, w: Window, hash: &[u8; 32]) -> PathBuf {
        self.root.join("payloads").join(w.0.to_string()).join(format!("{}.bin", hex::encode(hash)))
    }

    /// Stores a payload of window `w` under its hash, after checking that the bytes hash to it.
    pub fn store_payload(&self, w: Window, hash: &[u8; 32], bytes: &[u8]) -> Result<PathBuf, StateError> {
        let actual = sp_crypto_hashing::blake2_256(bytes);
        if &actual != hash {
            return Err(StateError::HashMismatch {
                expected: hex::encode(hash),
                actual: hex::encode(actual),
            });
        }
        let path = self.payload_path(w, hash);
        create_private_dir(path.parent().expect("payload paths have a window directory"))?;
        write_atomic(&path, bytes)?;
        Ok(path)
    }

    /// A stored payload of window `w`, if held, at most `limit` bytes, re-checked against its
    /// hash (a damaged file is an error, never served).
    pub fn payload(&self, w: Window, hash: &[u8; 32], limit: u64) -> Result<Option<Vec<u8>>, StateError> {
        let path = self.payload_path(w, hash);
        let bytes = match read_capped(&path, limit) {
            Ok(b) => b,
            Err(StateError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let actual = sp_crypto_hashing::blake2_256(&bytes);
        if &actual != hash {
            return Err(StateError::HashMismatch {
                expected: hex::encode(hash),
                actual: hex::encode(actual),
            });
        }
        Ok(Some(bytes))
    }

    /// Deletes payloads and records of windows before `keep_from`; returns how many windows
    /// were dropped. Names that are not window numbers are left alone.
    pub fn retain(&self, keep_from: Window) -> Result<usize, StateError> {
        let mut dropped = std::collections::BTreeSet::new();
        let payloads = self.root.join("payloads");
        for entry in fs::read_dir(&payloads).map_err(io(&payloads))? {
            let entry = entry.map_err(io(&payloads))?;
            if let Some(w) = entry.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) {
                if w < keep_from.0 {
                    fs::remove_dir_all(entry.path()).map_err(io(&entry.path()))?;
                    dropped.insert(w);
                }
            }
        }
        let windows = self.root.join("windows");
        for entry in fs::read_dir(&windows).map_err(io(&windows))? {
            let entry = entry.map_err(io(&windows))?;
            let name = entry.file_name();
            let w = name.to_str().and_then(|n| n.strip_suffix(".json")).and_then(|n| n.parse::<u64>().ok());
            if let Some(w) = w.filter(|w| *w < keep_from.0) {
                fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
                dropped.insert(w);
            }
        }
        Ok(dropped.len())
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StateError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: RunId = RunId([1; 32]);
    const KEY: [u8; 32] = [2; 32];

    fn hash(bytes: &[u8]) -> [u8; 32] {
        sp_crypto_hashing::blake2_256(bytes)
    }

    #[test]
    fn a_directory_belongs_to_one_run_and_hotkey() {
        let dir = tempfile::tempdir().unwrap();
        StateDir::open(dir.path(), RUN, 1, &KEY).unwrap();
        StateDir::open(dir.path(), RUN, 1, &KEY).unwrap();
        for (run, netuid, key) in [(RunId([9; 32]), 1, KEY), (RUN, 2, KEY), (RUN, 1, [3; 32])] {
            let e = StateDir::open(dir.path(), run, netuid, &key).unwrap_err().to_string();
            assert!(e.contains("belongs to run") && e.contains("--state-dir"), "{e}");
        }
        fs::write(dir.path().join("run.json"), b"{not json").unwrap();
        let e = StateDir::open(dir.path(), RUN, 1, &KEY).unwrap_err().to_string();
        assert!(e.contains("not a valid record"), "{e}");
    }

    #[test]
    fn records_round_trip_and_writes_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::open(dir.path(), RUN, 1, &KEY).unwrap();
        assert_eq!(s.record(Window(4)).unwrap(), None);
        let st = Status::Committed { hash: hex::encode([5; 32]), block: 99 };
        s.set_record(Window(4), &st).unwrap();
        s.set_record(Window(4), &st).unwrap();
        assert_eq!(s.record(Window(4)).unwrap(), Some(st));
        let names: Vec<String> = fs::read_dir(dir.path().join("windows"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["4.json"]);
    }

    #[test]
    fn payloads_are_checked_on_the_way_in_and_out() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::open(dir.path(), RUN, 1, &KEY).unwrap();
        let bytes = b"payload bytes".to_vec();
        let h = hash(&bytes);
        assert!(matches!(s.store_payload(Window(3), &[0; 32], &bytes), Err(StateError::HashMismatch { .. })));
        let path = s.store_payload(Window(3), &h, &bytes).unwrap();
        assert_eq!(s.payload(Window(3), &h, 1024).unwrap(), Some(bytes.clone()));
        assert_eq!(s.payload(Window(4), &h, 1024).unwrap(), None);
        assert!(matches!(s.payload(Window(3), &h, 4), Err(StateError::TooLarge { .. })));
        // A file damaged on disk is refused, not served.
        fs::write(&path, b"payload bytez").unwrap();
        assert!(matches!(s.payload(Window(3), &h, 1024), Err(StateError::HashMismatch { .. })));
    }

    #[test]
    fn retention_drops_old_windows_only() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::open(dir.path(), RUN, 1, &KEY).unwrap();
        for w in 0..6u64 {
            let bytes = w.to_le_bytes();
            s.store_payload(Window(w), &hash(&bytes), &bytes).unwrap();
            s.set_record(Window(w), &Status::Skipped { reason: "test".into() }).unwrap();
        }
        fs::write(dir.path().join("payloads").join("notes.txt"), b"kept").unwrap();
        assert_eq!(s.retain(Window(4)).unwrap(), 4);
        assert_eq!(s.record(Window(3)).unwrap(), None);
        assert!(s.record(Window(4)).unwrap().is_some());
        assert!(s.payload(Window(5), &hash(&5u64.to_le_bytes()), 64).unwrap().is_some());
        assert!(dir.path().join("payloads").join("notes.txt").exists());
        assert_eq!(s.retain(Window(4)).unwrap(), 0);
    }

    #[test]
    fn a_window_is_never_committed_with_two_hashes() {
        let (a, b) = ([7u8; 32], [8u8; 32]);
        let stored = Status::Stored { hash: hex::encode(a) };
        let committing = Status::Committing { hash: hex::encode(a) };
        let committed = Status::Committed { hash: hex::encode(a), block: 5 };
        assert_eq!(commit_plan(None, None, true), CommitPlan::Nothing);
        assert_eq!(commit_plan(Some(&stored), None, true), CommitPlan::Submit(a));
        // Restarted after submitting: the same hash again while the window is open, or nothing.
        assert_eq!(commit_plan(Some(&committing), None, true), CommitPlan::Submit(a));
        assert_eq!(commit_plan(Some(&committing), Some(a), true), CommitPlan::Done);
        assert_eq!(commit_plan(Some(&committing), None, false), CommitPlan::Nothing);
        // Another hash on chain for this hotkey (an older binary, a second machine): never
        // answer it with ours twice once ours is recorded as committed.
        assert_eq!(commit_plan(Some(&committed), Some(b), true), CommitPlan::Nothing);
        assert_eq!(commit_plan(Some(&committed), Some(a), true), CommitPlan::Done);
        let skipped = Status::Skipped { reason: "late".into() };
        assert_eq!(commit_plan(Some(&skipped), None, true), CommitPlan::Nothing);
    }

    #[test]
    fn oversized_records_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::open(dir.path(), RUN, 1, &KEY).unwrap();
        fs::write(dir.path().join("windows").join("1.json"), vec![b' '; MAX_RECORD as usize + 1]).unwrap();
        assert!(matches!(s.record(Window(1)), Err(StateError::TooLarge { .. })));
    }
}
