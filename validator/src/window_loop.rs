//! The validator's window loop, one tick at a time: fold in what the scorer finished (scores,
//! report, weights), approve the window whose deadline is finalized, follow the run to `S_w`
//! (`subnet_peer::sync::Follower`), prune.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use model::codec::Payload;
use serde::{Deserialize, Serialize};
use subnet_peer::http::{Fetcher, ServerHandle, Shelf};
use subnet_peer::quorum::bitmap;
use subnet_peer::seam::BlockRef;
use subnet_peer::state::{read_capped, write_atomic, StateDir};
use subnet_peer::sync::{short, Archive, Follower, Run};
use subnet_peer::update::candidates;
use subnet_peer::{ChainSeam, Window};
use tokio::sync::mpsc;

use crate::check::{check_window, Reason};
use crate::metrics::Metrics;
use crate::node::{ValidatorOptions, ValidatorStatus};
use crate::report::Report;
use crate::score::{Job, Row, WindowScores};
use crate::weights::Scores;

/// What the scorer sends back.
pub(crate) type Scored = Result<WindowScores, (Window, String)>;

/// Where a window's approval stands (`approvals/{w}.json`), so a restart neither approves a
/// window twice nor forgets one it sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ApprovalRecord {
    /// Submitted (or about to be); its fate is read off the chain after a restart.
    Submitting {
        /// The bitmap, hex.
        bitmap: String,
        /// The base fingerprint, hex.
        base: String,
    },
    /// On chain.
    Approved {
        /// The bitmap, hex.
        bitmap: String,
        /// The block it landed in.
        block: u64,
    },
    /// Not approved, and why.
    Skipped {
        /// Why.
        reason: String,
    },
}

pub(crate) struct Loop<C> {
    pub(crate) board: crate::dashboard::Board,
    /// Where the loss chart goes.
    pub(crate) plot: std::path::PathBuf,
    pub(crate) chain: C,
    pub(crate) run: Arc<Run>,
    pub(crate) opts: ValidatorOptions,
    pub(crate) state: StateDir,
    pub(crate) follower: Follower,
    pub(crate) shelf: Shelf,
    pub(crate) archive: Arc<Archive>,
    pub(crate) fetcher: Fetcher,
    pub(crate) metrics: Metrics,
    pub(crate) status: Arc<Mutex<ValidatorStatus>>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) scores: Scores,
    pub(crate) jobs: mpsc::Sender<Job>,
    pub(crate) results: mpsc::Receiver<Scored>,
    /// The last approved window's payloads that passed their check (for the replay check).
    pub(crate) previous: Option<(Window, Vec<(u16, Payload)>)>,
    pub(crate) scored_since_weights: u64,
    pub(crate) _server: ServerHandle,
}

