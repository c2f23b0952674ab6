//! SPOS supernet training: every step trains one uniformly sampled single path.

use burn::tensor::backend::Backend;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tangle_core::{Mixture, Mixtures, SearchSpec};
use tangle_optim::{ArchParams, Mixer, SearchConfig};

/// The SPOS sampling policy as a [`Mixer`]: each draw picks one candidate per decision
/// uniformly at random (seeded by `(seed, draw)`), and the supernet runs that single path on its
/// sliced weights. α is never used.
///
/// Run it with [`tangle_optim::Search`] and [`spos_config`], which keeps every epoch a weight
/// epoch: the engine's optimizers, schedules, records and checkpoint / resume then serve SPOS
/// unchanged.
#[derive(Debug, Clone)]
pub struct Spos {
    seed: u64,
}

impl Spos {
    /// Uniform single-path sampling from `seed`.
    pub fn new(seed: u64) -> Self {
        Spos { seed }
    }
}

/// `base` with every epoch a weight epoch (no α step).
pub fn spos_config(base: SearchConfig) -> SearchConfig {
    SearchConfig {
        warmup_epochs: base.epochs,
        ..base
    }
}

impl<B: Backend> Mixer<B> for Spos {
    fn mixtures(
        &self,
        _alphas: &ArchParams<B>,
        spec: &SearchSpec,
        draw: u64,
    ) -> tangle_optim::Result<Mixtures<B>> {
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

    fn probabilities(&self, alphas: &ArchParams<B>) -> Vec<Vec<f32>> {
        alphas
            .values()
            .iter()
            .map(|a| vec![1.0 / a.len() as f32; a.len()])
            .collect()
    }

    fn name(&self) -> &'static str {
        "spos"
    }
}
