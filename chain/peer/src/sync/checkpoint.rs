//! A checkpoint of the shared model (docs/protocol.md, section 8): `S_v` as safetensors with
//! the HF tensor names, its window, fingerprint, run id and clip history in the header. A
//! joining peer takes one from any holder, refuses it unless it decodes for the run and its
//! parameters hash to the fingerprint it names, and trains only once the quorum's base of a
//! later window has confirmed it.

use anyhow::{bail, ensure, Context};
use candle_core::Device;
use model::outer::ClipHistory;
use model::Params;

use crate::sync::global::Global;
use crate::sync::run::Run;
use crate::Window;

const FORMAT_KEY: &str = "llm-subnet/checkpoint";
const FORMAT: &str = "v1";

/// The most bytes a checkpoint of the run's model may take.
pub fn limit(run: &Run) -> u64 {
    Params::checkpoint_limit(&run.llama)
}

/// The checkpoint bytes of `global`.
pub fn encode(run: &Run, global: &Global) -> anyhow::Result<Vec<u8>> {
    ensure!(
        !global.outer.has_state(),
        "checkpoints do not carry outer momentum yet (a Nesterov run cannot be joined)"
    );
    let meta = [
        (FORMAT_KEY, FORMAT.to_string()),
        ("run_id", run.id.to_string()),
        ("window", global.window.0.to_string()),
        ("fingerprint", hex::encode(global.fingerprint)),
        ("clip", hex::encode(global.clip.to_bytes())),
    ];
    Ok(global.params.to_safetensors(&meta)?)
}

/// A checkpoint's model, checked: the run's shapes and id, finite values, a well-formed clip
/// history, and parameters that hash to the fingerprint in the header.
pub fn decode(run: &Run, bytes: &[u8]) -> anyhow::Result<Global> {
    let (params, meta) = Params::from_safetensors(&run.llama, bytes, &Device::Cpu)?;
    let get = |key: &str| meta.get(key).with_context(|| format!("the checkpoint has no {key:?}"));
    ensure!(
        meta.get(FORMAT_KEY).map(String::as_str) == Some(FORMAT),
        "not a {FORMAT_KEY} {FORMAT} checkpoint"
    );
    let run_id = get("run_id")?;
    ensure!(*run_id == run.id.to_string(), "the checkpoint is of run {run_id}, this peer runs {}", run.id);
    let window: u64 = get("window")?.parse().context("the checkpoint's window is not a number")?;
    let clip = hex::decode(get("clip")?).context("the checkpoint's clip history is not hex")?;
    let clip =
        ClipHistory::from_bytes(&clip, run.codec.layouts().len()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let fingerprint = params.fingerprint()?;
    let named = get("fingerprint")?;
    if hex::encode(fingerprint) != *named {
        bail!("the checkpoint's parameters hash to {}, it claims {named}", hex::encode(fingerprint));
    }
    Ok(Global { window: Window(window), params, fingerprint, clip, outer: run.outer_optimizer() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunConfig;

    fn run() -> Run {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/localnet-tiny.toml");
        Run::new(RunConfig::load(&path).unwrap()).unwrap()
    }

    #[test]
    fn a_checkpoint_round_trips_and_lies_are_refused() {
        let run = run();
        let mut g = Global::genesis(&run).unwrap();
        g.window = Window(7);
        g.clip.record(&vec![Some(0.5); run.codec.layouts().len()]).unwrap();
        let bytes = encode(&run, &g).unwrap();
        assert!(bytes.len() as u64 <= limit(&run));
        let back = decode(&run, &bytes).unwrap();
        assert_eq!((back.window, back.fingerprint, &back.clip), (Window(7), g.fingerprint, &g.clip));

        // A changed weight no longer hashes to the fingerprint it names.
        let mut forged = bytes.clone();
        let at = forged.len() - 10;
        forged[at] ^= 0x40;
        let err = format!("{:#}", decode(&run, &forged).unwrap_err());
        assert!(err.contains("hash to") || err.contains("non-finite"), "{err}");
        // Another run's checkpoint, and garbage.
        let mut other = run.config.clone();
        other.model.seed = 1;
        let other = Run::new(other).unwrap();
        let err = format!(
            "{:#}",
            decode(&run, &encode(&other, &Global::genesis(&other).unwrap()).unwrap()).unwrap_err()
        );
        assert!(err.contains("is of run"), "{err}");
        assert!(decode(&run, b"not a checkpoint").is_err());
        // The plain model file (no checkpoint header) is refused too.
        let plain = g.params.to_safetensors(&[]).unwrap();
        assert!(format!("{:#}", decode(&run, &plain).unwrap_err()).contains("not a llm-subnet/checkpoint"));
    }
}
