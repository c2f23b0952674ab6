//! A search space of your own, built only from the public API: a 1-D convolutional sequence
//! classifier that none of the shipped spaces covers. Walkthrough: `docs/custom-space.md`.
//!
//! * `SeqNet` — the supernet, built from tangle-core's entangled `SuperConv1d` and
//!   `SuperLinear`: a global `width` decision, a `depth` decision over three residual blocks,
//!   and per block a `kernel` decision and an `expand` ratio whose hidden width
//!   `width × expand` is a combi-superposition of two decisions. It implements [`Supernet`],
//!   which is all the optimizers and searchers need, and [`Extract`], for the smallest
//!   standalone network of plain Burn modules.
//! * The run, on the library's experiment runner (`tanglenas::experiment`: the command line,
//!   output folder, metrics, checkpoints and `--resume`, data-parallel peers): DrNAS (TangleNAS)
//!   by default, or any `--optimizer` — DARTS, GDAS, or SPOS supernet training with random or
//!   evolutionary search. The result is discretized, exported with burnpack, reloaded into a
//!   fresh plain network, checked against the supernet's single path, evaluated on held-out
//!   data, and fine-tuned. Copy this file to start a binary of your own.
//!
//! The data (4 classes of noisy wave bursts whose frequency decides the class) are generated
//! from the seed, so it runs offline:
//!
//! ```text
//! cargo run --release --example custom_space                          # DrNAS, 8 epochs
//! cargo run --release --example custom_space -- --optimizer spos-es   # SPOS + evolution
//! cargo run --release --example custom_space -- --help                # options
//! ```

use std::f32::consts::PI;
use std::path::{Path, PathBuf};

use burn::module::{AutodiffModule, Module};
use burn::nn::conv::Conv1d;
use burn::nn::Linear;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::relu;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tangle_core::{
    Architecture, DecisionKey, DepthMixer, Extract, Mixtures, Result, SearchSpec, SuperConv1d,
    SuperConv1dConfig, SuperLinear, SuperLinearConfig, Supernet,
};
use tangle_data::InMemory;
use tangle_optim::{Classification, Method, Objective, SearchConfig, SearchData, WeightOptimizer};
use tangle_twostage::Metric;
use tanglenas::experiment::{
    command as experiment_command, discover, dispatch, exit_on_error, in_memory_valid_batches,
    parse, run_dir, search_epochs, start_search, write_search, ExperimentError, Job, RunArgs,
    Strategy,
};

// A binary's choice, worth making in yours: Burn's CPU backend allocates a tensor per op, and
// glibc's malloc returns every block over 128 KiB to the kernel, so each comes back page-faulted
// and zeroed. mimalloc keeps them: the main job runs 1.5× faster (docs/benchmarks.md). (Left
// out when a test includes this file: the test binary keeps its own allocator.)
#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Channel widths (one global decision).
const WIDTHS: [usize; 3] = [16, 24, 32];
/// Expansion ratios of a block's hidden layer.
const EXPAND: [usize; 2] = [1, 2];
/// Kernel sizes of a block's first convolution.
const KERNELS: [usize; 3] = [3, 5, 7];
/// Candidate depths (residual blocks).
const DEPTHS: [usize; 3] = [1, 2, 3];
/// Sequence length, classes.
const LEN: usize = 64;
const CLASSES: usize = 4;

// ---------------------------------------------------------------------------------------------
// The space.

/// The decisions of one residual block.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockKeys {
    kernel: DecisionKey<usize>,
    expand: DecisionKey<usize>,
}

/// The decisions of the space.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqKeys {
    width: DecisionKey<usize>,
    depth: DecisionKey<usize>,
    blocks: Vec<BlockKeys>,
}

/// Declares the space: `width`, `depth`, then `block{b}.kernel` and `block{b}.expand` for
/// b = 1..3. (The `block{b}` names tell the evolutionary search which genes a depth switches
/// off.)
pub fn declare() -> Result<(SearchSpec, SeqKeys)> {
    let mut space = SearchSpec::builder();
    let width = space.sizes("width", &WIDTHS, WIDTHS[2])?;
    let depth = space.depths("depth", &DEPTHS, DEPTHS[2])?;
    let blocks = (1..=DEPTHS[2])
        .map(|b| {
            Ok(BlockKeys {
                kernel: space.kernels(&format!("block{b}.kernel"), &KERNELS)?,
                expand: space.sizes(&format!("block{b}.expand"), &EXPAND, EXPAND[1])?,
            })
        })
        .collect::<Result<_>>()?;
    let keys = SeqKeys {
        width,
        depth,
        blocks,
    };
    Ok((space.build(), keys))
}

