//! MobileNetV3 as in Once-for-All (paper Table 19).
//!
//! First conv 3×3 stride 2 (16, h-swish) → MBConv with expansion 1 (16, residual) → five
//! stages of widths 24/40/80/112/160, strides 2/2/2/1/2, activations ReLU/ReLU/h-swish ×3,
//! squeeze-excitation in stages 2, 4, 5 → 1×1 conv 960 (h-swish) → global pool → 1×1 conv 1280
//! (h-swish) → dropout → linear. Per block: depthwise kernel {3, 5, 7} (centred) and expansion
//! ratio {3, 4, 6}; per stage: depth {2, 3, 4}, mixed as the weighted sum of the stage's outputs
//! after 2, 3 and 4 blocks. The expansion decision is superposed into the inverted bottleneck,
//! its batch norms, the depthwise conv, the squeeze-excitation and the projection at once.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::{hard_sigmoid, relu};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use tangle_core::conv2d_forward;
use tangle_core::{
    batch_norm_forward, Architecture, CoreError, DecisionKey, DepthMixer, Mixture, Mixtures,
    Result, SearchSpec, SuperBatchNorm2d, SuperBatchNorm2dConfig, SuperConv2d, SuperConv2dConfig,
    Supernet,
};

use crate::ops::{batch_norm, conv2d};

mod config;
pub use config::MobileNetConfig;

impl MobileNetConfig {
    /// Builds the weight-entangled supernet. Errors for an invalid configuration.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<MobileNetV3<B>> {
        MobileNetV3::from_config(*self, device)
    }
}

/// Depthwise kernel sizes.
pub const KERNELS: [usize; 3] = [3, 5, 7];
/// Expansion ratios.
pub const EXPANDS: [usize; 3] = [3, 4, 6];
/// Stage depths.
pub const DEPTHS: [usize; 3] = [2, 3, 4];
/// Stage widths.
pub const WIDTHS: [usize; 5] = [24, 40, 80, 112, 160];
const STRIDES: [usize; 5] = [2, 2, 2, 1, 2];
const HSWISH: [bool; 5] = [false, false, true, true, true];
const SE: [bool; 5] = [false, true, false, true, true];
const MAX_DEPTH: usize = 4;

/// OFA's `make_divisible(v, 8)`: the nearest multiple of 8, not below 90 % of `v`.
pub fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut new = ((v + d / 2.0) / d).floor() * d;
    new = new.max(d);
    if new < 0.9 * v {
        new += d;
    }
    new as usize
}

/// The decisions of one MBConv block.
#[derive(Debug, Clone, PartialEq)]
pub struct MbKeys {
    /// Depthwise kernel.
    pub kernel: DecisionKey<usize>,
    /// Expansion ratio.
    pub expand: DecisionKey<f64>,
}

/// The decisions of one stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageKeys {
    /// Number of blocks.
    pub depth: DecisionKey<usize>,
    /// Each block's decisions (the largest depth's worth).
    pub blocks: Vec<MbKeys>,
}

/// Declares the space: per stage `stage{s}.depth`, then `stage{s}.block{b}.kernel` and
/// `stage{s}.block{b}.expand` per block.
pub fn declare() -> (SearchSpec, Vec<StageKeys>) {
    let mut space = SearchSpec::builder();
    let expands: Vec<f64> = EXPANDS.iter().map(|&e| e as f64).collect();
    let stages = (1..=WIDTHS.len())
        .map(|s| StageKeys {
            depth: space
                .depths(&format!("stage{s}.depth"), &DEPTHS, MAX_DEPTH)
                .expect("valid depths"),
            blocks: (1..=MAX_DEPTH)
                .map(|b| MbKeys {
                    kernel: space
                        .kernels(&format!("stage{s}.block{b}.kernel"), &KERNELS)
                        .expect("valid kernels"),
                    expand: space
                        .ratios(&format!("stage{s}.block{b}.expand"), &expands)
                        .expect("valid ratios"),
                })
                .collect(),
        })
        .collect();
    (space.build(), stages)
}

/// The search spec (see [`declare`]).
pub fn spec() -> SearchSpec {
    declare().0
}

