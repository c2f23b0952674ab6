//! `SuperConv1d`: a 1-D convolution (sequences, audio, time series) whose kernel size and
//! channel widths are decisions — [`SuperConv2d`](crate::SuperConv2d)'s rules on one spatial
//! axis, sharing its weight mixing.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{Initializer, PaddingConfig1d};
use burn::tensor::{backend::Backend, module::conv1d, ops::ConvOptions, Tensor};

use crate::combi::Combi;
use crate::conv::{ConvShape, SuperConv2dConfig};
use crate::error::Result;
use crate::mixture::Mixture;

/// Configuration of a [`SuperConv1d`]: the same settings as a
/// [`SuperConv2dConfig`], with a kernel of `k` taps instead of `k × k`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SuperConv1dConfig(SuperConv2dConfig);

/// Saves and loads as JSON (`save` / `load`); `init` validates what it loads.
impl burn::config::Config for SuperConv1dConfig {}

const NAME: &str = "SuperConv1d";

impl SuperConv1dConfig {
    /// Independent input- and output-channel decisions and a kernel-size decision. Pass
    /// one-element lists for what is fixed (`&[1]` for a fixed 1-tap kernel). Channel mixtures
    /// are `[in, out]`. Sizes must increase; kernels in a decision must be odd (a smaller kernel
    /// is the centre of a larger one).
    pub fn new(ins: &[usize], outs: &[usize], kernels: &[usize]) -> Result<Self> {
        SuperConv2dConfig::named_new(NAME, ins, outs, kernels).map(Self)
    }

    /// A depthwise convolution (`groups = channels`): one channel decision, `[channels]`.
    pub fn depthwise(channels: &[usize], kernels: &[usize]) -> Result<Self> {
        SuperConv2dConfig::named_depthwise(NAME, channels, kernels).map(Self)
    }

    /// Channel decisions with `counts` candidates; `dims(choice)` gives `(in, out)` channels
    /// (a combi-superposition: the extents may depend on several decisions).
    pub fn combi(
        counts: Vec<usize>,
        dims: impl Fn(&[usize]) -> (usize, usize),
        kernels: &[usize],
    ) -> Result<Self> {
        SuperConv2dConfig::named_combi(NAME, counts, dims, kernels).map(Self)
    }

    /// Stride (default 1).
    pub fn with_stride(self, stride: usize) -> Self {
        Self(self.0.with_stride(stride))
    }

    /// Dilation (default 1).
    pub fn with_dilation(self, dilation: usize) -> Self {
        Self(self.0.with_dilation(dilation))
    }

    /// Explicit padding. Only for a fixed kernel: with a kernel decision every candidate uses
    /// "same" padding `dilation · (k − 1) / 2`.
    pub fn with_padding(self, padding: usize) -> Result<Self> {
        self.0.with_padding(padding).map(Self)
    }

    /// With or without a bias (default: with).
    pub fn with_bias(self, bias: bool) -> Self {
        Self(self.0.with_bias(bias))
    }

    /// The initializer of the weight and bias (default: Burn's `Conv1d` default,
    /// Kaiming-uniform with gain 1/√3). Fans are those of the largest candidate.
    pub fn with_initializer(self, initializer: Initializer) -> Self {
        Self(self.0.with_initializer(initializer))
    }

    /// Builds the layer. Errors for a channel table of other than two axes or no kernel (a
    /// loaded config).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<SuperConv1d<B>> {
        let c = &self.0;
        let l = c.layout(NAME, 1)?;
        let init = &c.initializer;
        let (fan_in, fan_out) = (Some(l.fan_in), Some(l.fan_out));
        Ok(SuperConv1d {
            weight: init.init_with([l.co, l.per_group, l.k], fan_in, fan_out, device),
            bias: c
                .bias
                .then(|| init.init_with([l.co], fan_in, fan_out, device)),
            shape: c.shape(NAME),
        })
    }
}

/// A 1-D convolution over the largest kernel `[max out, max in (1 if depthwise), k_max]`. A
/// candidate is the weight's top-left channel block and the centred taps of its kernel.
#[derive(Module, Debug)]
pub struct SuperConv1d<B: Backend> {
    /// The largest weight.
    pub weight: Param<Tensor<B, 3>>,
    /// The largest bias.
    pub bias: Option<Param<Tensor<B, 1>>>,
    #[module(skip)]
    shape: ConvShape,
}

impl<B: Backend> SuperConv1d<B> {
    /// Candidate kernel sizes.
    pub fn kernels(&self) -> &[usize] {
        &self.shape.kernels
    }

    /// The channel extents over the decisions.
    pub fn table(&self) -> &Combi {
        &self.shape.channels
    }

    /// The weight, bias and padding this pass uses, and its `[in, out]` extents.
    #[allow(clippy::type_complexity)]
    pub fn mixed(
        &self,
        channels: &[&Mixture<B>],
        kernel: Option<&Mixture<B>>,
    ) -> Result<(Tensor<B, 3>, Option<Tensor<B, 1>>, usize, [usize; 2])> {
        let bias = self.bias.as_ref().map(|b| b.val());
        self.shape.mixed(self.weight.val(), bias, channels, kernel)
    }

    /// Forward pass on `[batch, in, length]`, `in` the input extent of the channel mixture.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        channels: &[&Mixture<B>],
        kernel: Option<&Mixture<B>>,
    ) -> Result<Tensor<B, 3>> {
        let (w, b, pad, [ci, co]) = self.mixed(channels, kernel)?;
        self.shape.check_input(&x.dims(), ci)?;
        let s = &self.shape;
        let opts = ConvOptions::new([s.stride], [pad], [s.dilation], s.groups(co));
        Ok(conv1d(x, w, b, opts))
    }

    /// The standalone Burn `Conv1d` at one choice of channels and kernel index, holding the
    /// inherited weights (detached: a new leaf to train or save).
    pub fn extract(&self, channels: &[usize], kernel: usize) -> Result<Conv1d<B>> {
        let c = self.shape.slice(channels, kernel, self.weight.dims()[2])?;
        let mut conv = Conv1dConfig::new(c.ci, c.co, c.k)
            .with_stride(self.shape.stride)
            .with_dilation(self.shape.dilation)
            .with_groups(c.groups)
            .with_padding(PaddingConfig1d::Explicit(c.pad, c.pad))
            .with_bias(self.bias.is_some())
            .init::<B>(&self.weight.device());
        let w = self.weight.val().slice([0..c.co, 0..c.pi, c.o..c.o + c.k]);
        conv.weight = Param::from_tensor(w.detach());
        conv.bias = self
            .bias
            .as_ref()
            .map(|b| Param::from_tensor(b.val().slice([0..c.co]).detach()));
        Ok(conv)
    }

    /// Parameters at one choice.
    pub fn params(&self, channels: &[usize], kernel: usize) -> Result<usize> {
        self.shape.params(channels, kernel, 1, self.bias.is_some())
    }
}
