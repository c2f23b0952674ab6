//! The weight learning-rate schedule: cosine per epoch, with an optional linear warm-up.

use super::*;

impl SearchConfig {
    /// The weight learning rate of global step `step` in `epoch`: the epoch's cosine value,
    /// scaled linearly during the first `lr_warmup_steps` steps.
    pub fn lr_at_step(&self, epoch: usize, step: usize) -> f64 {
        let lr = self.lr_at(epoch);
        if step < self.lr_warmup_steps {
            lr * (step + 1) as f64 / self.lr_warmup_steps as f64
        } else {
            lr
        }
    }

    /// The weight learning rate of `epoch` (cosine from `lr` to `lr_min`).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let t = epoch as f64 / self.epochs.max(1) as f64;
        self.lr_min + 0.5 * (self.lr - self.lr_min) * (1.0 + (std::f64::consts::PI * t).cos())
    }
}