fn hswish<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    x.clone() * hard_sigmoid(x, 1.0 / 6.0, 0.5)
}

fn act<B: Backend>(x: Tensor<B, 4>, h: bool) -> Tensor<B, 4> {
    if h {
        hswish(x)
    } else {
        relu(x)
    }
}

fn pool<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c, 1, 1])
}

/// A superposed MBConv block (inverted bottleneck, depthwise, optional SE, projection).
#[derive(Module, Debug)]
pub struct SuperMbConv<B: Backend> {
    /// 1×1 expansion `in → mid(e)`.
    pub expand: SuperConv2d<B>,
    /// Its batch norm over `mid(e)`.
    pub expand_bn: SuperBatchNorm2d<B>,
    /// Depthwise `k × k` over `mid(e)`.
    pub depthwise: SuperConv2d<B>,
    /// Its batch norm.
    pub depthwise_bn: SuperBatchNorm2d<B>,
    /// Squeeze-excitation `mid(e) → se(e) → mid(e)`.
    pub se: Option<(SuperConv2d<B>, SuperConv2d<B>)>,
    /// 1×1 projection `mid(e) → out`.
    pub project: SuperConv2d<B>,
    /// Its batch norm.
    pub project_bn: BatchNorm<B>,
    #[module(skip)]
    residual: bool,
    #[module(skip)]
    hswish: bool,
    #[module(skip)]
    keys: MbKeys,
}

/// Hidden widths of a block reading `c_in` channels, one per expansion candidate.
fn mids(c_in: usize, expands: &[f64]) -> Vec<usize> {
    expands
        .iter()
        .map(|&e| make_divisible(c_in as f64 * e, 8))
        .collect()
}

fn se_dims(mid: usize) -> usize {
    make_divisible((mid / 4) as f64, 8)
}

impl<B: Backend> SuperMbConv<B> {
    fn new(
        c_in: usize,
        c_out: usize,
        stride: usize,
        stage: usize,
        keys: MbKeys,
        device: &B::Device,
    ) -> Result<Self> {
        let m = mids(c_in, keys.expand.candidates());
        let n = vec![m.len()];
        let se_m: Vec<usize> = m.iter().map(|&x| se_dims(x)).collect();
        let (m1, m2, m3, s1, s2) = (m.clone(), m.clone(), m.clone(), se_m.clone(), se_m);
        Ok(SuperMbConv {
            expand: SuperConv2dConfig::combi(n.clone(), move |c| (c_in, m1[c[0]]), &[1])?
                .with_bias(false)
                .init(device)?,
            expand_bn: SuperBatchNorm2dConfig::new(m.to_vec()).init(device)?,
            depthwise: SuperConv2dConfig::depthwise(&m, keys.kernel.candidates())?
                .with_stride(stride)
                .with_bias(false)
                .init(device)?,
            depthwise_bn: SuperBatchNorm2dConfig::new(m.to_vec()).init(device)?,
            se: if SE[stage] {
                Some((
                    SuperConv2dConfig::combi(n.clone(), move |c| (m2[c[0]], s1[c[0]]), &[1])?
                        .init(device)?,
                    SuperConv2dConfig::combi(n.clone(), move |c| (s2[c[0]], m3[c[0]]), &[1])?
                        .init(device)?,
                ))
            } else {
                None
            },
            project: SuperConv2dConfig::combi(n, move |c| (m[c[0]], c_out), &[1])?
                .with_bias(false)
                .init(device)?,
            project_bn: batch_norm(c_out, true, device),
            residual: stride == 1 && c_in == c_out,
            hswish: HSWISH[stage],
            keys,
        })
    }

    /// The block's decisions.
    pub fn keys(&self) -> &MbKeys {
        &self.keys
    }

