//! Cells of the cell-based spaces: mixed edges (weight-entangled or weight-sharing), the search
//! cell that wires them, and the discretized cell.
//!
//! A cell has `inputs` input states and `steps` intermediate nodes; node `i` sums one edge from
//! every earlier state (inputs first). Edge `e` of node `i` from state `j` is numbered in that
//! order (DARTS: 14 edges, NB201: 6, toy cell: 3). The cell output concatenates the last
//! `concat` nodes (NB201: the last node alone).

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::module::max_pool2d;
use burn::tensor::Tensor;
use tangle_core::{
    Architecture, CoreError, DecisionKey, Mixture, Mixtures, Result, SearchSpec, SpecBuilder,
};

use crate::ops::{batch_norm, ConvBn, FactorizedReduce, FixedOp, Primitive, SimpleOp, SuperConvOp};

/// How the candidates of one edge are built.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeConfig {
    /// The candidates, in decision order.
    pub primitives: Vec<Primitive>,
    /// Channels of the edge (in = out).
    pub channels: usize,
    /// Stride (2 on the input edges of a reduction cell).
    pub stride: usize,
    /// Weight entanglement: candidates of one family share the largest kernel (WE). Without it
    /// every candidate has its own weights and the outputs are mixed (WS).
    pub entangle: bool,
    /// Batch norm (affine-free) after pooling candidates, as in DARTS's search cell.
    pub pool_bn: bool,
    /// Learnable affine parameters in the candidates' batch norms.
    pub affine: bool,
    /// Partial channel connections (PC-DARTS): the candidates see `channels / partial` channels,
    /// the rest bypass the edge; 1 = all channels.
    pub partial: usize,
}

