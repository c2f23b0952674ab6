//! The toy cell space (paper Appendix D; Fashion-MNIST, 28×28×1).
//!
//! Three cells — reduction (C = 32), normal (32), reduction (64) — each a 1×1 ReLU-Conv-BN
//! preprocessing, two nodes and three edges, output the concatenation of the two nodes; dropout
//! 0.2 after every cell; max-pool 2 → Linear(1152, 128) → ReLU → dropout → Linear(128, 10).
//! Every edge chooses among `sep_conv_3x3`, `sep_conv_5x5`, `dil_conv_3x3`, `dil_conv_5x5`; the
//! two reduction cells share their decisions. Weight entanglement: sep 3×3 ⊂ sep 5×5 and
//! dil 3×3 ⊂ dil 5×5, so a superposed edge runs two convolution chains instead of four.
//! 4⁶ = 4096 architectures.

use std::fmt;

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::max_pool2d;
use burn::tensor::Tensor;
use tangle_core::{Architecture, CoreError, Mixtures, Result, SearchSpec, Supernet};

use crate::cell::{
    chosen_ops, extract_cells, CellKeys, EdgeConfig, FixedCell, MixedEdge, Preprocess, SearchCell,
    Wiring,
};
use crate::ops::{ConvBn, FixedOp, Primitive};

mod config;
pub use config::ToyCellConfig;

impl ToyCellConfig {
    /// Builds the weight-entangled supernet.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<ToyCell<B>> {
        ToyCell::from_config(self, device)
    }

    /// Builds the weight-sharing (WS) twin: four independent convolution chains per edge,
    /// outputs mixed.
    pub fn init_ws<B: Backend>(&self, device: &B::Device) -> Result<ToyCell<B>> {
        ToyCell::from_config_ws(self, device)
    }
}

/// The candidate operations, in decision order.
pub const PRIMITIVES: [Primitive; 4] = [
    Primitive::Sep(3),
    Primitive::Sep(5),
    Primitive::Dil(3),
    Primitive::Dil(5),
];
/// Edges per cell.
pub const EDGES: usize = 3;
const CLASSES: usize = 10;
const DROPOUT: f64 = 0.2;

/// Declares the space: `normal.e{0,1,2}` and `reduce.e{0,1,2}`.
pub fn declare() -> (SearchSpec, CellKeys) {
    CellKeys::declare(EDGES, &PRIMITIVES).expect("valid ops")
}

/// The search spec (see [`declare`]).
pub fn spec() -> SearchSpec {
    declare().0
}

/// `(input channels, C, reduction)` of the three cells.
const CELLS: [(usize, usize, bool); 3] = [(1, 32, true), (64, 32, false), (64, 64, true)];

fn wiring(c: usize, reduction: bool) -> Wiring {
    Wiring {
        inputs: 1,
        steps: 2,
        concat: 2,
        channels: c,
        reduction,
    }
}

/// The toy cell supernet.
#[derive(Module, Debug)]
pub struct ToyCell<B: Backend> {
    /// Reduction, normal, reduction.
    pub cells: Vec<SearchCell<B>>,
    /// Linear(1152, 128).
    pub proj: Linear<B>,
    /// Linear(128, 10).
    pub classifier: Linear<B>,
    /// Dropout 0.2.
    pub dropout: Dropout,
    #[module(skip)]
    spec: SearchSpec,
    #[module(skip)]
    keys: CellKeys,
}

impl<B: Backend> ToyCell<B> {
    /// The weight-entangled supernet.
    pub(crate) fn from_config(config: &ToyCellConfig, device: &B::Device) -> Result<Self> {
        Self::build(true, config, device)
    }

    /// The weight-sharing twin: four independent convolution chains per edge, outputs mixed.
    pub(crate) fn from_config_ws(config: &ToyCellConfig, device: &B::Device) -> Result<Self> {
        Self::build(false, config, device)
    }

    fn build(entangle: bool, config: &ToyCellConfig, device: &B::Device) -> Result<Self> {
        let (spec, keys) = declare();
        let cells = CELLS
            .iter()
            .map(|&(c_in, c, reduction)| {
                let pre = vec![Preprocess::Conv(ConvBn::plain(
                    [c_in, c],
                    1,
                    1,
                    true,
                    device,
                ))];
                let edges = keys.of(reduction).to_vec();
                SearchCell::new(wiring(c, reduction), pre, edges, |stride| {
                    MixedEdge::new(&EdgeConfig::new(&PRIMITIVES, c, stride, entangle), device)
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ToyCell {
            cells,
            proj: LinearConfig::new(1152, 128).init(device),
            classifier: LinearConfig::new(128, CLASSES).init(device),
            dropout: DropoutConfig::new(config.dropout).init(),
            spec,
            keys,
        })
    }
}

fn check_input<B: Backend>(x: &Tensor<B, 4>, module: &str) -> Result<()> {
    let dims = x.dims();
    if dims[1] != 1 || dims[2] != 28 || dims[3] != 28 {
        return Err(CoreError::Shape {
            module: module.into(),
            expected: "[batch, 1, 28, 28]".into(),
            got: dims.to_vec(),
        });
    }
    Ok(())
}

fn head<B: Backend>(
    x: Tensor<B, 4>,
    proj: &Linear<B>,
    classifier: &Linear<B>,
    dropout: impl Fn(Tensor<B, 2>) -> Tensor<B, 2>,
) -> Tensor<B, 2> {
    let x = max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], false);
    let n = x.dims()[0];
    let h = relu(proj.forward(x.reshape([n as i32, -1])));
    classifier.forward(dropout(h))
}

impl<B: Backend> Supernet<B> for ToyCell<B> {
    type Input = Tensor<B, 4>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 4>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        check_input(&x, "ToyCell")?;
        let mut x = x;
        // Dropout masks from the pass's seeded stream (`Mixtures::with_seed`), if it has one.
        let p = self.dropout.prob;
        for cell in &self.cells {
            x = mix.dropout(cell.forward(vec![x], mix)?, p);
        }
        Ok(head(x, &self.proj, &self.classifier, |h| mix.dropout(h, p)))
    }
}

