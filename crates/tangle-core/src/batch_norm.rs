//! `SuperBatchNorm2d`: batch normalization over a channel decision.

use burn::module::{Module, Param, RunningState};
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::{backend::Backend, Tensor};

use crate::combi::Combi;
use crate::error::{CoreError, Result};
use crate::mixture::Mixture;
use crate::spec::check_increasing_sizes;

/// 2-D batch normalization whose channel count is a decision.
///
/// Statistics are per channel, so a superposed pass normalizes every channel as the largest
/// network would and superposes only the affine parameters (`γ ⊙ m`, `β ⊙ m`). A single pass
/// normalizes and updates the running statistics of the first `c` channels only. Training vs
/// inference follows Burn's `BatchNorm`: batch statistics when the backend tracks gradients.
#[derive(Module, Debug)]
pub struct SuperBatchNorm2d<B: Backend> {
    /// Scale, `[max channels]`.
    pub gamma: Param<Tensor<B, 1>>,
    /// Shift, `[max channels]`.
    pub beta: Param<Tensor<B, 1>>,
    /// Running mean.
    pub running_mean: RunningState<Tensor<B, 1>>,
    /// Running variance.
    pub running_var: RunningState<Tensor<B, 1>>,
    #[module(skip)]
    combi: Combi,
    #[module(skip)]
    momentum: f64,
    #[module(skip)]
    epsilon: f64,
    #[module(skip)]
    affine: bool,
}

impl<B: Backend> SuperBatchNorm2d<B> {
    /// Batch norm over the channel candidates `channels` (momentum 0.1, ε = 1e-5, affine).
    pub fn new(channels: &[usize], device: &B::Device) -> Result<Self> {
        check_increasing_sizes("SuperBatchNorm2d.channels", channels)?;
        let c = channels.to_vec();
        let combi = Combi::new(vec![channels.len()], 1, move |k| vec![c[k[0]]])?;
        let n = combi.max()[0];
        Ok(SuperBatchNorm2d {
            gamma: Param::from_tensor(Tensor::ones([n], device)),
            beta: Param::from_tensor(Tensor::zeros([n], device)),
            running_mean: RunningState::new(Tensor::zeros([n], device)),
            running_var: RunningState::new(Tensor::ones([n], device)),
            combi,
            momentum: 0.1,
            epsilon: 1e-5,
            affine: true,
        })
    }

    /// Without learnable affine parameters (DARTS search cells use `affine=False`).
    pub fn without_affine(mut self) -> Self {
        self.affine = false;
        self.gamma = self.gamma.set_require_grad(false);
        self.beta = self.beta.set_require_grad(false);
        self
    }

    /// Sets the running-statistics momentum.
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Forward pass on `[batch, channels, h, w]`.
    pub fn forward(&self, x: Tensor<B, 4>, mix: &Mixture<B>) -> Result<Tensor<B, 4>> {
        let plan = self.combi.plan(&[mix], "SuperBatchNorm2d")?;
        let c = plan.extents[0];
        let cmax = self.combi.max()[0];
        let dims = x.dims();
        if dims[1] != c {
            return Err(CoreError::Shape {
                module: "SuperBatchNorm2d".into(),
                expected: format!("{c} channels"),
                got: dims.to_vec(),
            });
        }
        let device = x.device();
        let (mean, var) = if B::ad_enabled(&device) {
            let [n, _, h, w] = dims;
            let flat = x.clone().swap_dims(0, 1).reshape([c, n * h * w]);
            let (var, mean) = flat.var_mean_bias(1);
            let (mean, var) = (mean.reshape([c]), var.reshape([c]));
            let m = self.momentum;
            let update = |state: &RunningState<Tensor<B, 1>>, batch: Tensor<B, 1>| {
                let old = state.value_sync().to_device(&device);
                let head = old.clone().slice([0..c]) * (1.0 - m) + batch.detach() * m;
                let new = if c < cmax {
                    Tensor::cat(vec![head, old.slice([c..cmax])], 0)
                } else {
                    head
                };
                state.update(new.detach());
            };
            update(&self.running_mean, mean.clone());
            // PyTorch and Burn keep the biased variance in the running estimate as well.
            update(&self.running_var, var.clone());
            (mean, var)
        } else {
            let mean = self
                .running_mean
                .value_sync()
                .to_device(&device)
                .slice([0..c]);
            let var = self
                .running_var
                .value_sync()
                .to_device(&device)
                .slice([0..c]);
            (mean, var)
        };
        let y =
            (x - mean.reshape([1, c, 1, 1])) / (var + self.epsilon).sqrt().reshape([1, c, 1, 1]);
        if !self.affine {
            return Ok(y);
        }
        let mut g = self.gamma.val();
        let mut b = self.beta.val();
        if c != cmax {
            g = g.slice([0..c]);
            b = b.slice([0..c]);
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
        Ok(y * g.reshape([1, c, 1, 1]) + b.reshape([1, c, 1, 1]))
    }

    /// The standalone `BatchNorm` at candidate `index`, with the sliced running statistics.
    pub fn extract(&self, index: usize) -> Result<BatchNorm<B>> {
        let c = self.combi.extents(&[index])?[0];
        let mut bn = BatchNormConfig::new(c)
            .with_momentum(self.momentum)
            .with_epsilon(self.epsilon)
            .init::<B>(&self.gamma.device());
        bn.gamma = Param::from_tensor(self.gamma.val().slice([0..c]).detach());
        bn.beta = Param::from_tensor(self.beta.val().slice([0..c]).detach());
        if !self.affine {
            bn.gamma = bn.gamma.set_require_grad(false);
            bn.beta = bn.beta.set_require_grad(false);
        }
        bn.running_mean = RunningState::new(self.running_mean.value_sync().slice([0..c]));
        bn.running_var = RunningState::new(self.running_var.value_sync().slice([0..c]));
        Ok(bn)
    }
}