    fn forward(&self, x: Tensor<B, 4>, mix: &Mixtures<B>) -> Result<Tensor<B, 4>> {
        let (kernel, expand) = (mix.of(&self.keys.kernel)?, mix.of(&self.keys.expand)?);
        let e = [expand];
        let h = self.expand.forward(x.clone(), &e, None)?;
        let h = act(self.expand_bn.forward(h, expand)?, self.hswish);
        // The kernel mixture's mass (a straight-through weight) scales the batch norm's
        // output: put into the kernel, the batch norm would divide it back out.
        let (kernel, kernel_mass) = kernel.split_mass();
        let h = self.depthwise.forward(h, &e, Some(&kernel))?;
        let h = Mixture::carry_mass(self.depthwise_bn.forward(h, expand)?, kernel_mass);
        let mut h = act(h, self.hswish);
        if let Some((reduce, grow)) = &self.se {
            let s = relu(reduce.forward(pool(h.clone()), &e, None)?);
            let s = grow.forward(s, &e, None)?;
            h = h * hard_sigmoid(s, 1.0 / 6.0, 0.5);
        }
        let y = batch_norm_forward(&self.project_bn, self.project.forward(h, &e, None)?);
        Ok(if self.residual { y + x } else { y })
    }

    fn extract(&self, arch: &Architecture) -> Result<MbConv<B>> {
        let (kernel, expand) = (
            arch.index(&self.keys.kernel)?,
            arch.index(&self.keys.expand)?,
        );
        Ok(MbConv {
            expand: Some(self.expand.extract(&[expand], 0)?),
            expand_bn: Some(self.expand_bn.extract(expand)?),
            depthwise: self.depthwise.extract(&[expand], kernel)?,
            depthwise_bn: self.depthwise_bn.extract(expand)?,
            se: match &self.se {
                Some((a, b)) => Some((a.extract(&[expand], 0)?, b.extract(&[expand], 0)?)),
                None => None,
            },
            project: self.project.extract(&[expand], 0)?,
            project_bn: self.project_bn.clone(),
            residual: self.residual,
            hswish: self.hswish,
        })
    }
}

/// A plain MBConv block.
#[derive(Module, Debug)]
pub struct MbConv<B: Backend> {
    /// 1×1 expansion (absent for expansion ratio 1).
    pub expand: Option<Conv2d<B>>,
    /// Its batch norm.
    pub expand_bn: Option<BatchNorm<B>>,
    /// Depthwise convolution.
    pub depthwise: Conv2d<B>,
    /// Its batch norm.
    pub depthwise_bn: BatchNorm<B>,
    /// Squeeze-excitation.
    pub se: Option<(Conv2d<B>, Conv2d<B>)>,
    /// 1×1 projection.
    pub project: Conv2d<B>,
    /// Its batch norm.
    pub project_bn: BatchNorm<B>,
    #[module(skip)]
    residual: bool,
    #[module(skip)]
    hswish: bool,
}

impl<B: Backend> MbConv<B> {
    /// The fixed first block: depthwise 3×3 (16, ReLU), projection 16 → 16, residual.
    fn first(device: &B::Device) -> Self {
        MbConv {
            expand: None,
            expand_bn: None,
            depthwise: conv2d([16, 16], 3, 1, 1, 16, device),
            depthwise_bn: batch_norm(16, true, device),
            se: None,
            project: conv2d([16, 16], 1, 1, 1, 1, device),
            project_bn: batch_norm(16, true, device),
            residual: true,
            hswish: false,
        }
    }

    /// Forward pass.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut h = x.clone();
        if let (Some(c), Some(bn)) = (&self.expand, &self.expand_bn) {
            h = act(batch_norm_forward(bn, conv2d_forward(c, h)), self.hswish);
        }
        h = act(
            batch_norm_forward(&self.depthwise_bn, conv2d_forward(&self.depthwise, h)),
            self.hswish,
        );
        if let Some((reduce, grow)) = &self.se {
            let s = conv2d_forward(grow, relu(conv2d_forward(reduce, pool(h.clone()))));
            h = h * hard_sigmoid(s, 1.0 / 6.0, 0.5);
        }
        let y = batch_norm_forward(&self.project_bn, conv2d_forward(&self.project, h));
        if self.residual {
            y + x
        } else {
            y
        }
    }
}

