//! `SuperConv2d`: a 2-D convolution whose kernel size and channel widths are decisions.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::{backend::Backend, module::conv2d, ops::ConvOptions, Tensor};

use crate::combi::Combi;
use crate::error::{CoreError, Result};
use crate::mask::kernel_mask;
use crate::mixture::Mixture;
use crate::spec::{check_increasing_sizes, Decision};

/// Configuration of a [`SuperConv2d`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SuperConv2dConfig {
    channels: Combi,
    kernels: Vec<usize>,
    stride: usize,
    dilation: usize,
    padding: Option<usize>,
    depthwise: bool,
    bias: bool,
    initializer: Initializer,
}

/// Saves and loads as JSON (`save` / `load`); `init` validates what it loads.
impl burn::config::Config for SuperConv2dConfig {}

/// Burn's default for `Conv2d` and `Linear` (and PyTorch's): Kaiming-uniform with gain 1/√3,
/// a bound of 1/√fan-in.
pub(crate) fn default_initializer() -> Initializer {
    Initializer::KaimingUniform {
        gain: 1.0 / 3f64.sqrt(),
        fan_out_only: false,
    }
}

impl SuperConv2dConfig {
    /// Independent input- and output-channel decisions and a kernel-size decision.
    /// Pass one-element lists for what is fixed (`&[3]` for a fixed 3×3 kernel). Channel
    /// mixtures are `[in, out]`.
    pub fn new(ins: &[usize], outs: &[usize], kernels: &[usize]) -> Result<Self> {
        check_increasing_sizes("SuperConv2d.in", ins)?;
        check_increasing_sizes("SuperConv2d.out", outs)?;
        let (i, o) = (ins.to_vec(), outs.to_vec());
        Self::combi(
            vec![ins.len(), outs.len()],
            move |c| (i[c[0]], o[c[1]]),
            kernels,
        )
    }

    /// A depthwise convolution (`groups = channels`): one channel decision, `[channels]`.
    pub fn depthwise(channels: &[usize], kernels: &[usize]) -> Result<Self> {
        check_increasing_sizes("SuperConv2d.channels", channels)?;
        let c = channels.to_vec();
        let mut cfg = Self::combi(vec![channels.len()], move |k| (c[k[0]], c[k[0]]), kernels)?;
        cfg.depthwise = true;
        Ok(cfg)
    }

    /// Channel decisions with `counts` candidates; `dims(choice)` gives `(in, out)` channels.
    pub fn combi(
        counts: Vec<usize>,
        dims: impl Fn(&[usize]) -> (usize, usize),
        kernels: &[usize],
    ) -> Result<Self> {
        // A kernel decision needs odd sizes (centred nesting); one fixed kernel may be any size
        // (a ViT patch projection is 16×16).
        if kernels.len() != 1 || kernels[0] == 0 {
            Decision::kernels("SuperConv2d.kernel", kernels)?;
        }
        let channels = Combi::new(counts, 2, |c| {
            let (i, o) = dims(c);
            vec![i, o]
        })?;
        Ok(SuperConv2dConfig {
            channels,
            kernels: kernels.to_vec(),
            stride: 1,
            dilation: 1,
            padding: None,
            depthwise: false,
            bias: true,
            initializer: default_initializer(),
        })
    }

    /// Stride (default 1).
    pub fn with_stride(mut self, stride: usize) -> Self {
        self.stride = stride.max(1);
        self
    }

    /// Dilation (default 1).
    pub fn with_dilation(mut self, dilation: usize) -> Self {
        self.dilation = dilation.max(1);
        self
    }

    /// Explicit padding. Only for a fixed kernel: with a kernel decision every candidate uses
    /// "same" padding `dilation · (k − 1) / 2`, so that all candidates give the same output size
    /// and a smaller kernel is exactly the zero-padded centre of the largest.
    pub fn with_padding(mut self, padding: usize) -> Result<Self> {
        if self.kernels.len() > 1 {
            return Err(CoreError::Config(
                "explicit padding needs a fixed kernel; kernel decisions use same padding".into(),
            ));
        }
        self.padding = Some(padding);
        Ok(self)
    }

