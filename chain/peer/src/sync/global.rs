//! The shared model `S_w` every peer of the run holds, with the consensus state that goes with
//! it (the clip history and the outer optimizer's momentum), and how it moves: `S_{w+1} =
//! S_w + update(w)`.
//!
//! On disk (in the state directory): `model/{w}/` holds `params.safetensors`, `clip.bin` and,
//! with momentum on, `outer.safetensors`; `model.json` names the current one with its window
//! and fingerprint and is replaced atomically last, so a crash leaves the old model or the new
//! one, never a mix. The previous directory is kept until the next switch.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::state::{read_capped, write_atomic};
use crate::Window;
use anyhow::{bail, Context};
use candle_core::Device;
use model::codec::CodecError;
use model::outer::{aggregate, Aggregate, ClipHistory, OuterOptimizer};
use model::Params;
use serde::{Deserialize, Serialize};

use crate::sync::run::Run;

/// `S_w` and its consensus state.
pub struct Global {
    /// `w`: this is the model window `w` trains from.
    pub window: Window,
    /// The parameters.
    pub params: Params,
    /// Their fingerprint.
    pub fingerprint: [u8; 32],
    /// Recent clip thresholds.
    pub clip: ClipHistory,
    /// Outer momentum (stateless with plain SGD).
    pub outer: OuterOptimizer,
}

impl std::fmt::Debug for Global {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Global")
            .field("window", &self.window)
            .field("fingerprint", &hex::encode(self.fingerprint))
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct Pointer {
    window: u64,
    fingerprint: String,
    dir: String,
}

/// One payload of an update: its uid, the hotkey registered for it, and its verified bytes.
pub struct UpdatePayload {
    /// The author's uid at `D_w`.
    pub uid: u16,
    /// The author's hotkey.
    pub hotkey: [u8; 32],
    /// Bytes whose hash is the commitment.
    pub bytes: Vec<u8>,
}

impl Global {
    /// `S_first`: the run's genesis weights, at its first window.
    pub fn genesis(run: &Run) -> anyhow::Result<Self> {
        let params = Params::init(&run.llama, run.config.model.seed, &Device::Cpu)?;
        let fingerprint = params.fingerprint()?;
        Ok(Self {
            window: Window(run.config.window.first),
            params,
            fingerprint,
            clip: ClipHistory::new(run.codec.layouts().len()),
            outer: run.outer_optimizer(),
        })
    }

    /// The model saved in `root`, or `None` if there is none yet. A saved model whose
    /// parameters do not hash to the recorded fingerprint is refused.
    pub fn load(run: &Run, root: &Path) -> anyhow::Result<Option<Self>> {
        let pointer_path = root.join("model.json");
        let bytes = match read_capped(&pointer_path, 64 * 1024) {
            Ok(b) => b,
            Err(crate::state::StateError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        };
        let pointer: Pointer = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a model pointer", pointer_path.display()))?;
        if pointer.dir.contains(['/', '\\']) || pointer.dir.starts_with('.') {
            bail!("{}: bad model directory name {:?}", pointer_path.display(), pointer.dir);
        }
        let dir = root.join("model").join(&pointer.dir);
        let params = Params::load(&run.llama, &dir.join("params.safetensors"), &Device::Cpu)?;
        let fingerprint = params.fingerprint()?;
        if hex::encode(fingerprint) != pointer.fingerprint {
            bail!(
                "{}: parameters hash to {}, the record says {}; delete the state directory's model to start over",
                dir.display(),
                hex::encode(fingerprint),
                pointer.fingerprint
            );
        }
        let tensors = run.codec.layouts().len();
        let clip_bytes = read_capped(&dir.join("clip.bin"), 64 + tensors as u64 * 40)?;
        let clip = ClipHistory::from_bytes(&clip_bytes, tensors)
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join("clip.bin").display()))?;
        let outer_path = dir.join("outer.safetensors");
        let outer = if outer_path.exists() {
            let sizes: Vec<usize> = run.codec.layouts().iter().map(|l| l.numel()).collect();
            OuterOptimizer::load(run.outer, &outer_path, &sizes)?
        } else {
            run.outer_optimizer()
        };
        Ok(Some(Self { window: Window(pointer.window), params, fingerprint, clip, outer }))
    }

