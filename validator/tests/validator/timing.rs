//! Scoring speed for a shipped run configuration on this machine: the time to score one payload
//! and payloads scored per minute, against the goal of scoring 32 miners within one window. A
//! measurement, not run by default:
//!
//! ```text
//! VALIDATOR_TIMING_PRESET=small VALIDATOR_TIMING_DATA=data/fortunes-256 MODEL_THREADS=2 \
//!   cargo test --release -p validator --test validator -- --ignored score_timings --nocapture
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use model::codec::Header;
use model::rng::PortableRng;
use subnet_peer::sync::{open_dataset, Global};
use subnet_peer::{RunConfig, Window};
use validator::check::Checked;
use validator::score::{score, EvalSettings, Job};
use validator::Run;

#[test]
#[ignore = "a measurement; run it by hand"]
fn score_timings() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let preset = std::env::var("VALIDATOR_TIMING_PRESET").unwrap_or_else(|_| "tiny".into());
    let payloads: usize =
        std::env::var("VALIDATOR_TIMING_PAYLOADS").ok().and_then(|n| n.parse().ok()).unwrap_or(4);
    let data = std::env::var("VALIDATOR_TIMING_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo.join("data/fortunes-256"));
    model::init_threads(std::env::var("MODEL_THREADS").ok().and_then(|n| n.parse().ok()));
    let config = RunConfig::load(&repo.join(format!("config/localnet-{preset}.toml"))).unwrap();
    let run = Run::new(config).unwrap();
    let data = open_dataset(&run, &data)
        .unwrap_or_else(|e| panic!("{e} (prepare it with scripts/localnet.sh once)"));
    let global = Global::genesis(&run).unwrap();
    let w = Window(run.config.window.first);
    // Payloads of pseudo-gradients the size of one inner round's, from distinct hotkeys.
    let checked: Vec<Checked> = (0..payloads as u16)
        .map(|uid| {
            let hotkey = [uid as u8 + 1; 32];
            let mut rng = PortableRng::from_hashed(&[b"timing".as_slice(), &uid.to_le_bytes()].concat());
            let delta: Vec<Vec<f32>> =
                run.codec.layouts().iter().map(|l| rng.normal_vec(l.numel(), 1e-3)).collect();
            let header = Header {
                netuid: run.netuid(),
                window: w.0,
                hotkey,
                base: global.fingerprint,
                run_id: run.id.0,
                codec: *run.codec.params(),
            };
            let bytes = run.codec.encode(&header, run.codec.compress(&delta).unwrap());
            let payload = run.codec.decode(&bytes).unwrap();
            Checked {
                uid,
                hotkey,
                registered_at: 0,
                hash: [0; 32],
                block: uid as u64,
                outcome: Ok((bytes, payload)),
            }
        })
        .collect();
    let job = Job {
        window: w,
        base: global.params.to_vecs().unwrap(),
        clip: global.clip.clone(),
        seed: [7; 32],
        checked,
        previous: Vec::new(),
    };
    let settings = EvalSettings::default();
    let started = Instant::now();
    let scored = score(&run, &data, &settings, &job).unwrap();
    let secs = started.elapsed().as_secs_f64();
    let per = secs / payloads as f64;
    let window = run.schedule.blocks_per_window() as f64; // 1 s blocks on the localnet
    eprintln!(
        "{preset}: {payloads} payloads scored in {secs:.2} s: {per:.2} s per payload, {:.1} payloads/min; \
         32 miners take {:.1} s, {:.2}x the {window:.0} s window ({} own + {} random pages of {} tokens, batch {})",
        60.0 / per,
        32.0 * per,
        32.0 * per / window,
        settings.own_pages,
        settings.random_pages,
        run.config.data.page_len,
        settings.batch
    );
    assert_eq!(scored.rows.len(), payloads);
}
