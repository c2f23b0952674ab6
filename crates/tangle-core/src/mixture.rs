//! How one decision is realized in a forward pass.

use burn::tensor::{backend::Backend, Int, Tensor};

use crate::error::{CoreError, Result};

/// The realization of one decision for one forward pass.
///
/// * [`Mixture::Weights`]: superposition weights, one per candidate, from any source (softmax of
///   α, a Dirichlet sample, a fixed vector). Differentiable: gradients flow back into them.
/// * [`Mixture::Single`]: one candidate. Ops then run on the *sliced* weight (no padding, less
///   compute). The optional `weight` is a differentiable `[1]` tensor that scales the sliced
///   weights: GDAS's straight-through estimate (value 1, gradient to α). `None` is a plain fixed
///   choice (SPOS path, a discretized architecture).
#[derive(Debug, Clone)]
pub enum Mixture<B: Backend> {
    /// Superposition weights, shape `[n_candidates]`.
    Weights(Tensor<B, 1>),
    /// A single candidate.
    Single {
        /// The candidate's index.
        index: usize,
        /// Differentiable scalar (`[1]`) multiplying the sliced weights, if any.
        weight: Option<Tensor<B, 1>>,
    },
}

impl<B: Backend> Mixture<B> {
    /// Superposition weights.
    pub fn weights(w: Tensor<B, 1>) -> Self {
        Mixture::Weights(w)
    }

    /// A plain fixed choice.
    pub fn single(index: usize) -> Self {
        Mixture::Single {
            index,
            weight: None,
        }
    }

    /// A single candidate scaled by a differentiable `[1]` weight (straight-through).
    pub fn straight_through(index: usize, weight: Tensor<B, 1>) -> Self {
        Mixture::Single {
            index,
            weight: Some(weight),
        }
    }

    /// One-hot superposition weights: superposed mode that selects candidate `index` of `n`.
    pub fn one_hot(index: usize, n: usize, device: &B::Device) -> Result<Self> {
        if index >= n {
            return Err(CoreError::BadMixture {
                decision: "<one-hot>".into(),
                reason: format!("index {index} out of range for {n} candidates"),
            });
        }
        let mut v = vec![0f32; n];
        v[index] = 1.0;
        Ok(Mixture::Weights(Tensor::from_floats(v.as_slice(), device)))
    }

    /// Whether this is a superposition (not a single candidate).
    pub fn is_superposed(&self) -> bool {
        matches!(self, Mixture::Weights(_))
    }

