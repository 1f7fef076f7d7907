//! The run's training dataset on disk, checked before a peer trains or evaluates on it.

use std::path::{Path, PathBuf};

use model::data::Dataset;

use crate::sync::Run;

/// The dataset is not there or not the run's.
#[derive(Debug, thiserror::Error)]
#[error("dataset at {path}: {reason}")]
pub struct DatasetError {
    /// Where it was looked for.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// The training dataset directory inside `dir`: `dir` itself if it has `manifest.json`, else
/// `dir/train`.
pub fn dataset_dir(dir: &Path) -> PathBuf {
    if dir.join("manifest.json").exists() {
        dir.to_path_buf()
    } else {
        dir.join("train")
    }
}

/// Opens and verifies the run's training dataset in `dir` (see [`dataset_dir`]): its manifest,
/// content hash, page length and shard hashes.
pub fn open_dataset(run: &Run, dir: &Path) -> Result<Dataset, DatasetError> {
    let dir = dataset_dir(dir);
    let fail = |reason: String| DatasetError { path: dir.display().to_string(), reason };
    if !dir.join("manifest.json").exists() {
        return Err(fail(
            "no manifest.json (prepare it with `model prepare`, or run scripts/localnet.sh once)".into(),
        ));
    }
    let data = Dataset::open(&dir).map_err(|e| fail(e.to_string()))?;
    let want = &run.config.data.content_hash;
    if &data.manifest().content_hash != want {
        return Err(fail(format!(
            "content hash {} is not the run's {want}: this is another dataset",
            data.manifest().content_hash
        )));
    }
    if data.page_len() != run.config.data.page_len as usize {
        return Err(fail(format!(
            "pages of {} tokens, the run uses {}",
            data.page_len(),
            run.config.data.page_len
        )));
    }
    data.verify().map_err(|e| fail(e.to_string()))?;
    Ok(data)
}
