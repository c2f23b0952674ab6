//! A small conv-macro-style space whose every network can be trained alone: the ground truth
//! of the quality study (issue 17's image table).
//!
//! Three conv layers on `[batch, c, h, w]` images: conv1 → BN → ReLU → 2×2 max-pool → conv2 →
//! BN → ReLU → 2×2 max-pool → conv3 → BN → ReLU → global average pool → linear. Each layer's
//! output width is a decision over {8, 16, 32}; one kernel size {3, 5, 7} is shared by the three
//! convs ("same" padding). 3³ · 3 = 81 architectures: small enough to train every one of them
//! alone. Each conv is the combi-superposition of its input width (the previous layer's
//! decision), its output width and the kernel, as in the toy conv-macro space; batch norms
//! superpose their affine parameters over the width, and the classifier its input width.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use tangle_core::conv2d_forward;
use tangle_core::{
    batch_norm_forward, Architecture, CoreError, DecisionKey, Mixture, Mixtures, Result,
    SearchSpec, SuperBatchNorm2d, SuperBatchNorm2dConfig, SuperConv2d, SuperConv2dConfig,
    SuperLinear, SuperLinearConfig, Supernet, WsMixedOp,
};

use crate::layers::{first_inputs, global_avg_pool, max_pool_2x2, pad_channels};

mod config;
pub use config::SmallConvConfig;

impl SmallConvConfig {
    /// Builds the weight-entangled supernet. Errors for an invalid configuration.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<SmallConv<B>> {
        SmallConv::from_config(*self, device)
    }

    /// Builds the weight-sharing (WS) supernet of the same space: one weight per candidate,
    /// outputs mixed, the baseline weight entanglement is compared with.
    pub fn init_ws<B: Backend>(&self, device: &B::Device) -> Result<SmallConvWs<B>> {
        SmallConvWs::from_config(*self, device)
    }
}

/// Output widths of every conv layer.
pub const WIDTHS: [usize; 3] = [8, 16, 32];
/// Kernel sizes, shared by the three convs.
pub const KERNELS: [usize; 3] = [3, 5, 7];
/// Conv layers.
pub const LAYERS: usize = 3;

/// The decisions of the space.
#[derive(Debug, Clone, PartialEq)]
pub struct SmallConvKeys {
    /// Each conv's output width.
    pub channels: Vec<DecisionKey<usize>>,
    /// The kernel size all convs share.
    pub kernel: DecisionKey<usize>,
}

/// Declares the space: `conv1.channels`, `conv2.channels`, `conv3.channels`, `kernel`.
pub fn declare() -> (SearchSpec, SmallConvKeys) {
    let mut space = SearchSpec::builder();
    let channels = (1..=LAYERS)
        .map(|i| {
            space
                .sizes(&format!("conv{i}.channels"), &WIDTHS, WIDTHS[2])
                .expect("valid")
        })
        .collect();
    let kernel = space.kernels("kernel", &KERNELS).expect("valid kernels");
    (space.build(), SmallConvKeys { channels, kernel })
}

/// The search spec (see [`declare`]).
pub fn spec() -> SearchSpec {
    declare().0
}

impl SmallConvConfig {
    /// Errors, naming the configuration, unless it has input channels and classes.
    pub fn check(&self) -> Result<()> {
        if self.in_channels == 0 || self.classes == 0 {
            return Err(CoreError::Config(format!(
                "a small conv network needs input channels and classes, got {self:?}"
            )));
        }
        Ok(())
    }
}

/// The weight-entangled supernet.
#[derive(Module, Debug)]
pub struct SmallConv<B: Backend> {
    /// conv1 … conv3.
    pub convs: Vec<SuperConv2d<B>>,
    /// Their batch norms.
    pub bns: Vec<SuperBatchNorm2d<B>>,
    /// The classifier, its input width superposed.
    pub head: SuperLinear<B>,
    #[module(skip)]
    spec: SearchSpec,
    #[module(skip)]
    keys: SmallConvKeys,
    #[module(skip)]
    config: SmallConvConfig,
}

impl<B: Backend> SmallConv<B> {
    /// A freshly initialized supernet.
    pub(crate) fn from_config(config: SmallConvConfig, device: &B::Device) -> Result<Self> {
        config.check()?;
        let (spec, keys) = declare();
        let c_in = config.in_channels;
        let widths = |i: usize| keys.channels[i].candidates().to_vec();
        let kernels = keys.kernel.candidates();
        let w0 = widths(0);
        let mut convs =
            vec![
                SuperConv2dConfig::combi(vec![w0.len()], move |c| (c_in, w0[c[0]]), kernels)?
                    .init(device)?,
            ];
        for i in 1..LAYERS {
            convs.push(SuperConv2dConfig::new(&widths(i - 1), &widths(i), kernels)?.init(device)?);
        }
        let bns = (0..LAYERS)
            .map(|i| SuperBatchNorm2dConfig::new(widths(i).to_vec()).init(device))
            .collect::<Result<Vec<_>>>()?;
        Ok(SmallConv {
            convs,
            bns,
            head: SuperLinearConfig::input(&widths(LAYERS - 1), config.classes)?.init(device)?,
            spec,
            keys,
            config,
        })
    }

