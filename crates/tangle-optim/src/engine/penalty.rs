//! The expected-parameter penalty: the mixture's expected parameter count, added to the α loss.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use tangle_core::{Mixtures, SearchSpec};

use crate::error::Result;

/// The expected-parameter penalty of a constrained search: `coeff · Σ_d Σ_i w_{d,i} · cost_{d,i}`
/// added to the α loss, with `w_d` the mixture weights of decision `d` in that step (for a
/// single choice with a straight-through weight, `s · cost_{d,i}`). `cost_{d,i}` is what choosing
/// candidate `i` of decision `d` adds to the network's parameter count (in millions, say), so
/// the penalty is the mixture-weighted parameter count up to a constant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamPenalty {
    /// Strength.
    pub coeff: f64,
    /// Per decision (spec order), per candidate, the cost.
    pub costs: Vec<Vec<f64>>,
}

impl ParamPenalty {
    /// Costs from a space's parameter count: `cost_{d,i}` = parameters (in millions) of the
    /// largest architecture with decision `d` set to candidate `i`, minus those with `d` at its
    /// smallest candidate — the marginal cost of each choice around the largest network.
    pub fn from_counts(
        coeff: f64,
        spec: &SearchSpec,
        params: impl Fn(&tangle_core::Architecture) -> tangle_core::Result<usize>,
    ) -> Result<Self> {
        let largest = spec.indices(&spec.largest())?;
        let mut costs = Vec::with_capacity(largest.len());
        for (d, decision) in spec.decisions().iter().enumerate() {
            let mut at = largest.clone();
            let mut row = Vec::with_capacity(decision.len());
            for i in 0..decision.len() {
                at[d] = i;
                row.push(params(&spec.architecture(&at)?)? as i128);
            }
            let base = row[0];
            costs.push(row.into_iter().map(|c| (c - base) as f64 / 1e6).collect());
        }
        Ok(ParamPenalty { coeff, costs })
    }

    /// The penalty of one step's mixtures.
    pub fn of<B: Backend>(&self, mix: &Mixtures<B>) -> Option<Tensor<B, 1>> {
        let terms: Vec<Tensor<B, 1>> = mix
            .as_slice()
            .iter()
            .zip(&self.costs)
            .filter_map(|(m, c)| match m {
                tangle_core::Mixture::Weights(w) => {
                    let cost = Tensor::<B, 1>::from_floats(
                        c.iter().map(|&v| v as f32).collect::<Vec<_>>().as_slice(),
                        &w.device(),
                    );
                    Some((w.clone() * cost).sum())
                }
                tangle_core::Mixture::Single {
                    index,
                    weight: Some(s),
                } => Some(s.clone() * c[*index]),
                tangle_core::Mixture::Single { weight: None, .. } => None,
            })
            .collect();
        terms
            .into_iter()
            .reduce(|a, b| a + b)
            .map(|t| t * self.coeff)
    }
}
