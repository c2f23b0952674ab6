//! The DARTS space (Liu et al., 2019; paper Appendix D).
//!
//! Search network: stem 3×3 conv (3C) + BN, 8 cells (C = 16) with reductions at 1/3 and 2/3 of
//! the depth, global pooling, linear. A cell takes the two previous cells' outputs (1×1
//! ReLU-Conv-BN preprocessing, or a factorized reduction after a reduction cell), has 4 nodes
//! and 14 edges, and concatenates its 4 nodes. Candidates: `none`, 3×3 max / avg pooling (with
//! an affine-free BN in the search cell), `skip_connect`, `sep_conv_{3,5}`, `dil_conv_{3,5}`.
//! Weight entanglement: sep 3×3 ⊂ sep 5×5, dil 3×3 ⊂ dil 5×5. Optional partial channel
//! connections (PC-DARTS; factor 6 in DrNAS's setting). Normal and reduction cells have their
//! own 14 decisions each.
//!
//! Discretization follows DARTS: per node the two incoming edges with the strongest non-`none`
//! candidate, each with its strongest non-`none` candidate ([`Genotype::from_probabilities`]).
//! The genotype then builds the 20-cell evaluation network ([`DartsNetwork`], C = 36, optional
//! auxiliary head and drop-path), trained from scratch.

use std::fmt;
use std::str::FromStr;

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::avg_pool2d;
use burn::tensor::{Distribution, Tensor};
use tangle_core::conv2d_forward;
use tangle_core::{
    batch_norm_forward, widen_module, Architecture, CoreError, Mixtures, Result, SearchSpec,
    Supernet, Widening,
};

use crate::cell::{
    chosen_ops, extract_cells, CellKeys, EdgeConfig, FixedCell, FixedEdge, MixedEdge, Preprocess,
    SearchCell, Wiring,
};
use crate::layers::global_avg_pool;
use crate::ops::{batch_norm, conv2d, ConvBn, FactorizedReduce, FixedOp, Primitive};

mod config;
pub use config::DartsConfig;

impl DartsConfig {
    /// Builds the weight-entangled supernet. Errors for an invalid configuration.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Darts<B>> {
        Darts::from_config(*self, device)
    }

    /// Builds the weight-sharing (WS) supernet of the same space: one weight per candidate,
    /// outputs mixed, the baseline weight entanglement is compared with.
    pub fn init_ws<B: Backend>(&self, device: &B::Device) -> Result<Darts<B>> {
        Darts::from_config_ws(*self, device)
    }
}

/// The candidates, in DARTS's order.
pub const PRIMITIVES: [Primitive; 8] = [
    Primitive::Zero,
    Primitive::MaxPool,
    Primitive::AvgPool,
    Primitive::Skip,
    Primitive::Sep(3),
    Primitive::Sep(5),
    Primitive::Dil(3),
    Primitive::Dil(5),
];
/// Nodes per cell.
pub const STEPS: usize = 4;
/// Edges per cell.
pub const EDGES: usize = 14;

/// Declares the space: `normal.e0` … `normal.e13`, `reduce.e0` … `reduce.e13`.
pub fn declare() -> (SearchSpec, CellKeys) {
    CellKeys::declare(EDGES, &PRIMITIVES).expect("valid ops")
}

/// The search spec (see [`declare`]).
pub fn spec() -> SearchSpec {
    declare().0
}

impl DartsConfig {
    /// DrNAS's progressive setting on the DARTS space (paper Table 24): partial channels with
    /// factor 6, which needs C divisible by 6 — DrNAS searches with C = 36.
    pub fn drnas() -> Self {
        DartsConfig {
            channels: 36,
            partial: 6,
            ..Self::default()
        }
    }
}

/// `(C_prev_prev, C_prev, C, reduction, reduction_prev)` of every cell.
fn layout(c: usize, layers: usize, stem: usize) -> Vec<(usize, usize, usize, bool, bool)> {
    let (mut cpp, mut cp, mut cc) = (stem * c, stem * c, c);
    let mut reduction_prev = false;
    let mut out = Vec::with_capacity(layers);
    for i in 0..layers {
        let reduction = layers >= 3 && (i == layers / 3 || i == 2 * layers / 3);
        if reduction {
            cc *= 2;
        }
        out.push((cpp, cp, cc, reduction, reduction_prev));
        reduction_prev = reduction;
        (cpp, cp) = (cp, STEPS * cc);
    }
    out
}

