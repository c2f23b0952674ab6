//! NAS-Bench-201 (Dong & Yang, 2020; paper Appendix D).
//!
//! Stem 3×3 conv (C) + BN; three stages of N cells (C, 2C, 4C; N = 5, C = 16 in the benchmark)
//! joined by ResNet basic blocks with stride 2; BN-ReLU, global average pooling, linear. One
//! cell type shared by all cells: 4 nodes, 6 edges (`1←0, 2←0, 2←1, 3←0, 3←1, 3←2`), output the
//! last node. Candidates `none`, `skip_connect`, `nor_conv_1x1`, `nor_conv_3x3`, `avg_pool_3x3`;
//! weight entanglement: the 1×1 convolution is the centre of the 3×3 one. 5⁶ = 15625
//! architectures, each looked up in the benchmark by its string ([`arch_string`]).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::avg_pool2d;
use burn::tensor::Tensor;
use tangle_core::conv2d_forward;
use tangle_core::{
    batch_norm_forward, Architecture, CoreError, DecisionKey, Mixtures, Result, SearchSpec,
    Supernet,
};

use crate::cell::{
    chosen_ops, edge_keys, extract_cells, EdgeConfig, FixedCell, MixedEdge, SearchCell, Wiring,
};
use crate::layers::global_avg_pool;
use crate::ops::{batch_norm, conv2d, ConvBn, Primitive};

mod config;
pub use config::Nb201Config;

impl Nb201Config {
    /// Builds the weight-entangled supernet. Errors for an invalid configuration.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Nb201<B>> {
        Nb201::from_config(*self, device)
    }

    /// Builds the weight-sharing (WS) supernet of the same space: one weight per candidate,
    /// outputs mixed, the baseline weight entanglement is compared with.
    pub fn init_ws<B: Backend>(&self, device: &B::Device) -> Result<Nb201<B>> {
        Nb201::from_config_ws(*self, device)
    }
}

/// The candidates, in NB201's order.
pub const PRIMITIVES: [Primitive; 5] = [
    Primitive::Zero,
    Primitive::Skip,
    Primitive::Conv(1),
    Primitive::Conv(3),
    Primitive::AvgPool,
];
/// Edges of the cell.
pub const EDGES: usize = 6;

/// Declares the space: one operation decision per edge, `cell.e0` … `cell.e5`, shared by
/// every cell.
pub fn declare() -> (SearchSpec, Vec<DecisionKey<String>>) {
    let mut space = SearchSpec::builder();
    let keys = edge_keys(&mut space, "cell", EDGES, &PRIMITIVES).expect("valid ops");
    (space.build(), keys)
}

/// The search spec (see [`declare`]).
pub fn spec() -> SearchSpec {
    declare().0
}

fn wiring(c: usize) -> Wiring {
    Wiring {
        inputs: 1,
        steps: 3,
        concat: 1,
        channels: c,
        reduction: false,
    }
}

/// The NB201 string of an architecture: `|nor_conv_3x3~0|+|…~0|…~1|+|…~0|…~1|…~2|`.
pub fn arch_string(arch: &Architecture) -> Result<String> {
    let (spec, keys) = declare();
    arch.validate(&spec)?;
    let mut nodes = Vec::new();
    for ((node, from), key) in wiring(1).edges().into_iter().zip(&keys) {
        if nodes.len() <= node {
            nodes.push(String::from("|"));
        }
        nodes[node] += &format!("{}~{from}|", arch.value(key)?);
    }
    Ok(nodes.join("+"))
}

/// Parses an NB201 string back into an architecture of [`spec`].
pub fn parse_arch_string(s: &str) -> Result<Architecture> {
    let bad = |why: &str| CoreError::Config(format!("bad NB201 string {s:?}: {why}"));
    let (spec, keys) = declare();
    let mut edges = keys.iter();
    let mut arch = Architecture::new();
    let nodes: Vec<&str> = s.split('+').collect();
    if nodes.len() != 3 {
        return Err(bad("expected three nodes"));
    }
    for (node, part) in nodes.iter().enumerate() {
        let ops: Vec<&str> = part
            .trim_matches('|')
            .split('|')
            .filter(|o| !o.is_empty())
            .collect();
        if ops.len() != node + 1 {
            return Err(bad("wrong number of edges on a node"));
        }
        for (from, op) in ops.iter().enumerate() {
            let (name, j) = op.split_once('~').ok_or_else(|| bad("missing `~`"))?;
            if j.parse::<usize>().ok() != Some(from) {
                return Err(bad("edges must come from 0, 1, … in order"));
            }
            // Parsed first, so a misspelt name is reported as such.
            let p = Primitive::parse(name)?;
            let key = edges.next().ok_or_else(|| bad("too many edges"))?;
            arch.choose(key, p.name())?;
        }
    }
    arch.validate(&spec)?;
    Ok(arch)
}