impl EdgeConfig {
    /// All channels, affine-free batch norms, no batch norm after pooling.
    pub fn new(primitives: &[Primitive], channels: usize, stride: usize, entangle: bool) -> Self {
        EdgeConfig {
            primitives: primitives.to_vec(),
            channels,
            stride,
            entangle,
            pool_bn: false,
            affine: false,
            partial: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Role {
    Simple(usize),
    Reduce,
    Conv { group: usize, pos: usize },
}

#[derive(Debug, Clone, PartialEq)]
struct Layout {
    roles: Vec<Role>,
    groups: Vec<Vec<usize>>,
    primitives: Vec<Primitive>,
    stride: usize,
    partial: usize,
}

/// One edge of a search cell: every candidate operation, mixed under the edge's decision.
///
/// With weights, parameter-free candidates (and single-member groups) mix their outputs,
/// `w_i · op_i(x)`, while each entangled group runs once on its superposed kernel,
/// `op_g(x; Σ_{i∈g} w_i · pad(W_i))` — the official code's mixed operation. A single choice runs
/// only that candidate on its sliced weights.
#[derive(Module, Debug)]
pub struct MixedEdge<B: Backend> {
    /// One entangled convolution per group (WE: per family; WS: per candidate).
    pub convs: Vec<SuperConvOp<B>>,
    /// The parameter-free candidates.
    pub simples: Vec<SimpleOp<B>>,
    /// `skip_connect` at stride 2.
    pub reduce: Option<FactorizedReduce<B>>,
    #[module(skip)]
    layout: Layout,
}

impl<B: Backend> MixedEdge<B> {
    /// All candidates of `cfg`.
    pub fn new(cfg: &EdgeConfig, device: &B::Device) -> Result<Self> {
        if cfg.partial == 0 || cfg.channels % cfg.partial != 0 {
            return Err(CoreError::Config(format!(
                "partial channel factor {} must divide the {} channels",
                cfg.partial, cfg.channels
            )));
        }
        let c = cfg.channels / cfg.partial;
        let (mut convs, mut simples, mut reduce) = (Vec::new(), Vec::new(), None);
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut families = Vec::new();
        let mut roles = Vec::with_capacity(cfg.primitives.len());
        for (i, p) in cfg.primitives.iter().enumerate() {
            if cfg.primitives[..i].contains(p) {
                return Err(CoreError::Config(format!(
                    "duplicate candidate {}",
                    p.name()
                )));
            }
            let role = match p.conv() {
                Some((family, _)) => {
                    let g = match families.iter().position(|f| cfg.entangle && *f == family) {
                        Some(g) => g,
                        None => {
                            families.push(family);
                            groups.push(Vec::new());
                            groups.len() - 1
                        }
                    };
                    groups[g].push(i);
                    Role::Conv {
                        group: g,
                        pos: groups[g].len() - 1,
                    }
                }
                None if *p == Primitive::Skip && cfg.stride > 1 => {
                    reduce = Some(FactorizedReduce::new([c, c], cfg.affine, device)?);
                    Role::Reduce
                }
                None => {
                    let pool = matches!(p, Primitive::MaxPool | Primitive::AvgPool);
                    let bn = (pool && cfg.pool_bn).then(|| batch_norm(c, false, device));
                    simples.push(SimpleOp::new(*p, cfg.stride, bn)?);
                    Role::Simple(simples.len() - 1)
                }
            };
            roles.push(role);
        }
        for (g, members) in groups.iter_mut().enumerate() {
            // Kernel sizes of a group must increase in candidate order (nesting).
            let kernels: Vec<usize> = members
                .iter()
                .map(|&i| cfg.primitives[i].conv().expect("conv").1)
                .collect();
            convs.push(SuperConvOp::new(
                families[g],
                [c, c],
                &kernels,
                cfg.stride,
                cfg.affine,
                device,
            )?);
        }
        Ok(MixedEdge {
            convs,
            simples,
            reduce,
            layout: Layout {
                roles,
                groups,
                primitives: cfg.primitives.clone(),
                stride: cfg.stride,
                partial: cfg.partial,
            },
        })
    }

    /// The candidates.
    pub fn primitives(&self) -> &[Primitive] {
        &self.layout.primitives
    }

    fn run_one(&self, i: usize, x: Tensor<B, 4>) -> Result<Option<Tensor<B, 4>>> {
        Ok(match self.layout.roles[i] {
            Role::Simple(s) => self.simples[s].forward(x),
            Role::Reduce => Some(self.reduce.as_ref().expect("built").forward(x)),
            Role::Conv { group, pos } => Some(self.convs[group].forward(x, &Mixture::single(pos))?),
        })
    }

    fn mix(&self, x: Tensor<B, 4>, mix: &Mixture<B>) -> Result<Option<Tensor<B, 4>>> {
        if let Mixture::Single { index, .. } = mix {
            return Ok(self.run_one(*index, x)?.map(|y| mix.weigh(*index, y)));
        }
        let mut terms = Vec::new();
        for (i, role) in self.layout.roles.iter().enumerate() {
            if !matches!(role, Role::Conv { .. }) {
                if let Some(y) = self.run_one(i, x.clone())? {
                    terms.push(mix.weigh(i, y));
                }
            }
        }
        for (g, members) in self.layout.groups.iter().enumerate() {
            if members.len() == 1 {
                let y = self.convs[g].forward(x.clone(), &Mixture::single(0))?;
                terms.push(mix.weigh(members[0], y));
            } else {
                // The group's share of the decision scales its output, not its kernels: the
                // chain ends in a batch norm, which would divide a kernel scale back out.
                let (shape, mass) = mix
                    .restrict(members)
                    .expect("weights restrict to any group")
                    .split_mass();
                let y = self.convs[g].forward(x.clone(), &shape)?;
                terms.push(Mixture::carry_mass(y, mass));
            }
        }
        Ok(terms.into_iter().reduce(|a, b| a + b))
    }

    /// The edge's output under `mix`; `None` when only the zero operation runs.
    pub fn forward(&self, x: Tensor<B, 4>, mix: &Mixture<B>) -> Result<Option<Tensor<B, 4>>> {
        mix.check(self.layout.primitives.len(), "cell edge")?;
        partial(x, self.layout.partial, self.layout.stride, |x| {
            self.mix(x, mix)
        })
    }

    /// The discretized edge at candidate `index`, with the inherited weights.
    pub fn extract(&self, index: usize) -> Result<FixedEdge<B>> {
        let op = match self.layout.roles.get(index) {
            None => {
                return Err(CoreError::BadMixture {
                    decision: "cell edge".into(),
                    reason: format!(
                        "candidate {index} out of range for {} candidates",
                        self.layout.roles.len()
                    ),
                })
            }
            Some(Role::Simple(s)) => FixedOp::Simple(self.simples[*s].clone()),
            Some(Role::Reduce) => FixedOp::Reduce(self.reduce.clone().expect("built")),
            Some(Role::Conv { group, pos }) => FixedOp::Conv(self.convs[*group].extract(*pos)?),
        };
        Ok(FixedEdge {
            op,
            stride: self.layout.stride,
            partial: self.layout.partial,
        })
    }
}

/// Runs `f` on the first `channels / k` channels, passes the rest by (max-pooled at stride 2)
/// and shuffles the channels (PC-DARTS). `k = 1` is `f(x)`.
fn partial<B: Backend>(
    x: Tensor<B, 4>,
    k: usize,
    stride: usize,
    f: impl FnOnce(Tensor<B, 4>) -> Result<Option<Tensor<B, 4>>>,
) -> Result<Option<Tensor<B, 4>>> {
    if k == 1 {
        return f(x);
    }
    let [b, c, h, w] = x.dims();
    let cp = c / k;
    let rest = x.clone().slice([0..b, cp..c, 0..h, 0..w]);
    let device = x.device();
    let y = f(x.slice([0..b, 0..cp, 0..h, 0..w]))?;
    let y = y
        .unwrap_or_else(|| Tensor::zeros([b, cp, h.div_ceil(stride), w.div_ceil(stride)], &device));
    let rest = if stride > 1 {
        max_pool2d(rest, [2, 2], [2, 2], [0, 0], [1, 1], false)
    } else {
        rest
    };
    let [_, _, ho, wo] = y.dims();
    let out = Tensor::cat(vec![y, rest], 1);
    // Channel shuffle with k groups.
    Ok(Some(
        out.reshape([b, k, c / k, ho, wo])
            .swap_dims(1, 2)
            .reshape([b, c, ho, wo]),
    ))
}

/// A discretized edge: one operation (and the partial-channel wiring of its supernet).
#[derive(Module, Debug)]
pub struct FixedEdge<B: Backend> {
    /// The operation.
    pub op: FixedOp<B>,
    #[module(skip)]
    stride: usize,
    #[module(skip)]
    partial: usize,
}

impl<B: Backend> FixedEdge<B> {
    /// A fresh edge running `op` on all channels.
    pub fn new(op: FixedOp<B>, stride: usize) -> Self {
        FixedEdge {
            op,
            stride,
            partial: 1,
        }
    }

    /// The output; `None` for the zero operation on all channels.
    pub fn forward(&self, x: Tensor<B, 4>) -> Option<Tensor<B, 4>> {
        partial(x, self.partial, self.stride, |x| Ok(self.op.forward(x))).expect("infallible")
    }
}

/// A cell input's preprocessing.
#[derive(Module, Debug)]
pub enum Preprocess<B: Backend> {
    /// ReLU-Conv(1×1)-BN.
    Conv(ConvBn<B>),
    /// A factorized reduction (after a reduction cell, DARTS's `preprocess0`).
    Reduce(FactorizedReduce<B>),
}

impl<B: Backend> Preprocess<B> {
    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            Preprocess::Conv(op) => op.forward(x),
            Preprocess::Reduce(op) => op.forward(x),
        }
    }
}

/// The wiring of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wiring {
    /// Input states (DARTS 2, NB201 and toy cell 1).
    pub inputs: usize,
    /// Intermediate nodes.
    pub steps: usize,
    /// How many of the last nodes the output concatenates.
    pub concat: usize,
    /// Channels of every node.
    pub channels: usize,
    /// Whether the edges from the inputs have stride 2.
    pub reduction: bool,
}