impl<C: ChainSeam + Clone + 'static> Loop<C> {
    fn set_status(&self, change: impl FnOnce(&mut ValidatorStatus)) {
        change(&mut self.status.lock().expect("status lock"));
    }

    pub(crate) async fn run(mut self) -> anyhow::Result<()> {
        let mut retries = subnet_peer::sync::Retries::default();
        while !self.stop.load(Ordering::SeqCst) {
            retries.note(self.tick().await);
            tokio::time::sleep(self.opts.poll).await;
        }
        tracing::info!("validator stopped");
        Ok(())
    }

    async fn tick(&mut self) -> anyhow::Result<()> {
        let head = self.chain.best_number().await?;
        let fin = self.chain.finalized().await?;
        let now = self.run.schedule.window_of(head);
        let phase = match self.run.schedule.phase(head) {
            subnet_peer::Phase::Train => "train",
            subnet_peer::Phase::Commit => "commit",
        };
        self.set_status(|s| {
            s.head = head;
            s.window = now.0;
            s.phase = phase;
        });
        self.collect(fin).await?;
        self.approve(fin, head).await?;
        let progress = self
            .follower
            .follow(&self.chain, &self.run, &self.fetcher, &self.shelf, &self.state, fin, now, &self.stop)
            .await;
        self.metrics.updates_applied.inc_by(progress.applied.len() as u64);
        if progress.mismatch {
            self.metrics.fingerprint_mismatches.inc();
        }
        if let Some((from, to)) = progress.caught_up {
            self.metrics.caught_up.inc_by(to.0.saturating_sub(from.0));
        }
        self.archive_progress(&progress.updates);
        self.count_tokens(&progress.updates);
        let global = &self.follower.global;
        self.metrics.sync_lag_windows.set(now.0.saturating_sub(global.window.0) as i64);
        let (window, fingerprint, sync) =
            (global.window.0, hex::encode(global.fingerprint), self.follower.state().to_string());
        self.set_status(|s| {
            s.model_window = window;
            s.fingerprint = fingerprint;
            s.sync = sync;
        });
        let keep = Window(now.0.saturating_sub(self.opts.retention));
        self.shelf.retain(keep);
        // Payloads on disk go back as far as the archive's log (it serves them from there).
        self.state.retain(self.archive.oldest().map_or(keep, |oldest| oldest.min(keep)))?;
        prune_approvals(self.state.root(), keep);
        Ok(())
    }

    /// Logs the updates the follower moved past and, on a vouched-for model whose window is
    /// due, saves a checkpoint.
    fn archive_progress(&mut self, updates: &[subnet_peer::sync::LoggedUpdate]) {
        for u in updates {
            if let Err(e) = self.archive.record(u) {
                tracing::warn!("logging the update of window {}: {e:#}", u.window);
            }
        }
        if !self.follower.trusted() {
            return;
        }
        match self.archive.checkpoint(&self.run, &self.follower.global) {
            Ok(Some(w)) => {
                self.metrics.checkpoints_saved.inc();
                tracing::info!("{w}: checkpoint saved (served at /checkpoint/{})", w.0);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("saving the checkpoint of {}: {e:#}", self.follower.global.window),
        }
    }

    /// Counts the tokens of the rounds the model moved past, for the dashboard (kept in
    /// `tokens.json` with the model's window).
    fn count_tokens(&self, updates: &[subnet_peer::sync::LoggedUpdate]) {
        if updates.is_empty() {
            return;
        }
        let c = &self.run.config;
        let per_payload = c.inner.steps as u64 * c.inner.pages_per_step as u64 * c.data.page_len as u64;
        for u in updates {
            self.board.applied(Window(u.window), u.payloads.len(), per_payload);
        }
        let w = self.follower.global.window;
        if let Some(tokens) = self.board.tokens_at(w) {
            let doc = serde_json::json!({ "window": w.0, "tokens": tokens });
            if let Err(e) = write_atomic(&self.state.root().join("tokens.json"), doc.to_string().as_bytes()) {
                tracing::warn!("saving the token count: {e}");
            }
        }
    }

    /// Approves `w` = the model's window once `D_w` is finalized: checks every commitment,
    /// commits the bitmap of the ranked candidates that passed (with a permit at `w B`), serves
    /// them, and hands the window to the scorer.
    async fn approve(&mut self, fin: BlockRef, head: u64) -> anyhow::Result<()> {
        let w = self.follower.global.window;
        let schedule = self.run.schedule;
        let (Some(d), Some(a), Some(start)) =
            (schedule.commit_deadline(w), schedule.approval_deadline(w), schedule.start(w))
        else {
            return Ok(());
        };
        if fin.number < d || !self.follower.trusted() {
            return Ok(());
        }
        let netuid = self.run.netuid();
        let me = self.chain.hotkey();
        let path = approval_path(self.state.root(), w);
        let open = head.saturating_add(self.opts.approval_margin) <= a;
        match read_record(&path)? {
            Some(ApprovalRecord::Approved { .. } | ApprovalRecord::Skipped { .. }) => return Ok(()),
            Some(ApprovalRecord::Submitting { bitmap, base }) => {
                // A restart (or an unconfirmed submission): is it on chain?
                let landed = self
                    .chain
                    .approvals_at(netuid, w.0, fin)
                    .await?
                    .into_iter()
                    .find(|c| c.hotkey == me && c.block > d && c.block <= a);
                let record = match landed {
                    Some(c) => ApprovalRecord::Approved { bitmap, block: c.block },
                    None if open => {
                        let bits = hex::decode(&bitmap).context("a recorded bitmap is not hex")?;
                        let base = parse32(&base)?;
                        let block = self.chain.approve(netuid, w.0, bits, base).await?;
                        self.metrics.approvals_committed.inc();
                        ApprovalRecord::Approved { bitmap, block }
                    }
                    None if fin.number < a => return Ok(()),
                    None => ApprovalRecord::Skipped { reason: "the approval did not land by A_w".into() },
                };
                return write_record(&path, &record);
            }
            None => {}
        }
        if !open {
            let reason = format!(
                "too late to approve: block {head} is within {} of A_w = {a}",
                self.opts.approval_margin
            );
            tracing::warn!("{w}: {reason}");
            return write_record(&path, &ApprovalRecord::Skipped { reason });
        }
        let base = self.follower.global.fingerprint;
        let deadline = self.chain.block_at(d).await?;
        let give_up = a.saturating_sub(self.opts.approval_margin);
        let checked = check_window(&self.chain, &self.run, &self.fetcher, w, deadline, base, give_up).await?;
        let ranked = candidates(&self.chain, netuid, &schedule, self.run.ranked(), w).await?;
        let passed: Vec<usize> = ranked
            .candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| checked.iter().any(|k| k.uid == c.uid && k.hash == c.hash && k.outcome.is_ok()))
            .map(|(i, _)| i)
            .collect();
        // Serve what it approves (and keep it for the peers that sync from it).
        for i in &passed {
            let c = &ranked.candidates[*i];
            if let Some(Ok((bytes, _))) = checked.iter().find(|k| k.uid == c.uid).map(|k| &k.outcome) {
                if let Err(e) = self.state.store_payload(w, &c.hash, bytes) {
                    tracing::warn!("keeping the payload of uid {} for {w}: {e}", c.uid);
                }
                self.shelf.put(w, c.hash, bytes.clone().into());
            }
        }
        let ok: Vec<(u16, Payload)> =
            checked.iter().filter_map(|k| k.outcome.as_ref().ok().map(|(_, p)| (k.uid, p.clone()))).collect();
        self.metrics.payloads_fetched.inc_by(ok.len() as u64);
        let previous = match self.previous.take() {
            Some((pw, p)) if pw.next() == w => p,
            _ => Vec::new(),
        };
        let job = Job {
            window: w,
            base: self.follower.global.params.to_vecs()?,
            clip: self.follower.global.clip.clone(),
            seed: secret_seed()?,
            checked,
            previous,
        };
        if self.jobs.try_send(job).is_err() {
            tracing::warn!("{w}: scoring is behind; this window is not scored");
        }
        self.previous = Some((w, ok));

        let permitted = self.chain.block_at(start).await?;
        let permit =
            self.chain.neurons_at(netuid, permitted).await?.iter().any(|n| n.hotkey == me && n.permit);
        self.set_status(|s| s.permit = permit);
        let (n, total) = (passed.len(), ranked.candidates.len());
        if !permit {
            let reason =
                format!("no validator permit at block {start}: approvals would not count (it keeps scoring)");
            tracing::info!("{w}: {reason}");
            self.set_status(|s| s.last_approval = Some((w.0, n, total, None)));
            return write_record(&path, &ApprovalRecord::Skipped { reason });
        }
        let bits = bitmap(total, passed.iter().copied());
        write_record(
            &path,
            &ApprovalRecord::Submitting { bitmap: hex::encode(&bits), base: hex::encode(base) },
        )?;
        let block = self.chain.approve(netuid, w.0, bits.clone(), base).await?;
        self.metrics.approvals_committed.inc();
        tracing::info!("{w}: approved {n} of {total} candidates on {} (block {block})", short(&base));
        self.set_status(|s| s.last_approval = Some((w.0, n, total, Some(block))));
        write_record(&path, &ApprovalRecord::Approved { bitmap: hex::encode(bits), block })
    }

    /// Folds in every window the scorer finished: moving averages, report, weights.
    async fn collect(&mut self, fin: BlockRef) -> anyhow::Result<()> {
        while let Ok(scored) = self.results.try_recv() {
            let mut ws = match scored {
                Ok(ws) => ws,
                Err((w, e)) => {
                    tracing::warn!("scoring {w} failed: {e}");
                    continue;
                }
            };
            let neurons = self.chain.neurons_at(self.run.netuid(), fin).await?;
            let current: BTreeMap<u16, ([u8; 32], u64)> =
                neurons.iter().map(|n| (n.uid, (n.hotkey, n.registered_at))).collect();
            for uid in self.scores.forget_changed(&current) {
                tracing::info!("uid {uid} changed hands; its average is forgotten");
            }
            // Those with an average and nothing committed this window decay toward nothing.
            let absent: Vec<u16> =
                self.scores.uids.keys().copied().filter(|u| !ws.rows.iter().any(|r| r.uid == *u)).collect();
            for uid in absent {
                let (hotkey, registered_at) = current[&uid];
                ws.rows.push(no_commit(uid, &hotkey, registered_at));
            }
            for r in ws.rows.iter().filter(|r| r.status != crate::score::NOT_SAMPLED) {
                if r.status != "ok" {
                    self.metrics.rejected(&r.status);
                }
                if current
                    .get(&r.uid)
                    .is_some_and(|(hk, reg)| hex::encode(hk) == r.hotkey && *reg == r.registered_at)
                {
                    let (hotkey, _) = current[&r.uid];
                    self.scores.record(r.uid, &hotkey, r.registered_at, r.score, r.gap, self.opts.alpha);
                }
            }
            save_scores(self.state.root(), &self.scores)?;
            let point = self.board.scored(Window(ws.window), ws.model_loss, &ws.rows);
            if let Err(e) = crate::dashboard::plot::write(&self.plot, &self.board.history()) {
                tracing::warn!("writing the loss chart {}: {e}", self.plot.display());
            }
            let report =
                Report::new(&ws, &self.scores, self.opts.power, self.opts.eval.min_gap, point.tokens);
            tracing::info!("\n{}", report.table());
            if let Err(e) = report.append(&self.state.root().join("reports.jsonl")) {
                tracing::warn!("appending the report of {}: {e}", ws.window);
            }
            self.metrics.windows_scored.inc();
            self.metrics.eval_seconds.inc_by(ws.seconds);
            self.metrics.model_loss.set(ws.model_loss);
            let averages = report.averages.clone();
            self.set_status(|s| {
                s.last_scored = Some(ws.window);
                s.model_loss = Some(ws.model_loss);
                s.scores = averages;
            });
            self.scored_since_weights += 1;
            if self.scored_since_weights >= self.opts.weights_every.max(1) {
                self.set_weights(fin, Window(ws.window), &neurons).await;
            }
        }
        Ok(())
    }

    async fn set_weights(&mut self, fin: BlockRef, w: Window, neurons: &[subnet_peer::seam::Neuron]) {
        let me = self.chain.hotkey();
        if !neurons.iter().any(|n| n.hotkey == me && n.permit) {
            tracing::info!("no validator permit yet: weights cannot be set (scoring goes on)");
            return;
        }
        let weights = self.scores.weights(self.opts.power, self.opts.eval.min_gap);
        if weights.is_empty() {
            tracing::info!("nobody has earned a weight yet");
            return;
        }
        match self.chain.set_weights(self.run.netuid(), weights.clone(), self.opts.version_key).await {
            Ok(block) => {
                self.scored_since_weights = 0;
                self.metrics.weights_set.inc();
                tracing::info!(
                    "weights set after {w} at block {block} (finalized {}): {weights:?}",
                    fin.number
                );
                self.set_status(|s| s.last_weights = Some((w.0, block)));
            }
            // Rate limits and the like: say why, try again after the next window.
            Err(e) => tracing::warn!("cannot set weights: {e}"),
        }
    }
}

