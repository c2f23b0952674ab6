//! `SuperBatchNorm2d`: batch normalization over a channel decision.

use burn::config::Config;
use burn::module::{Module, Param, RunningState};
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::{backend::Backend, Tensor};

use crate::combi::Combi;
use crate::error::CoreError;
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

/// Configuration of a [`SuperBatchNorm2d`]: `SuperBatchNorm2dConfig::new(channels).init(&device)`.
#[derive(Config, Debug, PartialEq)]
pub struct SuperBatchNorm2dConfig {
    /// The channel candidates (one decision), increasing.
    pub channels: Vec<usize>,
    /// Running-statistics momentum (PyTorch's convention: `new = (1 − m)·old + m·batch`).
    #[config(default = 0.1)]
    pub momentum: f64,
    /// ε added to the variance.
    #[config(default = 1e-5)]
    pub epsilon: f64,
    /// Learnable γ and β (DARTS and NAS-Bench-201 search cells use `affine = false`).
    #[config(default = true)]
    pub affine: bool,
}

impl SuperBatchNorm2dConfig {
    /// Builds the batch norm (γ = 1, β = 0, running mean 0 and variance 1). Errors for channel
    /// candidates that are not increasing.
    pub fn init<B: Backend>(&self, device: &B::Device) -> crate::Result<SuperBatchNorm2d<B>> {
        check_increasing_sizes("SuperBatchNorm2d.channels", &self.channels)?;
        let combi = Combi::sizes(&self.channels)?;
        let n = combi.max()[0];
        let param = |t: Tensor<B, 1>| Param::from_tensor(t).set_require_grad(self.affine);
        Ok(SuperBatchNorm2d {
            gamma: param(Tensor::ones([n], device)),
            beta: param(Tensor::zeros([n], device)),
            running_mean: RunningState::new(Tensor::zeros([n], device)),
            running_var: RunningState::new(Tensor::ones([n], device)),
            combi,
            momentum: self.momentum,
            epsilon: self.epsilon,
            affine: self.affine,
        })
    }
}

impl<B: Backend> SuperBatchNorm2d<B> {
    /// Forward pass on `[batch, channels, h, w]`.
    pub fn forward(&self, x: Tensor<B, 4>, mix: &Mixture<B>) -> crate::Result<Tensor<B, 4>> {
        let plan = self.combi.plan(&[mix], "SuperBatchNorm2d")?;
        let c = plan.extents[0];
        let dims = x.dims();
        if dims[1] != c {
            return Err(CoreError::Shape {
                module: "SuperBatchNorm2d".into(),
                expected: format!("{c} channels"),
                got: dims.to_vec(),
            });
        }
        let [n, _, h, w] = dims;
        let x2 = x.reshape([n * c, h * w]);
        let (x2, mean, var) =
            statistics(x2, n, &self.running_mean, &self.running_var, self.momentum);
        let inv_std = (var + self.epsilon).sqrt().recip();
        let (scale, shift) = if self.affine {
            let [g, b] = plan.vectors(0, [self.gamma.val(), self.beta.val()]);
            (inv_std * g, Some(b))
        } else {
            (inv_std, None)
        };
        Ok(scale_shift(x2, n, mean, scale, shift).reshape([n, c, h, w]))
    }