/// A discretized toy-cell network.
#[derive(Module, Debug)]
pub struct ToyCellNet<B: Backend> {
    /// The three cells.
    pub cells: Vec<FixedCell<B>>,
    /// Linear(1152, 128).
    pub proj: Linear<B>,
    /// Linear(128, 10).
    pub classifier: Linear<B>,
    /// Dropout.
    pub dropout: Dropout,
}

impl<B: Backend> ToyCellNet<B> {
    /// A freshly initialized network of `genotype` (retraining from scratch).
    pub fn new(genotype: &ToyGenotype, device: &B::Device) -> Result<Self> {
        let cells = CELLS
            .iter()
            .map(|&(c_in, c, reduction)| {
                let w = wiring(c, reduction);
                let ops = if reduction {
                    &genotype.reduce
                } else {
                    &genotype.normal
                };
                let edges = w
                    .edges()
                    .into_iter()
                    .zip(ops)
                    .map(|((node, from), &p)| {
                        let op = FixedOp::new(p, c, w.stride(from), false, device)?;
                        Ok((node, from, crate::cell::FixedEdge::new(op, w.stride(from))))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let pre = vec![Preprocess::Conv(ConvBn::plain(
                    [c_in, c],
                    1,
                    1,
                    true,
                    device,
                ))];
                FixedCell::new(w, pre, edges)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ToyCellNet {
            cells,
            proj: LinearConfig::new(1152, 128).init(device),
            classifier: LinearConfig::new(128, CLASSES).init(device),
            dropout: DropoutConfig::new(DROPOUT).init(),
        })
    }

    /// `[batch, 1, 28, 28]` → logits `[batch, 10]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Result<Tensor<B, 2>> {
        check_input(&x, "ToyCellNet")?;
        let mut x = x;
        for cell in &self.cells {
            x = self.dropout.forward(cell.forward(vec![x])?);
        }
        Ok(head(x, &self.proj, &self.classifier, |h| {
            self.dropout.forward(h)
        }))
    }
}

/// A toy-cell architecture in the official code's genotype form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToyGenotype {
    /// The normal cell's three edge operations, in edge order.
    pub normal: Vec<Primitive>,
    /// The reduction cells' three edge operations.
    pub reduce: Vec<Primitive>,
}

impl ToyGenotype {
    /// The genotype of an architecture of [`spec`].
    pub fn from_architecture(arch: &Architecture) -> Result<Self> {
        let (spec, keys) = declare();
        arch.validate(&spec)?;
        Ok(ToyGenotype {
            normal: chosen_ops(arch, &keys.normal)?,
            reduce: chosen_ops(arch, &keys.reduce)?,
        })
    }
}

/// `Genotype(normal=[('dil_conv_3x3', 0), …], normal_concat=range(1, 3), reduce=…)`.
impl fmt::Display for ToyGenotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = wiring(1, false);
        let gene = |ops: &[Primitive]| {
            w.edges()
                .iter()
                .zip(ops)
                .map(|((_, from), p)| format!("('{}', {from})", p.name()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "Genotype(normal=[{}], normal_concat=range(1, 3), reduce=[{}], reduce_concat=range(1, 3))",
            gene(&self.normal),
            gene(&self.reduce)
        )
    }
}

impl<B: Backend> tangle_core::Extract<B> for ToyCell<B> {
    type Subnet = ToyCellNet<B>;

    /// The discretized network at `arch`, with the inherited weights.
    fn extract(&self, arch: &Architecture) -> Result<ToyCellNet<B>> {
        arch.validate(&self.spec)?;
        Ok(ToyCellNet {
            cells: extract_cells(&self.cells, arch)?,
            proj: self.proj.clone(),
            classifier: self.classifier.clone(),
            dropout: self.dropout.clone(),
        })
    }

    /// Trainable parameters of the discretized network at `arch`, from the choices alone.
    fn params(&self, arch: &Architecture) -> Result<usize> {
        arch.validate(&self.spec)?;
        let mut total = 1152 * 128 + 128 + 128 * CLASSES + CLASSES;
        for &(c_in, c, reduction) in &CELLS {
            total += c_in * c + 2 * c; // preprocessing conv + affine BN
            total += chosen_ops(arch, self.keys.of(reduction))?
                .into_iter()
                .map(|p| match p {
                    // Depthwise k×k + pointwise, per unit; the BNs are affine-free.
                    Primitive::Sep(k) => 2 * (c * k * k + c * c),
                    Primitive::Dil(k) => c * k * k + c * c,
                    _ => unreachable!("toy cell candidates are convolutions"),
                })
                .sum::<usize>();
        }
        Ok(total)
    }
}