impl Wiring {
    /// Edges of the full cell, `(node, from)` in edge order.
    pub fn edges(&self) -> Vec<(usize, usize)> {
        (0..self.steps)
            .flat_map(|i| (0..self.inputs + i).map(move |j| (i, j)))
            .collect()
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.concat * self.channels
    }

    /// Stride of an edge from state `from`.
    pub fn stride(&self, from: usize) -> usize {
        if self.reduction && from < self.inputs {
            2
        } else {
            1
        }
    }

    fn check_inputs<B: Backend>(&self, states: &[Tensor<B, 4>], what: &str) -> Result<()> {
        if states.len() != self.inputs {
            return Err(CoreError::Config(format!(
                "{what}: {} input states for a cell with {}",
                states.len(),
                self.inputs
            )));
        }
        Ok(())
    }

    /// Runs the nodes: `edge(e, x)` is edge `e`'s output on `x` (`None` = zero).
    fn run<B: Backend>(
        &self,
        states: Vec<Tensor<B, 4>>,
        wires: &[(usize, usize)],
        mut edge: impl FnMut(usize, Tensor<B, 4>) -> Result<Option<Tensor<B, 4>>>,
    ) -> Result<Tensor<B, 4>> {
        let [b, _, h, w] = states[0].dims();
        let s = if self.reduction { 2 } else { 1 };
        let device = states[0].device();
        let mut states = states;
        for i in 0..self.steps {
            let mut node: Option<Tensor<B, 4>> = None;
            for (e, &(to, from)) in wires.iter().enumerate() {
                if to == i {
                    if let Some(y) = edge(e, states[from].clone())? {
                        node = Some(match node {
                            Some(n) => n + y,
                            None => y,
                        });
                    }
                }
            }
            states.push(node.unwrap_or_else(|| {
                Tensor::zeros([b, self.channels, h.div_ceil(s), w.div_ceil(s)], &device)
            }));
        }
        let n = states.len();
        Ok(Tensor::cat(states[n - self.concat..].to_vec(), 1))
    }
}