fn wiring(c: usize, reduction: bool) -> Wiring {
    Wiring {
        inputs: 2,
        steps: STEPS,
        concat: STEPS,
        channels: c,
        reduction,
    }
}

fn preprocessing<B: Backend>(
    (cpp, cp, c, _, reduction_prev): (usize, usize, usize, bool, bool),
    affine: bool,
    device: &B::Device,
) -> Result<Vec<Preprocess<B>>> {
    let pre0 = if reduction_prev {
        Preprocess::Reduce(FactorizedReduce::new([cpp, c], affine, device)?)
    } else {
        Preprocess::Conv(ConvBn::plain([cpp, c], 1, 1, affine, device))
    };
    Ok(vec![
        pre0,
        Preprocess::Conv(ConvBn::plain([cp, c], 1, 1, affine, device)),
    ])
}

/// Stem and classifier, shared by the supernet and its subnets.
#[derive(Module, Debug)]
pub struct Frame<B: Backend> {
    /// Stem convolution (3 → 3C).
    pub stem: Conv2d<B>,
    /// Stem batch norm.
    pub stem_bn: BatchNorm<B>,
    /// Classifier.
    pub classifier: Linear<B>,
}

impl<B: Backend> Frame<B> {
    fn new(c: usize, c_last: usize, classes: usize, device: &B::Device) -> Self {
        Frame {
            stem: conv2d([3, 3 * c], 3, 1, 1, 1, device),
            stem_bn: batch_norm(3 * c, true, device),
            classifier: LinearConfig::new(c_last, classes).init(device),
        }
    }

    fn stem(&self, x: Tensor<B, 4>) -> Result<Tensor<B, 4>> {
        let dims = x.dims();
        if dims[1] != 3 {
            return Err(CoreError::Shape {
                module: "DARTS".into(),
                expected: "[batch, 3, h, w]".into(),
                got: dims.to_vec(),
            });
        }
        Ok(batch_norm_forward(
            &self.stem_bn,
            conv2d_forward(&self.stem, x),
        ))
    }

    fn head(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        self.classifier.forward(global_avg_pool(x))
    }
}

/// The DARTS supernet.
#[derive(Module, Debug)]
pub struct Darts<B: Backend> {
    /// Stem and classifier.
    pub frame: Frame<B>,
    /// The search cells.
    pub cells: Vec<SearchCell<B>>,
    #[module(skip)]
    spec: SearchSpec,
    #[module(skip)]
    keys: CellKeys,
    #[module(skip)]
    config: DartsConfig,
    #[module(skip)]
    entangle: bool,
}

impl<B: Backend> Darts<B> {
    /// The weight-entangled supernet.
    pub(crate) fn from_config(config: DartsConfig, device: &B::Device) -> Result<Self> {
        Self::build(config, true, device)
    }

    /// The weight-sharing twin: every candidate its own weights, outputs mixed.
    pub(crate) fn from_config_ws(config: DartsConfig, device: &B::Device) -> Result<Self> {
        Self::build(config, false, device)
    }

    fn build(config: DartsConfig, entangle: bool, device: &B::Device) -> Result<Self> {
        if config.channels == 0 || config.layers == 0 || config.classes == 0 {
            return Err(CoreError::Config(format!(
                "empty DARTS network: {config:?}"
            )));
        }
        let (spec, keys) = declare();
        let cells_layout = layout(config.channels, config.layers, 3);
        let mut cells = Vec::with_capacity(config.layers);
        for &l in &cells_layout {
            let (_, _, c, reduction, _) = l;
            let pre = preprocessing(l, false, device)?;
            let edges = keys.of(reduction).to_vec();
            cells.push(SearchCell::new(
                wiring(c, reduction),
                pre,
                edges,
                |stride| {
                    let edge = EdgeConfig {
                        pool_bn: true,
                        partial: config.partial,
                        ..EdgeConfig::new(&PRIMITIVES, c, stride, entangle)
                    };
                    MixedEdge::new(&edge, device)
                },
            )?);
        }
        let c_last = STEPS * cells_layout.last().expect("layers ≥ 1").2;
        Ok(Darts {
            frame: Frame::new(config.channels, c_last, config.classes, device),
            cells,
            spec,
            keys,
            config,
            entangle,
        })
    }

