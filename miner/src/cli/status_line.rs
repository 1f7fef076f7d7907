//! The live status line of `miner run`: window, phase, step, loss, tokens/s, last commit, sync.

use miner::MinerStatus;

/// One line of status.
pub fn render(s: &MinerStatus) -> String {
    let mut line = format!("window {} ({}, block {})", s.window, s.phase, s.head);
    if s.step > 0 {
        line += &format!(" | step {}/{}", s.step, s.steps);
    }
    if let Some(loss) = s.loss {
        line += &format!(" loss {loss:.3}");
    }
    if let Some(tps) = s.tokens_per_second {
        line += &format!(" {tps:.0} tok/s");
    }
    match &s.last_commit {
        Some((w, hash, block)) => {
            line += &format!(" | last commit w{w} {} @{block}", &hash[..12.min(hash.len())])
        }
        None => line += " | no commit yet",
    }
    if let Some((w, _, what)) = &s.predicted {
        line += &format!(" | predicted w{w}: {what}");
    }
    line += &format!(
        " | model w{} {} | {}",
        s.model_window,
        &s.fingerprint[..12.min(s.fingerprint.len())],
        s.sync
    );
    line
}