/// A search cell: preprocessing, one [`MixedEdge`] per edge.
#[derive(Module, Debug)]
pub struct SearchCell<B: Backend> {
    /// Preprocessing of each input (empty: inputs used as they are).
    pub pre: Vec<Preprocess<B>>,
    /// The edges, in edge order.
    pub edges: Vec<MixedEdge<B>>,
    #[module(skip)]
    wiring: Wiring,
    #[module(skip)]
    keys: Vec<DecisionKey<String>>,
}

impl<B: Backend> SearchCell<B> {
    /// A cell with `pre` preprocessing and edges built by `edge(stride)`; edge `e` reads the
    /// decision `keys[e]`, whose candidates must name the edge's operations in order.
    pub fn new(
        wiring: Wiring,
        pre: Vec<Preprocess<B>>,
        keys: Vec<DecisionKey<String>>,
        mut edge: impl FnMut(usize) -> Result<MixedEdge<B>>,
    ) -> Result<Self> {
        let wires = wiring.edges();
        if keys.len() != wires.len() {
            return Err(CoreError::Config(format!(
                "{} edge decisions for a cell of {} edges",
                keys.len(),
                wires.len()
            )));
        }
        let edges = wires
            .into_iter()
            .map(|(_, from)| edge(wiring.stride(from)))
            .collect::<Result<Vec<_>>>()?;
        for (e, key) in edges.iter().zip(&keys) {
            let ops: Vec<String> = e.primitives().iter().map(Primitive::name).collect();
            if ops != key.candidates() {
                return Err(CoreError::Config(format!(
                    "decision `{}` lists {:?}, but its edge runs {ops:?}",
                    key.name(),
                    key.candidates()
                )));
            }
        }
        Ok(SearchCell {
            pre,
            edges,
            wiring,
            keys,
        })
    }

    /// The decisions of the edges, in edge order.
    pub fn keys(&self) -> &[DecisionKey<String>] {
        &self.keys
    }

    /// The wiring.
    pub fn wiring(&self) -> &Wiring {
        &self.wiring
    }

    /// Forward pass, each edge under its decision's mixture.
    pub fn forward(&self, states: Vec<Tensor<B, 4>>, mix: &Mixtures<B>) -> Result<Tensor<B, 4>> {
        self.wiring.check_inputs(&states, "SearchCell")?;
        let mix = self
            .keys
            .iter()
            .map(|k| mix.of(k))
            .collect::<Result<Vec<_>>>()?;
        let states = preprocess(&self.pre, states);
        let wires = self.wiring.edges();
        self.wiring
            .run(states, &wires, |e, x| self.edges[e].forward(x, mix[e]))
    }

    /// The discretized cell at `arch` (all edges kept).
    pub fn extract(&self, arch: &Architecture) -> Result<FixedCell<B>> {
        let edges = self
            .edges
            .iter()
            .zip(&self.keys)
            .map(|(e, k)| e.extract(arch.index(k)?))
            .collect::<Result<Vec<_>>>()?;
        Ok(FixedCell {
            pre: self.pre.clone(),
            edges,
            wires: self.wiring.edges(),
            wiring: self.wiring,
        })
    }
}

/// Discretizes every cell at `arch`.
pub fn extract_cells<B: Backend>(
    cells: &[SearchCell<B>],
    arch: &Architecture,
) -> Result<Vec<FixedCell<B>>> {
    cells.iter().map(|c| c.extract(arch)).collect()
}

fn preprocess<B: Backend>(pre: &[Preprocess<B>], states: Vec<Tensor<B, 4>>) -> Vec<Tensor<B, 4>> {
    if pre.is_empty() {
        return states;
    }
    states
        .into_iter()
        .zip(pre)
        .map(|(x, p)| p.forward(x))
        .collect()
}

/// A discretized cell: preprocessing and the kept edges `(node, from)`.
#[derive(Module, Debug)]
pub struct FixedCell<B: Backend> {
    /// Preprocessing of each input.
    pub pre: Vec<Preprocess<B>>,
    /// The edges, matching `wires`.
    pub edges: Vec<FixedEdge<B>>,
    #[module(skip)]
    wires: Vec<(usize, usize)>,
    #[module(skip)]
    wiring: Wiring,
}