/// Everything outside the searched stages.
#[derive(Module, Debug)]
pub struct Frame<B: Backend> {
    /// First conv 3 → 16, stride 2.
    pub first_conv: Conv2d<B>,
    /// Its batch norm.
    pub first_bn: BatchNorm<B>,
    /// The expansion-1 block.
    pub first_block: MbConv<B>,
    /// 1×1 conv 160 → 960.
    pub final_expand: Conv2d<B>,
    /// Its batch norm.
    pub final_bn: BatchNorm<B>,
    /// 1×1 conv 960 → 1280 after pooling (no BN).
    pub feature_mix: Conv2d<B>,
    /// Dropout.
    pub dropout: Dropout,
    /// Classifier.
    pub classifier: Linear<B>,
    #[module(skip)]
    image_size: usize,
}

impl<B: Backend> Frame<B> {
    fn new(cfg: &MobileNetConfig, device: &B::Device) -> Self {
        Frame {
            first_conv: conv2d([3, 16], 3, 2, 1, 1, device),
            first_bn: batch_norm(16, true, device),
            first_block: MbConv::first(device),
            final_expand: conv2d([160, 960], 1, 1, 1, 1, device),
            final_bn: batch_norm(960, true, device),
            feature_mix: conv2d([960, 1280], 1, 1, 1, 1, device),
            dropout: DropoutConfig::new(cfg.dropout).init(),
            classifier: LinearConfig::new(1280, cfg.classes).init(device),
            image_size: cfg.image_size,
        }
    }

    fn params(classes: usize) -> usize {
        (27 * 16 + 32)
            + (16 * 9 + 32 + 16 * 16 + 32)
            + (160 * 960 + 2 * 960)
            + 960 * 1280
            + 1280 * classes
            + classes
    }

    fn stem(&self, x: Tensor<B, 4>) -> Result<Tensor<B, 4>> {
        let d = x.dims();
        let s = self.image_size;
        if d[1] != 3 || d[2] != s || d[3] != s {
            return Err(CoreError::Shape {
                module: "MobileNetV3".into(),
                expected: format!("[batch, 3, {s}, {s}]"),
                got: d.to_vec(),
            });
        }
        let x = hswish(batch_norm_forward(
            &self.first_bn,
            conv2d_forward(&self.first_conv, x),
        ));
        Ok(self.first_block.forward(x))
    }

    /// The final layers and the classifier; the dropout draws its mask from `mix`'s seeded
    /// stream when there is one ([`Mixtures::with_seed`]).
    fn head(&self, x: Tensor<B, 4>, mix: Option<&Mixtures<B>>) -> Tensor<B, 2> {
        let x = hswish(batch_norm_forward(
            &self.final_bn,
            conv2d_forward(&self.final_expand, x),
        ));
        let x = hswish(conv2d_forward(&self.feature_mix, pool(x)));
        let n = x.dims()[0];
        let x = x.reshape([n, 1280]);
        let x = match mix {
            Some(mix) => mix.dropout(x, self.dropout.prob),
            None => self.dropout.forward(x),
        };
        self.classifier.forward(x)
    }
}

/// The MobileNetV3 supernet.
#[derive(Module, Debug)]
pub struct MobileNetV3<B: Backend> {
    /// First conv, first block, final layers, classifier.
    pub frame: Frame<B>,
    /// Per stage, its four blocks.
    pub stages: Vec<Vec<SuperMbConv<B>>>,
    #[module(skip)]
    spec: SearchSpec,
    #[module(skip)]
    keys: Vec<StageKeys>,
    #[module(skip)]
    depths: Vec<DepthMixer>,
    #[module(skip)]
    classes: usize,
}

impl<B: Backend> MobileNetV3<B> {
    /// The supernet.
    pub(crate) fn from_config(config: MobileNetConfig, device: &B::Device) -> Result<Self> {
        // Five stride-2 stages: the input must survive 32× down-sampling.
        if config.image_size < 32 || config.classes == 0 {
            return Err(CoreError::Config(format!(
                "MobileNetV3 needs images of at least 32 × 32 and a class: {config:?}"
            )));
        }
        let (spec, keys) = declare();
        let mut stages = Vec::new();
        let mut c_in = 16;
        for (s, (&w, stage)) in WIDTHS.iter().zip(&keys).enumerate() {
            let blocks = stage
                .blocks
                .iter()
                .enumerate()
                .map(|(b, k)| {
                    let (i, stride) = if b == 0 { (c_in, STRIDES[s]) } else { (w, 1) };
                    SuperMbConv::new(i, w, stride, s, k.clone(), device)
                })
                .collect::<Result<Vec<_>>>()?;
            stages.push(blocks);
            c_in = w;
        }
        Ok(MobileNetV3 {
            frame: Frame::new(&config, device),
            stages,
            depths: keys
                .iter()
                .map(|stage| DepthMixer::new(stage.depth.candidates()))
                .collect::<Result<_>>()?,
            spec,
            keys,
            classes: config.classes,
        })
    }

