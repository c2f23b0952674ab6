//! The policy that turns architecture parameters into mixtures.

use burn::tensor::{backend::Backend, Tensor};
use tangle_core::{Mixtures, SearchSpec};

use crate::error::Result;
use crate::params::ArchParams;

/// Turns α into one [`tangle_core::Mixture`] per decision for one forward pass, and into the
/// final architecture.
///
/// Sampling mixers draw from an RNG seeded by `(seed, draw)`, where `draw` is a counter the
/// engine advances every forward pass: the same draw gives the same sample, so a resumed search
/// repeats an uninterrupted one exactly without saving RNG state.
pub trait Mixer<B: Backend> {
    /// Mixtures for one forward pass.
    fn mixtures(&self, alphas: &ArchParams<B>, spec: &SearchSpec, draw: u64)
        -> Result<Mixtures<B>>;

    /// The distribution each decision's α stands for (for records and the argmax): softmax for
    /// DARTS and GDAS, the Dirichlet mean for DrNAS.
    fn probabilities(&self, alphas: &ArchParams<B>) -> Vec<Vec<f32>>;

    /// The discretized architecture as candidate indices: argmax of [`Mixer::probabilities`]
    /// per decision. `None` when the mixer stands for no architecture (SPOS: its supernet is
    /// searched by a second stage).
    fn argmax(&self, alphas: &ArchParams<B>) -> Option<Vec<usize>> {
        Some(
            self.probabilities(alphas)
                .iter()
                .map(|p| argmax(p))
                .collect(),
        )
    }

    /// Whether α drives the mixtures. Without α (SPOS's uniform sampling, a fixed path) the
    /// engine runs no α step and no validation pass.
    fn has_alpha(&self) -> bool {
        true
    }

    /// An extra term for the architecture loss (DrNAS's KL to the prior), if any.
    fn regularizer(&self, _alphas: &ArchParams<B>) -> Option<Tensor<B, 1>> {
        None
    }

    /// Called at the start of every epoch (GDAS anneals τ here).
    fn start_epoch(&mut self, _epoch: usize, _epochs: usize) {}

    /// A short name for records.
    fn name(&self) -> &'static str;
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}
