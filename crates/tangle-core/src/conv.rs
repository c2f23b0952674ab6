//! `SuperConv2d`: a 2-D convolution whose kernel size and channel widths are decisions.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::{backend::Backend, ops::ConvOptions, Tensor};

use crate::combi::{Combi, Plan};
use crate::error::{CoreError, Result};
use crate::fast_conv::conv2d;
use crate::mask::kernel_taps;
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
    // Read by `SuperConv1dConfig::init` too.
    pub(crate) bias: bool,
    pub(crate) initializer: Initializer,
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
        Self::named_new("SuperConv2d", ins, outs, kernels)
    }

    /// A depthwise convolution (`groups = channels`): one channel decision, `[channels]`.
    pub fn depthwise(channels: &[usize], kernels: &[usize]) -> Result<Self> {
        Self::named_depthwise("SuperConv2d", channels, kernels)
    }

    /// Channel decisions with `counts` candidates; `dims(choice)` gives `(in, out)` channels.
    pub fn combi(
        counts: Vec<usize>,
        dims: impl Fn(&[usize]) -> (usize, usize),
        kernels: &[usize],
    ) -> Result<Self> {
        Self::named_combi("SuperConv2d", counts, dims, kernels)
    }

    // The constructors of any spatial rank, their errors naming the module (`SuperConv1d.in`).
    pub(crate) fn named_new(
        module: &str,
        ins: &[usize],
        outs: &[usize],
        kernels: &[usize],
    ) -> Result<Self> {
        check_increasing_sizes(&format!("{module}.in"), ins)?;
        check_increasing_sizes(&format!("{module}.out"), outs)?;
        let (i, o) = (ins.to_vec(), outs.to_vec());
        Self::named_combi(
            module,
            vec![ins.len(), outs.len()],
            move |c| (i[c[0]], o[c[1]]),
            kernels,
        )
    }

    pub(crate) fn named_depthwise(
        module: &str,
        channels: &[usize],
        kernels: &[usize],
    ) -> Result<Self> {
        check_increasing_sizes(&format!("{module}.channels"), channels)?;
        let c = channels.to_vec();
        let mut cfg = Self::named_combi(
            module,
            vec![channels.len()],
            move |k| (c[k[0]], c[k[0]]),
            kernels,
        )?;
        cfg.depthwise = true;
        Ok(cfg)
    }

    pub(crate) fn named_combi(
        module: &str,
        counts: Vec<usize>,
        dims: impl Fn(&[usize]) -> (usize, usize),
        kernels: &[usize],
    ) -> Result<Self> {
        // A kernel decision needs odd sizes (centred nesting); one fixed kernel may be any size
        // (a ViT patch projection is 16×16).
        if kernels.len() != 1 || kernels[0] == 0 {
            Decision::kernels(&format!("{module}.kernel"), kernels)?;
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
        let l = self.layout("SuperConv2d", 2)?;
        let init = &self.initializer;
        let (fan_in, fan_out) = (Some(l.fan_in), Some(l.fan_out));
        Ok(SuperConv2d {
            weight: init.init_with([l.co, l.per_group, l.k, l.k], fan_in, fan_out, device),
            bias: self
                .bias
                .then(|| init.init_with([l.co], fan_in, fan_out, device)),
            shape: self.shape("SuperConv2d"),
        })
    }

    /// The settings a built module keeps, its errors naming `module`.
    pub(crate) fn shape(&self, module: &'static str) -> ConvShape {
        ConvShape {
            module,
            channels: self.channels.clone(),
            kernels: self.kernels.clone(),
            stride: self.stride,
            dilation: self.dilation,
            padding: self.padding,
            depthwise: self.depthwise,
        }
    }

    /// The largest weight's shape and fans for `spatial` kernel axes. Errors for a channel
    /// table of other than two axes or no kernel (a loaded config), naming `module`.
    pub(crate) fn layout(&self, module: &str, spatial: u32) -> Result<ConvLayout> {
        let (&[ci, co], Some(&k)) = (self.channels.max(), self.kernels.last()) else {
            return Err(CoreError::Config(format!(
                "{module}: a channel table of {} axes and kernels {:?}; expected 2 axes (in, \
                 out) and at least one kernel",
                self.channels.max().len(),
                self.kernels
            )));
        };
        let per_group = if self.depthwise { 1 } else { ci };
        let taps = k.pow(spatial);
        Ok(ConvLayout {
            co,
            per_group,
            k,
            fan_in: per_group * taps,
            fan_out: co * taps / if self.depthwise { co } else { 1 },
        })
    }
}

/// The largest weight of a convolution: `[co, per_group, k, …]` and its fans.
pub(crate) struct ConvLayout {
    pub(crate) co: usize,
    pub(crate) per_group: usize,
    pub(crate) k: usize,
    pub(crate) fan_in: usize,
    pub(crate) fan_out: usize,
}

