//! The candidate operations of the cell spaces (toy cell, NAS-Bench-201, DARTS), in an
//! entangled form for supernets and a plain form for discretized networks.
//!
//! A convolutional candidate is a chain of `ReLU → conv → (1×1 conv) → BN` units:
//! `sep_conv_k` is two depthwise-k + pointwise units, `dil_conv_k` one dilated depthwise-k +
//! pointwise unit, `nor_conv_k` one full k×k convolution (NB201's ReLU-Conv-BN). Candidates of the
//! same family that differ only in kernel size share the largest kernel in a [`SuperConvOp`]:
//! `sep_conv_3x3` is the centre of `sep_conv_5x5` (weight entanglement).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::Tensor;
use tangle_core::conv2d_forward;
use tangle_core::{batch_norm_forward, CoreError, Mixture, Result, SuperConv2d, SuperConv2dConfig};

/// A candidate operation on a cell edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primitive {
    /// `none`: the zero operation (the edge is absent).
    Zero,
    /// `max_pool_3x3`.
    MaxPool,
    /// `avg_pool_3x3` (padding not counted).
    AvgPool,
    /// `skip_connect`: identity, or a factorized reduction at stride 2.
    Skip,
    /// `sep_conv_kxk`: two separable-convolution units.
    Sep(usize),
    /// `dil_conv_kxk`: a dilated (2) separable-convolution unit.
    Dil(usize),
    /// `nor_conv_kxk`: ReLU-Conv-BN.
    Conv(usize),
}

/// The convolution families whose kernel sizes can be entangled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Separable convolutions.
    Sep,
    /// Dilated separable convolutions.
    Dil,
    /// Plain ReLU-Conv-BN.
    Conv,
}

impl Primitive {
    /// The standard name (`sep_conv_3x3`, `nor_conv_1x1`, `skip_connect` …).
    pub fn name(&self) -> String {
        match self {
            Primitive::Zero => "none".into(),
            Primitive::MaxPool => "max_pool_3x3".into(),
            Primitive::AvgPool => "avg_pool_3x3".into(),
            Primitive::Skip => "skip_connect".into(),
            Primitive::Sep(k) => format!("sep_conv_{k}x{k}"),
            Primitive::Dil(k) => format!("dil_conv_{k}x{k}"),
            Primitive::Conv(k) => format!("nor_conv_{k}x{k}"),
        }
    }

    /// Parses a standard name.
    pub fn parse(name: &str) -> Result<Self> {
        let bad = || CoreError::Config(format!("unknown cell operation {name:?}"));
        Ok(match name {
            "none" => Primitive::Zero,
            "max_pool_3x3" => Primitive::MaxPool,
            "avg_pool_3x3" => Primitive::AvgPool,
            "skip_connect" => Primitive::Skip,
            _ => {
                let (family, size) = name.rsplit_once('_').ok_or_else(bad)?;
                let (a, b) = size.split_once('x').ok_or_else(bad)?;
                let k: usize = a.parse().map_err(|_| bad())?;
                if b.parse::<usize>().ok() != Some(k) || k % 2 == 0 {
                    return Err(bad());
                }
                match family {
                    "sep_conv" => Primitive::Sep(k),
                    "dil_conv" => Primitive::Dil(k),
                    "nor_conv" => Primitive::Conv(k),
                    _ => return Err(bad()),
                }
            }
        })
    }

    /// The convolution family and kernel size, for convolutional candidates.
    pub fn conv(&self) -> Option<(Family, usize)> {
        match *self {
            Primitive::Sep(k) => Some((Family::Sep, k)),
            Primitive::Dil(k) => Some((Family::Dil, k)),
            Primitive::Conv(k) => Some((Family::Conv, k)),
            _ => None,
        }
    }
}

/// Batch norm; `affine = false` freezes γ = 1, β = 0 (DARTS search cells).
pub fn batch_norm<B: Backend>(channels: usize, affine: bool, device: &B::Device) -> BatchNorm<B> {
    let mut bn = BatchNormConfig::new(channels).init(device);
    if !affine {
        bn.gamma = bn.gamma.set_require_grad(false);
        bn.beta = bn.beta.set_require_grad(false);
    }
    bn
}

/// `bn` with learnable γ and β (their values kept): a search cell's affine-free batch norm
/// (γ = 1, β = 0 frozen) as an evaluation network's affine one that computes the same.
pub fn affine<B: Backend>(mut bn: BatchNorm<B>) -> BatchNorm<B> {
    bn.gamma = bn.gamma.set_require_grad(true);
    bn.beta = bn.beta.set_require_grad(true);
    bn
}