    /// Saves this model as the current one in `root` (see the module's docs for the layout).
    pub fn save(&self, root: &Path) -> anyhow::Result<()> {
        let models = root.join("model");
        let name = format!("{}-{}", self.window.0, &hex::encode(self.fingerprint)[..16]);
        let dir = models.join(&name);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let params = dir.join("params.safetensors");
        self.params.save(&params)?;
        sync_file(&params)?;
        write_atomic(&dir.join("clip.bin"), &self.clip.to_bytes())?;
        if self.outer.has_state() {
            self.outer.save(&dir.join("outer.safetensors"))?;
        }
        let previous = current_dir(root);
        let pointer =
            Pointer { window: self.window.0, fingerprint: hex::encode(self.fingerprint), dir: name.clone() };
        write_atomic(&root.join("model.json"), &serde_json::to_vec_pretty(&pointer)?)?;
        // Keep the one before as well; anything older goes.
        for entry in fs::read_dir(&models).with_context(|| format!("listing {}", models.display()))? {
            let entry = entry?;
            let n = entry.file_name().to_string_lossy().into_owned();
            if n != name && Some(&n) != previous.as_ref() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        Ok(())
    }

    /// `S_{w+1} = S_w`: nothing had a quorum.
    pub fn skip(&mut self) {
        self.window = self.window.next();
    }

    /// `S_{w+1} = S_w + update(w)`: decodes the payloads, aggregates them on this model (every
    /// header checked against the run, the window, this model's fingerprint and the uid's
    /// hotkey), takes the outer step and records the clip thresholds. On error nothing changes.
    pub fn apply(&mut self, run: &Run, payloads: &[UpdatePayload]) -> anyhow::Result<Aggregate> {
        let agg = self.aggregate(run, payloads)?;
        let mut outer = self.outer.clone();
        outer.apply_to(&self.params, &agg.update)?;
        let mut clip = self.clip.clone();
        clip.record(&agg.thresholds)?;
        self.outer = outer;
        self.clip = clip;
        self.fingerprint = self.params.fingerprint()?;
        self.window = self.window.next();
        Ok(agg)
    }
}

impl Global {
    /// What [`Global::apply`] would make of this model, without changing it: the parameters
    /// of `S_{w+1}` as flat vectors in spec order, and their fingerprint.
    pub fn predict(
        &self,
        run: &Run,
        payloads: &[UpdatePayload],
    ) -> anyhow::Result<(Vec<Vec<f32>>, [u8; 32])> {
        let mut params = self.params.to_vecs()?;
        if payloads.is_empty() {
            return Ok((params, self.fingerprint));
        }
        let agg = self.aggregate(run, payloads)?;
        self.outer.clone().apply(&mut params, &agg.update)?;
        let fingerprint = self.params.fingerprint_of(&params)?;
        Ok((params, fingerprint))
    }

    /// Decodes the payloads and aggregates them on this model (every header checked).
    fn aggregate(&self, run: &Run, payloads: &[UpdatePayload]) -> anyhow::Result<Aggregate> {
        let mut decoded = Vec::with_capacity(payloads.len());
        for p in payloads {
            let payload = run.codec.decode(&p.bytes).map_err(|e| Refused { uid: p.uid, error: e })?;
            decoded.push((p.uid, payload));
        }
        let registered: BTreeMap<u16, [u8; 32]> = payloads.iter().map(|p| (p.uid, p.hotkey)).collect();
        let want = run.expected(self.window, self.fingerprint);
        Ok(aggregate(&run.codec, &decoded, &want, &registered, &run.clip, &self.clip)?)
    }
}

/// A payload of the update the codec refused.
#[derive(Debug, thiserror::Error)]
#[error("payload of uid {uid}: {error}")]
pub struct Refused {
    uid: u16,
    error: CodecError,
}

fn current_dir(root: &Path) -> Option<String> {
    let bytes = read_capped(&root.join("model.json"), 64 * 1024).ok()?;
    serde_json::from_slice::<Pointer>(&bytes).ok().map(|p| p.dir)
}

fn sync_file(path: &PathBuf) -> anyhow::Result<()> {
    fs::File::open(path).and_then(|f| f.sync_all()).with_context(|| format!("syncing {}", path.display()))
}
