//! `DepthMixer`: a depth decision as a weighted sum of block outputs.

use burn::tensor::{backend::Backend, Tensor};

use crate::error::{CoreError, Result};
use crate::mixture::Mixture;
use crate::spec::{Decision, DecisionKind};

/// Mixes a depth decision: with candidate depths `d_i`, the output is `Σ_i w_i · x_{d_i}`, where
/// `x_n` is the output after `n` blocks. Superposed, all blocks up to the largest depth run once
/// (the block outputs are shared prefixes); single, the forward stops after `d_i` blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthMixer {
    depths: Vec<usize>,
}

impl DepthMixer {
    /// Depth candidates, strictly increasing, ≥ 1.
    pub fn new(depths: &[usize]) -> Result<Self> {
        let max = depths.iter().copied().max().unwrap_or(0);
        let d = Decision::depths("depth", depths, max)?;
        debug_assert_eq!(d.kind(), DecisionKind::Depth);
        Ok(DepthMixer {
            depths: depths.to_vec(),
        })
    }

    /// The candidate depths.
    pub fn depths(&self) -> &[usize] {
        &self.depths
    }

    /// The largest depth: how many blocks the supernet holds.
    pub fn max(&self) -> usize {
        *self.depths.last().expect("validated")
    }

    /// How many blocks a pass under `mix` runs.
    pub fn blocks_to_run<B: Backend>(&self, mix: &Mixture<B>) -> Result<usize> {
        mix.check(self.depths.len(), "depth")?;
        Ok(match mix {
            Mixture::Weights(_) => self.max(),
            Mixture::Single { index, .. } => self.depths[*index],
        })
    }

    /// Runs `block(i, x)` for blocks `i = 0, 1, …` as far as the mixture needs and mixes the
    /// outputs at the candidate depths.
    pub fn forward<B: Backend, const D: usize>(
        &self,
        x: Tensor<B, D>,
        mix: &Mixture<B>,
        mut block: impl FnMut(usize, Tensor<B, D>) -> Result<Tensor<B, D>>,
    ) -> Result<Tensor<B, D>> {
        let n = self.blocks_to_run(mix)?;
        let mut x = x;
        match mix {
            Mixture::Single { weight, .. } => {
                for i in 0..n {
                    x = block(i, x)?;
                }
                Ok(match weight {
                    Some(s) => x * s.clone().reshape([1; D]),
                    None => x,
                })
            }
            Mixture::Weights(w) => {
                let mut terms = Vec::with_capacity(self.depths.len());
                let mut next = 0;
                for i in 0..n {
                    x = block(i, x)?;
                    if next < self.depths.len() && self.depths[next] == i + 1 {
                        terms.push(x.clone() * w.clone().slice([next..next + 1]).reshape([1; D]));
                        next += 1;
                    }
                }
                crate::attention::sum(terms)
                    .ok_or_else(|| CoreError::Config("no candidate depth reached".into()))
            }
        }
    }
}