    /// Input channels and classes.
    pub fn config(&self) -> &SmallConvConfig {
        &self.config
    }
}

fn check_input<B: Backend>(x: &Tensor<B, 4>, channels: usize) -> Result<()> {
    let dims = x.dims();
    if dims[1] != channels || dims[2] < 4 || dims[3] < 4 {
        return Err(CoreError::Shape {
            module: "SmallConv".into(),
            expected: format!("[batch, {channels}, h ≥ 4, w ≥ 4]"),
            got: dims.to_vec(),
        });
    }
    Ok(())
}

impl<B: Backend> Supernet<B> for SmallConv<B> {
    type Input = Tensor<B, 4>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 4>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        check_input(&x, self.config.in_channels)?;
        let widths = self
            .keys
            .channels
            .iter()
            .map(|key| mix.of(key))
            .collect::<Result<Vec<_>>>()?;
        // The kernel mixture's mass (a straight-through weight) scales each batch norm's
        // output: put into the kernels, the batch norms would divide it back out.
        let (k, k_mass) = mix.of(&self.keys.kernel)?.split_mass();
        let mut x = x;
        for i in 0..LAYERS {
            let channels = if i == 0 {
                vec![widths[0]]
            } else {
                vec![widths[i - 1], widths[i]]
            };
            x = self.convs[i].forward(x, &channels, Some(&k))?;
            x = relu(Mixture::carry_mass(
                self.bns[i].forward(x, widths[i])?,
                k_mass.clone(),
            ));
            if i + 1 < LAYERS {
                x = max_pool_2x2(x);
            }
        }
        self.head.forward(global_avg_pool(x), &[widths[LAYERS - 1]])
    }
}

/// A discretized network: plain Burn modules with the inherited weights.
#[derive(Module, Debug)]
pub struct SmallConvNet<B: Backend> {
    /// conv1 … conv3.
    pub convs: Vec<Conv2d<B>>,
    /// Their batch norms.
    pub bns: Vec<BatchNorm<B>>,
    /// The classifier.
    pub head: Linear<B>,
}

impl<B: Backend> SmallConvNet<B> {
    /// `[batch, c, h, w]` → logits `[batch, classes]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let mut x = x;
        for (i, (conv, bn)) in self.convs.iter().zip(&self.bns).enumerate() {
            x = relu(batch_norm_forward(bn, conv2d_forward(conv, x)));
            if i + 1 < LAYERS {
                x = max_pool_2x2(x);
            }
        }
        self.head.forward(global_avg_pool(x))
    }
}

impl<B: Backend> tangle_core::Extract<B> for SmallConv<B> {
    type Subnet = SmallConvNet<B>;

    fn extract(&self, arch: &Architecture) -> Result<SmallConvNet<B>> {
        arch.validate(&self.spec)?;
        let widths = self
            .keys
            .channels
            .iter()
            .map(|key| arch.index(key))
            .collect::<Result<Vec<_>>>()?;
        let k = arch.index(&self.keys.kernel)?;
        let mut convs = Vec::with_capacity(LAYERS);
        for i in 0..LAYERS {
            let channels = if i == 0 {
                vec![widths[0]]
            } else {
                vec![widths[i - 1], widths[i]]
            };
            convs.push(self.convs[i].extract(&channels, k)?);
        }
        Ok(SmallConvNet {
            convs,
            bns: (0..LAYERS)
                .map(|i| self.bns[i].extract(widths[i]))
                .collect::<Result<Vec<_>>>()?,
            head: self.head.extract(&[widths[LAYERS - 1]])?,
        })
    }

    fn params(&self, arch: &Architecture) -> Result<usize> {
        small_conv_params(arch, self.config)
    }
}

/// Parameters of the network at `arch`, from the architecture alone.
pub fn small_conv_params(arch: &Architecture, config: SmallConvConfig) -> Result<usize> {
    let (spec, keys) = declare();
    arch.validate(&spec)?;
    let k = arch.value(&keys.kernel)?;
    let mut c_in = config.in_channels;
    let mut total = 0;
    for key in &keys.channels {
        let c = arch.value(key)?;
        // Conv weight and bias, batch-norm γ and β.
        total += c * c_in * k * k + c + 2 * c;
        c_in = c;
    }
    Ok(total + c_in * config.classes + config.classes)
}