    /// This supernet with partial-channel factor `partial` (DrNAS's progressive step K = 6 → 4):
    /// every edge operation grows from C/K to C/`partial` channels, the new channels copies of
    /// trained ones drawn from `seed` ([`tangle_core::widen_module`]); everything else keeps its
    /// values. Parameter ids are kept, and the [`Widening`] says what grew, for the optimizer
    /// state (`tangle_optim::Search::widen`). Errors when `partial` does not divide a cell's
    /// channels or would narrow the edges.
    pub fn with_partial(&self, partial: usize, seed: u64) -> Result<(Self, Widening)> {
        if partial > self.config.partial {
            return Err(CoreError::Config(format!(
                "partial channel factor {partial} would narrow the edges (now {})",
                self.config.partial
            )));
        }
        let device = self.frame.stem.weight.device();
        let wider = Self::build(
            DartsConfig {
                partial,
                ..self.config
            },
            self.entangle,
            &device,
        )?;
        widen_module(self, wider, seed)
    }

    /// The network size.
    pub fn config(&self) -> &DartsConfig {
        &self.config
    }
}

impl<B: Backend> Supernet<B> for Darts<B> {
    type Input = Tensor<B, 4>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 4>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        let s = self.frame.stem(x)?;
        let (mut s0, mut s1) = (s.clone(), s);
        for cell in &self.cells {
            let out = cell.forward(vec![s0, s1.clone()], mix)?;
            (s0, s1) = (s1, out);
        }
        Ok(self.frame.head(s1))
    }
}

/// The search network discretized at one architecture, all edges kept.
#[derive(Module, Debug)]
pub struct DartsSubnet<B: Backend> {
    /// Stem and classifier.
    pub frame: Frame<B>,
    /// The cells.
    pub cells: Vec<FixedCell<B>>,
}

impl<B: Backend> DartsSubnet<B> {
    /// `[batch, 3, h, w]` → logits.
    pub fn forward(&self, x: Tensor<B, 4>) -> Result<Tensor<B, 2>> {
        let s = self.frame.stem(x)?;
        let (mut s0, mut s1) = (s.clone(), s);
        for cell in &self.cells {
            let out = cell.forward(vec![s0, s1.clone()])?;
            (s0, s1) = (s1, out);
        }
        Ok(self.frame.head(s1))
    }
}

/// A DARTS genotype: per cell type, two `(operation, input state)` pairs per node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genotype {
    /// Normal cell: 8 pairs, two per node.
    pub normal: Vec<(Primitive, usize)>,
    /// Reduction cell: 8 pairs.
    pub reduce: Vec<(Primitive, usize)>,
}

impl Genotype {
    /// DARTS's discretization of the candidate probabilities (one vector per decision, spec
    /// order, as `tangle_optim::Mixer::probabilities` gives them): per node, the two incoming edges whose strongest non-`none` candidate is
    /// strongest, each with that candidate.
    pub fn from_probabilities(probs: &[Vec<f32>]) -> Result<Self> {
        if probs.len() != 2 * EDGES || probs.iter().any(|p| p.len() != PRIMITIVES.len()) {
            return Err(CoreError::Config(format!(
                "expected {} probability vectors of length {}",
                2 * EDGES,
                PRIMITIVES.len()
            )));
        }
        let (_, keys) = declare();
        let parse = |edges: &[tangle_core::DecisionKey<String>]| {
            // The edges' probability vectors, found through their decisions' places.
            let w: Vec<&Vec<f32>> = edges.iter().map(|k| &probs[k.position()]).collect();
            let mut gene = Vec::with_capacity(2 * STEPS);
            let mut start = 0;
            for i in 0..STEPS {
                let n = i + 2;
                // Strongest non-none candidate of each incoming edge.
                let best: Vec<(usize, f32)> = (0..n)
                    .map(|j| {
                        (1..PRIMITIVES.len())
                            .map(|k| (k, w[start + j][k]))
                            .fold((1, f32::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a })
                    })
                    .collect();
                let mut edges: Vec<usize> = (0..n).collect();
                // Stable: ties keep the earlier edge, as Python's `sorted`.
                edges.sort_by(|&a, &b| best[b].1.total_cmp(&best[a].1));
                for &j in &edges[..2] {
                    gene.push((PRIMITIVES[best[j].0], j));
                }
                start += n;
            }
            gene
        };
        Ok(Genotype {
            normal: parse(&keys.normal),
            reduce: parse(&keys.reduce),
        })
    }