    /// Checks the mixture against a decision with `n` candidates.
    pub fn check(&self, n: usize, what: &str) -> Result<()> {
        match self {
            Mixture::Weights(w) => {
                let [len] = w.dims();
                if len != n {
                    return Err(CoreError::BadMixture {
                        decision: what.to_string(),
                        reason: format!("{len} weights for {n} candidates"),
                    });
                }
            }
            Mixture::Single { index, weight } => {
                if *index >= n {
                    return Err(CoreError::BadMixture {
                        decision: what.to_string(),
                        reason: format!("index {index} out of range for {n} candidates"),
                    });
                }
                if let Some(w) = weight {
                    let [len] = w.dims();
                    if len != 1 {
                        return Err(CoreError::BadMixture {
                            decision: what.to_string(),
                            reason: format!(
                                "single-candidate weight must have shape [1], got [{len}]"
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The mixture restricted to a group of candidates (`members`, candidate indices in
    /// increasing order): the group's weights, or the single choice re-indexed within the group.
    /// `None` when a single choice lies outside the group — the group does not run.
    ///
    /// This is how an operation decision with entangled candidates is realized: the members of a
    /// group (say `sep_conv_3x3`, `sep_conv_5x5`) share one weight, and the group's
    /// sub-mixture superposes that weight while the other candidates mix their outputs.
    pub fn restrict(&self, members: &[usize]) -> Option<Mixture<B>> {
        match self {
            Mixture::Weights(w) => {
                let (first, last) = (*members.first()?, *members.last()?);
                let contiguous = members.windows(2).all(|p| p[1] == p[0] + 1);
                Some(Mixture::Weights(if contiguous {
                    w.clone().slice([first..last + 1])
                } else {
                    let idx: Vec<i64> = members.iter().map(|&m| m as i64).collect();
                    let idx = Tensor::<B, 1, Int>::from_ints(idx.as_slice(), &w.device());
                    w.clone().select(0, idx)
                }))
            }
            Mixture::Single { index, weight } => {
                members
                    .iter()
                    .position(|m| m == index)
                    .map(|pos| Mixture::Single {
                        index: pos,
                        weight: weight.clone(),
                    })
            }
        }
    }

    /// The mixture split into its *shape* and its *mass*: `(w / Σw, Σw)` for weights, and for a
    /// single choice the plain choice and its straight-through weight (`None` when it has none).
    ///
    /// An entangled group of candidates whose shared operation ends in a normalization (the
    /// cell spaces' ReLU-conv-BN chains) must superpose the shape and carry the mass on its
    /// output, `Σw · op(x; Σ_k (w_k/Σw) · pad(W_k))`: put into the kernels, the mass is a scale
    /// that the batch norm divides out, so the group's share of the decision would have no
    /// effect on the loss and no gradient. For one-hot weights both forms are the single path.
    /// A zero mass (every member masked out) gives a zero shape, not a division by zero (the
    /// mass is clamped to 1e-6 as a divisor, which f16 can hold).
    pub fn split_mass(&self) -> (Mixture<B>, Option<Tensor<B, 1>>) {
        match self {
            Mixture::Weights(w) => {
                let mass = w.clone().sum();
                let shape = w.clone() / mass.clone().clamp_min(1e-6);
                (Mixture::Weights(shape), Some(mass))
            }
            Mixture::Single { index, weight } => (Mixture::single(*index), weight.clone()),
        }
    }

    /// `y · mass`: the output half of [`Mixture::split_mass`], for the op's output after its
    /// normalization; `y` unchanged when there is no mass.
    pub fn carry_mass<const D: usize>(y: Tensor<B, D>, mass: Option<Tensor<B, 1>>) -> Tensor<B, D> {
        match mass {
            Some(m) => y * m.reshape([1; D]),
            None => y,
        }
    }

    /// Candidate `i`'s output `y` weighted as an output mixture does: `w_i · y` for weights,
    /// `s · y` for a single choice with a straight-through weight `s`, `y` for a plain single
    /// choice. (The caller runs candidate `i` only when it is active.)
    pub fn weigh<const D: usize>(&self, i: usize, y: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Mixture::Weights(w) => y * w.clone().slice([i..i + 1]).reshape([1; D]),
            Mixture::Single {
                weight: Some(s), ..
            } => y * s.clone().reshape([1; D]),
            Mixture::Single { weight: None, .. } => y,
        }
    }

    /// The candidates this mixture touches: all of them, or the single one.
    pub fn active(&self, n: usize) -> Vec<usize> {
        match self {
            Mixture::Weights(_) => (0..n).collect(),
            Mixture::Single { index, .. } => vec![*index],
        }
    }

    /// The joint mixture of two decisions over their `na · nb` pairs, pair `(i, j)` at index
    /// `i · nb + j`: the outer product of the two weight vectors (a single choice counts as its
    /// one-hot, scaled by its straight-through weight if it has one), or one pair when both are
    /// single. Weight-sharing twins use it when one candidate op stands for a (width, kernel)
    /// pair of two decisions.
    pub fn joint(
        a: &Mixture<B>,
        na: usize,
        b: &Mixture<B>,
        nb: usize,
        device: &B::Device,
    ) -> Result<Mixture<B>> {
        a.check(na, "joint mixture (first decision)")?;
        b.check(nb, "joint mixture (second decision)")?;
        match (a, b) {
            (
                Mixture::Single {
                    index: i,
                    weight: wa,
                },
                Mixture::Single {
                    index: j,
                    weight: wb,
                },
            ) => {
                let weight = match (wa, wb) {
                    (Some(x), Some(y)) => Some(x.clone() * y.clone()),
                    (Some(x), None) | (None, Some(x)) => Some(x.clone()),
                    (None, None) => None,
                };
                Ok(Mixture::Single {
                    index: i * nb + j,
                    weight,
                })
            }
            _ => {
                let dense = |m: &Mixture<B>, n: usize| -> Result<Tensor<B, 1>> {
                    Ok(match m {
                        Mixture::Weights(w) => w.clone(),
                        Mixture::Single { index, weight } => {
                            let Mixture::Weights(hot) = Mixture::one_hot(*index, n, device)? else {
                                unreachable!("one_hot gives weights")
                            };
                            match weight {
                                Some(s) => hot * s.clone(),
                                None => hot,
                            }
                        }
                    })
                };
                let w = dense(a, na)?.reshape([na, 1]) * dense(b, nb)?.reshape([1, nb]);
                Ok(Mixture::Weights(w.reshape([na * nb])))
            }
        }
    }

    /// The weight vector over [`Mixture::active`] candidates, if any weighting applies
    /// (`None` for a plain single choice).
    pub fn active_weights(&self) -> Option<Tensor<B, 1>> {
        match self {
            Mixture::Weights(w) => Some(w.clone()),
            Mixture::Single { weight, .. } => weight.clone(),
        }
    }
}