/// A bias-free convolution with "same"-style padding `dilation · (k − 1) / 2`.
pub fn conv2d<B: Backend>(
    [c_in, c_out]: [usize; 2],
    k: usize,
    stride: usize,
    dilation: usize,
    groups: usize,
    device: &B::Device,
) -> Conv2d<B> {
    let p = dilation * (k - 1) / 2;
    Conv2dConfig::new([c_in, c_out], [k, k])
        .with_stride([stride; 2])
        .with_dilation([dilation; 2])
        .with_groups(groups)
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(false)
        .init(device)
}

/// One `ReLU → conv → (pointwise conv) → BN` unit.
#[derive(Module, Debug)]
pub struct ConvBn<B: Backend> {
    /// The (depthwise or full) convolution.
    pub conv: Conv2d<B>,
    /// The pointwise convolution of separable units.
    pub pw: Option<Conv2d<B>>,
    /// The batch norm.
    pub bn: BatchNorm<B>,
}

impl<B: Backend> ConvBn<B> {
    /// ReLU-Conv-BN with a full `k × k` convolution (NB201's `nor_conv`, DARTS's 1×1
    /// preprocessing).
    pub fn plain(
        [c_in, c_out]: [usize; 2],
        k: usize,
        stride: usize,
        affine: bool,
        device: &B::Device,
    ) -> Self {
        ConvBn {
            conv: conv2d([c_in, c_out], k, stride, 1, 1, device),
            pw: None,
            bn: batch_norm(c_out, affine, device),
        }
    }

    /// `ReLU → x`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut x = conv2d_forward(&self.conv, relu(x));
        if let Some(pw) = &self.pw {
            x = conv2d_forward(pw, x);
        }
        batch_norm_forward(&self.bn, x)
    }
}

/// A convolutional candidate as a plain network: its chain of units.
#[derive(Module, Debug)]
pub struct ConvOp<B: Backend> {
    /// The units, applied in order.
    pub units: Vec<ConvBn<B>>,
}

/// Unit layouts of a family: `(depthwise, stride of the unit, dilation, out = c_out?)`.
fn units(family: Family, stride: usize) -> Vec<(bool, usize, usize)> {
    match family {
        Family::Sep => vec![(true, stride, 1), (true, 1, 1)],
        Family::Dil => vec![(true, stride, 2)],
        Family::Conv => vec![(false, stride, 1)],
    }
}

impl<B: Backend> ConvOp<B> {
    /// A fresh candidate `family` with kernel `k`, `c_in → c_out` channels.
    pub fn new(
        family: Family,
        [c_in, c_out]: [usize; 2],
        k: usize,
        stride: usize,
        affine: bool,
        device: &B::Device,
    ) -> Self {
        let layout = units(family, stride);
        let n = layout.len();
        let units = layout
            .into_iter()
            .enumerate()
            .map(|(i, (dw, s, d))| {
                let out = if i + 1 == n { c_out } else { c_in };
                if dw {
                    ConvBn {
                        conv: conv2d([c_in, c_in], k, s, d, c_in, device),
                        pw: Some(conv2d([c_in, out], 1, 1, 1, 1, device)),
                        bn: batch_norm(out, affine, device),
                    }
                } else {
                    ConvBn::plain([c_in, out], k, s, affine, device)
                }
            })
            .collect();
        ConvOp { units }
    }

    /// Runs the chain.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.units.iter().fold(x, |x, u| u.forward(x))
    }
}

/// One entangled unit: the convolution over the largest kernel.
#[derive(Module, Debug)]
pub struct SuperConvBn<B: Backend> {
    /// The (depthwise or full) convolution, kernel decision over the family's sizes.
    pub conv: SuperConv2d<B>,
    /// The pointwise convolution of separable units.
    pub pw: Option<Conv2d<B>>,
    /// The batch norm.
    pub bn: BatchNorm<B>,
}

/// The kernel-entangled candidates of one family: `sep_conv_3x3` and `sep_conv_5x5` are one
/// chain whose convolutions hold the 5×5 kernels. A superposed pass convolves once with
/// `Σ_k w_k · pad(centre_k(W))`; a single choice uses the sliced centre.
#[derive(Module, Debug)]
pub struct SuperConvOp<B: Backend> {
    /// The units, applied in order.
    pub units: Vec<SuperConvBn<B>>,
    #[module(skip)]
    kernels: Vec<usize>,
}