fn no_commit(uid: u16, hotkey: &[u8; 32], registered_at: u64) -> Row {
    Row {
        uid,
        hotkey: hex::encode(hotkey),
        registered_at,
        status: Reason::NoCommit.as_str().into(),
        detail: "no commitment for the window".into(),
        own: None,
        random: None,
        improvement: None,
        gap: None,
        overlap: None,
        score: 0.0,
    }
}

fn secret_seed() -> anyhow::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness for the scoring seed: {e}"))?;
    Ok(seed)
}

fn parse32(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(text).context("a recorded hash is not hex")?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("a recorded hash is not 32 bytes"))
}

fn approval_path(root: &Path, w: Window) -> std::path::PathBuf {
    root.join("approvals").join(format!("{}.json", w.0))
}

fn read_record(path: &Path) -> anyhow::Result<Option<ApprovalRecord>> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_capped(path, 64 * 1024)?;
    Ok(Some(
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not an approval record", path.display()))?,
    ))
}

fn write_record(path: &Path, record: &ApprovalRecord) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_atomic(path, &serde_json::to_vec(record)?)?;
    Ok(())
}

fn prune_approvals(root: &Path, keep: Window) {
    let Ok(entries) = std::fs::read_dir(root.join("approvals")) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.strip_suffix(".json").and_then(|n| n.parse::<u64>().ok()).is_some_and(|w| w < keep.0) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Tokens trained into the model of `window`, as `tokens.json` in `root` says (0 without it,
/// or when it is of another window: the count then starts here).
pub(crate) fn load_tokens(root: &Path, window: Window) -> u64 {
    let Ok(bytes) = read_capped(&root.join("tokens.json"), 4096) else { return 0 };
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    match (doc.get("window").and_then(|w| w.as_u64()), doc.get("tokens").and_then(|t| t.as_u64())) {
        (Some(w), Some(t)) if w == window.0 => t,
        _ => 0,
    }
}

/// The moving averages saved in `root` (none yet: empty).
pub(crate) fn load_scores(root: &Path) -> anyhow::Result<Scores> {
    let path = root.join("scores.json");
    if !path.exists() {
        return Ok(Scores::default());
    }
    let bytes = read_capped(&path, 4 << 20)?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: not a scores file", path.display()))
}

fn save_scores(root: &Path, scores: &Scores) -> anyhow::Result<()> {
    write_atomic(&root.join("scores.json"), &serde_json::to_vec(scores)?)?;
    Ok(())
}