/// One weight-sharing candidate of a layer: its own conv and batch norm, reading the previous
/// layer's widest (zero-padded) output.
#[derive(Module, Debug)]
pub struct WsCandidate<B: Backend> {
    /// The conv.
    pub conv: Conv2d<B>,
    /// Its batch norm.
    pub bn: BatchNorm<B>,
}

/// The weight-sharing (WS) twin of [`SmallConv`] — the "DrNAS WS" baseline: each (width,
/// kernel) pair of every layer is a conv + batch norm of its own, the outputs are zero-padded to
/// the widest and mixed (one forward per candidate: nine per layer).
#[derive(Module, Debug)]
pub struct SmallConvWs<B: Backend> {
    /// conv1 … conv3: nine candidates each, index `width · 3 + kernel`.
    pub layers: Vec<WsMixedOp<B, WsCandidate<B>>>,
    /// The classifier, reading the widest (zero-padded) features.
    pub head: Linear<B>,
    #[module(skip)]
    spec: SearchSpec,
    #[module(skip)]
    keys: SmallConvKeys,
    #[module(skip)]
    config: SmallConvConfig,
}

impl<B: Backend> SmallConvWs<B> {
    /// A freshly initialized WS supernet.
    pub(crate) fn from_config(config: SmallConvConfig, device: &B::Device) -> Result<Self> {
        config.check()?;
        let (spec, keys) = declare();
        let kernels = keys.kernel.candidates();
        let mut layers = Vec::with_capacity(LAYERS);
        let mut c_in = config.in_channels;
        // Candidate (width i, kernel j) is op i · |kernels| + j, as in `Mixture::joint`.
        for width in &keys.channels {
            let ops = width
                .candidates()
                .iter()
                .flat_map(|&c| {
                    kernels.iter().map(move |&k| WsCandidate {
                        conv: Conv2dConfig::new([c_in, c], [k, k])
                            .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
                            .init(device),
                        bn: BatchNormConfig::new(c).init(device),
                    })
                })
                .collect();
            layers.push(WsMixedOp::new(ops)?);
            c_in = *width.largest();
        }
        Ok(SmallConvWs {
            layers,
            head: LinearConfig::new(c_in, config.classes).init(device),
            spec,
            keys,
            config,
        })
    }
}

impl<B: Backend> Supernet<B> for SmallConvWs<B> {
    type Input = Tensor<B, 4>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 4>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        check_input(&x, self.config.in_channels)?;
        let device = x.device();
        let kernel = &self.keys.kernel;
        let mut x = x;
        for (i, (layer, width)) in self.layers.iter().zip(&self.keys.channels).enumerate() {
            let (w, k) = (mix.of(width)?, mix.of(kernel)?);
            let pair = Mixture::joint(w, width.len(), k, kernel.len(), &device)?;
            let widest = *width.largest();
            x = layer.forward(x, &pair, |op, x| {
                Ok(pad_channels(
                    relu(batch_norm_forward(&op.bn, conv2d_forward(&op.conv, x))),
                    widest,
                ))
            })?;
            if i + 1 < LAYERS {
                x = max_pool_2x2(x);
            }
        }
        Ok(self.head.forward(global_avg_pool(x)))
    }
}

impl<B: Backend> tangle_core::Extract<B> for SmallConvWs<B> {
    type Subnet = SmallConvNet<B>;

    /// The chosen candidates' own weights, their input channels cut to the previous layer's
    /// chosen width (the rest only ever saw zeros), and the classifier's to the last width.
    fn extract(&self, arch: &Architecture) -> Result<SmallConvNet<B>> {
        arch.validate(&self.spec)?;
        let kernel = &self.keys.kernel;
        let (mut convs, mut bns) = (Vec::new(), Vec::new());
        let mut c_in = self.config.in_channels;
        for (layer, width) in self.layers.iter().zip(&self.keys.channels) {
            let op = &layer.ops[arch.index(width)? * kernel.len() + arch.index(kernel)?];
            let conv = first_inputs(op.conv.clone(), c_in);
            c_in = conv.weight.dims()[0];
            convs.push(conv);
            bns.push(op.bn.clone());
        }
        let mut head = self.head.clone();
        head.weight = Param::from_tensor(
            head.weight
                .val()
                .slice([0..c_in, 0..self.config.classes])
                .detach(),
        );
        Ok(SmallConvNet { convs, bns, head })
    }

    fn params(&self, arch: &Architecture) -> Result<usize> {
        small_conv_params(arch, self.config)
    }
}