impl<B: Backend> SuperConvOp<B> {
    /// The family's candidates with kernels `kernels` (odd, increasing), `c_in → c_out`.
    pub fn new(
        family: Family,
        [c_in, c_out]: [usize; 2],
        kernels: &[usize],
        stride: usize,
        affine: bool,
        device: &B::Device,
    ) -> Result<Self> {
        let layout = units(family, stride);
        let n = layout.len();
        let mut out_units = Vec::with_capacity(n);
        for (i, (dw, s, d)) in layout.into_iter().enumerate() {
            let out = if i + 1 == n { c_out } else { c_in };
            let cfg = if dw {
                SuperConv2dConfig::depthwise(&[c_in], kernels)?
            } else {
                SuperConv2dConfig::new(&[c_in], &[out], kernels)?
            };
            out_units.push(SuperConvBn {
                conv: cfg
                    .with_stride(s)
                    .with_dilation(d)
                    .with_bias(false)
                    .init(device)?,
                pw: dw.then(|| conv2d([c_in, out], 1, 1, 1, 1, device)),
                bn: batch_norm(out, affine, device),
            });
        }
        Ok(SuperConvOp {
            units: out_units,
            kernels: kernels.to_vec(),
        })
    }

    /// Candidate kernel sizes.
    pub fn kernels(&self) -> &[usize] {
        &self.kernels
    }

    /// Forward pass with a mixture over the kernel sizes.
    pub fn forward(&self, x: Tensor<B, 4>, kernel: &Mixture<B>) -> Result<Tensor<B, 4>> {
        let one = Mixture::single(0);
        let mut x = x;
        for u in &self.units {
            // Depthwise convs have one channel decision, full ones two (in, out): both fixed.
            let channels: Vec<&Mixture<B>> = vec![&one; u.conv.table().counts().len()];
            x = u.conv.forward(relu(x), &channels, Some(kernel))?;
            if let Some(pw) = &u.pw {
                x = conv2d_forward(pw, x);
            }
            x = batch_norm_forward(&u.bn, x);
        }
        Ok(x)
    }

