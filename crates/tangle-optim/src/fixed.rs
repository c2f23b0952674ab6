//! A fixed single path: the "trained alone" reference of a search.

use burn::tensor::backend::Backend;
use tangle_core::{Architecture, Mixture, Mixtures, SearchSpec};

use crate::error::Result;
use crate::mixer::Mixer;
use crate::params::ArchParams;

/// Every pass runs one fixed architecture, in single-path mode on its sliced weights; it has no
/// α, so a [`crate::Search`] runs weight steps only. Run on a freshly built supernet, the
/// supernet trains exactly that network alone, with the search's data, optimizer and schedule — the reference a discovered
/// architecture's inherited-weight score is compared with.
#[derive(Debug, Clone)]
pub struct FixedPath {
    indices: Vec<usize>,
}

impl FixedPath {
    /// The path of `arch` in `spec` (an error names a decision `arch` lacks or an unknown
    /// value).
    pub fn new(spec: &SearchSpec, arch: &Architecture) -> Result<Self> {
        Ok(FixedPath {
            indices: spec.indices(arch)?,
        })
    }
}

impl<B: Backend> Mixer<B> for FixedPath {
    fn mixtures(
        &self,
        _alphas: &ArchParams<B>,
        spec: &SearchSpec,
        _draw: u64,
    ) -> Result<Mixtures<B>> {
        Ok(Mixtures::new(
            spec,
            self.indices.iter().map(|&i| Mixture::single(i)).collect(),
        )?)
    }

    fn probabilities(&self, alphas: &ArchParams<B>) -> Vec<Vec<f32>> {
        alphas
            .values()
            .iter()
            .zip(&self.indices)
            .map(|(a, &i)| {
                (0..a.len())
                    .map(|j| if j == i { 1.0 } else { 0.0 })
                    .collect()
            })
            .collect()
    }

    fn has_alpha(&self) -> bool {
        false
    }

    fn argmax(&self, _alphas: &ArchParams<B>) -> Option<Vec<usize>> {
        Some(self.indices.clone())
    }

    fn name(&self) -> &'static str {
        "fixed"
    }
}
