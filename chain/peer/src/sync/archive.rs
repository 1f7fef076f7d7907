//! A validator's archive (docs/protocol.md, section 8): a checkpoint every `every` windows
//! (the last `keep` of them) and the log of the updates applied since, with the payloads they
//! name, so a peer that has been away for longer than the others keep payloads catches up by
//! replaying payloads (`GET /updates?from=`, then `GET /payload/{hash}`) instead of
//! downloading a whole model, and anyone can look at the model of an older window
//! (`GET /checkpoint/{w}`).
//!
//! On disk, under the state directory's `archive/`: `checkpoints/{w}.safetensors` (the
//! checkpoint format of section 8) and `updates/{w}.json` (one [`LoggedUpdate`] each), every
//! file written atomically.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::state::{read_capped, write_atomic};
use crate::sync::{checkpoint, Global, Run};
use crate::Window;

/// The most updates one `GET /updates` answer lists (a peer further behind asks again).
pub const MAX_LOGGED: usize = 256;

/// A log entry is a few hundred bytes per payload; anything larger on disk is not one.
const ENTRY_LIMIT: u64 = 1 << 20;

/// One payload of a logged update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedPayload {
    /// The author's uid at `D_w` (aggregation order).
    pub uid: u16,
    /// The author's hotkey, hex.
    pub hotkey: String,
    /// The payload hash, hex.
    pub hash: String,
}

/// What window `w`'s update did: `S_w` (`base`) to `S_{w+1}` (`fingerprint`) with these
/// payloads (none: nothing had a quorum and the model stayed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedUpdate {
    /// `w`.
    pub window: u64,
    /// The fingerprint of `S_w`, hex.
    pub base: String,
    /// The fingerprint of `S_{w+1}`, hex.
    pub fingerprint: String,
    /// The payloads applied, by uid.
    pub payloads: Vec<LoggedPayload>,
}

/// The answer to `GET /updates?from={w}`: the windows of the checkpoints held, and the
/// updates from `w` on, each starting from the model the one before it ended at.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateLog {
    /// Windows `v` of the checkpoints served at `/checkpoint/{v}`, ascending.
    pub checkpoints: Vec<u64>,
    /// Consecutive updates from the window asked for (empty if it is not logged).
    pub updates: Vec<LoggedUpdate>,
}

/// The archive of one validator.
pub struct Archive {
    dir: PathBuf,
    every: u64,
    keep: usize,
    /// Logged payload hashes and their windows (which payload files to keep and serve).
    index: RwLock<BTreeMap<[u8; 32], Window>>,
}

impl Archive {
    /// Opens (creating if needed) the archive in the state directory `root`: a checkpoint
    /// every `every` windows (at least 1), the last `keep` (at least 1) of them kept.
    pub fn open(root: &Path, every: u64, keep: usize) -> anyhow::Result<Self> {
        let dir = root.join("archive");
        for d in [dir.join("checkpoints"), dir.join("updates")] {
            fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        }
        let archive = Self { dir, every: every.max(1), keep: keep.max(1), index: RwLock::default() };
        let mut index = BTreeMap::new();
        for w in archive.logged() {
            match archive.entry(w) {
                Ok(Some(u)) => index.extend(hashes(&u).map(|h| (h, Window(w)))),
                Ok(None) => {}
                Err(e) => tracing::warn!("archive: {e:#}; the entry is ignored"),
            }
        }
        *archive.index.write().expect("archive lock") = index;
        Ok(archive)
    }

    /// Records the update of `u.window` (after it was applied).
    pub fn record(&self, u: &LoggedUpdate) -> anyhow::Result<()> {
        write_atomic(&self.entry_path(u.window), &serde_json::to_vec(u)?)?;
        let mut index = self.index.write().expect("archive lock");
        index.extend(hashes(u).map(|h| (h, Window(u.window))));
        Ok(())
    }

    /// Saves `global` as a checkpoint if its window is due (a multiple of `every`) and not
    /// saved yet, then drops checkpoints beyond the last `keep` and log entries older than
    /// the oldest checkpoint kept. Returns the window saved, if any.
    pub fn checkpoint(&self, run: &Run, global: &Global) -> anyhow::Result<Option<Window>> {
        let w = global.window;
        let path = self.checkpoint_path(w.0);
        if !w.0.is_multiple_of(self.every) || path.exists() {
            return Ok(None);
        }
        write_atomic(&path, &checkpoint::encode(run, global)?)?;
        let held = self.checkpoints();
        for old in held.iter().take(held.len().saturating_sub(self.keep)) {
            let _ = fs::remove_file(self.checkpoint_path(*old));
        }
        if let Some(oldest) = self.oldest() {
            for old in self.logged().into_iter().filter(|v| *v < oldest.0) {
                let _ = fs::remove_file(self.entry_path(old));
            }
            self.index.write().expect("archive lock").retain(|_, v| *v >= oldest);
        }
        Ok(Some(w))
    }

    /// The oldest window whose payloads the archive needs: its oldest checkpoint, or its
    /// oldest log entry before any checkpoint is saved.
    pub fn oldest(&self) -> Option<Window> {
        self.checkpoints().first().or(self.logged().first()).map(|w| Window(*w))
    }