    /// The plain candidate with kernel index `kernel`, inheriting the weights.
    pub fn extract(&self, kernel: usize) -> Result<ConvOp<B>> {
        let zeros = vec![
            0;
            self.units
                .first()
                .map_or(0, |u| u.conv.table().counts().len())
        ];
        let units = self
            .units
            .iter()
            .map(|u| {
                Ok(ConvBn {
                    conv: u.conv.extract(&zeros, kernel)?,
                    pw: u.pw.clone(),
                    bn: u.bn.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ConvOp { units })
    }
}

/// DARTS's factorized reduction: two offset 1×1 stride-2 convolutions, concatenated, BN.
#[derive(Module, Debug)]
pub struct FactorizedReduce<B: Backend> {
    /// 1×1 stride-2 convolution on the even grid.
    pub conv1: Conv2d<B>,
    /// 1×1 stride-2 convolution on the grid shifted by one pixel.
    pub conv2: Conv2d<B>,
    /// The batch norm.
    pub bn: BatchNorm<B>,
}

impl<B: Backend> FactorizedReduce<B> {
    /// `c_in → c_out` channels (`c_out` even), halving the resolution.
    pub fn new([c_in, c_out]: [usize; 2], affine: bool, device: &B::Device) -> Result<Self> {
        if c_out % 2 != 0 {
            return Err(CoreError::Config(format!(
                "a factorized reduction needs an even output width, got {c_out}"
            )));
        }
        Ok(FactorizedReduce {
            conv1: conv2d([c_in, c_out / 2], 1, 2, 1, 1, device),
            conv2: conv2d([c_in, c_out / 2], 1, 2, 1, 1, device),
            bn: batch_norm(c_out, affine, device),
        })
    }

    /// `[b, c_in, h, w]` → `[b, c_out, ⌈h/2⌉, ⌈w/2⌉]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = relu(x);
        let [n, c, h, w] = x.dims();
        let a = conv2d_forward(&self.conv1, x.clone());
        // The shifted grid; one zero row/column keeps odd sizes aligned with the even grid.
        let mut shifted = x.slice([0..n, 0..c, 1..h, 1..w]);
        if h % 2 == 1 || w % 2 == 1 {
            shifted = shifted.pad(
                [(0, h % 2), (0, w % 2)],
                burn::tensor::ops::PadMode::Constant(0.0),
            );
        }
        let b = conv2d_forward(&self.conv2, shifted);
        batch_norm_forward(&self.bn, Tensor::cat(vec![a, b], 1))
    }
}

/// Parameter-free candidates (and the pooling candidates' optional batch norm).
#[derive(Module, Debug)]
pub struct SimpleOp<B: Backend> {
    /// Batch norm after pooling (DARTS search cells), if any.
    pub bn: Option<BatchNorm<B>>,
    #[module(skip)]
    kind: Primitive,
    #[module(skip)]
    stride: usize,
}

impl<B: Backend> SimpleOp<B> {
    /// `kind` is `Zero`, `MaxPool`, `AvgPool` or `Skip` (identity: stride 1 only).
    pub fn new(kind: Primitive, stride: usize, bn: Option<BatchNorm<B>>) -> Result<Self> {
        match kind {
            Primitive::Zero | Primitive::MaxPool | Primitive::AvgPool => {}
            Primitive::Skip if stride == 1 => {}
            other => {
                return Err(CoreError::Config(format!(
                    "{} at stride {stride} is not a parameter-free operation",
                    other.name()
                )))
            }
        }
        Ok(SimpleOp { bn, kind, stride })
    }

    /// Which operation this is.
    pub fn kind(&self) -> Primitive {
        self.kind
    }

    /// The output, `None` for the zero operation.
    pub fn forward(&self, x: Tensor<B, 4>) -> Option<Tensor<B, 4>> {
        let s = [self.stride; 2];
        let y = match self.kind {
            Primitive::Zero => return None,
            Primitive::Skip => return Some(x),
            Primitive::MaxPool => max_pool2d(x, [3, 3], s, [1, 1], [1, 1], false),
            _ => avg_pool2d(x, [3, 3], s, [1, 1], false, false),
        };
        Some(match &self.bn {
            Some(bn) => batch_norm_forward(bn, y),
            None => y,
        })
    }
}

/// A discretized edge operation.
#[derive(Module, Debug)]
// A factorized reduction holds two conv modules inline; boxing would not make a cell smaller
// (each edge holds exactly one op), as in Burn's own `Activation` enum.
#[allow(clippy::large_enum_variant)]
pub enum FixedOp<B: Backend> {
    /// A convolutional candidate.
    Conv(ConvOp<B>),
    /// `skip_connect` at stride 2.
    Reduce(FactorizedReduce<B>),
    /// `none`, pooling, identity.
    Simple(SimpleOp<B>),
}

impl<B: Backend> FixedOp<B> {
    /// A fresh operation `p` on `channels` channels (evaluation networks: pools without BN).
    pub fn new(
        p: Primitive,
        channels: usize,
        stride: usize,
        affine: bool,
        device: &B::Device,
    ) -> Result<Self> {
        Ok(match p.conv() {
            Some((family, k)) => FixedOp::Conv(ConvOp::new(
                family,
                [channels; 2],
                k,
                stride,
                affine,
                device,
            )),
            None if p == Primitive::Skip && stride > 1 => {
                FixedOp::Reduce(FactorizedReduce::new([channels; 2], affine, device)?)
            }
            None => FixedOp::Simple(SimpleOp::new(p, stride, None)?),
        })
    }

    /// The same operation with every batch norm affine (see [`affine`]).
    pub fn with_affine_batch_norms(self) -> Self {
        match self {
            FixedOp::Conv(mut op) => {
                for u in op.units.iter_mut() {
                    u.bn = affine(u.bn.clone());
                }
                FixedOp::Conv(op)
            }
            FixedOp::Reduce(mut op) => {
                op.bn = affine(op.bn);
                FixedOp::Reduce(op)
            }
            FixedOp::Simple(mut op) => {
                op.bn = op.bn.map(affine);
                FixedOp::Simple(op)
            }
        }
    }

    /// Whether this is the identity (`skip_connect` at stride 1), which drop-path leaves alone.
    pub fn is_identity(&self) -> bool {
        matches!(self, FixedOp::Simple(op) if op.kind() == Primitive::Skip)
    }

    /// The output, `None` for the zero operation.
    pub fn forward(&self, x: Tensor<B, 4>) -> Option<Tensor<B, 4>> {
        match self {
            FixedOp::Conv(op) => Some(op.forward(x)),
            FixedOp::Reduce(op) => Some(op.forward(x)),
            FixedOp::Simple(op) => op.forward(x),
        }
    }
}
