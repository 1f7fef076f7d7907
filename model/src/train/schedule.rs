//! Learning-rate schedule: linear warmup, then cosine decay to a floor.

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrSchedule {
    pub peak: f64,
    pub min: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
}

impl LrSchedule {
    /// Learning rate at optimizer step `step` (0-based): `peak * (step + 1) / warmup` during
    /// warmup, then `min + (peak - min) * (1 + cos(pi * progress)) / 2`, then `min` after the end.
    pub fn at(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / decay as f64).min(1.0);
        self.min + (self.peak - self.min) * 0.5 * (1.0 + libm::cos(core::f64::consts::PI * progress))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let s = LrSchedule { peak: 1.0, min: 0.1, warmup_steps: 10, total_steps: 110 };
        assert!((s.at(0) - 0.1).abs() < 1e-12);
        assert!((s.at(9) - 1.0).abs() < 1e-12);
        assert!((s.at(10) - 1.0).abs() < 1e-12);
        assert!((s.at(60) - 0.55).abs() < 1e-12);
        assert!((s.at(110) - 0.1).abs() < 1e-12);
        assert!((s.at(500) - 0.1).abs() < 1e-12);
        assert!((1..110).all(|k| s.at(k) <= s.at(k - 1) || k <= 10));
    }
}
