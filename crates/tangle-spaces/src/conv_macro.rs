//! The toy conv-macro space (paper Table 17, CIFAR-10 sized inputs).
//!
//! conv1 3 → {8, 16, 32}; conv2 → {16, 32, 64}; max-pool; conv3 → {32, 64, 128}; Dropout2d;
//! max-pool; conv4 → {64, 128, 256}; conv5 7×7, padding 2 → 256 (its input is conv4's width);
//! Dropout2d(0.5); FC 9216 → 256 → 128 → 64 → 10. Kernel sizes {3, 5, 7} on conv1–4. Every
//! conv's weight is the combi-superposition of its input width (the previous layer's decision),
//! its output width and its kernel: 3⁸ = 6561 architectures.
//!
//! [`ConvMacroConfig::width_divisor`] scales every convolution's width down by the same factor
//! (the same decisions and architectures, narrower); 1 is the paper's space.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use tangle_core::conv2d_forward;
use tangle_core::random::dropout_channels;
use tangle_core::{
    Architecture, CoreError, DecisionKey, Mixture, Mixtures, Result, SearchSpec, SuperConv2d,
    SuperConv2dConfig, Supernet, WsMixedOp,
};

use crate::layers::{first_inputs, max_pool_2x2, pad_channels};

mod config;
pub use config::ConvMacroConfig;

impl ConvMacroConfig {
    /// The space's decisions at this configuration's widths (see [`declare_scaled`]).
    pub fn declare(&self) -> Result<(SearchSpec, Vec<ConvKeys>)> {
        declare_scaled(self.width_divisor)
    }

    /// conv5's output width: 256, divided by the width divisor.
    pub fn conv5_width(&self) -> Result<usize> {
        divided(CONV5_WIDTH, self.width_divisor)
    }

    /// Builds the weight-entangled supernet (Table 17).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<ConvMacro<B>> {
        ConvMacro::from_config(self, device)
    }

    /// Builds the weight-sharing (WS) supernet of the same space: one convolution per (width,
    /// kernel) candidate, outputs mixed.
    pub fn init_ws<B: Backend>(&self, device: &B::Device) -> Result<ConvMacroWs<B>> {
        ConvMacroWs::from_config(self, device)
    }
}

/// Output widths of conv1–conv4 (the paper's; see [`ConvMacroConfig::width_divisor`]).
pub const WIDTHS: [[usize; 3]; 4] = [[8, 16, 32], [16, 32, 64], [32, 64, 128], [64, 128, 256]];
/// conv5's output width (the paper's).
pub const CONV5_WIDTH: usize = 256;
/// The spatial size of conv5's output on a 32 × 32 input: 32 → pool 16 → pool 8 → 7 × 7
/// convolution with padding 2 → 6.
const CONV5_SIDE: usize = 6;
/// Kernel sizes of conv1–conv4.
pub const KERNELS: [usize; 3] = [3, 5, 7];
/// Classes.
pub const CLASSES: usize = 10;

/// The decisions of one of conv1–conv4.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvKeys {
    /// Output width.
    pub channels: DecisionKey<usize>,
    /// Kernel size.
    pub kernel: DecisionKey<usize>,
}

/// Declares the paper's space: `conv{1..4}.channels` and `conv{1..4}.kernel`, one [`ConvKeys`]
/// per layer.
pub fn declare() -> (SearchSpec, Vec<ConvKeys>) {
    declare_scaled(1).expect("the paper's widths are valid")
}

/// `width / divisor`, or an error naming the divisor unless it divides `width` exactly.
fn divided(width: usize, divisor: usize) -> Result<usize> {
    if divisor == 0 || width % divisor != 0 {
        return Err(CoreError::Config(format!(
            "conv-macro width_divisor {divisor} must divide every width exactly (1, 2, 4 or 8; the \
             narrowest is {})",
            WIDTHS[0][0]
        )));
    }
    Ok(width / divisor)
}

/// Declares the space with every width divided by `width_divisor` (1 gives [`declare`]'s).
/// Errors unless the divisor divides every width.
pub fn declare_scaled(width_divisor: usize) -> Result<(SearchSpec, Vec<ConvKeys>)> {
    let mut space = SearchSpec::builder();
    let mut keys = Vec::new();
    for (i, w) in WIDTHS.iter().enumerate() {
        let w = w
            .iter()
            .map(|&c| divided(c, width_divisor))
            .collect::<Result<Vec<_>>>()?;
        keys.push(ConvKeys {
            channels: space.sizes(&format!("conv{}.channels", i + 1), &w, w[2])?,
            kernel: space.kernels(&format!("conv{}.kernel", i + 1), &KERNELS)?,
        });
    }
    Ok((space.build(), keys))
}