    /// With or without a bias (default: with).
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// The initializer of the weight and bias (default: Burn's `Conv2d` default, Kaiming-uniform
    /// with gain 1/√3). Fans are those of the largest candidate.
    pub fn with_initializer(mut self, initializer: Initializer) -> Self {
        self.initializer = initializer;
        self
    }

    /// Builds the layer. Errors for a channel table of other than two axes or no kernel (a
    /// loaded config).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<SuperConv2d<B>> {
        let (&[ci, co], Some(&k)) = (self.channels.max(), self.kernels.last()) else {
            return Err(CoreError::Config(format!(
                "SuperConv2d: a channel table of {} axes and kernels {:?}; expected 2 axes (in, \
                 out) and at least one kernel",
                self.channels.max().len(),
                self.kernels
            )));
        };
        let per_group = if self.depthwise { 1 } else { ci };
        let fan_in = per_group * k * k;
        let fan_out = co * k * k / if self.depthwise { co } else { 1 };
        let init = &self.initializer;
        Ok(SuperConv2d {
            weight: init.init_with([co, per_group, k, k], Some(fan_in), Some(fan_out), device),
            bias: self
                .bias
                .then(|| init.init_with([co], Some(fan_in), Some(fan_out), device)),
            channels: self.channels.clone(),
            kernels: self.kernels.clone(),
            stride: self.stride,
            dilation: self.dilation,
            padding: self.padding,
            depthwise: self.depthwise,
        })
    }
}

/// A convolution over the largest kernel `[max out, max in (1 if depthwise), k_max, k_max]`.
#[derive(Module, Debug)]
pub struct SuperConv2d<B: Backend> {
    /// The largest weight.
    pub weight: Param<Tensor<B, 4>>,
    /// The largest bias.
    pub bias: Option<Param<Tensor<B, 1>>>,
    #[module(skip)]
    channels: Combi,
    #[module(skip)]
    kernels: Vec<usize>,
    #[module(skip)]
    stride: usize,
    #[module(skip)]
    dilation: usize,
    #[module(skip)]
    padding: Option<usize>,
    #[module(skip)]
    depthwise: bool,
}

impl<B: Backend> SuperConv2d<B> {
    /// Candidate kernel sizes.
    pub fn kernels(&self) -> &[usize] {
        &self.kernels
    }

    /// The channel extents over the decisions.
    pub fn table(&self) -> &Combi {
        &self.channels
    }

    fn pad_for(&self, k: usize) -> usize {
        self.padding.unwrap_or(self.dilation * (k - 1) / 2)
    }

