//! SPOS's sampling: one uniformly drawn single path per pass, no architecture parameters.

use burn::tensor::backend::Backend;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tangle_core::{Mixture, Mixtures, SearchSpec};

use crate::error::Result;
use crate::mixer::Mixer;
use crate::params::ArchParams;

/// Single-path one-shot training (SPOS, Guo et al. 2020): each pass picks one candidate per
/// decision uniformly at random, seeded by `(seed, draw)`, and the supernet runs that path on
/// its sliced weights.
///
/// It has no α ([`Mixer::has_alpha`] is false): the engine then runs no α step and no
/// validation pass, and the search ends with a trained supernet but no architecture — a
/// second stage (`tangle_twostage::random_search` or `evolution`) picks one. Use it through
/// [`crate::Method::Spos`].
#[derive(Debug, Clone)]
pub struct UniformPath {
    seed: u64,
}

impl UniformPath {
    /// Uniform single-path sampling from `seed`.
    pub fn new(seed: u64) -> Self {
        UniformPath { seed }
    }
}

impl<B: Backend> Mixer<B> for UniformPath {
    fn mixtures(
        &self,
        _alphas: &ArchParams<B>,
        spec: &SearchSpec,
        draw: u64,
    ) -> Result<Mixtures<B>> {
        // The seed mix of the former `tangle_twostage::Spos`, kept so that SPOS runs recorded
        // before the move (the quality study's tables) are reproduced draw for draw.
        let mut rng = StdRng::seed_from_u64(
            self.seed ^ draw.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17),
        );
        let picks = spec
            .decisions()
            .iter()
            .map(|d| Mixture::single(rng.random_range(0..d.len())))
            .collect();
        Ok(Mixtures::new(spec, picks)?)
    }

    /// The sampling distribution: uniform over each decision's candidates.
    fn probabilities(&self, alphas: &ArchParams<B>) -> Vec<Vec<f32>> {
        alphas
            .values()
            .iter()
            .map(|a| vec![1.0 / a.len() as f32; a.len()])
            .collect()
    }

    fn has_alpha(&self) -> bool {
        false
    }

    /// None: SPOS trains a supernet; a second-stage search picks the architecture.
    fn argmax(&self, _alphas: &ArchParams<B>) -> Option<Vec<usize>> {
        None
    }

    fn name(&self) -> &'static str {
        "spos"
    }
}