/// Everything about a convolution of any spatial rank except its tensors: the channel table,
/// the kernel candidates, stride, dilation, padding and grouping. [`SuperConv2d`] and
/// [`SuperConv1d`](crate::SuperConv1d) each hold one and share its logic.
#[derive(Debug, Clone)]
pub(crate) struct ConvShape {
    /// The module's name in errors (`SuperConv1d`, `SuperConv2d`).
    pub(crate) module: &'static str,
    pub(crate) channels: Combi,
    pub(crate) kernels: Vec<usize>,
    pub(crate) stride: usize,
    pub(crate) dilation: usize,
    pub(crate) padding: Option<usize>,
    pub(crate) depthwise: bool,
}

/// One choice's part of the largest weight: channels `[0..co, 0..pi]`, taps `o..o + k` on
/// every spatial axis; and how the plain convolution runs it.
pub(crate) struct ConvSlice {
    pub(crate) ci: usize,
    pub(crate) co: usize,
    pub(crate) pi: usize,
    pub(crate) k: usize,
    pub(crate) o: usize,
    pub(crate) groups: usize,
    pub(crate) pad: usize,
}

impl ConvShape {
    fn pad_for(&self, k: usize) -> usize {
        self.padding.unwrap_or(self.dilation * (k - 1) / 2)
    }

    pub(crate) fn groups(&self, co: usize) -> usize {
        if self.depthwise {
            co
        } else {
            1
        }
    }

    /// The weight, bias and padding one pass uses, and its `[in, out]` extents.
    #[allow(clippy::type_complexity)]
    pub(crate) fn mixed<B: Backend, const D: usize>(
        &self,
        weight: Tensor<B, D>,
        bias: Option<Tensor<B, 1>>,
        channels: &[&Mixture<B>],
        kernel: Option<&Mixture<B>>,
    ) -> Result<(Tensor<B, D>, Option<Tensor<B, 1>>, usize, [usize; 2])> {
        let what = |part: &str| format!("{}.{part}", self.module);
        let kernel = kernel_mixture(kernel, &self.kernels, &what("kernel"))?;
        let plan = self.channels.plan(channels, &what("channels"))?;
        let [ci, co] = [plan.extents[0], plan.extents[1]];
        let (w, scale, k) = mixed_weight(weight, &plan, kernel, &self.kernels, self.depthwise);
        let b = bias.map(|b| {
            let b = plan.vector(1, b);
            match &scale {
                Some(s) => b * s.clone(),
                None => b,
            }
        });
        Ok((w, b, self.pad_for(k), [ci, co]))
    }

    /// Errors unless the input `dims` has the pass's `ci` channels (axis 1).
    pub(crate) fn check_input(&self, dims: &[usize], ci: usize) -> Result<()> {
        if dims[1] != ci {
            return Err(CoreError::Shape {
                module: self.module.into(),
                expected: format!("{ci} input channels"),
                got: dims.to_vec(),
            });
        }
        Ok(())
    }

    /// The slice of a weight with `kmax` taps per axis at one channel choice and kernel index.
    pub(crate) fn slice(
        &self,
        channels: &[usize],
        kernel: usize,
        kmax: usize,
    ) -> Result<ConvSlice> {
        let e = self.channels.extents(channels)?;
        let (ci, co) = (e[0], e[1]);
        let k = kernel_at(&self.kernels, kernel, &format!("{}.kernel", self.module))?;
        Ok(ConvSlice {
            ci,
            co,
            pi: if self.depthwise { 1 } else { ci },
            k,
            o: (kmax - k) / 2,
            groups: self.groups(co),
            pad: self.pad_for(k),
        })
    }

    /// Parameters at one choice, with `spatial` kernel axes.
    pub(crate) fn params(
        &self,
        channels: &[usize],
        kernel: usize,
        spatial: u32,
        bias: bool,
    ) -> Result<usize> {
        let kmax = self.kernels.last().copied().unwrap_or(0);
        let c = self.slice(channels, kernel, kmax)?;
        Ok(c.co * c.pi * c.k.pow(spatial) + if bias { c.co } else { 0 })
    }
}

/// The kernel size at `index`, or an error naming `what` and the candidates.
fn kernel_at(kernels: &[usize], index: usize, what: &str) -> Result<usize> {
    kernels
        .get(index)
        .copied()
        .ok_or_else(|| CoreError::BadMixture {
            decision: what.into(),
            reason: format!("kernel index {index} out of range for {kernels:?}"),
        })
}

/// Checks a convolution's kernel mixture: `None` is allowed only for a fixed kernel.
fn kernel_mixture<'a, B: Backend>(
    kernel: Option<&'a Mixture<B>>,
    kernels: &[usize],
    what: &str,
) -> Result<Option<&'a Mixture<B>>> {
    match kernel {
        Some(m) => {
            m.check(kernels.len(), what)?;
            Ok(Some(m))
        }
        None if kernels.len() == 1 => Ok(None),
        None => Err(CoreError::BadMixture {
            decision: what.into(),
            reason: format!("no mixture for a kernel decision over {kernels:?}"),
        }),
    }
}