    /// The checkpoint of window `w`, if held.
    pub fn checkpoint_bytes(&self, run: &Run, w: u64) -> Option<Vec<u8>> {
        read_capped(&self.checkpoint_path(w), checkpoint::limit(run)).ok()
    }

    /// The checkpoints held and the consecutive updates from `from` (at most `MAX_LOGGED`).
    pub fn log(&self, from: u64) -> UpdateLog {
        let mut updates: Vec<LoggedUpdate> = Vec::new();
        for w in (from..).take(MAX_LOGGED) {
            let Ok(Some(u)) = self.entry(w) else { break };
            // A log that restarted (this validator joined from a checkpoint) ends here.
            if updates.last().is_some_and(|prev| prev.fingerprint != u.base) {
                break;
            }
            updates.push(u);
        }
        UpdateLog { checkpoints: self.checkpoints(), updates }
    }

    /// The window of a logged payload.
    pub fn window_of(&self, hash: &[u8; 32]) -> Option<Window> {
        self.index.read().expect("archive lock").get(hash).copied()
    }

    fn checkpoint_path(&self, w: u64) -> PathBuf {
        self.dir.join("checkpoints").join(format!("{w}.safetensors"))
    }

    fn entry_path(&self, w: u64) -> PathBuf {
        self.dir.join("updates").join(format!("{w}.json"))
    }

    fn entry(&self, w: u64) -> anyhow::Result<Option<LoggedUpdate>> {
        let path = self.entry_path(w);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = read_capped(&path, ENTRY_LIMIT)?;
        let u: LoggedUpdate = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a logged update", path.display()))?;
        anyhow::ensure!(u.window == w, "{}: logs window {}", path.display(), u.window);
        Ok(Some(u))
    }

    fn checkpoints(&self) -> Vec<u64> {
        windows_in(&self.dir.join("checkpoints"), ".safetensors")
    }

    fn logged(&self) -> Vec<u64> {
        windows_in(&self.dir.join("updates"), ".json")
    }
}

fn hashes(u: &LoggedUpdate) -> impl Iterator<Item = [u8; 32]> + '_ {
    u.payloads.iter().filter_map(|p| crate::http::server::parse_hash(&p.hash))
}

/// The windows named `{w}{suffix}` in `dir`, ascending (other names are left alone).
fn windows_in(dir: &Path, suffix: &str) -> Vec<u64> {
    let mut out: Vec<u64> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(suffix)?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunConfig;

    fn run() -> Run {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/localnet-tiny.toml");
        Run::new(RunConfig::load(&path).unwrap()).unwrap()
    }

    fn update(w: u64, base: u8, after: u8, hash: u8) -> LoggedUpdate {
        LoggedUpdate {
            window: w,
            base: hex::encode([base; 32]),
            fingerprint: hex::encode([after; 32]),
            payloads: vec![LoggedPayload {
                uid: 1,
                hotkey: hex::encode([1u8; 32]),
                hash: hex::encode([hash; 32]),
            }],
        }
    }

    #[test]
    fn the_log_is_consecutive_and_pruned_with_the_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let run = run();
        let archive = Archive::open(dir.path(), 2, 2).unwrap();
        for w in 0..6 {
            archive.record(&update(w, w as u8, w as u8 + 1, 100 + w as u8)).unwrap();
        }
        // A log that restarts at 6 (its base is not where 5 ended).
        archive.record(&update(6, 42, 43, 106)).unwrap();
        let log = archive.log(3);
        assert_eq!(log.updates.iter().map(|u| u.window).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert!(archive.log(9).updates.is_empty());
        assert_eq!(archive.window_of(&[104; 32]), Some(Window(4)));

        let mut g = Global::genesis(&run).unwrap();
        for w in [1, 2, 3, 4, 6] {
            g.window = Window(w);
            let saved = archive.checkpoint(&run, &g).unwrap();
            assert_eq!(saved, (w % 2 == 0).then_some(Window(w)), "window {w}");
        }
        // Two kept (4 and 6); the log before 4 and its payloads are gone.
        assert_eq!(archive.log(0).checkpoints, vec![4, 6]);
        assert_eq!(archive.oldest(), Some(Window(4)));
        assert!(archive.log(3).updates.is_empty());
        assert_eq!(archive.window_of(&[103; 32]), None);
        let bytes = archive.checkpoint_bytes(&run, 6).unwrap();
        assert_eq!(checkpoint::decode(&run, &bytes).unwrap().window, Window(6));
        assert!(archive.checkpoint_bytes(&run, 2).is_none());

        // Reopened, it knows the same.
        drop(archive);
        let archive = Archive::open(dir.path(), 2, 2).unwrap();
        assert_eq!(archive.window_of(&[105; 32]), Some(Window(5)));
        assert_eq!(archive.log(4).updates.len(), 2);
        // A damaged entry is not served as an update.
        fs::write(dir.path().join("archive/updates/5.json"), b"{not json").unwrap();
        assert_eq!(archive.log(4).updates.len(), 1);
    }
}
