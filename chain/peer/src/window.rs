//! The window clock: which window a block is in, its deadlines and phase (`docs/protocol.md`,
//! section 2). Pure arithmetic on block numbers: time is the chain's.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A training window's number: `block / blocks_per_window`. Not a block number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Window(pub u64);

impl Window {
    /// The window after.
    pub fn next(self) -> Window {
        Window(self.0 + 1)
    }

    /// The window before, if any.
    pub fn prev(self) -> Option<Window> {
        self.0.checked_sub(1).map(Window)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "window {}", self.0)
    }
}

/// Where a block stands in its window's life, as a miner sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Training; the commit must be submitted before `commit_by`.
    Train,
    /// Past the commit margin: a commit not yet submitted would risk missing `D_w`.
    Commit,
}

/// Why a schedule is refused.
#[allow(missing_docs)] // the fields are the message's
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("window.blocks must be at least 2, got {0}")]
    TooShort(u64),
    #[error("window.approval_blocks must be in 1..{blocks} (less than a window), got {got}")]
    Approval { blocks: u64, got: u64 },
    #[error("window.commit_margin must be less than window.blocks ({blocks}), got {got}")]
    Margin { blocks: u64, got: u64 },
}

/// The run's window schedule, in blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    blocks: u64,
    approval: u64,
    margin: u64,
}

impl Schedule {
    /// `blocks` per window (`B`), `approval` blocks after the commit deadline (`a`), and the
    /// `margin` by which a commit must be submitted before the deadline.
    pub fn new(blocks: u64, approval: u64, margin: u64) -> Result<Self, ScheduleError> {
        if blocks < 2 {
            return Err(ScheduleError::TooShort(blocks));
        }
        if approval == 0 || approval >= blocks {
            return Err(ScheduleError::Approval { blocks, got: approval });
        }
        if margin >= blocks {
            return Err(ScheduleError::Margin { blocks, got: margin });
        }
        Ok(Self { blocks, approval, margin })
    }

    /// `B`.
    pub fn blocks_per_window(&self) -> u64 {
        self.blocks
    }

    /// The window `block` is in.
    pub fn window_of(&self, block: u64) -> Window {
        Window(block / self.blocks)
    }

    /// The window's first block, `w B`, or `None` past `u64`.
    pub fn start(&self, w: Window) -> Option<u64> {
        w.0.checked_mul(self.blocks)
    }

    /// The commit deadline `D_w = (w + 1) B - 1`: the last block a commitment for `w` may land in.
    pub fn commit_deadline(&self, w: Window) -> Option<u64> {
        w.0.checked_add(1)?.checked_mul(self.blocks).map(|b| b - 1)
    }

    /// The approval deadline `A_w = D_w + a`.
    pub fn approval_deadline(&self, w: Window) -> Option<u64> {
        self.commit_deadline(w)?.checked_add(self.approval)
    }

    /// The last block at which a miner may still submit its commit for `w`.
    pub fn commit_by(&self, w: Window) -> Option<u64> {
        Some(self.commit_deadline(w)? - self.margin)
    }

    /// Whether a commitment for `w` that landed in `block` counts.
    pub fn in_commit_range(&self, w: Window, block: u64) -> bool {
        match (self.start(w), self.commit_deadline(w)) {
            (Some(start), Some(deadline)) => (start..=deadline).contains(&block),
            _ => false,
        }
    }

    /// The phase of `block`'s own window.
    pub fn phase(&self, block: u64) -> Phase {
        if block % self.blocks < self.blocks - self.margin {
            Phase::Train
        } else {
            Phase::Commit
        }
    }

    /// Blocks left in `block`'s window before the commit must be submitted (0 in `Commit`).
    pub fn blocks_to_commit(&self, block: u64) -> u64 {
        (self.blocks - self.margin).saturating_sub(block % self.blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_deadlines_on_numbers() {
        let s = Schedule::new(20, 6, 3).unwrap();
        assert_eq!(s.window_of(0), Window(0));
        assert_eq!(s.window_of(19), Window(0));
        assert_eq!(s.window_of(20), Window(1));
        assert_eq!(s.window_of(1_000_019), Window(50_000));
        let w = Window(7);
        assert_eq!(s.start(w), Some(140));
        assert_eq!(s.commit_deadline(w), Some(159));
        assert_eq!(s.approval_deadline(w), Some(165));
        assert_eq!(s.commit_by(w), Some(156));
        assert!(s.in_commit_range(w, 140) && s.in_commit_range(w, 159));
        assert!(!s.in_commit_range(w, 139) && !s.in_commit_range(w, 160));
        // The approval deadline lies inside the next window.
        assert_eq!(s.window_of(s.approval_deadline(w).unwrap()), w.next());
    }

    #[test]
    fn phases_follow_the_commit_margin() {
        let s = Schedule::new(20, 6, 3).unwrap();
        assert_eq!(s.phase(140), Phase::Train);
        assert_eq!(s.phase(156), Phase::Train);
        assert_eq!(s.phase(157), Phase::Commit);
        assert_eq!(s.phase(159), Phase::Commit);
        assert_eq!(s.phase(160), Phase::Train);
        assert_eq!(s.blocks_to_commit(140), 17);
        assert_eq!(s.blocks_to_commit(156), 1);
        assert_eq!(s.blocks_to_commit(158), 0);
        // With no margin the whole window is for training.
        let s = Schedule::new(20, 6, 0).unwrap();
        assert!((0..20).all(|b| s.phase(b) == Phase::Train));
    }

    #[test]
    fn bad_schedules_are_refused() {
        assert_eq!(Schedule::new(1, 0, 0), Err(ScheduleError::TooShort(1)));
        assert_eq!(Schedule::new(20, 0, 3), Err(ScheduleError::Approval { blocks: 20, got: 0 }));
        assert_eq!(Schedule::new(20, 20, 3), Err(ScheduleError::Approval { blocks: 20, got: 20 }));
        assert_eq!(Schedule::new(20, 6, 20), Err(ScheduleError::Margin { blocks: 20, got: 20 }));
    }

    #[test]
    fn deadlines_never_overflow() {
        let s = Schedule::new(20, 6, 3).unwrap();
        let last = s.window_of(u64::MAX);
        assert_eq!(s.start(last), Some(last.0 * 20));
        assert_eq!(s.commit_deadline(last), None);
        assert_eq!(s.approval_deadline(last), None);
        assert!(!s.in_commit_range(last, u64::MAX));
        assert_eq!(Window(0).prev(), None);
        assert_eq!(Window(3).prev(), Some(Window(2)));
    }
}