/// The search spec (see [`declare`]).
pub fn spec() -> SearchSpec {
    declare().0
}

/// He initialization (Kaiming-normal, gain √2, fan-in; He et al. 2015), which keeps the
/// variance of the activations constant through ReLU layers. This space has nine ReLU layers and
/// no normalization: with the PyTorch/Burn default (uniform, bound 1/√fan-in, one sixth of the
/// variance per layer), the logits start ~10⁻⁴ small and training stalls (measured on MNIST: the
/// largest network's loss still 2.31 after 55 Adam steps at 1e-3; docs/results.md).
fn he() -> Initializer {
    Initializer::KaimingNormal {
        gain: 2f64.sqrt(),
        fan_out_only: false,
    }
}

/// The conv-macro supernet.
#[derive(Module, Debug)]
pub struct ConvMacro<B: Backend> {
    /// conv1 … conv4 (superposed) and conv5 (input width superposed).
    pub convs: Vec<SuperConv2d<B>>,
    /// The classifier 9216 → 256 → 128 → 64 → 10 (its input 36 × conv5's width).
    pub fcs: Vec<Linear<B>>,
    #[module(skip)]
    spec: SearchSpec,
    #[module(skip)]
    keys: Vec<ConvKeys>,
    #[module(skip)]
    dropout: f64,
    #[module(skip)]
    conv5_width: usize,
}

impl<B: Backend> ConvMacro<B> {
    /// A freshly initialized supernet, He-initialized (normal, std √(2/fan-in); the logits
    /// layer keeps Burn's default).
    pub(crate) fn from_config(config: &ConvMacroConfig, device: &B::Device) -> Result<Self> {
        let (spec, keys) = config.declare()?;
        let conv5_width = config.conv5_width()?;
        let widths = |i: usize| keys[i].channels.candidates().to_vec();
        let w0 = widths(0);
        let mut convs = vec![SuperConv2dConfig::combi(
            vec![w0.len()],
            move |c| (3, w0[c[0]]),
            keys[0].kernel.candidates(),
        )?
        .with_initializer(he())
        .init(device)?];
        for i in 1..4 {
            convs.push(
                SuperConv2dConfig::new(&widths(i - 1), &widths(i), keys[i].kernel.candidates())?
                    .with_initializer(he())
                    .init(device)?,
            );
        }
        let w3 = widths(3);
        convs.push(
            SuperConv2dConfig::combi(vec![w3.len()], move |c| (w3[c[0]], conv5_width), &[7])?
                .with_padding(2)?
                .with_initializer(he())
                .init(device)?,
        );
        Ok(ConvMacro {
            convs,
            fcs: classifier_layers(conv5_width, device),
            spec,
            keys,
            dropout: config.dropout,
            conv5_width,
        })
    }

    /// The space's decisions, conv1–conv4.
    pub fn keys(&self) -> &[ConvKeys] {
        &self.keys
    }
}

/// The classifier's widths: conv5's flattened output (9216 in the paper's space) → 256 → 128 →
/// 64 → 10.
fn classifier_dims(conv5_width: usize) -> [usize; 5] {
    [conv5_width * CONV5_SIDE * CONV5_SIDE, 256, 128, 64, CLASSES]
}

/// The classifier 9216 → 256 → 128 → 64 → 10: He-initialized hidden layers; the logits layer
/// has no ReLU after it and keeps Burn's default, so the logits start small.
fn classifier_layers<B: Backend>(conv5_width: usize, device: &B::Device) -> Vec<Linear<B>> {
    let dims = classifier_dims(conv5_width);
    dims.windows(2)
        .map(|w| {
            let fc = LinearConfig::new(w[0], w[1]);
            if w[1] == CLASSES {
                fc
            } else {
                fc.with_initializer(he())
            }
            .init(device)
        })
        .collect()
}

fn classifier<B: Backend>(fcs: &[Linear<B>], x: Tensor<B, 4>) -> Tensor<B, 2> {
    let n = x.dims()[0];
    let mut h = x.reshape([n as i32, -1]);
    for (i, fc) in fcs.iter().enumerate() {
        h = fc.forward(h);
        if i + 1 < fcs.len() {
            h = relu(h);
        }
    }
    h
}