    /// OFA's form of an architecture: kernel sizes and expansion ratios of the active blocks,
    /// and the stage depths.
    pub fn describe(&self, arch: &Architecture) -> Result<String> {
        arch.validate(&self.spec)?;
        let (mut ks, mut es, mut ds) = (Vec::new(), Vec::new(), Vec::new());
        for stage in &self.keys {
            let d = arch.value(&stage.depth)?;
            ds.push(d);
            for block in &stage.blocks[..d] {
                ks.push(arch.value(&block.kernel)?);
                // OFA writes expansion ratios as integers.
                es.push(arch.value(&block.expand)? as usize);
            }
        }
        Ok(format!("ks: {ks:?}, e: {es:?}, d: {ds:?}"))
    }
}

impl<B: Backend> Supernet<B> for MobileNetV3<B> {
    type Input = Tensor<B, 4>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 4>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        let mut x = self.frame.stem(x)?;
        for ((blocks, stage), depth) in self.stages.iter().zip(&self.keys).zip(&self.depths) {
            x = depth.forward(x, mix.of(&stage.depth)?, |b, x| blocks[b].forward(x, mix))?;
        }
        Ok(self.frame.head(x, Some(mix)))
    }
}

/// A discretized MobileNetV3.
#[derive(Module, Debug)]
pub struct MobileNetNet<B: Backend> {
    /// First conv, first block, final layers, classifier.
    pub frame: Frame<B>,
    /// The active blocks of each stage.
    pub stages: Vec<Vec<MbConv<B>>>,
}

impl<B: Backend> MobileNetNet<B> {
    /// `[batch, 3, size, size]` → logits.
    pub fn forward(&self, x: Tensor<B, 4>) -> Result<Tensor<B, 2>> {
        let mut x = self.frame.stem(x)?;
        for blocks in &self.stages {
            for b in blocks {
                x = b.forward(x);
            }
        }
        Ok(self.frame.head(x, None))
    }
}

impl<B: Backend> tangle_core::Extract<B> for MobileNetV3<B> {
    type Subnet = MobileNetNet<B>;

    /// The discretized network at `arch`, with the inherited weights.
    fn extract(&self, arch: &Architecture) -> Result<MobileNetNet<B>> {
        arch.validate(&self.spec)?;
        let stages = self
            .stages
            .iter()
            .zip(&self.keys)
            .map(|(blocks, stage)| {
                blocks[..arch.value(&stage.depth)?]
                    .iter()
                    .map(|blk| blk.extract(arch))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(MobileNetNet {
            frame: self.frame.clone(),
            stages,
        })
    }

    /// Trainable parameters of the discretized network at `arch`, from the choices alone.
    fn params(&self, arch: &Architecture) -> Result<usize> {
        arch.validate(&self.spec)?;
        let mut total = Frame::<B>::params(self.classes);
        let mut c_in = 16;
        for (s, (&w, stage)) in WIDTHS.iter().zip(&self.keys).enumerate() {
            for (b, block) in stage.blocks[..arch.value(&stage.depth)?].iter().enumerate() {
                let k = arch.value(&block.kernel)?;
                let i = if b == 0 { c_in } else { w };
                let m = mids(i, &[arch.value(&block.expand)?])[0];
                total += i * m + 2 * m + m * k * k + 2 * m + m * w + 2 * w;
                if SE[s] {
                    let r = se_dims(m);
                    total += m * r + r + r * m + m;
                }
            }
            c_in = w;
        }
        Ok(total)
    }
}
