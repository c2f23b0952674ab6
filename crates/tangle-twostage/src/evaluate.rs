//! Scoring a candidate with the supernet's inherited weights.

use burn::tensor::backend::Backend;
use burn::tensor::ElementConversion;
use tangle_core::{Architecture, Mixtures, Supernet};
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
