//! `SuperLayerNorm`: layer normalization over an embedding-dim decision.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{backend::Backend, Tensor};

use crate::combi::Combi;
use crate::error::CoreError;
use crate::mixture::Mixture;
use crate::spec::check_increasing_sizes;

/// Layer normalization over an embedding-dim decision.
///
/// Superposed (default), the output is the exact mixture of the candidates' layer norms,
/// `Σ_i w_i · pad(LN_i(x[..e_i]))`: each candidate normalizes its own prefix with its own
/// statistics. It costs one pass: per row, the candidates' `w_i/σ_i` and `w_i·μ_i/σ_i` are spread
/// over the columns by a prefix sum, so `y = x ⊙ A − B` scaled by `γ`, shifted by `β ⊙ m`. At a
/// one-hot mixture it is exactly the chosen layer norm (zero beyond its width).
/// [`SuperLayerNormConfig::full_width`] instead normalizes over the full width once and only masks
/// `γ`, `β` — what the paper's code does (cheaper, but not the candidates' mixture).
/// Single, the input is the chosen width and is normalized over it with the sliced `γ`, `β` —
/// exactly the extracted `LayerNorm`.
#[derive(Module, Debug)]
pub struct SuperLayerNorm<B: Backend> {
    /// Scale, `[max dim]`.
    pub gamma: Param<Tensor<B, 1>>,
    /// Shift, `[max dim]`.
    pub beta: Param<Tensor<B, 1>>,
    #[module(skip)]
    combi: Combi,
    #[module(skip)]
    epsilon: f64,
    #[module(skip)]
    full_width: bool,
}

/// Configuration of a [`SuperLayerNorm`]: `SuperLayerNormConfig::new(dims).init(&device)`.
#[derive(Config, Debug, PartialEq)]
pub struct SuperLayerNormConfig {
    /// The embedding-dim candidates (one decision), increasing.
    pub dims: Vec<usize>,
    /// ε added to the variance.
    #[config(default = 1e-5)]
    pub epsilon: f64,
    /// Normalize over the full width once and only mask `γ`, `β` (the paper's code) instead of
    /// mixing the candidates' own layer norms.
    #[config(default = false)]
    pub full_width: bool,
}

impl SuperLayerNormConfig {
    /// Builds the layer norm (γ = 1, β = 0). Errors for candidates that are not increasing.
    pub fn init<B: Backend>(&self, device: &B::Device) -> crate::Result<SuperLayerNorm<B>> {
        check_increasing_sizes("SuperLayerNorm.dim", &self.dims)?;
        let combi = Combi::sizes(&self.dims)?;
        let n = combi.max()[0];
        Ok(SuperLayerNorm {
            gamma: Param::from_tensor(Tensor::ones([n], device)),
            beta: Param::from_tensor(Tensor::zeros([n], device)),
            combi,
            epsilon: self.epsilon,
            full_width: self.full_width,
        })
    }
}

impl<B: Backend> SuperLayerNorm<B> {
    /// Forward pass on `[..., dim]`.
    pub fn forward<const D: usize>(
        &self,
        x: Tensor<B, D>,
        mix: &Mixture<B>,
    ) -> crate::Result<Tensor<B, D>> {
        let plan = self.combi.plan(&[mix], "SuperLayerNorm")?;
        let e = plan.extents[0];
        let dims = x.dims();
        if dims[D - 1] != e {
            return Err(CoreError::Shape {
                module: "SuperLayerNorm".into(),
                expected: format!("last dim {e}"),
                got: dims.to_vec(),
            });
        }
        if let (false, false, Mixture::Weights(w)) = (plan.is_single(), self.full_width, mix) {
            // Each candidate's norm applies its own γ[..e_i]: γ stays unmasked, β is masked.
            let g = self.gamma.val().slice([0..e]);
            return Ok(self.mixed(x, w.clone(), g, plan.vector(0, self.beta.val())));
        }
        let [g, b] = plan.vectors(0, [self.gamma.val(), self.beta.val()]);
        let (var, mean) = x.clone().var_mean_bias(D - 1);
        let y = (x - mean) / (var + self.epsilon).sqrt();
        let mut shape = [1usize; D];
        shape[D - 1] = e;
        Ok(y * g.reshape(shape) + b.reshape(shape))
    }