/// The weight one pass of a convolution of any spatial rank uses (`D − 2` spatial axes:
/// [`SuperConv2d`] and [`SuperConv1d`](crate::SuperConv1d) share it): the largest weight
/// `[max out, max in (1 if depthwise), k_max, …]` sliced to the plan's channel extents and then
/// masked (superposed channels or kernels: `Σ_c p_c · pad(W_c) = W ⊙ mask`) or sliced to the
/// chosen kernel's centre and scaled by its straight-through weight. Returns the weight, the
/// kernel's straight-through weight (the bias takes it too) and the kernel size the pass runs.
fn mixed_weight<B: Backend, const D: usize>(
    weight: Tensor<B, D>,
    plan: &Plan<B>,
    kernel: Option<&Mixture<B>>,
    kernels: &[usize],
    depthwise: bool,
) -> (Tensor<B, D>, Option<Tensor<B, 1>>, usize) {
    let device = weight.device();
    let [ci, co] = [plan.extents[0], plan.extents[1]];
    let dims = weight.dims();
    let (mo, mi, kmax) = (dims[0], dims[1], dims[2]);
    let mut w = weight;
    let pi = if depthwise { 1 } else { ci };
    if co != mo || pi != mi {
        w = w.slice([0..co, 0..pi]);
    }
    // `[co, ci, 1, …]`: a per-channel factor broadcast over the kernel taps.
    let channel_shape = |co: usize, ci: usize| {
        let mut shape = [1usize; D];
        shape[0] = co;
        shape[1] = ci;
        shape
    };
    // Channels.
    if plan.is_single() {
        if let Some(s) = plan.scale() {
            w = w * s.reshape([1usize; D]);
        }
    } else {
        let m = if depthwise {
            plan.axis_mask(1).map(|m| m.reshape(channel_shape(co, 1)))
        } else {
            plan.mask2(1, 0, &device)
                .map(|m| m.reshape(channel_shape(co, ci)))
        };
        if let Some(m) = m {
            w = w * m;
        }
    }
    // Kernel.
    match kernel {
        None => (w, None, kmax),
        Some(Mixture::Weights(kw)) => {
            let taps = kernel_taps(kw.clone(), kernels, kmax, D as u32 - 2);
            let mut shape = [kmax; D];
            shape[0] = 1;
            shape[1] = 1;
            (w * taps.reshape(shape), None, kmax)
        }
        Some(Mixture::Single { index, weight }) => {
            let k = kernels[*index];
            if k != kmax {
                let o = (kmax - k) / 2;
                for axis in 2..D {
                    w = w.narrow(axis, o, k);
                }
            }
            if let Some(s) = weight {
                w = w * s.clone().reshape([1usize; D]);
            }
            (w, weight.clone(), k)
        }
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
    shape: ConvShape,
}

impl<B: Backend> SuperConv2d<B> {
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
    ) -> Result<(Tensor<B, 4>, Option<Tensor<B, 1>>, usize, [usize; 2])> {
        let bias = self.bias.as_ref().map(|b| b.val());
        self.shape.mixed(self.weight.val(), bias, channels, kernel)
    }

    /// Forward pass on `[batch, in, h, w]`, `in` the input extent of the channel mixture.
    pub fn forward(
        &self,
        x: Tensor<B, 4>,
        channels: &[&Mixture<B>],
        kernel: Option<&Mixture<B>>,
    ) -> Result<Tensor<B, 4>> {
        let (w, b, pad, [ci, co]) = self.mixed(channels, kernel)?;
        self.shape.check_input(&x.dims(), ci)?;
        let s = &self.shape;
        let opts = ConvOptions::new([s.stride; 2], [pad; 2], [s.dilation; 2], s.groups(co));
        Ok(conv2d(x, w, b, opts))
    }

    /// The standalone `Conv2d` at one choice of channels and kernel index.
    pub fn extract(&self, channels: &[usize], kernel: usize) -> Result<Conv2d<B>> {
        let c = self.shape.slice(channels, kernel, self.weight.dims()[2])?;
        let (s, (o, k)) = (&self.shape, (c.o, c.k));
        let mut conv = Conv2dConfig::new([c.ci, c.co], [k, k])
            .with_stride([s.stride; 2])
            .with_dilation([s.dilation; 2])
            .with_groups(c.groups)
            .with_padding(PaddingConfig2d::Explicit(c.pad, c.pad, c.pad, c.pad))
            .with_bias(self.bias.is_some())
            .init::<B>(&self.weight.device());
        let w = self
            .weight
            .val()
            .slice([0..c.co, 0..c.pi, o..o + k, o..o + k]);
        conv.weight = Param::from_tensor(w.detach());
        conv.bias = self
            .bias
            .as_ref()
            .map(|b| Param::from_tensor(b.val().slice([0..c.co]).detach()));
        Ok(conv)
    }

    /// Parameters at one choice.
    pub fn params(&self, channels: &[usize], kernel: usize) -> Result<usize> {
        self.shape.params(channels, kernel, 2, self.bias.is_some())
    }
}