    /// The genotype of one architecture of [`spec`] (one operation per edge), as a two-stage
    /// search (SPOS + random or evolutionary search) returns it: each node keeps the
    /// architecture's own edges, those whose operation is not `none`, each with its own
    /// operation. A node with more than two such edges keeps the two from the latest inputs
    /// (the nearest predecessors, ties impossible); one with fewer than two is an error naming
    /// the node, since a DARTS cell takes exactly two inputs per node and inventing an edge
    /// the search never chose would misreport it.
    pub fn from_architecture(arch: &Architecture) -> Result<Self> {
        let (spec, keys) = declare();
        arch.validate(&spec)?;
        let parse = |cell: &str, edges: &[tangle_core::DecisionKey<String>]| {
            let ops = chosen_ops(arch, edges)?;
            let mut gene = Vec::with_capacity(2 * STEPS);
            let mut start = 0;
            for i in 0..STEPS {
                let n = i + 2;
                let own: Vec<usize> = (0..n)
                    .rev()
                    .filter(|&j| ops[start + j] != Primitive::Zero)
                    .collect();
                if own.len() < 2 {
                    return Err(CoreError::Config(format!(
                        "{cell} cell, node {i}: the architecture gives it {} input(s) other than \
                         `none`, a DARTS genotype needs two",
                        own.len()
                    )));
                }
                let mut keep = own[..2].to_vec();
                keep.sort();
                for j in keep {
                    gene.push((ops[start + j], j));
                }
                start += n;
            }
            Ok::<_, CoreError>(gene)
        };
        Ok(Genotype {
            normal: parse("normal", &keys.normal)?,
            reduce: parse("reduce", &keys.reduce)?,
        })
    }

    /// The genotype a search ends with: from the mixer's final candidate probabilities
    /// (one vector per decision, spec order) when the search has them — DARTS's rule, see
    /// [`Genotype::from_probabilities`] — and otherwise (a two-stage search) from the
    /// architecture it returned, see [`Genotype::from_architecture`]. The argmax
    /// architecture alone cannot stand in for the probabilities: a one-hot per edge ties every
    /// kept edge, so each node would take its first two inputs by position.
    pub fn discretize(arch: &Architecture, probabilities: Option<&[Vec<f32>]>) -> Result<Self> {
        match probabilities {
            Some(p) => Self::from_probabilities(p),
            None => Self::from_architecture(arch),
        }
    }