/// Errors unless `x` is `[batch, 3, 32, 32]`.
fn check_input<B: Backend>(x: &Tensor<B, 4>, module: &str) -> Result<()> {
    let dims = x.dims();
    if dims[1] != 3 || dims[2] != 32 || dims[3] != 32 {
        return Err(CoreError::Shape {
            module: module.into(),
            expected: "[batch, 3, 32, 32]".into(),
            got: dims.to_vec(),
        });
    }
    Ok(())
}

impl<B: Backend> Supernet<B> for ConvMacro<B> {
    type Input = Tensor<B, 4>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 4>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        check_input(&x, "ConvMacro")?;
        let c = |i: usize| mix.of(&self.keys[i].channels);
        let k = |i: usize| mix.of(&self.keys[i].kernel);
        let x = relu(self.convs[0].forward(x, &[c(0)?], Some(k(0)?))?);
        let x = relu(self.convs[1].forward(x, &[c(0)?, c(1)?], Some(k(1)?))?);
        let x = max_pool_2x2(x);
        let x = relu(self.convs[2].forward(x, &[c(1)?, c(2)?], Some(k(2)?))?);
        let x = max_pool_2x2(mix.dropout_channels(x, self.dropout));
        let x = relu(self.convs[3].forward(x, &[c(2)?, c(3)?], Some(k(3)?))?);
        let x = relu(self.convs[4].forward(x, &[c(3)?], None)?);
        Ok(classifier(&self.fcs, mix.dropout_channels(x, self.dropout)))
    }
}

/// A discretized conv-macro network: plain Burn modules with the inherited weights.
#[derive(Module, Debug)]
pub struct ConvMacroNet<B: Backend> {
    /// conv1 … conv5.
    pub convs: Vec<Conv2d<B>>,
    /// The classifier.
    pub fcs: Vec<Linear<B>>,
    /// Channel dropout before the second pool and the classifier (0.5).
    #[module(skip)]
    pub dropout: f64,
}

impl<B: Backend> ConvMacroNet<B> {
    /// `[batch, 3, 32, 32]` → logits `[batch, 10]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = relu(conv2d_forward(&self.convs[0], x));
        let x = max_pool_2x2(relu(conv2d_forward(&self.convs[1], x)));
        // The discretized network's channel dropout draws from Burn's generator; the
        // supernets' from the pass's seeded stream (`Mixtures::dropout_channels`).
        let x = max_pool_2x2(dropout_channels(
            relu(conv2d_forward(&self.convs[2], x)),
            self.dropout,
            None,
        ));
        let x = relu(conv2d_forward(&self.convs[3], x));
        let x = relu(conv2d_forward(&self.convs[4], x));
        classifier(&self.fcs, dropout_channels(x, self.dropout, None))
    }
}

/// The weight-sharing (WS) twin of [`ConvMacro`] — the paper's "DrNAS WS" baseline: every
/// (width, kernel) pair of conv1–conv4 is a convolution of its own reading the previous layer's
/// widest (zero-padded) output, and the outputs are mixed (Algorithm 4): nine convolutions per
/// layer instead of one superposed convolution.
#[derive(Module, Debug)]
pub struct ConvMacroWs<B: Backend> {
    /// conv1 … conv4: nine independent candidates each.
    pub layers: Vec<WsMixedOp<B, Conv2d<B>>>,
    /// conv5, reading conv4's widest output.
    pub conv5: Conv2d<B>,
    /// The classifier.
    pub fcs: Vec<Linear<B>>,
    #[module(skip)]
    spec: SearchSpec,
    #[module(skip)]
    keys: Vec<ConvKeys>,
    #[module(skip)]
    dropout: f64,
}

