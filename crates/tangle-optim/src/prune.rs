//! Candidate masks: which candidates of each decision a search still considers.
//!
//! DrNAS's progressive search (its DARTS-space code, which TangleNAS runs) prunes every edge to
//! its strongest candidates between stages. A pruned candidate gets mixture weight zero and the
//! kept weights are renormalized to sum to one — the reference's `process_step_vector` with a
//! mask. For DrNAS this is exact: the renormalized kept part of a Dirichlet sample is a
//! Dirichlet sample over the kept concentrations; for softmax it is the softmax over the kept
//! α. The probabilities that records, the argmax and genotypes read are masked the same way.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use tangle_core::{Mixture, Mixtures, SearchSpec};

use crate::error::{OptimError, Result};

/// Per decision, per candidate: still considered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CandidateMask {
    keep: Vec<Vec<bool>>,
}

impl CandidateMask {
    /// Every candidate of every decision of `spec`.
    pub fn all(spec: &SearchSpec) -> Self {
        CandidateMask {
            keep: spec
                .decisions()
                .iter()
                .map(|d| vec![true; d.len()])
                .collect(),
        }
    }

    /// `keep(decision, candidate)` for every candidate of `spec`. Errors, naming the decision,
    /// when a decision would keep no candidate.
    pub fn from_fn(spec: &SearchSpec, mut keep: impl FnMut(usize, usize) -> bool) -> Result<Self> {
        let keep: Vec<Vec<bool>> = spec
            .decisions()
            .iter()
            .enumerate()
            .map(|(d, dec)| (0..dec.len()).map(|i| keep(d, i)).collect())
            .collect();
        for (d, k) in spec.decisions().iter().zip(&keep) {
            if !k.iter().any(|&b| b) {
                return Err(OptimError::Config(format!(
                    "the candidate mask keeps no candidate of decision {}",
                    d.name()
                )));
            }
        }
        Ok(CandidateMask { keep })
    }

    /// The kept flags per decision.
    pub fn keep(&self) -> &[Vec<bool>] {
        &self.keep
    }

    /// Number of kept candidates of decision `d`.
    pub fn kept(&self, d: usize) -> usize {
        self.keep[d].iter().filter(|&&b| b).count()
    }

    /// Keeps, of every decision, the `n` kept candidates with the largest `alpha` (the first on
    /// ties), as the reference's `prune` (top-k of α among the kept). Errors when `n` is zero or
    /// exceeds what a decision still keeps.
    pub fn prune(&mut self, alpha: &[Vec<f32>], n: usize, spec: &SearchSpec) -> Result<()> {
        if alpha.len() != self.keep.len() {
            return Err(OptimError::Config(format!(
                "pruning: {} α vectors for {} decisions",
                alpha.len(),
                self.keep.len()
            )));
        }
        for (d, (keep, a)) in self.keep.iter_mut().zip(alpha).enumerate() {
            let name = spec.decisions().get(d).map_or("?", |x| x.name());
            let kept = keep.iter().filter(|&&b| b).count();
            if n == 0 || n > kept {
                return Err(OptimError::Config(format!(
                    "pruning decision {name} to {n} candidates: it keeps {kept}"
                )));
            }
            let mut order: Vec<usize> = (0..keep.len()).filter(|&i| keep[i]).collect();
            // Stable sort: the first of equal α stays ahead.
            order.sort_by(|&i, &j| a[j].total_cmp(&a[i]));
            let top: Vec<usize> = order[..n].to_vec();
            for (i, k) in keep.iter_mut().enumerate() {
                *k = top.contains(&i);
            }
        }
        Ok(())
    }

    /// `probs` with pruned candidates at zero and the kept ones renormalized.
    pub fn probabilities(&self, probs: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
        probs
            .into_iter()
            .zip(&self.keep)
            .map(|(p, keep)| {
                let masked: Vec<f32> = p
                    .iter()
                    .zip(keep)
                    .map(|(&x, &k)| if k { x } else { 0.0 })
                    .collect();
                let total: f32 = masked.iter().sum();
                if total > 0.0 {
                    masked.iter().map(|x| x / total).collect()
                } else {
                    // All kept probability underflowed: uniform over the kept.
                    let n = keep.iter().filter(|&&k| k).count().max(1) as f32;
                    keep.iter()
                        .map(|&k| if k { 1.0 / n } else { 0.0 })
                        .collect()
                }
            })
            .collect()
    }

    /// `mix` with pruned candidates at weight zero and the kept weights renormalized. A single
    /// path on a pruned candidate (GDAS, SPOS and other single-path samplers draw among all
    /// candidates) is an error that names the decision.
    pub fn mixtures<B: Backend>(&self, spec: &SearchSpec, mix: Mixtures<B>) -> Result<Mixtures<B>> {
        let mut out = Vec::with_capacity(self.keep.len());
        for ((m, keep), d) in mix.as_slice().iter().zip(&self.keep).zip(spec.decisions()) {
            out.push(match m {
                Mixture::Weights(w) if keep.iter().any(|&k| !k) => {
                    let mask: Vec<f32> = keep.iter().map(|&k| if k { 1.0 } else { 0.0 }).collect();
                    let mask =
                        Tensor::<B, 1>::from_data(TensorData::new(mask, [keep.len()]), &w.device());
                    let kept = w.clone() * mask;
                    Mixture::Weights(kept.clone() / kept.sum())
                }
                Mixture::Single { index, .. } if !keep[*index] => {
                    return Err(OptimError::Config(format!(
                        "the mixer drew the pruned candidate {index} of decision {}: pruning \
                         needs a mixer that superposes (DrNAS, DARTS)",
                        d.name()
                    )))
                }
                other => other.clone(),
            });
        }
        Ok(Mixtures::new(spec, out)?)
    }
}