    fn kernel_mix<'a>(&self, kernel: Option<&'a Mixture<B>>) -> Result<Option<&'a Mixture<B>>> {
        match kernel {
            Some(m) => {
                m.check(self.kernels.len(), "SuperConv2d.kernel")?;
                Ok(Some(m))
            }
            None if self.kernels.len() == 1 => Ok(None),
            None => Err(CoreError::BadMixture {
                decision: "SuperConv2d.kernel".into(),
                reason: format!("no mixture for a kernel decision over {:?}", self.kernels),
            }),
        }
    }

    /// The weight, bias and padding this pass uses.
    #[allow(clippy::type_complexity)]
    pub fn mixed(
        &self,
        channels: &[&Mixture<B>],
        kernel: Option<&Mixture<B>>,
    ) -> Result<(Tensor<B, 4>, Option<Tensor<B, 1>>, usize, [usize; 2])> {
        let kernel = self.kernel_mix(kernel)?;
        let plan = self.channels.plan(channels, "SuperConv2d.channels")?;
        let device = self.weight.device();
        let [ci, co] = [plan.extents[0], plan.extents[1]];
        let [mo, mi, kmax, _] = self.weight.dims();
        let mut w = self.weight.val();
        let pi = if self.depthwise { 1 } else { ci };
        if co != mo || pi != mi {
            w = w.slice([0..co, 0..pi]);
        }
        let mut b = self.bias.as_ref().map(|b| plan.vector(1, b.val()));
        // Channels.
        if plan.is_single() {
            if let Some(s) = plan.scale() {
                w = w * s.reshape([1, 1, 1, 1]);
            }
        } else {
            let m = if self.depthwise {
                plan.axis_mask(1).map(|m| m.reshape([co, 1, 1, 1]))
            } else {
                plan.mask2(1, 0, &device).map(|m| m.reshape([co, ci, 1, 1]))
            };
            if let Some(m) = m {
                w = w * m;
            }
        }
        // Kernel.
        let k_used;
        match kernel {
            None => k_used = kmax,
            Some(Mixture::Weights(kw)) => {
                k_used = kmax;
                let m = kernel_mask(kw.clone(), &self.kernels, kmax);
                w = w * m.reshape([1, 1, kmax, kmax]);
            }
            Some(Mixture::Single { index, weight }) => {
                let k = self.kernels[*index];
                k_used = k;
                if k != kmax {
                    let o = (kmax - k) / 2;
                    w = w.slice([0..co, 0..pi, o..o + k, o..o + k]);
                }
                if let Some(s) = weight {
                    w = w * s.clone().reshape([1, 1, 1, 1]);
                    b = b.map(|b| b * s.clone());
                }
            }
        }
        Ok((w, b, self.pad_for(k_used), [ci, co]))
    }

    /// Forward pass on `[batch, in, h, w]`, `in` the input extent of the channel mixture.
    pub fn forward(
        &self,
        x: Tensor<B, 4>,
        channels: &[&Mixture<B>],
        kernel: Option<&Mixture<B>>,
    ) -> Result<Tensor<B, 4>> {
        let (w, b, pad, [ci, co]) = self.mixed(channels, kernel)?;
        let dims = x.dims();
        if dims[1] != ci {
            return Err(CoreError::Shape {
                module: "SuperConv2d".into(),
                expected: format!("{ci} input channels"),
                got: dims.to_vec(),
            });
        }
        let groups = if self.depthwise { co } else { 1 };
        let opts = ConvOptions::new([self.stride; 2], [pad; 2], [self.dilation; 2], groups);
        Ok(conv2d(x, w, b, opts))
    }

    /// The standalone `Conv2d` at one choice of channels and kernel index.
    pub fn extract(&self, channels: &[usize], kernel: usize) -> Result<Conv2d<B>> {
        let e = self.channels.extents(channels)?;
        let (ci, co) = (e[0], e[1]);
        let k = *self
            .kernels
            .get(kernel)
            .ok_or_else(|| CoreError::BadMixture {
                decision: "SuperConv2d.kernel".into(),
                reason: format!("kernel index {kernel} out of range for {:?}", self.kernels),
            })?;
        let [_, _, kmax, _] = self.weight.dims();
        let o = (kmax - k) / 2;
        let pi = if self.depthwise { 1 } else { ci };
        let groups = if self.depthwise { co } else { 1 };
        let pad = self.pad_for(k);
        let device = self.weight.device();
        let mut conv = Conv2dConfig::new([ci, co], [k, k])
            .with_stride([self.stride; 2])
            .with_dilation([self.dilation; 2])
            .with_groups(groups)
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(self.bias.is_some())
            .init::<B>(&device);
        conv.weight = Param::from_tensor(
            self.weight
                .val()
                .slice([0..co, 0..pi, o..o + k, o..o + k])
                .detach(),
        );
        conv.bias = self
            .bias
            .as_ref()
            .map(|b| Param::from_tensor(b.val().slice([0..co]).detach()));
        Ok(conv)
    }

    /// Parameters at one choice.
    pub fn params(&self, channels: &[usize], kernel: usize) -> Result<usize> {
        let e = self.channels.extents(channels)?;
        let k = self.kernels.get(kernel).copied().unwrap_or(0);
        let pi = if self.depthwise { 1 } else { e[0] };
        Ok(e[1] * pi * k * k + if self.bias.is_some() { e[1] } else { 0 })
    }
}