    /// `Σ_i w_i · pad(LN_i(x[..e_i]))` with `γ`, and `β` already masked; `x` at full width.
    ///
    /// Every candidate width is a multiple of `g = gcd(e_i)`, so the row is viewed as `e/g`
    /// blocks of `g` columns (a free reshape) and all statistics are per block: one pass for the
    /// block sums of `x`, one for those of `x²`, prefix sums over the few blocks give each
    /// candidate's mean and variance, and the output is `x ⊙ A − C` with `A`, `C` constant per
    /// block, a broadcast as cheap as a plain layer norm's. Rows are shifted by their first
    /// block's mean before the squares, so the one-pass variance does not cancel when the
    /// mean is large against the spread.
    fn mixed<const D: usize>(
        &self,
        x: Tensor<B, D>,
        w: Tensor<B, 1>,
        g: Tensor<B, 1>,
        b: Tensor<B, 1>,
    ) -> Tensor<B, D> {
        let dims = x.dims();
        let e = dims[D - 1];
        let rows = dims.iter().product::<usize>() / e;
        let sizes: Vec<usize> = (0..self.combi.counts()[0])
            .map(|i| self.combi.extents(&[i]).expect("in range")[0])
            .collect();
        let block = sizes.iter().fold(e, |a, &s| gcd(a, s));
        let nb = e / block;
        let device = x.device();
        let x3 = x.reshape([rows, nb, block]);
        // The shift is any per-row constant: detached, it changes rounding, not the value.
        let shift = x3
            .clone()
            .slice([0..rows, 0..1, 0..block])
            .mean_dim(2)
            .detach();
        let x3 = x3 - shift;
        let s1 = x3.clone().sum_dim(2).reshape([rows, nb]).cumsum(1);
        let s2 = (x3.clone() * x3.clone())
            .sum_dim(2)
            .reshape([rows, nb])
            .cumsum(1);
        // Candidate i ends at block e_i/g: its prefix sums are column e_i/g − 1.
        let ends = Tensor::<B, 1, burn::tensor::Int>::from_data(
            burn::tensor::TensorData::new(
                sizes.iter().map(|&s| (s / block - 1) as i64).collect(),
                [sizes.len()],
            ),
            &device,
        );
        let n = sizes.len();
        let count = Tensor::<B, 1>::from_data(
            burn::tensor::TensorData::new(sizes.iter().map(|&s| s as f32).collect(), [n]),
            &device,
        )
        .reshape([1, n]);
        let mean = s1.select(1, ends.clone()) / count.clone();
        let var = (s2.select(1, ends) / count - mean.clone() * mean.clone()).clamp_min(0.0);
        let inv = (var + self.epsilon).sqrt().recip() * w.reshape([1, n]);
        let off = inv.clone() * mean;
        // Block t gathers the candidates wider than it: a reverse cumulative sum over i.
        let blocks: Vec<usize> = sizes.iter().map(|&s| s / block).collect();
        let spread = |cols: Tensor<B, 2>| {
            crate::mask::prefix_mask_rows(cols.transpose(), &blocks, nb)
                .transpose()
                .reshape([rows, nb, 1])
        };
        let y = (x3 * spread(inv) - spread(off)).reshape([rows, e]);
        // γ, β broadcast over rows of the 2-D view (Flex's fast pattern; [1, nb, g] is not).
        (y * g.reshape([1, e]) + b.reshape([1, e])).reshape(dims)
    }

    /// The standalone `LayerNorm` at candidate `index`.
    pub fn extract(&self, index: usize) -> crate::Result<LayerNorm<B>> {
        let e = self.combi.extents(&[index])?[0];
        let mut ln = LayerNormConfig::new(e)
            .with_epsilon(self.epsilon)
            .init::<B>(&self.gamma.device());
        ln.gamma = Param::from_tensor(self.gamma.val().slice([0..e]).detach());
        ln.beta = Some(Param::from_tensor(self.beta.val().slice([0..e]).detach()));
        Ok(ln)
    }
}

/// Greatest common divisor.
pub(crate) fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
