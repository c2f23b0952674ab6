//! `SuperLayerNorm`: layer normalization over an embedding-dim decision.

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{backend::Backend, Tensor};

use crate::combi::Combi;
use crate::error::{CoreError, Result};
use crate::mixture::Mixture;
use crate::spec::check_increasing_sizes;

/// Layer normalization whose affine parameters are superposed over an embedding-dim decision.
///
/// Superposed, the input is normalized over its full (largest) width and scaled by
/// `γ ⊙ m`, shifted by `β ⊙ m` (the paper's code does the same). Single, the input is the chosen
/// width and is normalized over it with the sliced `γ`, `β` — exactly the extracted `LayerNorm`.
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
}

impl<B: Backend> SuperLayerNorm<B> {
    /// A layer norm over the embedding dims `dims` (one decision), ε = 1e-5.
    pub fn new(dims: &[usize], device: &B::Device) -> Result<Self> {
        check_increasing_sizes("SuperLayerNorm.dim", dims)?;
        let d = dims.to_vec();
        let combi = Combi::new(vec![dims.len()], 1, move |c| vec![d[c[0]]])?;
        let n = combi.max()[0];
        Ok(SuperLayerNorm {
            gamma: Param::from_tensor(Tensor::ones([n], device)),
            beta: Param::from_tensor(Tensor::zeros([n], device)),
            combi,
            epsilon: 1e-5,
        })
    }

    /// Sets ε.
    pub fn with_epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Forward pass on `[..., dim]`.
    pub fn forward<const D: usize>(
        &self,
        x: Tensor<B, D>,
        mix: &Mixture<B>,
    ) -> Result<Tensor<B, D>> {
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
        let mut g = self.gamma.val();
        let mut b = self.beta.val();
        if e != self.combi.max()[0] {
            g = g.slice([0..e]);
            b = b.slice([0..e]);
        }
        if plan.is_single() {
            if let Some(s) = plan.scale() {
                g = g * s.clone();
                b = b * s;
            }
        } else if let Some(m) = plan.axis_mask(0) {
            g = g * m.clone();
            b = b * m;
        }
        let (var, mean) = x.clone().var_mean_bias(D - 1);
        let y = (x - mean) / (var + self.epsilon).sqrt();
        let mut shape = [1usize; D];
        shape[D - 1] = e;
        Ok(y * g.reshape(shape) + b.reshape(shape))
    }

    /// The standalone `LayerNorm` at candidate `index`.
    pub fn extract(&self, index: usize) -> Result<LayerNorm<B>> {
        let e = self.combi.extents(&[index])?[0];
        let mut ln = LayerNormConfig::new(e)
            .with_epsilon(self.epsilon)
            .init::<B>(&self.gamma.device());
        ln.gamma = Param::from_tensor(self.gamma.val().slice([0..e]).detach());
        ln.beta = Some(Param::from_tensor(self.beta.val().slice([0..e]).detach()));
        Ok(ln)
    }
}