    /// The DARTS V2 genotype (Liu et al., 2019), for reference runs.
    pub fn darts_v2() -> Self {
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), \
         ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), \
         ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), \
         ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), \
         ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], \
         reduce_concat=[2, 3, 4, 5])"
            .parse()
            .expect("valid genotype")
    }

    fn check(&self) -> Result<()> {
        for gene in [&self.normal, &self.reduce] {
            if gene.len() != 2 * STEPS {
                return Err(CoreError::Config(format!(
                    "a DARTS cell has {} (operation, input) pairs, got {}",
                    2 * STEPS,
                    gene.len()
                )));
            }
            for (i, &(p, j)) in gene.iter().enumerate() {
                if j >= 2 + i / 2 || p == Primitive::Zero || matches!(p, Primitive::Conv(_)) {
                    return Err(CoreError::Config(format!(
                        "pair {i} ({}, {j}) does not fit a DARTS cell",
                        p.name()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// `Genotype(normal=[('sep_conv_3x3', 0), …], normal_concat=range(2, 6), reduce=[…],
/// reduce_concat=range(2, 6))`, as the DARTS code prints it.
impl fmt::Display for Genotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gene = |g: &[(Primitive, usize)]| {
            g.iter()
                .map(|(p, j)| format!("('{}', {j})", p.name()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "Genotype(normal=[{}], normal_concat=range(2, 6), reduce=[{}], reduce_concat=range(2, 6))",
            gene(&self.normal),
            gene(&self.reduce)
        )
    }
}

/// Parses the printed form (either concat style, `range(2, 6)` or `[2, 3, 4, 5]`).
impl FromStr for Genotype {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| CoreError::Config(format!("bad genotype: {why}"));
        let list = |key: &str| -> Result<Vec<(Primitive, usize)>> {
            let at = s
                .find(&format!("{key}=["))
                .ok_or_else(|| bad(&format!("no `{key}=[`")))?;
            let body = &s[at + key.len() + 2..];
            let body = &body[..body.find(']').ok_or_else(|| bad("unclosed list"))?];
            body.split(')')
                .map(|t| t.trim_start_matches([',', ' ']).trim_start_matches('('))
                .filter(|t| !t.trim().is_empty())
                .map(|t| {
                    let (name, j) = t.split_once(',').ok_or_else(|| bad("expected ('op', j)"))?;
                    let name = name.trim().trim_matches(['\'', '"']);
                    let j = j.trim().parse().map_err(|_| bad("bad input index"))?;
                    Ok((Primitive::parse(name)?, j))
                })
                .collect()
        };
        let g = Genotype {
            normal: list("normal")?,
            reduce: list("reduce")?,
        };
        g.check()?;
        Ok(g)
    }
}

/// The evaluation network's size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DartsNetworkConfig {
    /// Initial channels (36).
    pub channels: usize,
    /// Cells (20).
    pub layers: usize,
    /// Classes.
    pub classes: usize,
    /// Auxiliary head after the cell at 2/3 of the depth.
    pub auxiliary: bool,
    /// Drop-path probability while training (DARTS: 0.2; 0 = off).
    pub drop_path: f64,
}

impl Default for DartsNetworkConfig {
    /// DARTS's CIFAR-10 evaluation network: C = 36, 20 cells, auxiliary head, drop-path 0.2.
    fn default() -> Self {
        DartsNetworkConfig {
            channels: 36,
            layers: 20,
            classes: 10,
            auxiliary: true,
            drop_path: 0.2,
        }
    }
}

/// DARTS's CIFAR auxiliary head (on 8×8 features).
#[derive(Module, Debug)]
pub struct AuxiliaryHead<B: Backend> {
    /// 1×1 conv to 128.
    pub conv1: Conv2d<B>,
    /// BN(128).
    pub bn1: BatchNorm<B>,
    /// 2×2 conv to 768.
    pub conv2: Conv2d<B>,
    /// BN(768).
    pub bn2: BatchNorm<B>,
    /// Linear(768, classes).
    pub classifier: Linear<B>,
}

impl<B: Backend> AuxiliaryHead<B> {
    fn new(c: usize, classes: usize, device: &B::Device) -> Self {
        AuxiliaryHead {
            conv1: conv2d([c, 128], 1, 1, 1, 1, device),
            bn1: batch_norm(128, true, device),
            conv2: burn::nn::conv::Conv2dConfig::new([128, 768], [2, 2])
                .with_bias(false)
                .init(device),
            bn2: batch_norm(768, true, device),
            classifier: LinearConfig::new(768, classes).init(device),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = avg_pool2d(relu(x), [5, 5], [3, 3], [0, 0], false, false);
        let x = relu(batch_norm_forward(
            &self.bn1,
            conv2d_forward(&self.conv1, x),
        ));
        let x = relu(batch_norm_forward(
            &self.bn2,
            conv2d_forward(&self.conv2, x),
        ));
        self.classifier.forward(global_avg_pool(x))
    }
}

/// The evaluation network of a [`Genotype`]: freshly initialized, affine batch norms, pools
/// without BN, optional auxiliary head and drop-path — DARTS's `NetworkCIFAR`.
#[derive(Module, Debug)]
pub struct DartsNetwork<B: Backend> {
    /// Stem and classifier.
    pub frame: Frame<B>,
    /// The cells.
    pub cells: Vec<FixedCell<B>>,
    /// The auxiliary head.
    pub auxiliary: Option<AuxiliaryHead<B>>,
    #[module(skip)]
    aux_after: usize,
    #[module(skip)]
    drop_path: f64,
}

impl<B: Backend> DartsNetwork<B> {
    /// Builds the network of `genotype`.
    pub fn new(
        genotype: &Genotype,
        config: &DartsNetworkConfig,
        device: &B::Device,
    ) -> Result<Self> {
        genotype.check()?;
        if config.channels == 0 || config.layers == 0 || config.classes == 0 {
            return Err(CoreError::Config(format!(
                "empty DARTS network: {config:?}"
            )));
        }
        if !(0.0..1.0).contains(&config.drop_path) {
            return Err(CoreError::Config(format!(
                "drop-path probability {} outside [0, 1)",
                config.drop_path
            )));
        }
        let cells_layout = layout(config.channels, config.layers, 3);
        let aux_after = 2 * config.layers / 3;
        let mut cells = Vec::with_capacity(config.layers);
        let mut aux_channels = 0;
        for (i, &l) in cells_layout.iter().enumerate() {
            let (_, _, c, reduction, _) = l;
            let w = wiring(c, reduction);
            let gene = if reduction {
                &genotype.reduce
            } else {
                &genotype.normal
            };
            let edges = gene
                .iter()
                .enumerate()
                .map(|(e, &(p, from))| {
                    let stride = w.stride(from);
                    let op = FixedOp::new(p, c, stride, true, device)?;
                    Ok((e / 2, from, FixedEdge::new(op, stride)))
                })
                .collect::<Result<Vec<_>>>()?;
            cells.push(FixedCell::new(w, preprocessing(l, true, device)?, edges)?);
            if i == aux_after {
                aux_channels = STEPS * c;
            }
        }
        let c_last = STEPS * cells_layout.last().expect("layers ≥ 1").2;
        Ok(DartsNetwork {
            frame: Frame::new(config.channels, c_last, config.classes, device),
            cells,
            auxiliary: config
                .auxiliary
                .then(|| AuxiliaryHead::new(aux_channels, config.classes, device)),
            aux_after,
            drop_path: config.drop_path,
        })
    }

    /// Sets the drop-path probability (DARTS raises it linearly over the epochs:
    /// `p · epoch / epochs`).
    pub fn set_drop_path(&mut self, p: f64) -> Result<()> {
        if !(0.0..1.0).contains(&p) {
            return Err(CoreError::Config(format!(
                "drop-path probability {p} outside [0, 1)"
            )));
        }
        self.drop_path = p;
        Ok(())
    }

    /// `[batch, 3, 32, 32]` → logits, and the auxiliary logits while training with the head.
    pub fn forward(&self, x: Tensor<B, 4>) -> Result<(Tensor<B, 2>, Option<Tensor<B, 2>>)> {
        let device = x.device();
        let training = B::ad_enabled(&device);
        let p = self.drop_path;
        let s = self.frame.stem(x)?;
        let (mut s0, mut s1) = (s.clone(), s);
        let mut aux = None;
        for (i, cell) in self.cells.iter().enumerate() {
            let out = cell.forward_with(vec![s0, s1.clone()], |y, op| {
                if training && p > 0.0 && !op.is_identity() {
                    drop_path(y, p)
                } else {
                    y
                }
            })?;
            (s0, s1) = (s1, out);
            if i == self.aux_after && training {
                aux = self.auxiliary.as_ref().map(|h| h.forward(s1.clone()));
            }
        }
        Ok((self.frame.head(s1), aux))
    }
}

/// Zeroes whole samples with probability `p` and rescales the rest.
fn drop_path<B: Backend>(x: Tensor<B, 4>, p: f64) -> Tensor<B, 4> {
    let n = x.dims()[0];
    let keep = Tensor::<B, 4>::random([n, 1, 1, 1], Distribution::Bernoulli(1.0 - p), &x.device());
    x * keep / (1.0 - p)
}

impl<B: Backend> tangle_core::Extract<B> for Darts<B> {
    type Subnet = DartsSubnet<B>;

    /// The discretized search network at `arch` (every edge kept with its chosen candidate),
    /// with the inherited weights: the network the supernet computes at that architecture.
    fn extract(&self, arch: &Architecture) -> Result<DartsSubnet<B>> {
        arch.validate(&self.spec)?;
        Ok(DartsSubnet {
            frame: self.frame.clone(),
            cells: extract_cells(&self.cells, arch)?,
        })
    }

    /// Trainable parameters of the discretized search network at `arch` (all 14 edges of every
    /// cell as chosen, affine-free batch norms as in the search cell), from the choices alone.
    fn params(&self, arch: &Architecture) -> Result<usize> {
        arch.validate(&self.spec)?;
        let cfg = &self.config;
        let cells_layout = layout(cfg.channels, cfg.layers, 3);
        let c_last = STEPS * cells_layout.last().expect("layers ≥ 1").2;
        let mut total = 81 * cfg.channels + 6 * cfg.channels + c_last * cfg.classes + cfg.classes;
        for (cpp, cp, c, reduction, _) in cells_layout {
            // Preprocessing: 1×1 convs (a factorized reduction has two halves: same count).
            total += cpp * c + cp * c;
            let w = wiring(c, reduction);
            let choice = chosen_ops(arch, self.keys.of(reduction))?;
            let e = c / cfg.partial;
            for ((_, from), p) in w.edges().into_iter().zip(choice) {
                total += match p {
                    Primitive::Sep(k) => 2 * (e * k * k + e * e),
                    Primitive::Dil(k) => e * k * k + e * e,
                    Primitive::Skip if w.stride(from) == 2 => e * e,
                    _ => 0,
                };
            }
        }
        Ok(total)
    }
}
