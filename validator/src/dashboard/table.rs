//! The dashboard's snapshot as a terminal table (`validator status`).

use std::fmt::Write as _;

use super::board::Snapshot;
use super::plot::tokens;

fn tao(rao: u64) -> String {
    format!("{:.3}", rao as f64 / 1e9)
}

fn short(hex: &str) -> &str {
    hex.get(..8).unwrap_or(hex)
}

/// The snapshot in words and one line per uid.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "subnet {} · {} · run {} · validator {}",
        s.netuid,
        s.preset,
        short(&s.run_id),
        short(&s.hotkey)
    );
    let _ = writeln!(
        out,
        "window {} ({}), head {}, finalized {}; model S_{} {} ({}), {} tokens trained",
        s.window,
        s.phase,
        s.head,
        s.finalized,
        s.model_window,
        short(&s.fingerprint),
        s.sync,
        tokens(s.tokens)
    );
    match (s.history.first(), s.history.last()) {
        (Some(first), Some(last)) => {
            let _ = writeln!(
                out,
                "eval loss {:.4} at window {} (from {:.4} at window {})",
                last.loss, last.window, first.loss, first.window
            );
        }
        _ => out.push_str("no window scored yet\n"),
    }
    let _ = writeln!(
        out,
        "{:>4} {:<9} {:<8} {:>10} {:>12} {:<13} {:>7} {:>7} {:>6} {:>6} {:>6} {:>9} {:>10}  model",
        "uid",
        "role",
        "hotkey",
        "stake τ",
        "last commit",
        "status",
        "score",
        "avg",
        "weight",
        "incent",
        "divid",
        "epoch τ",
        "earned τ"
    );
    let opt = |x: Option<f64>, d: usize| x.map_or("-".to_string(), |x| format!("{x:.d$}"));
    for u in &s.uids {
        let model = match &u.model {
            Some((w, fp)) if *w == s.model_window && *fp == s.fingerprint => {
                format!("S_{w} {} (same)", short(fp))
            }
            Some((w, fp)) => format!("S_{w} {}", short(fp)),
            None => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:>4} {:<9} {:<8} {:>10} {:>12} {:<13} {:>7} {:>7} {:>6} {:>6.3} {:>6.3} {:>9} {:>10}  {model}{}",
            u.uid,
            if u.role.is_empty() { "-" } else { &u.role },
            short(&u.hotkey),
            tao(u.stake),
            u.last_commit.map_or("-".into(), |(w, b)| format!("w{w} @{b}")),
            u.status.as_deref().unwrap_or("-"),
            opt(u.score, 4),
            opt(u.average, 4),
            opt(u.weight.map(f64::from), 3),
            u.incentive,
            u.dividends,
            tao(u.emission),
            tao(u.earned),
            if u.hotkey == s.hotkey { "  <- this validator" } else { "" }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::board::{Point, UidRow};

    #[test]
    fn every_uid_gets_a_line_with_its_numbers() {
        let s = Snapshot {
            hotkey: "aa".repeat(32),
            fingerprint: "cd".repeat(32),
            model_window: 9,
            history: vec![
                Point { window: 3, loss: 8.3, tokens: 0 },
                Point { window: 8, loss: 7.5, tokens: 40_960 },
            ],
            uids: vec![
                UidRow {
                    uid: 0,
                    hotkey: "aa".repeat(32),
                    role: "validator".into(),
                    stake: 1_500_000_000,
                    ..Default::default()
                },
                UidRow {
                    uid: 1,
                    hotkey: "bb".repeat(32),
                    role: "miner".into(),
                    status: Some("ok".into()),
                    score: Some(0.0123),
                    incentive: 0.5,
                    earned: 2_000_000_000,
                    last_commit: Some((8, 171)),
                    model: Some((9, "cd".repeat(32))),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let text = render(&s);
        assert!(text.contains("eval loss 7.5000 at window 8 (from 8.3000 at window 3)"), "{text}");
        let miner = text.lines().find(|l| l.trim_start().starts_with("1 ")).expect("uid 1's line");
        for part in ["miner", "w8 @171", "ok", "0.0123", "0.500", "2.000", "S_9 cdcdcdcd (same)"] {
            assert!(miner.contains(part), "{part} in {miner}");
        }
        assert!(text.contains("1.500") && text.contains("<- this validator"), "{text}");
    }
}
