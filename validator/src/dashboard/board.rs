//! What the dashboard shows, as data: the [`Snapshot`] served as `GET /dashboard.json` (and
//! parsed back by `validator status`), and the [`Board`] the window loop and the watcher
//! write into.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use subnet_peer::seam::Neuron;
use subnet_peer::Window;

use crate::node::ValidatorStatus;
use crate::score::Row;

/// The most points of loss history kept (and drawn).
pub const MAX_POINTS: usize = 4096;

/// One point of the global model's curve: its eval loss on the window's random pages, and the
/// tokens trained into it by then.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The model's window (`S_w`).
    pub window: u64,
    /// Mean loss on the window's random pages.
    pub loss: f64,
    /// Tokens of the inner rounds whose payloads were applied before `S_w`.
    pub tokens: u64,
}

/// One uid's row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UidRow {
    /// The uid.
    pub uid: u16,
    /// Its hotkey, hex.
    pub hotkey: String,
    /// `miner` or `validator` as the peer's `/status` says (this validator: `validator`);
    /// empty when it serves none.
    pub role: String,
    /// Stake, rao.
    pub stake: u64,
    /// Whether it holds a validator permit.
    pub permit: bool,
    /// Its latest commitment seen: window and block.
    pub last_commit: Option<(u64, u64)>,
    /// Its status in the last scored window (`ok`, or the reason it earned nothing).
    pub status: Option<String>,
    /// The details of that status.
    pub detail: Option<String>,
    /// Its score in the last scored window.
    pub score: Option<f64>,
    /// Its moving average.
    pub average: Option<f64>,
    /// The weight this validator gives it.
    pub weight: Option<f32>,
    /// `Incentive[uid]`, as a share (0..1).
    pub incentive: f64,
    /// `Dividends[uid]`, as a share (0..1).
    pub dividends: f64,
    /// Its payout at the last epoch, rao.
    pub emission: u64,
    /// Stake gained since the run began (since it registered, if later): what it was paid,
    /// plus any stake added meanwhile. Rao.
    pub earned: u64,
    /// The model it reported on `/status`: window and fingerprint (hex).
    pub model: Option<(u64, String)>,
    /// Its axon.
    pub axon: Option<String>,
}

/// Everything the page shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// This validator's hotkey, hex.
    pub hotkey: String,
    /// The run id, hex.
    pub run_id: String,
    /// The subnet.
    pub netuid: u16,
    /// The model preset.
    pub preset: String,
    /// Blocks per window.
    pub window_blocks: u64,
    /// The chain's best block.
    pub head: u64,
    /// The last finalized block.
    pub finalized: u64,
    /// The head's window.
    pub window: u64,
    /// `train` or `commit`.
    pub phase: String,
    /// The window of the model this validator holds.
    pub model_window: u64,
    /// Its fingerprint, hex.
    pub fingerprint: String,
    /// Its sync state, in words.
    pub sync: String,
    /// Tokens trained into it.
    pub tokens: u64,
    /// The last window scored.
    pub last_scored: Option<u64>,
    /// The last weights set: window, block.
    pub last_weights: Option<(u64, u64)>,
    /// One row per uid.
    pub uids: Vec<UidRow>,
    /// The loss curve.
    pub history: Vec<Point>,
}

/// What the watcher last read of the chain.
#[derive(Default)]
pub(crate) struct ChainView {
    pub(crate) head: u64,
    pub(crate) finalized: u64,
    pub(crate) neurons: Vec<Neuron>,
    /// Latest commitment per hotkey: window, block.
    pub(crate) commits: BTreeMap<[u8; 32], (u64, u64)>,
    /// Stake when the run began (or at registration: 0), by hotkey and registration block.
    pub(crate) baseline: BTreeMap<([u8; 32], u64), u64>,
    /// What each peer's `/status` said: role, model window, fingerprint.
    pub(crate) peers: BTreeMap<[u8; 32], (String, u64, String)>,
}

#[derive(Default)]
struct Inner {
    chain: ChainView,
    /// The last scored window's rows, by uid.
    rows: BTreeMap<u16, Row>,
    history: Vec<Point>,
    /// Tokens in `S_w`, for recent windows (a window is scored after the model moved on).
    tokens_at: BTreeMap<u64, u64>,
}

/// The dashboard's state, shared by the window loop (scores, tokens), the watcher (chain and
/// peers) and the HTTP routes (snapshots). Cheap to clone.
#[derive(Clone)]
pub struct Board {
    inner: Arc<Mutex<Inner>>,
    status: Arc<Mutex<ValidatorStatus>>,
    about: (u16, String, u64),
}