/// A residual block: `x + conv_b(relu(conv_a(x)))`, `conv_a` width → width·expand with the
/// searched kernel, `conv_b` back with a 1-tap kernel.
#[derive(Module, Debug)]
struct Block<B: Backend> {
    conv_a: SuperConv1d<B>,
    conv_b: SuperConv1d<B>,
}

/// The supernet.
#[derive(Module, Debug)]
struct SeqNet<B: Backend> {
    stem: SuperConv1d<B>,
    blocks: Vec<Block<B>>,
    head: SuperLinear<B>,
    #[module(skip)]
    spec: SearchSpec,
    #[module(skip)]
    keys: SeqKeys,
    #[module(skip)]
    depth: DepthMixer,
}

impl<B: Backend> SeqNet<B> {
    fn new(device: &B::Device) -> Result<Self> {
        let (spec, keys) = declare()?;
        let widths = keys.width.candidates();
        let blocks = keys
            .blocks
            .iter()
            .map(|b| {
                // Combi-superposition: the hidden width depends on two decisions, [width, expand].
                let expands = b.expand.candidates();
                let hidden = |c: &[usize]| widths[c[0]] * expands[c[1]];
                let sizes = vec![widths.len(), expands.len()];
                Ok(Block {
                    conv_a: SuperConv1dConfig::combi(
                        sizes.clone(),
                        |c| (widths[c[0]], hidden(c)),
                        b.kernel.candidates(),
                    )?
                    .init(device)?,
                    conv_b: SuperConv1dConfig::combi(sizes, |c| (hidden(c), widths[c[0]]), &[1])?
                        .init(device)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(SeqNet {
            stem: SuperConv1dConfig::combi(vec![widths.len()], |c| (1, widths[c[0]]), &[5])?
                .init(device)?,
            blocks,
            head: SuperLinearConfig::input(widths, CLASSES)?.init(device)?,
            depth: DepthMixer::new(keys.depth.candidates())?,
            spec,
            keys,
        })
    }
}

impl<B: Backend> Supernet<B> for SeqNet<B> {
    type Input = Tensor<B, 3>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 3>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        let width = mix.of(&self.keys.width)?;
        let h = relu(self.stem.forward(x, &[width], None)?);
        let h = self.depth.forward(h, mix.of(&self.keys.depth)?, |i, h| {
            let block = &self.blocks[i];
            let kernel = mix.of(&self.keys.blocks[i].kernel)?;
            let expand = mix.of(&self.keys.blocks[i].expand)?;
            let y = relu(
                block
                    .conv_a
                    .forward(h.clone(), &[width, expand], Some(kernel))?,
            );
            let y = block.conv_b.forward(y, &[width, expand], None)?;
            Ok(relu(h + y))
        })?;
        let [n, c, len] = h.dims();
        let pooled = h.sum_dim(2).reshape([n, c]) / len as f64;
        self.head.forward(pooled, &[width])
    }
}

/// The discretized network: plain Burn modules only.
#[derive(Module, Debug)]
struct SeqSubnet<B: Backend> {
    stem: Conv1d<B>,
    blocks: Vec<(Conv1d<B>, Conv1d<B>)>,
    head: Linear<B>,
}

impl<B: Backend> SeqSubnet<B> {
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 2> {
        let mut h = relu(self.stem.forward(x));
        for (a, b) in &self.blocks {
            let y = b.forward(relu(a.forward(h.clone())));
            h = relu(h + y);
        }
        let [n, c, len] = h.dims();
        self.head.forward(h.sum_dim(2).reshape([n, c]) / len as f64)
    }
}

impl<B: Backend> Extract<B> for SeqNet<B> {
    type Subnet = SeqSubnet<B>;

    fn extract(&self, arch: &Architecture) -> Result<SeqSubnet<B>> {
        arch.validate(&self.spec)?;
        let w = arch.index(&self.keys.width)?;
        let active = &self.keys.blocks[..arch.value(&self.keys.depth)?];
        let blocks = active
            .iter()
            .zip(&self.blocks)
            .map(|(b, block)| {
                let (k, e) = (arch.index(&b.kernel)?, arch.index(&b.expand)?);
                Ok((
                    block.conv_a.extract(&[w, e], k)?,
                    block.conv_b.extract(&[w, e], 0)?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(SeqSubnet {
            stem: self.stem.extract(&[w], 0)?,
            blocks,
            head: self.head.extract(&[w])?,
        })
    }

    // `params` keeps its default: the extracted network's parameters, counted. A space whose
    // search calls it for many architectures (a parameter penalty) overrides it with a formula.
}

// ---------------------------------------------------------------------------------------------
// Data and the run.

/// `n` sequences `[n, 1, LEN]`: a burst of 16 samples of a sine whose frequency is set by the
/// class, at a random place and phase, in unit Gaussian noise.
fn dataset<B: Backend>(
    n: usize,
    rng: &mut StdRng,
    device: &B::Device,
) -> (Tensor<B, 3>, Tensor<B, 1, Int>) {
    let freqs = [0.04f32, 0.1, 0.2, 0.33];
    // Gaussian noise, σ = 0.8, by Box–Muller.
    let noise = |rng: &mut StdRng| {
        let (u, v): (f32, f32) = (rng.random_range(1e-7..1.0), rng.random());
        0.8 * (-2.0 * u.ln()).sqrt() * (2.0 * PI * v).cos()
    };
    let mut xs = Vec::with_capacity(n * LEN);
    let mut ys = Vec::with_capacity(n);
    for _ in 0..n {
        let class = rng.random_range(0..CLASSES);
        let (start, phase) = (
            rng.random_range(0..LEN - 16),
            rng.random_range(0.0..2.0 * PI),
        );
        for t in 0..LEN {
            let burst = if (start..start + 16).contains(&t) {
                (2.0 * PI * freqs[class] * t as f32 + phase).sin() * 1.5
            } else {
                0.0
            };
            xs.push(burst + noise(rng));
        }
        ys.push(class as i64);
    }
    (
        Tensor::from_data(TensorData::new(xs, [n, 1, LEN]), device),
        Tensor::from_data(TensorData::new(ys, [n]), device),
    )
}

/// The command line: the options every search takes ([`RunArgs`]: `--optimizer`, `--epochs`,
/// `--seed`, `--out`, `--resume`, `--devices`, …, with `--help`), and this example's own.
#[derive(Debug, clap::Parser)]
pub struct Cli {
    #[command(flatten)]
    pub run: RunArgs,
    /// Generated sequences the search sees, split between the weights and α by --train-portion.
    #[arg(long, default_value_t = 4096)]
    pub samples: usize,
    /// Generated held-out test sequences.
    #[arg(long, default_value_t = 1024)]
    pub test: usize,
    /// Epochs of fine-tuning the exported network (Adam, lr 1e-3) on the weights' split.
    #[arg(long, default_value_t = 4)]
    pub finetune: usize,
}

/// What a run found: the architecture, and the exported network's test accuracy with the
/// inherited weights and after fine-tuning.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The discovered architecture.
    pub architecture: Architecture,
    /// Test accuracy of the reloaded network with the supernet's weights.
    pub inherited: f32,
    /// Test accuracy after `--finetune` epochs.
    pub tuned: f32,
    /// The run's output directory.
    pub out: PathBuf,
}

impl Cli {
    /// The run: search with `method` (the runner's `start_search` / `search_epochs`: metrics,
    /// checkpoints, `--resume`, peers), find the architecture (`discover`: argmax, or SPOS's
    /// random or evolutionary second stage), then export, reload, evaluate and fine-tune it.
    pub fn search<B: AutodiffBackend>(
        &self,
        method: Method,
        strategy: Strategy,
        device: B::Device,
    ) -> std::result::Result<Outcome, ExperimentError> {
        let a = &self.run;
        a.generates_data("--samples")?;
        let mut rng = StdRng::seed_from_u64(a.seed);
        let (x, y) = dataset::<B>(self.samples, &mut rng, &device);
        let test = dataset::<B::InnerBackend>(self.test, &mut rng, &device);
        let (x_inner, y_inner) = (x.clone().inner(), y.clone().inner());
        let data = InMemory::new(x, y, a.train_portion, 64, a.seed)?;
        let config = SearchConfig {
            epochs: a.epochs,
            weight_optimizer: WeightOptimizer::Adam { weight_decay: 0.0 },
            lr: 3e-3,
            lr_min: 3e-4,
            arch_lr: a.arch_lr,
            warmup_epochs: 1,
            ..SearchConfig::default()
        };
        let out = run_dir(a)?;
        let net = SeqNet::<B>::new(&device)?;
        println!(
            "{} over {} architectures, {} epochs; output in {}",
            a.optimizer,
            net.spec().size(),
            a.epochs,
            out.display()
        );
        let search = start_search(a, net, method, config, &out, &device)?;
        let search = search_epochs(a, search, &data, &out, &device)?;
        let model = search.model.valid();
        // SPOS's second stage scores its candidates on batches of the α split.
        let batches = || in_memory_valid_batches(x_inner, y_inner, a, 64);
        let arch = discover(
            a,
            &search,
            &model,
            strategy,
            batches,
            Metric::Accuracy,
            &out,
        )?;
        write_search(&out, &search, &arch, 4)?;
        println!("\ndiscovered architecture: {}", arch.to_json());
        let subnet = out.join("subnet.bpk");
        let (inherited, tuned) =
            export_and_evaluate(&search.model, &arch, &subnet, &data, self.finetune, &test)?;
        Ok(Outcome {
            architecture: arch,
            inherited,
            tuned,
            out,
        })
    }
}

/// Top-1 accuracy of the plain network on `(x, y)`.
fn accuracy<B: Backend>(net: &SeqSubnet<B>, x: &Tensor<B, 3>, y: &Tensor<B, 1, Int>) -> f32 {
    Classification
        .accuracy(&net.forward(x.clone()), y)
        .unwrap_or(0.0)
}

/// Discretizes `arch` from `supernet`, saves the subnet to `path`, reloads it into a fresh
/// network, checks that the reload computes what the supernet's single path does, and returns
/// the test accuracy with the inherited weights and after fine-tuning for `epochs`.
fn export_and_evaluate<B: AutodiffBackend>(
    supernet: &SeqNet<B>,
    arch: &Architecture,
    path: &Path,
    data: &InMemory<B, 3>,
    epochs: usize,
    test: &(Tensor<B::InnerBackend, 3>, Tensor<B::InnerBackend, 1, Int>),
) -> std::result::Result<(f32, f32), ExperimentError> {
    let device = supernet.head.weight.device();
    tangle_core::subnet::save(&supernet.extract(arch)?, path)?;
    // A fresh network of the same shape to load into: the extraction of a new supernet.
    let fresh = SeqNet::<B>::new(&device).and_then(|net| net.extract(arch))?;
    let reloaded = tangle_core::subnet::load(fresh, path)?;
    let (inner, reloaded_inner) = (supernet.valid(), reloaded.valid());
    let single = inner.forward_mixed(test.0.clone(), &Mixtures::fixed(&inner.spec, arch)?)?;
    let diff: f32 = (reloaded_inner.forward(test.0.clone()) - single)
        .abs()
        .max()
        .into_scalar()
        .elem();
    if diff > 1e-4 {
        return Err(ExperimentError::run(format!(
            "reloaded subnet differs from the supernet's path by {diff}"
        )));
    }
    println!(
        "{} parameters, saved to {}, reloaded (max difference to the supernet's path {diff:.1e})",
        supernet.params(arch)?,
        path.display()
    );
    let inherited = accuracy(&reloaded_inner, &test.0, &test.1);
    // Fine-tune the plain network on the weights' split. Every hyperparameter explicit:
    // Burn's default ε is 1e-5, PyTorch's 1e-8.
    let mut net = reloaded;
    let mut opt = AdamConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(1e-8)
        .init::<B, SeqSubnet<B>>();
    for epoch in 0..epochs {
        for step in 0..data.steps_per_epoch() {
            let (x, y) = data.train(epoch, step);
            let loss = Classification.loss(net.forward(x), &y);
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = opt.step(1e-3, net, grads);
        }
    }
    Ok((inherited, accuracy(&net.valid(), &test.0, &test.1)))
}

impl Job for Cli {
    fn run<B: AutodiffBackend>(
        self,
        method: Method,
        strategy: Strategy,
        device: B::Device,
    ) -> std::result::Result<(), ExperimentError> {
        let o = self.search::<B>(method, strategy, device)?;
        println!(
            "test accuracy {:.3} with inherited weights, {:.3} after fine-tuning; outputs in {}",
            o.inherited,
            o.tuned,
            o.out.display()
        );
        Ok(())
    }
}

/// The command line with this example's defaults: 8 epochs (α's Adam keeps the runner's lr,
/// 3e-3).
pub fn command() -> clap::Command {
    experiment_command::<Cli>(
        "custom_space",
        "A search space of your own: a 1-D convolutional sequence classifier searched by DrNAS \
         (or --optimizer), exported, reloaded and fine-tuned, on generated data.",
        &[("epochs", "8".into()), ("out", "runs/custom_space".into())],
    )
}

#[allow(dead_code)] // (tests/custom_space.rs includes this file without `main`)
fn main() {
    let cli: Cli = parse(command());
    let run = cli.run.clone();
    exit_on_error(dispatch(&run, cli, 100));
}