    /// The standalone `BatchNorm` at candidate `index`, with the sliced running statistics.
    pub fn extract(&self, index: usize) -> crate::Result<BatchNorm<B>> {
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

/// Moves the first `batch.len()` entries of a running statistic towards `batch` with
/// `momentum` (PyTorch's convention: `new = (1 − m)·old + m·batch`); the rest stay.
fn update_running<B: Backend>(
    state: &RunningState<Tensor<B, 1>>,
    batch: Tensor<B, 1>,
    momentum: f64,
    device: &B::Device,
) {
    let old = state.value_sync().to_device(device);
    let (c, cmax) = (batch.dims()[0], old.dims()[0]);
    let head = old.clone().slice([0..c]) * (1.0 - momentum) + batch.detach() * momentum;
    let new = if c < cmax {
        Tensor::cat(vec![head, old.slice([c..cmax])], 0)
    } else {
        head
    };
    state.update(new.detach());
}

/// The statistics a batch norm normalizes `x2` (the `[n·c, l]` view) with. Training (the backend
/// tracks gradients): `x2` centred, no mean (already subtracted), the batch's biased variance, and
/// the first `c` running statistics moved towards the batch's. Inference: `x2`, and the first `c`
/// running mean and variance.
fn statistics<B: Backend>(
    x2: Tensor<B, 2>,
    n: usize,
    running_mean: &RunningState<Tensor<B, 1>>,
    running_var: &RunningState<Tensor<B, 1>>,
    momentum: f64,
) -> (Tensor<B, 2>, Option<Tensor<B, 1>>, Tensor<B, 1>) {
    let device = x2.device();
    if B::ad_enabled(&device) {
        let (centred, mean, var) = channel_stats(x2, n);
        update_running(running_mean, mean, momentum, &device);
        // PyTorch and Burn keep the biased variance in the running estimate as well.
        update_running(running_var, var.clone(), momentum, &device);
        (centred, None, var)
    } else {
        let c = x2.dims()[0] / n;
        let stat = |state: &RunningState<Tensor<B, 1>>| {
            state.value_sync().to_device(&device).slice([0..c])
        };
        (x2, Some(stat(running_mean)), stat(running_var))
    }
}

/// `[c]` → `[n·c, 1]`: one value per row of the `[n·c, h·w]` view of `[n, c, h, w]`.
fn rows<B: Backend>(v: Tensor<B, 1>, n: usize) -> Tensor<B, 2> {
    let c = v.dims()[0];
    v.reshape([1, c]).repeat_dim(0, n).reshape([n * c, 1])
}

/// The `[n·c, l]` view of `[n, c, …]` minus its channel means, the means and the biased
/// variances (two-pass, as Burn's `BatchNorm`).
fn channel_stats<B: Backend>(
    x2: Tensor<B, 2>,
    n: usize,
) -> (Tensor<B, 2>, Tensor<B, 1>, Tensor<B, 1>) {
    let [nc, l] = x2.dims();
    let c = nc / n;
    let count = (n * l) as f64;
    let per_channel =
        |t: Tensor<B, 2>| t.sum_dim(1).reshape([n, c]).sum_dim(0).reshape([c]) / count;
    let mean = per_channel(x2.clone());
    let centred = x2 - rows(mean.clone(), n);
    let var = per_channel(centred.clone().square());
    (centred, mean, var)
}

/// `(x − mean) · scale + shift` per channel on the `[n·c, l]` view (`mean` absent: `x` is
/// already centred).
fn scale_shift<B: Backend>(
    x2: Tensor<B, 2>,
    n: usize,
    mean: Option<Tensor<B, 1>>,
    scale: Tensor<B, 1>,
    shift: Option<Tensor<B, 1>>,
) -> Tensor<B, 2> {
    // Fold the mean into the shift: one product and one sum over the full tensor.
    let shift = match (mean, shift) {
        (None, s) => s,
        (Some(m), None) => Some(-(m * scale.clone())),
        (Some(m), Some(b)) => Some(b - m * scale.clone()),
    };
    let y = x2 * rows(scale, n);
    match shift {
        Some(b) => y + rows(b, n),
        None => y,
    }
}

/// Burn's [`BatchNorm::forward`] on `[batch, channels, h, w]`, computed on a
/// `[batch·channels, h·w]` view: the same values, gradients and running-statistic updates
/// (momentum, biased variance; batch statistics when the backend tracks gradients, running
/// ones otherwise). On the Flex CPU backend, `BatchNorm`'s `[1, c, 1, 1]` broadcasts and its
/// channel-first transposes take a per-element path; this is ~20× faster there (forward and
/// backward of `[32, 32, 32, 32]`: 214 ms → 9 ms), and every space in `tangle-spaces` uses it.
pub fn batch_norm_forward<B: Backend>(bn: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let x2 = x.reshape([n * c, h * w]);
    let (x2, mean, var) = statistics(x2, n, &bn.running_mean, &bn.running_var, bn.momentum);
    let scale = (var + bn.epsilon).sqrt().recip() * bn.gamma.val();
    scale_shift(x2, n, mean, scale, Some(bn.beta.val())).reshape([n, c, h, w])
}