impl Board {
    /// A board for a validator of subnet `netuid` (model `preset`, `window_blocks` per
    /// window) with this status, starting from `history` and `tokens` in `S_{model_window}`.
    pub(crate) fn new(
        status: Arc<Mutex<ValidatorStatus>>,
        netuid: u16,
        preset: String,
        window_blocks: u64,
        history: Vec<Point>,
        model_window: Window,
        tokens: u64,
    ) -> Self {
        let mut inner = Inner { history, ..Default::default() };
        inner.tokens_at.insert(model_window.0, tokens);
        Self { inner: Arc::new(Mutex::new(inner)), status, about: (netuid, preset, window_blocks) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("dashboard lock")
    }

    /// Tokens in `S_w`, if known.
    pub(crate) fn tokens_at(&self, w: Window) -> Option<u64> {
        self.lock().tokens_at.get(&w.0).copied()
    }

    /// The model moved past `w` with `payloads` payloads of `per_payload` tokens each.
    pub(crate) fn applied(&self, w: Window, payloads: usize, per_payload: u64) {
        let mut inner = self.lock();
        let before =
            inner.tokens_at.get(&w.0).copied().or_else(|| inner.tokens_at.values().next_back().copied());
        let after = before.unwrap_or(0).saturating_add(per_payload.saturating_mul(payloads as u64));
        inner.tokens_at.insert(w.0 + 1, after);
        let keep = w.0.saturating_sub(64);
        inner.tokens_at.retain(|k, _| *k >= keep);
    }

    /// A window was scored: its rows and the model's loss on it.
    pub(crate) fn scored(&self, w: Window, loss: f64, rows: &[Row]) -> Point {
        let mut inner = self.lock();
        let tokens = inner.tokens_at.get(&w.0).copied().unwrap_or(0);
        inner.rows = rows.iter().map(|r| (r.uid, r.clone())).collect();
        let point = Point { window: w.0, loss, tokens };
        inner.history.retain(|p| p.window != w.0);
        inner.history.push(point);
        inner.history.sort_by_key(|p| p.window);
        let excess = inner.history.len().saturating_sub(MAX_POINTS);
        inner.history.drain(..excess);
        point
    }

    /// The loss curve.
    pub fn history(&self) -> Vec<Point> {
        self.lock().history.clone()
    }

    /// Replaces what the watcher read.
    pub(crate) fn set_chain(&self, view: ChainView) {
        self.lock().chain = view;
    }

    /// The baseline stakes already read (the watcher keeps them).
    pub(crate) fn baseline(&self) -> BTreeMap<([u8; 32], u64), u64> {
        self.lock().chain.baseline.clone()
    }

    /// Everything, now.
    pub fn snapshot(&self) -> Snapshot {
        let status = self.status.lock().expect("status lock").clone();
        let inner = self.lock();
        let (netuid, preset, window_blocks) = self.about.clone();
        let me = status.hotkey.clone();
        let averages: BTreeMap<u16, (f64, f32)> =
            status.scores.iter().map(|(u, a, w)| (*u, (*a, *w))).collect();
        let share = |x: u16| f64::from(x) / 65535.0;
        let chain = &inner.chain;
        let uids = chain
            .neurons
            .iter()
            .map(|n| {
                let hotkey = hex::encode(n.hotkey);
                let row = inner.rows.get(&n.uid).filter(|r| r.hotkey == hotkey);
                let peer = chain.peers.get(&n.hotkey);
                let (role, model) = if hotkey == me {
                    ("validator".to_string(), Some((status.model_window, status.fingerprint.clone())))
                } else {
                    match peer {
                        Some((role, w, fp)) => (role.clone(), Some((*w, fp.clone()))),
                        None => (String::new(), None),
                    }
                };
                // Without a baseline (the run has not begun) nothing is counted as earned.
                let baseline = match chain.baseline.is_empty() {
                    true => n.stake,
                    false => chain.baseline.get(&(n.hotkey, n.registered_at)).copied().unwrap_or(0),
                };
                UidRow {
                    uid: n.uid,
                    hotkey,
                    role,
                    stake: n.stake,
                    permit: n.permit,
                    last_commit: chain.commits.get(&n.hotkey).copied(),
                    status: row.map(|r| r.status.clone()),
                    detail: row.map(|r| r.detail.clone()).filter(|d| !d.is_empty()),
                    score: row.map(|r| r.score),
                    average: averages.get(&n.uid).map(|(a, _)| *a),
                    weight: averages.get(&n.uid).map(|(_, w)| *w),
                    incentive: share(n.incentive),
                    dividends: share(n.dividends),
                    emission: n.emission,
                    earned: n.stake.saturating_sub(baseline),
                    model,
                    axon: n.axon.map(|a| a.to_string()),
                }
            })
            .collect();
        let tokens = inner.tokens_at.get(&status.model_window).copied().unwrap_or(0);
        Snapshot {
            hotkey: me,
            run_id: status.run_id.clone(),
            netuid,
            preset,
            window_blocks,
            head: chain.head.max(status.head),
            finalized: chain.finalized,
            window: status.window,
            phase: status.phase.to_string(),
            model_window: status.model_window,
            fingerprint: status.fingerprint.clone(),
            sync: status.sync.clone(),
            tokens,
            last_scored: status.last_scored,
            last_weights: status.last_weights,
            uids,
            history: inner.history.clone(),
        }
    }
}