/// The ResNet basic block between stages: ReLU-Conv3×3(s2)-BN, ReLU-Conv3×3-BN, plus an
/// average-pool + 1×1 conv shortcut.
#[derive(Module, Debug)]
pub struct ResBlock<B: Backend> {
    /// First ReLU-Conv-BN (stride 2).
    pub conv_a: ConvBn<B>,
    /// Second ReLU-Conv-BN.
    pub conv_b: ConvBn<B>,
    /// The shortcut's 1×1 convolution.
    pub shortcut: Conv2d<B>,
}

impl<B: Backend> ResBlock<B> {
    fn new(c_in: usize, c_out: usize, device: &B::Device) -> Self {
        ResBlock {
            conv_a: ConvBn::plain([c_in, c_out], 3, 2, true, device),
            conv_b: ConvBn::plain([c_out, c_out], 3, 1, true, device),
            shortcut: conv2d([c_in, c_out], 1, 1, 1, 1, device),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let short = conv2d_forward(
            &self.shortcut,
            avg_pool2d(x.clone(), [2, 2], [2, 2], [0, 0], true, false),
        );
        self.conv_b.forward(self.conv_a.forward(x)) + short
    }
}

/// The parts outside the cells, shared by the supernet and its subnets.
#[derive(Module, Debug)]
pub struct Frame<B: Backend> {
    /// Stem convolution.
    pub stem: Conv2d<B>,
    /// Stem batch norm.
    pub stem_bn: BatchNorm<B>,
    /// The two reduction blocks.
    pub blocks: Vec<ResBlock<B>>,
    /// Final batch norm (before ReLU and pooling).
    pub last_bn: BatchNorm<B>,
    /// Classifier.
    pub classifier: Linear<B>,
}

impl<B: Backend> Frame<B> {
    fn new(cfg: &Nb201Config, device: &B::Device) -> Self {
        let c = cfg.channels;
        Frame {
            stem: conv2d([3, c], 3, 1, 1, 1, device),
            stem_bn: batch_norm(c, true, device),
            blocks: vec![
                ResBlock::new(c, 2 * c, device),
                ResBlock::new(2 * c, 4 * c, device),
            ],
            last_bn: batch_norm(4 * c, true, device),
            classifier: LinearConfig::new(4 * c, cfg.classes).init(device),
        }
    }

    fn params(cfg: &Nb201Config) -> usize {
        let c = cfg.channels;
        let block = |i: usize, o: usize| i * o * 9 + 2 * o + o * o * 9 + 2 * o + i * o;
        3 * c * 9
            + 2 * c
            + block(c, 2 * c)
            + block(2 * c, 4 * c)
            + 2 * 4 * c
            + 4 * c * cfg.classes
            + cfg.classes
    }

    /// Runs the network with `cell(stage, index, x)` for the cells.
    fn forward(
        &self,
        x: Tensor<B, 4>,
        cells: usize,
        mut cell: impl FnMut(usize, Tensor<B, 4>) -> Result<Tensor<B, 4>>,
    ) -> Result<Tensor<B, 2>> {
        let dims = x.dims();
        if dims[1] != 3 {
            return Err(CoreError::Shape {
                module: "NB201".into(),
                expected: "[batch, 3, h, w]".into(),
                got: dims.to_vec(),
            });
        }
        let mut x = batch_norm_forward(&self.stem_bn, conv2d_forward(&self.stem, x));
        for stage in 0..3 {
            if stage > 0 {
                x = self.blocks[stage - 1].forward(x);
            }
            for i in 0..cells {
                x = cell(stage * cells + i, x)?;
            }
        }
        let x = relu(batch_norm_forward(&self.last_bn, x));
        Ok(self.classifier.forward(global_avg_pool(x)))
    }
}

/// The NB201 supernet.
#[derive(Module, Debug)]
pub struct Nb201<B: Backend> {
    /// Stem, reduction blocks, head.
    pub frame: Frame<B>,
    /// The 3N search cells (one shared set of decisions).
    pub cells: Vec<SearchCell<B>>,
    #[module(skip)]
    spec: SearchSpec,
    #[module(skip)]
    keys: Vec<DecisionKey<String>>,
    #[module(skip)]
    config: Nb201Config,
}

impl<B: Backend> Nb201<B> {
    /// The weight-entangled supernet.
    pub(crate) fn from_config(config: Nb201Config, device: &B::Device) -> Result<Self> {
        Self::build(config, true, device)
    }