impl<B: Backend> ConvMacroWs<B> {
    /// A freshly initialized WS supernet.
    pub(crate) fn from_config(config: &ConvMacroConfig, device: &B::Device) -> Result<Self> {
        let (spec, keys) = config.declare()?;
        let conv5_width = config.conv5_width()?;
        let mut layers = Vec::new();
        let mut c_in = 3;
        // Candidate (width i, kernel j) is op i · |kernels| + j, as in `Mixture::joint`.
        for layer in &keys {
            let ops = layer
                .channels
                .candidates()
                .iter()
                .flat_map(|&c| {
                    layer.kernel.candidates().iter().map(move |&k| {
                        Conv2dConfig::new([c_in, c], [k, k])
                            .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
                            .with_initializer(he())
                            .init(device)
                    })
                })
                .collect();
            layers.push(WsMixedOp::new(ops)?);
            c_in = *layer.channels.largest();
        }
        let conv5 = Conv2dConfig::new([c_in, conv5_width], [7, 7])
            .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
            .with_initializer(he())
            .init(device);
        Ok(ConvMacroWs {
            layers,
            conv5,
            fcs: classifier_layers(conv5_width, device),
            spec,
            keys,
            dropout: config.dropout,
        })
    }
}

impl<B: Backend> Supernet<B> for ConvMacroWs<B> {
    type Input = Tensor<B, 4>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 4>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        check_input(&x, "ConvMacroWs")?;
        let device = x.device();
        let mut x = x;
        for (i, (layer, k)) in self.layers.iter().zip(&self.keys).enumerate() {
            let (c, kernel) = (mix.of(&k.channels)?, mix.of(&k.kernel)?);
            let pair = Mixture::joint(c, k.channels.len(), kernel, k.kernel.len(), &device)?;
            let widest = *k.channels.largest();
            x = relu(layer.forward(x, &pair, |op, x| {
                Ok(pad_channels(conv2d_forward(op, x), widest))
            })?);
            if i == 1 {
                x = max_pool_2x2(x);
            } else if i == 2 {
                x = max_pool_2x2(mix.dropout_channels(x, self.dropout));
            }
        }
        let x = relu(conv2d_forward(&self.conv5, x));
        Ok(classifier(&self.fcs, mix.dropout_channels(x, self.dropout)))
    }
}

impl<B: Backend> tangle_core::Extract<B> for ConvMacroWs<B> {
    type Subnet = ConvMacroNet<B>;

    /// The discretized network at `arch`: the chosen candidates' own weights, their input
    /// channels cut to the previous layer's chosen width (the rest only ever saw zeros).
    fn extract(&self, arch: &Architecture) -> Result<ConvMacroNet<B>> {
        arch.validate(&self.spec)?;
        let mut convs = Vec::new();
        let mut c_in = 3;
        for (layer, k) in self.layers.iter().zip(&self.keys) {
            let op = arch.index(&k.channels)? * k.kernel.len() + arch.index(&k.kernel)?;
            let conv = first_inputs(layer.ops[op].clone(), c_in);
            c_in = conv.weight.dims()[0];
            convs.push(conv);
        }
        convs.push(first_inputs(self.conv5.clone(), c_in));
        Ok(ConvMacroNet {
            convs,
            fcs: self.fcs.clone(),
            dropout: self.dropout,
        })
    }
}

impl<B: Backend> tangle_core::Extract<B> for ConvMacro<B> {
    type Subnet = ConvMacroNet<B>;

    /// The discretized network at `arch`, with the inherited weights.
    fn extract(&self, arch: &Architecture) -> Result<ConvMacroNet<B>> {
        arch.validate(&self.spec)?;
        let c = |i: usize| arch.index(&self.keys[i].channels);
        let k = |i: usize| arch.index(&self.keys[i].kernel);
        let mut convs = vec![self.convs[0].extract(&[c(0)?], k(0)?)?];
        for i in 1..4 {
            convs.push(self.convs[i].extract(&[c(i - 1)?, c(i)?], k(i)?)?);
        }
        convs.push(self.convs[4].extract(&[c(3)?], 0)?);
        Ok(ConvMacroNet {
            convs,
            fcs: self.fcs.clone(),
            dropout: self.dropout,
        })
    }

    /// Number of parameters of the discretized network at `arch`, computed from the widths and
    /// kernels alone.
    fn params(&self, arch: &Architecture) -> Result<usize> {
        arch.validate(&self.spec)?;
        let mut c_in = 3;
        let mut total = 0;
        for layer in &self.keys {
            let (c, k) = (arch.value(&layer.channels)?, arch.value(&layer.kernel)?);
            total += c * c_in * k * k + c;
            c_in = c;
        }
        total += self.conv5_width * c_in * 49 + self.conv5_width;
        total += classifier_dims(self.conv5_width)
            .windows(2)
            .map(|w| w[0] * w[1] + w[1])
            .sum::<usize>();
        Ok(total)
    }
}
