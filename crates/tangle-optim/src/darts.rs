//! DARTS: mixture weights = softmax(α) (or sparsemax(α)).

use burn::tensor::{activation::softmax, backend::Backend};
use tangle_core::{Mixture, Mixtures, SearchSpec};

use crate::error::Result;
use crate::mixer::Mixer;
use crate::params::{host, ArchParams};
use crate::sparsemax::sparsemax;

/// How DARTS normalizes α.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Normalizer {
    /// softmax(α).
    Softmax,
    /// sparsemax(α): a sparse point of the simplex (the official entangled DARTS path).
    Sparsemax,
}

/// The DARTS mixer. First- or second-order is a property of the engine's α step
/// ([`crate::engine::ArchStep`]), not of the mixer.
#[derive(Debug, Clone)]
pub struct Darts {
    /// The normalizer.
    pub normalizer: Normalizer,
}

impl Darts {
    /// DARTS with softmax.
    pub fn softmax() -> Self {
        Darts {
            normalizer: Normalizer::Softmax,
        }
    }

    /// DARTS with sparsemax.
    pub fn sparsemax() -> Self {
        Darts {
            normalizer: Normalizer::Sparsemax,
        }
    }

    fn normalize<B: Backend>(&self, a: burn::tensor::Tensor<B, 1>) -> burn::tensor::Tensor<B, 1> {
        match self.normalizer {
            Normalizer::Softmax => softmax(a, 0),
            Normalizer::Sparsemax => sparsemax(a),
        }
    }
}

impl<B: Backend> Mixer<B> for Darts {
    fn mixtures(
        &self,
        alphas: &ArchParams<B>,
        spec: &SearchSpec,
        _draw: u64,
    ) -> Result<Mixtures<B>> {
        let m = alphas
            .alpha
            .iter()
            .map(|a| Mixture::weights(self.normalize(a.val())))
            .collect();
        Ok(Mixtures::new(spec, m)?)
    }

    fn probabilities(&self, alphas: &ArchParams<B>) -> Vec<Vec<f32>> {
        alphas
            .alpha
            .iter()
            .map(|a| host(&self.normalize(a.val())))
            .collect()
    }

    fn name(&self) -> &'static str {
        match self.normalizer {
            Normalizer::Softmax => "darts",
            Normalizer::Sparsemax => "darts-sparsemax",
        }
    }
}