    /// The weight-sharing twin (separate 1×1 and 3×3 convolutions, outputs mixed).
    pub(crate) fn from_config_ws(config: Nb201Config, device: &B::Device) -> Result<Self> {
        Self::build(config, false, device)
    }

    fn build(config: Nb201Config, entangle: bool, device: &B::Device) -> Result<Self> {
        if config.channels == 0 || config.cells == 0 || config.classes == 0 {
            return Err(CoreError::Config(format!(
                "empty NB201 network: {config:?}"
            )));
        }
        let (spec, keys) = declare();
        let mut cells = Vec::new();
        for stage in 0..3 {
            let c = config.channels << stage;
            for _ in 0..config.cells {
                cells.push(SearchCell::new(
                    wiring(c),
                    Vec::new(),
                    keys.clone(),
                    |stride| {
                        MixedEdge::new(&EdgeConfig::new(&PRIMITIVES, c, stride, entangle), device)
                    },
                )?);
            }
        }
        Ok(Nb201 {
            frame: Frame::new(&config, device),
            cells,
            spec,
            keys,
            config,
        })
    }

    /// The network size.
    pub fn config(&self) -> &Nb201Config {
        &self.config
    }
}

impl<B: Backend> Supernet<B> for Nb201<B> {
    type Input = Tensor<B, 4>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 4>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        self.frame.forward(x, self.config.cells, |i, x| {
            self.cells[i].forward(vec![x], mix)
        })
    }
}

/// A discretized NB201 network.
#[derive(Module, Debug)]
pub struct Nb201Net<B: Backend> {
    /// Stem, reduction blocks, head.
    pub frame: Frame<B>,
    /// The 3N cells.
    pub cells: Vec<FixedCell<B>>,
    #[module(skip)]
    cells_per_stage: usize,
}

impl<B: Backend> Nb201Net<B> {
    /// `[batch, 3, h, w]` → logits.
    pub fn forward(&self, x: Tensor<B, 4>) -> Result<Tensor<B, 2>> {
        self.frame.forward(x, self.cells_per_stage, |i, x| {
            self.cells[i].forward(vec![x])
        })
    }
}

impl<B: Backend> tangle_core::Extract<B> for Nb201<B> {
    type Subnet = Nb201Net<B>;

    /// The discretized network at `arch`, with the inherited weights: the benchmark's
    /// evaluation network, its cells' batch norms affine (γ = 1, β = 0 inherited from the
    /// affine-free search cells, so it computes what the supernet's single path computes, and
    /// trains γ and β when retrained).
    fn extract(&self, arch: &Architecture) -> Result<Nb201Net<B>> {
        arch.validate(&self.spec)?;
        Ok(Nb201Net {
            frame: self.frame.clone(),
            cells: extract_cells(&self.cells, arch)?
                .into_iter()
                .map(FixedCell::with_affine_batch_norms)
                .collect(),
            cells_per_stage: self.config.cells,
        })
    }

    /// Trainable parameters of the discretized network at `arch`, from the choices alone: the
    /// benchmark's evaluation network, whose cells have affine batch norms (2 · C per
    /// convolution edge) — 1,531,546 for the largest CIFAR-10 network (C = 16, N = 5), 73,306
    /// for the smallest. The search supernet's cell batch norms stay affine-free, as in the
    /// benchmark's search code.
    fn params(&self, arch: &Architecture) -> Result<usize> {
        arch.validate(&self.spec)?;
        let ops = chosen_ops(arch, &self.keys)?;
        let (per_c2, convs) = ops.into_iter().fold((0, 0), |(k2, n), p| match p {
            Primitive::Conv(k) => (k2 + k * k, n + 1),
            _ => (k2, n),
        });
        let c = self.config.channels;
        let cells: usize = (0..3)
            .map(|s| per_c2 * (c << s) * (c << s) + 2 * convs * (c << s))
            .sum();
        Ok(Frame::<B>::params(&self.config) + self.config.cells * cells)
    }
}