impl<B: Backend> FixedCell<B> {
    /// The same cell with every batch norm of its edges and preprocessing affine (γ, β
    /// learnable, values kept): the evaluation form of a cell searched with affine-free ones.
    pub fn with_affine_batch_norms(mut self) -> Self {
        self.edges = self
            .edges
            .into_iter()
            .map(|mut e| {
                e.op = e.op.with_affine_batch_norms();
                e
            })
            .collect();
        self.pre = self
            .pre
            .into_iter()
            .map(|p| match p {
                Preprocess::Conv(mut c) => {
                    c.bn = crate::ops::affine(c.bn);
                    Preprocess::Conv(c)
                }
                Preprocess::Reduce(mut r) => {
                    r.bn = crate::ops::affine(r.bn);
                    Preprocess::Reduce(r)
                }
            })
            .collect();
        self
    }

    /// A cell from explicit edges `(node, from, edge)`.
    pub fn new(
        wiring: Wiring,
        pre: Vec<Preprocess<B>>,
        edges: Vec<(usize, usize, FixedEdge<B>)>,
    ) -> Result<Self> {
        let mut wires = Vec::with_capacity(edges.len());
        let mut ops = Vec::with_capacity(edges.len());
        for (node, from, edge) in edges {
            if node >= wiring.steps || from >= wiring.inputs + node {
                return Err(CoreError::Config(format!(
                    "edge {from} → node {node} does not fit a cell with {} inputs and {} nodes",
                    wiring.inputs, wiring.steps
                )));
            }
            wires.push((node, from));
            ops.push(edge);
        }
        Ok(FixedCell {
            pre,
            edges: ops,
            wires,
            wiring,
        })
    }

    /// The wiring.
    pub fn wiring(&self) -> &Wiring {
        &self.wiring
    }

    /// Forward pass; `drop` may replace each edge's output (drop-path during training).
    pub fn forward_with(
        &self,
        states: Vec<Tensor<B, 4>>,
        mut drop: impl FnMut(Tensor<B, 4>, &FixedOp<B>) -> Tensor<B, 4>,
    ) -> Result<Tensor<B, 4>> {
        self.wiring.check_inputs(&states, "FixedCell")?;
        let states = preprocess(&self.pre, states);
        self.wiring.run(states, &self.wires, |e, x| {
            let edge = &self.edges[e];
            Ok(edge.forward(x).map(|y| drop(y, &edge.op)))
        })
    }

    /// Forward pass.
    pub fn forward(&self, states: Vec<Tensor<B, 4>>) -> Result<Tensor<B, 4>> {
        self.forward_with(states, |y, _| y)
    }
}

/// Declares one operation decision per edge, `{prefix}.e{e}`, over `primitives`.
pub fn edge_keys(
    space: &mut SpecBuilder,
    prefix: &str,
    edges: usize,
    primitives: &[Primitive],
) -> Result<Vec<DecisionKey<String>>> {
    let names: Vec<String> = primitives.iter().map(Primitive::name).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    (0..edges)
        .map(|e| space.ops(&format!("{prefix}.e{e}"), &names))
        .collect()
}

/// The decisions of a space with a normal and a reduction cell type (DARTS, the toy cell):
/// one operation decision per edge of each.
#[derive(Debug, Clone, PartialEq)]
pub struct CellKeys {
    /// `normal.e{e}`.
    pub normal: Vec<DecisionKey<String>>,
    /// `reduce.e{e}`.
    pub reduce: Vec<DecisionKey<String>>,
}

impl CellKeys {
    /// Declares `normal.e0 …` then `reduce.e0 …`, `edges` of each, over `primitives`.
    pub fn declare(edges: usize, primitives: &[Primitive]) -> Result<(SearchSpec, CellKeys)> {
        let mut space = SearchSpec::builder();
        let normal = edge_keys(&mut space, "normal", edges, primitives)?;
        let reduce = edge_keys(&mut space, "reduce", edges, primitives)?;
        Ok((space.build(), CellKeys { normal, reduce }))
    }

    /// The edge decisions of a reduction cell or of a normal one.
    pub fn of(&self, reduction: bool) -> &[DecisionKey<String>] {
        if reduction {
            &self.reduce
        } else {
            &self.normal
        }
    }
}

/// The operation `arch` chooses on each edge of `keys`.
pub fn chosen_ops(arch: &Architecture, keys: &[DecisionKey<String>]) -> Result<Vec<Primitive>> {
    keys.iter()
        .map(|k| Primitive::parse(&arch.value(k)?))
        .collect()
}
