//! The scoring rules on hand-built windows: a real inner round's payload improves the loss and
//! scores, a payload of zeros scores nothing, a copy is the later commitment (in one block, the
//! smaller gap), and a window with more payloads than the cap is sampled from the seed.

use model::codec::{Header, Payload};
use model::train::{inner_round, window_batches, RoundEnd, Trainer};
use subnet_peer::sync::{open_dataset, Global};
use subnet_peer::testing::{dataset, run_config};
use subnet_peer::Window;
use validator::check::Checked;
use validator::score::{score, EvalSettings, Job, NOT_SAMPLED};
use validator::Run;

struct Setup {
    run: Run,
    data: model::data::Dataset,
    global: Global,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let config = run_config(&dataset(&dir.path().join("data")), 4);
    let run = Run::new(config).unwrap();
    let data = open_dataset(&run, &dir.path().join("data")).unwrap();
    let global = Global::genesis(&run).unwrap();
    Setup { run, data, global, _dir: dir }
}

impl Setup {
    fn header(&self, hotkey: [u8; 32]) -> Header {
        Header {
            netuid: self.run.netuid(),
            window: self.global.window.0,
            hotkey,
            base: self.global.fingerprint,
            run_id: self.run.id.0,
            codec: *self.run.codec.params(),
        }
    }

    /// What an honest miner with `hotkey` sends: one inner round on its pages, compressed.
    fn honest(&self, hotkey: [u8; 32]) -> Payload {
        let params = model::Params::init(&self.run.llama, 0, &candle_core::Device::Cpu).unwrap();
        let mut trainer = Trainer::new(params, &self.run.llama, self.run.train).unwrap();
        let w = self.global.window;
        let batches =
            window_batches(&self.data, self.run.netuid(), w.0, &hotkey, self.run.inner_steps(), 1).unwrap();
        let start = self.global.params.to_vecs().unwrap();
        let RoundEnd::Done(delta) = inner_round(&mut trainer, &start, &batches, 0, |_| true).unwrap() else {
            panic!("the round stopped")
        };
        Payload { header: self.header(hotkey), tensors: self.run.codec.compress(&delta).unwrap() }
    }

    fn zeros(&self, hotkey: [u8; 32]) -> Payload {
        let zeros: Vec<Vec<f32>> = self.run.codec.layouts().iter().map(|l| vec![0.0; l.numel()]).collect();
        Payload { header: self.header(hotkey), tensors: self.run.codec.compress(&zeros).unwrap() }
    }

    fn job(&self, payloads: Vec<(u16, Payload, u64)>) -> Job {
        let checked = payloads
            .into_iter()
            .map(|(uid, p, block)| Checked {
                uid,
                hotkey: p.header.hotkey,
                registered_at: 0,
                hash: [uid as u8; 32],
                block,
                outcome: Ok((Vec::new(), p)),
            })
            .collect();
        Job {
            window: Window(self.global.window.0),
            base: self.global.params.to_vecs().unwrap(),
            clip: self.global.clip.clone(),
            seed: [3; 32],
            checked,
            previous: Vec::new(),
        }
    }
}

fn status(s: &validator::score::WindowScores, uid: u16) -> (String, f64) {
    let r = s.rows.iter().find(|r| r.uid == uid).unwrap();
    (r.status.clone(), r.score)
}

#[test]
fn scores_follow_the_rules() {
    let s = setup();
    let honest = s.honest([1; 32]);
    let mut copy = honest.clone();
    copy.header.hotkey = [3; 32];
    let settings = EvalSettings::default();
    let job = s.job(vec![(1, honest.clone(), 10), (2, s.zeros([2; 32]), 10), (3, copy.clone(), 11)]);
    let scored = score(&s.run, &s.data, &settings, &job).unwrap();
    let (st, sc) = status(&scored, 1);
    assert!(st == "ok" && sc > 0.0, "{scored:?}");
    assert_eq!(status(&scored, 2), ("ok".into(), 0.0));
    // The copy landed later: it is blamed, whatever its gap.
    assert_eq!(status(&scored, 3).0, "copy");
    // The same two in one block: the one whose own pages gained less is blamed.
    let job = s.job(vec![(1, honest.clone(), 10), (3, copy, 10)]);
    let scored = score(&s.run, &s.data, &settings, &job).unwrap();
    let gap = |uid: u16| scored.rows.iter().find(|r| r.uid == uid).unwrap().gap.unwrap();
    let blamed = if gap(1) < gap(3) { 1 } else { 3 };
    assert_eq!(status(&scored, blamed).0, "copy", "{scored:?}");
    assert_eq!(status(&scored, 4 - blamed).0, "ok");
    // More payloads than the cap: a sample from the seed is evaluated, the same for the same seed.
    let capped = EvalSettings { max_payloads: 2, ..settings };
    let job = s.job(vec![(1, honest, 10), (2, s.zeros([2; 32]), 10), (4, s.zeros([4; 32]), 10)]);
    let a = score(&s.run, &s.data, &capped, &job).unwrap();
    let b = score(&s.run, &s.data, &capped, &job).unwrap();
    let left_out = |x: &validator::score::WindowScores| {
        x.rows.iter().filter(|r| r.status == NOT_SAMPLED).map(|r| r.uid).collect::<Vec<_>>()
    };
    assert_eq!(left_out(&a).len(), 1);
    assert_eq!(left_out(&a), left_out(&b));
    assert_eq!(a.rows, b.rows, "scoring is deterministic for a seed");
}
