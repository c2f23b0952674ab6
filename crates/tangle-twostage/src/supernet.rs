//! The second stage's view of a trained supernet: candidates scored with inherited weights.

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use tangle_core::{Architecture, SearchSpec, Supernet};
use tangle_optim::Objective;

use crate::error::Result;
use crate::evaluate::{recalibrate, score, Metric};
use crate::search::{evolution, random_search, EvolutionConfig, History, Window};

/// A validation batch on the inference backend of `M`: its input and its target.
pub type ValidBatch<B, M, T> = (
    <<M as AutodiffModule<B>>::InnerModule as Supernet<<B as AutodiffBackend>::InnerBackend>>::Input,
    T,
);

/// A supernet trained by SPOS (`tangle_optim::Search::with_method(.., Method::Spos, ..)`, its
/// `model` after the run), ready for a second-stage search. Each candidate is scored by
/// [`score`] on the validation batches with the inherited weights, after [`recalibrate`]
/// re-estimates its batch norms on the recalibration inputs if any were given.
///
/// ```ignore
/// let trained = TrainedSupernet::new(&spos.model, &valid_batches, &Classification, Metric::Accuracy)
///     .with_recalibration(&train_inputs);
/// let history = trained.evolution(&EvolutionConfig::default(), None, seed)?;
/// let best = history.best().unwrap();
/// ```
pub struct TrainedSupernet<'a, B, M, T, O>
where
    B: AutodiffBackend,
    M: Supernet<B> + AutodiffModule<B>,
    M::InnerModule: Supernet<B::InnerBackend>,
{
    model: &'a M,
    valid: &'a [ValidBatch<B, M, T>],
    objective: &'a O,
    metric: Metric,
    recalibration: &'a [M::Input],
}

impl<'a, B, M, T, O> TrainedSupernet<'a, B, M, T, O>
where
    B: AutodiffBackend,
    M: Supernet<B> + AutodiffModule<B>,
    M::Input: Clone,
    M::InnerModule: Supernet<B::InnerBackend>,
    <M::InnerModule as Supernet<B::InnerBackend>>::Input: Clone,
    O: Objective<B::InnerBackend, <M::InnerModule as Supernet<B::InnerBackend>>::Output, T>,
{
    /// `model` scored on `valid` (inference-backend batches of the validation split) by
    /// `objective` and `metric`; no recalibration.
    pub fn new(
        model: &'a M,
        valid: &'a [ValidBatch<B, M, T>],
        objective: &'a O,
        metric: Metric,
    ) -> Self {
        TrainedSupernet {
            model,
            valid,
            objective,
            metric,
            recalibration: &[],
        }
    }

    /// Re-estimates a candidate's batch-norm statistics on `inputs` (training batches) before
    /// scoring it; empty: off.
    pub fn with_recalibration(mut self, inputs: &'a [M::Input]) -> Self {
        self.recalibration = inputs;
        self
    }

    /// The space's decisions.
    pub fn spec(&self) -> &SearchSpec {
        self.model.spec()
    }

    /// The score of `arch` (higher is better).
    pub fn score(&self, arch: &Architecture) -> Result<f32> {
        if !self.recalibration.is_empty() {
            recalibrate(self.model, arch, self.recalibration)?;
        }
        // The inference copy carries the statistics just re-estimated.
        score(
            &self.model.valid(),
            arch,
            self.valid,
            self.objective,
            self.metric,
        )
    }

    /// Random search: `budget` distinct architectures (inside `window`, if given).
    pub fn random_search(
        &self,
        budget: usize,
        window: Option<&Window>,
        seed: u64,
    ) -> Result<History> {
        random_search(self.spec(), budget, window, seed, |a| self.score(a))
    }

    /// AutoFormer-style evolution (inside `window`, if given).
    pub fn evolution(
        &self,
        cfg: &EvolutionConfig,
        window: Option<&Window>,
        seed: u64,
    ) -> Result<History> {
        evolution(self.spec(), cfg, window, seed, |a| self.score(a))
    }
}
