//! From window scores to on-chain weights: a moving average per uid, forgotten when the uid
//! changes hands (another hotkey, or the same hotkey registered again), raised to a power
//! above 1 so that splitting one run over several hotkeys earns less than running it as one,
//! then normalized. A uid whose own pages have not, on average, gained more than random pages
//! (it does not train on what it is assigned) gets no weight: one window's gap is too noisy to
//! judge, a moving average of it is not.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Windows of gap history before the gap rule applies.
pub const GAP_WINDOWS: u64 = 3;

/// One uid's moving average and whose it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UidScore {
    /// The hotkey the average belongs to, hex.
    pub hotkey: String,
    /// The block it registered in.
    pub registered_at: u64,
    /// The moving average of its window scores.
    pub average: f64,
    /// The moving average of its own-page gap (see `score`), over the windows that had one.
    pub gap: Option<f64>,
    /// Windows scored.
    pub windows: u64,
}

/// Moving-average scores, by uid.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// By uid.
    pub uids: BTreeMap<u16, UidScore>,
}

impl Scores {
    /// Folds one window's score (and own-page gap, if it was evaluated) of `uid` into its
    /// averages with weight `alpha` (a new or re-registered participant starts from this
    /// window alone).
    pub fn record(
        &mut self,
        uid: u16,
        hotkey: &[u8; 32],
        registered_at: u64,
        score: f64,
        gap: Option<f64>,
        alpha: f64,
    ) {
        let hotkey = hex::encode(hotkey);
        let score = if score.is_finite() { score.max(0.0) } else { 0.0 };
        let gap = gap.filter(|g| g.is_finite());
        match self.uids.get_mut(&uid) {
            Some(s) if s.hotkey == hotkey && s.registered_at == registered_at => {
                s.average = (1.0 - alpha) * s.average + alpha * score;
                s.gap = match (s.gap, gap) {
                    (Some(old), Some(new)) => Some((1.0 - alpha) * old + alpha * new),
                    (old, new) => new.or(old),
                };
                s.windows += 1;
            }
            _ => {
                self.uids.insert(uid, UidScore { hotkey, registered_at, average: score, gap, windows: 1 });
            }
        }
    }

    /// Drops averages whose uid is now someone else's (or gone): `current` maps uid to its
    /// (hotkey, registration block).
    pub fn forget_changed(&mut self, current: &BTreeMap<u16, ([u8; 32], u64)>) -> Vec<u16> {
        let gone: Vec<u16> = self
            .uids
            .iter()
            .filter(|(uid, s)| {
                current
                    .get(uid)
                    .is_none_or(|(hk, reg)| hex::encode(hk) != s.hotkey || *reg != s.registered_at)
            })
            .map(|(uid, _)| *uid)
            .collect();
        for uid in &gone {
            self.uids.remove(uid);
        }
        gone
    }

    /// Whether `uid`'s average own-page gap, over at least [`GAP_WINDOWS`] windows, is below `min_gap`.
    pub fn off_its_pages(&self, uid: u16, min_gap: f64) -> bool {
        self.uids.get(&uid).is_some_and(|s| s.windows >= GAP_WINDOWS && s.gap.is_some_and(|g| g < min_gap))
    }

    /// The weights to set: `average^power`, normalized to sum to 1; uids with a zero average,
    /// or off their pages (`min_gap`), get none. Empty when nobody has earned anything.
    pub fn weights(&self, power: f64, min_gap: f64) -> Vec<(u16, f32)> {
        let raised: Vec<(u16, f64)> = self
            .uids
            .iter()
            .filter(|(uid, _)| !self.off_its_pages(**uid, min_gap))
            .map(|(uid, s)| (*uid, s.average.max(0.0).powf(power)))
            .filter(|(_, w)| *w > 0.0)
            .collect();
        let total: f64 = raised.iter().map(|(_, w)| w).sum();
        if !(total > 0.0 && total.is_finite()) {
            return Vec::new();
        }
        raised.into_iter().map(|(uid, w)| (uid, (w / total) as f32)).collect()
    }

