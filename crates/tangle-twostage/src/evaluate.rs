//! Scoring a candidate with the supernet's inherited weights.

use burn::tensor::backend::Backend;
use burn::tensor::ElementConversion;
use tangle_core::{Architecture, Mixtures, SearchData, Supernet};
use tangle_optim::Objective;

use crate::error::{Result, TwoStageError};

/// What a candidate's score is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Mean accuracy (classification).
    Accuracy,
    /// Minus the mean loss (language models, regression).
    NegLoss,
}

/// The score of `arch` on `batches` (the validation split): the supernet's single path at
/// `arch` with its inherited weights (run it on an inference copy, `model.valid()`).
pub fn score<B, M, T, O>(
    model: &M,
    arch: &Architecture,
    batches: &[(M::Input, T)],
    objective: &O,
    metric: Metric,
) -> Result<f32>
where
    B: Backend,
    M: Supernet<B>,
    M::Input: Clone,
    O: Objective<B, M::Output, T>,
{
    if batches.is_empty() {
        return Err(TwoStageError::Config("no validation batches".into()));
    }
    let fixed = Mixtures::fixed(model.spec(), arch)?;
    let mut total = 0.0;
    for (x, y) in batches {
        let out = model.forward_mixed(x.clone(), &fixed)?;
        total += match metric {
            Metric::Accuracy => objective.accuracy(&out, y).ok_or_else(|| {
                TwoStageError::Config("this objective has no accuracy; use Metric::NegLoss".into())
            })?,
            Metric::NegLoss => -objective.loss(out, y).into_scalar().elem::<f32>(),
        };
    }
    Ok(total / batches.len() as f32)
}

/// The inputs of [`recalibrate`]'s passes: the first `n` training batches of `data`, in its
/// order (epoch 0's steps, then epoch 1's, … when `n` is over an epoch's steps).
pub fn recalibration_batches<I, T>(data: &impl SearchData<I, T>, n: usize) -> Vec<I> {
    let steps = data.steps_per_epoch().max(1);
    (0..n).map(|i| data.train(i / steps, i % steps).0).collect()
}

/// Batch-norm recalibration before scoring (conv spaces, optional): the supernet's running
/// statistics were accumulated over many sampled paths; `batches` training-mode forward passes at
/// `arch` (no backward, no weight change) move every batch norm's statistics by its momentum
/// towards that path's own. A deep layer settles only after the layers feeding it, so from
/// statistics far off it takes on the order of (depth in batch norms) / momentum passes (about
/// 200 on the toy cell space from fresh statistics); a trained supernet's are usually close.
/// Score the inference copy afterwards, `model.valid()`, which carries the updated statistics.
pub fn recalibrate<B, M>(model: &M, arch: &Architecture, batches: &[M::Input]) -> Result<()>
where
    B: burn::tensor::backend::AutodiffBackend,
    M: Supernet<B>,
    M::Input: Clone,
{
    let fixed = Mixtures::fixed(model.spec(), arch)?;
    // The passes run on a copy whose parameters track no gradients: the autodiff backend frees
    // a recorded graph only in a backward pass, so passes through the tracked model, never
    // followed by one, would keep every activation alive (measured: 2.9 GiB after 18 SPOS
    // candidates of the small conv space). The copy shares the batch norms' running state
    // (Burn's `RunningState` is shared between clones), so the statistics land in `model`.
    let untracked = model.clone().no_grad();
    for (i, x) in batches.iter().enumerate() {
        // Only the running statistics change; the output is dropped. The passes run in
        // training mode, dropout included: seeded, so the statistics are reproducible.
        let _ = untracked.forward_mixed(x.clone(), &fixed.clone().with_seed(i as u64))?;
    }
    Ok(())
}
