//! The per-window report: a table in the log, and one JSON line per window in
//! `reports.jsonl` of the state directory (appended and synced, so a crash loses at most the
//! line being written).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::score::WindowScores;
use crate::weights::Scores;

/// A report line: the window's scores with each uid's moving average and weight after it.
#[derive(Serialize)]
pub struct Report<'a> {
    /// The scores.
    #[serde(flatten)]
    pub scores: &'a WindowScores,
    /// Uid, moving average, weight, after folding this window in.
    pub averages: Vec<(u16, f64, f32)>,
    /// Tokens of the inner rounds applied before `S_w` (as far as this validator followed).
    pub model_tokens: u64,
}

impl<'a> Report<'a> {
    /// The report of `scores` with the averages and weights (`power`, `min_gap`) after it.
    pub fn new(
        scores: &'a WindowScores,
        averages: &Scores,
        power: f64,
        min_gap: f64,
        model_tokens: u64,
    ) -> Self {
        let weights = averages.weights(power, min_gap);
        let averages = averages
            .uids
            .iter()
            .map(|(uid, s)| {
                (*uid, s.average, weights.iter().find(|(u, _)| u == uid).map_or(0.0, |(_, w)| *w))
            })
            .collect();
        Self { scores, averages, model_tokens }
    }

    /// The table for the log.
    pub fn table(&self) -> String {
        let s = self.scores;
        let mut out = format!(
            "window {} scored in {:.1} s (seed {}, model loss {:.4})\n{:>4}  {:<14} {:>17} {:>17} {:>8} {:>8} {:>7} {:>7} {:>7}\n",
            s.window,
            s.seconds,
            &s.seed[..12],
            s.model_loss,
            "uid",
            "status",
            "own before>after",
            "rand before>after",
            "improve",
            "gap",
            "score",
            "avg",
            "weight"
        );
        let pair = |p: Option<(f64, f64)>| p.map_or("-".into(), |(a, b)| format!("{a:.4}>{b:.4}"));
        let num = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.4}"));
        for r in &s.rows {
            let (avg, weight) =
                self.averages.iter().find(|(u, ..)| *u == r.uid).map_or((0.0, 0.0), |(_, a, w)| (*a, *w));
            let _ = writeln!(
                out,
                "{:>4}  {:<14} {:>17} {:>17} {:>8} {:>8} {:>7.4} {:>7.4} {:>7.4}{}",
                r.uid,
                r.status,
                pair(r.own),
                pair(r.random),
                num(r.improvement),
                num(r.gap),
                r.score,
                avg,
                weight,
                if r.detail.is_empty() { String::new() } else { format!("  ({})", r.detail) }
            );
        }
        out
    }

    /// The loss curve in the report file at `path`: the last `limit` windows' model loss and
    /// tokens (a missing file: none). Reads at most the last 16 MiB; lines it cannot parse are
    /// passed over.
    pub fn history(path: &Path, limit: usize) -> Vec<crate::dashboard::Point> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = std::fs::File::open(path) else { return Vec::new() };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let from = len.saturating_sub(16 << 20);
        let mut text = String::new();
        if f.seek(SeekFrom::Start(from)).is_err() || f.take(16 << 20).read_to_string(&mut text).is_err() {
            return Vec::new();
        }
        #[derive(serde::Deserialize)]
        struct Line {
            window: u64,
            model_loss: f64,
            #[serde(default)]
            model_tokens: u64,
        }
        let mut points: Vec<crate::dashboard::Point> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Line>(l).ok())
            .map(|l| crate::dashboard::Point { window: l.window, loss: l.model_loss, tokens: l.model_tokens })
            .collect();
        points.sort_by_key(|p| p.window);
        points.dedup_by_key(|p| p.window);
        let excess = points.len().saturating_sub(limit);
        points.drain(..excess);
        points
    }

    /// Appends the JSON line to `path`.
    pub fn append(&self, path: &Path) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        f.write_all(&line)?;
        f.sync_data()
    }
}