    /// The weight `uid` would get now.
    pub fn weight_of(&self, uid: u16, power: f64, min_gap: f64) -> f32 {
        self.weights(power, min_gap).into_iter().find(|(u, _)| *u == uid).map_or(0.0, |(_, w)| w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_average_moves_toward_new_scores_and_resets_for_a_new_participant() {
        let mut s = Scores::default();
        s.record(3, &[1; 32], 10, 0.4, None, 0.25);
        assert_eq!(s.uids[&3].average, 0.4);
        s.record(3, &[1; 32], 10, 0.0, None, 0.25);
        assert!((s.uids[&3].average - 0.3).abs() < 1e-12);
        // The same uid under another hotkey, or re-registered: the history is not theirs.
        s.record(3, &[2; 32], 10, 0.1, None, 0.25);
        assert_eq!((s.uids[&3].average, s.uids[&3].windows), (0.1, 1));
        s.record(3, &[2; 32], 50, 0.2, None, 0.25);
        assert_eq!((s.uids[&3].average, s.uids[&3].windows), (0.2, 1));
        // Negative and non-finite scores count as nothing.
        s.record(4, &[4; 32], 1, -1.0, None, 0.5);
        s.record(5, &[5; 32], 1, f64::NAN, None, 0.5);
        assert_eq!((s.uids[&4].average, s.uids[&5].average), (0.0, 0.0));
    }

    #[test]
    fn weights_are_normalized_superlinear_and_skip_zeros() {
        let mut s = Scores::default();
        s.record(0, &[0; 32], 0, 0.2, None, 1.0);
        s.record(1, &[1; 32], 0, 0.1, None, 1.0);
        s.record(2, &[2; 32], 0, 0.0, None, 1.0);
        let w = s.weights(2.0, f64::NEG_INFINITY);
        assert_eq!(w.len(), 2);
        assert!((w.iter().map(|(_, w)| w).sum::<f32>() - 1.0).abs() < 1e-6);
        // 0.2^2 : 0.1^2 = 4 : 1.
        assert!((w[0].1 - 0.8).abs() < 1e-6 && (w[1].1 - 0.2).abs() < 1e-6, "{w:?}");
        assert!(Scores::default().weights(2.0, f64::NEG_INFINITY).is_empty());
    }

    #[test]
    fn splitting_one_run_over_two_hotkeys_earns_less_than_running_it_as_one() {
        // One miner doing work worth 0.2 against an honest peer worth 0.2 ...
        let mut whole = Scores::default();
        whole.record(0, &[0; 32], 0, 0.2, None, 1.0);
        whole.record(1, &[1; 32], 0, 0.2, None, 1.0);
        // ... or the same compute split over two hotkeys, each doing half the work.
        let mut split = Scores::default();
        split.record(0, &[0; 32], 0, 0.2, None, 1.0);
        split.record(1, &[1; 32], 0, 0.1, None, 1.0);
        split.record(2, &[2; 32], 0, 0.1, None, 1.0);
        let one = whole.weight_of(1, 2.0, f64::NEG_INFINITY);
        let two = split.weight_of(1, 2.0, f64::NEG_INFINITY) + split.weight_of(2, 2.0, f64::NEG_INFINITY);
        assert!(two < one, "split {two} vs whole {one}");
    }

    #[test]
    fn changed_uids_are_forgotten() {
        let mut s = Scores::default();
        s.record(0, &[0; 32], 0, 0.2, None, 1.0);
        s.record(1, &[1; 32], 0, 0.2, None, 1.0);
        s.record(2, &[2; 32], 0, 0.2, None, 1.0);
        let current = BTreeMap::from([(0, ([0; 32], 0)), (1, ([9; 32], 0)), (2, ([2; 32], 7))]);
        assert_eq!(s.forget_changed(&current), vec![1, 2]);
        assert_eq!(s.uids.keys().copied().collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn a_uid_whose_own_pages_gain_no_more_than_random_ones_gets_no_weight() {
        let mut s = Scores::default();
        for w in 0..4 {
            // Honest: noisy gaps, positive on average. Off its pages: gaps around zero and below.
            s.record(0, &[0; 32], 0, 0.05, Some([0.01, -0.004, 0.012, 0.006][w]), 0.3);
            s.record(1, &[1; 32], 0, 0.05, Some([0.002, -0.006, 0.001, -0.003][w]), 0.3);
            // Nothing evaluated (a failed check): no gap history, the score decides.
            s.record(2, &[2; 32], 0, 0.0, None, 0.3);
            if w < GAP_WINDOWS as usize - 1 {
                assert!(!s.off_its_pages(1, 0.0), "judged after {} windows", w + 1);
            }
        }
        assert!(!s.off_its_pages(0, 0.0) && s.off_its_pages(1, 0.0));
        assert_eq!(s.weights(2.0, 0.0), vec![(0, 1.0)]);
    }
}
