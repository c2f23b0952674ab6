//! A real differentiable architecture search on a small conv-macro supernet, offline, on
//! synthetic data, in a few minutes on 2 CPU cores.
//!
//! The supernet has six decisions — three conv widths and three kernel sizes (324 architectures)
//! — realized by weight superposition: every conv runs once on `W ⊙ mask`. The search runs in
//! `tangle-optim`'s bi-level engine (an α step on a validation batch, then a weight step on a
//! training batch) with DrNAS by default (TangleNAS), or DARTS v1/v2, GDAS or SPOS with random
//! or evolutionary search. The data are 4-class oriented gratings in heavy noise, generated from
//! the seed and split by `--train-portion`. The discovered architecture runs as a single path
//! with the inherited weights. The command line, output folder, checkpoints (`--resume`) and
//! files are the library's experiment runner (`tanglenas::experiment`); this file holds the
//! space and the data.
//!
//! ```text
//! cargo run --release --example conv_macro_synthetic                 # DrNAS, 6 epochs, seed 0
//! cargo run --release --example conv_macro_synthetic -- --help        # options
//! ```

/// mimalloc instead of the system allocator: Burn's CPU backend allocates a tensor per op, and
/// glibc's malloc hands every block over 128 KiB back to the kernel (docs/benchmarks.md).
/// Left out when a test includes this file (the test binary keeps its own allocator).
#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::f32::consts::PI;

use burn::module::{AutodiffModule, Module};
use burn::tensor::activation::relu;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::module::{adaptive_avg_pool2d, max_pool2d};
use burn::tensor::{Int, Tensor, TensorData};
use rand::{rngs::StdRng, Rng, SeedableRng};
use tangle_core::{
    DecisionKey, Mixtures, Result, SearchSpec, SuperBatchNorm2d, SuperBatchNorm2dConfig,
    SuperConv2d, SuperConv2dConfig, SuperLinear, SuperLinearConfig, Supernet,
};
use tangle_data::InMemory;
use tangle_optim::{Classification, Method, Objective, SearchConfig, WeightOptimizer};
use tanglenas::experiment::{
    command as experiment_command, discover, dispatch, exit_on_error, in_memory_valid_batches,
    parse, run_dir, search_epochs, start_search, write_search, ExperimentError, Job, RunArgs,
    Strategy,
};

const CLASSES: usize = 4;
const SIDE: usize = 16;

/// The conv-macro supernet: conv-BN-ReLU ×2, max-pool, conv-BN-ReLU, global pool, linear.
#[derive(Module, Debug)]
struct MacroNet<B: Backend> {
    conv1: SuperConv2d<B>,
    bn1: SuperBatchNorm2d<B>,
    conv2: SuperConv2d<B>,
    bn2: SuperBatchNorm2d<B>,
    conv3: SuperConv2d<B>,
    bn3: SuperBatchNorm2d<B>,
    head: SuperLinear<B>,
    #[module(skip)]
    spec: SearchSpec,
    #[module(skip)]
    keys: Keys,
}

/// The six decisions, each declared once: a conv's width and its kernel size.
#[derive(Debug, Clone)]
struct Keys {
    channels: [DecisionKey<usize>; 3],
    kernels: [DecisionKey<usize>; 3],
}

/// Declares the space: `conv{i}.channels` and `conv{i}.kernel` for i = 1..3.
fn declare() -> Result<(SearchSpec, Keys)> {
    let mut space = SearchSpec::builder();
    let mut conv = |i: usize, widths: &[usize], kernels: &[usize]| -> Result<_> {
        let channels = space.sizes(
            &format!("conv{i}.channels"),
            widths,
            widths[widths.len() - 1],
        )?;
        Ok((
            channels,
            space.kernels(&format!("conv{i}.kernel"), kernels)?,
        ))
    };
    let (c1, k1) = conv(1, &[8, 16, 32], &[3, 5, 7])?;
    let (c2, k2) = conv(2, &[16, 32, 48], &[3, 5, 7])?;
    let (c3, k3) = conv(3, &[32, 64], &[3, 5])?;
    let keys = Keys {
        channels: [c1, c2, c3],
        kernels: [k1, k2, k3],
    };
    Ok((space.build(), keys))
}

impl<B: Backend> MacroNet<B> {
    fn new(device: &B::Device) -> Result<Self> {
        let (spec, keys) = declare()?;
        let [c1, c2, c3] = keys.channels.each_ref().map(|k| k.candidates());
        let [k1, k2, k3] = keys.kernels.each_ref().map(|k| k.candidates());
        Ok(MacroNet {
            // conv1's input is fixed (3 channels): one decision, its output width.
            conv1: SuperConv2dConfig::combi(vec![c1.len()], |c| (3, c1[c[0]]), k1)?.init(device)?,
            bn1: SuperBatchNorm2dConfig::new(c1.to_vec()).init(device)?,
            // conv2 reads conv1's width decision and its own: combi over both.
            conv2: SuperConv2dConfig::new(c1, c2, k2)?.init(device)?,
            bn2: SuperBatchNorm2dConfig::new(c2.to_vec()).init(device)?,
            conv3: SuperConv2dConfig::new(c2, c3, k3)?.init(device)?,
            bn3: SuperBatchNorm2dConfig::new(c3.to_vec()).init(device)?,
            head: SuperLinearConfig::input(c3, CLASSES)?.init(device)?,
            spec,
            keys,
        })
    }
}

impl<B: Backend> Supernet<B> for MacroNet<B> {
    type Input = Tensor<B, 4>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 4>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        let layer = |i: usize| -> Result<_> {
            Ok((
                mix.of(&self.keys.channels[i])?,
                mix.of(&self.keys.kernels[i])?,
            ))
        };
        let ((c1, k1), (c2, k2), (c3, k3)) = (layer(0)?, layer(1)?, layer(2)?);
        let x = self.conv1.forward(x, &[c1], Some(k1))?;
        let x = relu(self.bn1.forward(x, c1)?);
        let x = self.conv2.forward(x, &[c1, c2], Some(k2))?;
        let x = relu(self.bn2.forward(x, c2)?);
        let x = max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], false);
        let x = self.conv3.forward(x, &[c2, c3], Some(k3))?;
        let x = relu(self.bn3.forward(x, c3)?);
        let [n, c, _, _] = x.dims();
        let x = adaptive_avg_pool2d(x, [1, 1]).reshape([n, c]);
        self.head.forward(x, &[c3])
    }
}

/// Oriented gratings (0°, 45°, 90°, 135°) with random frequency, phase and colour, in noise.
fn synthetic(n: usize, rng: &mut StdRng) -> (Vec<f32>, Vec<i64>) {
    let mut xs = Vec::with_capacity(n * 3 * SIDE * SIDE);
    let mut ys = Vec::with_capacity(n);
    for _ in 0..n {
        let class = rng.random_range(0..CLASSES);
        let theta = class as f32 * PI / 4.0 + rng.random_range(-0.3..0.3);
        let freq = rng.random_range(0.5..1.1);
        let phase = rng.random_range(0.0..2.0 * PI);
        let colour: [f32; 3] = [
            rng.random_range(0.3..1.0),
            rng.random_range(0.3..1.0),
            rng.random_range(0.3..1.0),
        ];
        for ch in colour {
            for y in 0..SIDE {
                for x in 0..SIDE {
                    let u = x as f32 * theta.cos() + y as f32 * theta.sin();
                    let noise: f32 = rng.random_range(-1.0..1.0) + rng.random_range(-1.0..1.0);
                    xs.push(ch * (freq * u + phase).sin() + 1.4 * noise);
                }
            }
        }
        ys.push(class as i64);
    }
    (xs, ys)
}

fn dataset<B: Backend>(
    n: usize,
    rng: &mut StdRng,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let (xs, ys) = synthetic(n, rng);
    (
        Tensor::from_data(TensorData::new(xs, [n, 3, SIDE, SIDE]), device),
        Tensor::from_data(TensorData::new(ys, [n]), device),
    )
}

/// Accuracy of `net` under `mix` on `(x, y)`, in batches.
fn evaluate<B: Backend>(
    net: &MacroNet<B>,
    mix: &Mixtures<B>,
    x: &Tensor<B, 4>,
    y: &Tensor<B, 1, Int>,
) -> Result<f32> {
    let n = y.dims()[0];
    let mut correct = 0.0;
    for start in (0..n).step_by(256) {
        let end = (start + 256).min(n);
        let xb = x.clone().slice([start..end, 0..3, 0..SIDE, 0..SIDE]);
        let yb = y.clone().slice([start..end]);
        let out = net.forward_mixed(xb, mix)?;
        correct += Classification.accuracy(&out, &yb).unwrap_or(0.0) * (end - start) as f32;
    }
    Ok(correct / n as f32)
}

/// The command line: the options every search takes, and the generated data's size.
#[derive(Debug, clap::Parser)]
pub struct Cli {
    #[command(flatten)]
    run: RunArgs,
    /// Generated training samples (half for the weights, half for α by default).
    #[arg(long, default_value_t = 2048)]
    samples: usize,
}

impl Job for Cli {
    fn run<B: AutodiffBackend>(
        self,
        method: Method,
        strategy: Strategy,
        device: B::Device,
    ) -> std::result::Result<(), ExperimentError> {
        let a = &self.run;
        a.generates_data("--samples")?;
        let mut rng = StdRng::seed_from_u64(a.seed);
        let (x, y) = dataset::<B>(self.samples, &mut rng, &device);
        // The α split on the inference backend, for a two-stage search's candidates.
        let (x_inner, y_inner) = (x.clone().inner(), y.clone().inner());
        let data = InMemory::new(x, y, a.train_portion, 64, a.seed)?;
        let (xt, yt) = dataset::<B::InnerBackend>(1024, &mut rng, &device);
        let net = MacroNet::<B>::new(&device)?;
        let config = SearchConfig {
            epochs: a.epochs,
            weight_optimizer: WeightOptimizer::Sgd {
                momentum: 0.9,
                nesterov: false,
                weight_decay: 3e-4,
            },
            lr: 0.05,
            lr_min: 1e-3,
            arch_lr: a.arch_lr,
            ..SearchConfig::default()
        };
        let out = run_dir(a)?;
        let spec = net.spec().clone();
        let search = start_search(a, net, method, config, &out, &device)?;
        println!(
            "searching {} architectures ({} decisions) with {}, {} epochs, {} steps per epoch",
            spec.size(),
            spec.decisions().len(),
            a.optimizer,
            a.epochs,
            tangle_optim::SearchData::steps_per_epoch(&data)
        );
        let search = search_epochs(a, search, &data, &out, &device)?;
        println!("\nfinal mixture probabilities:");
        for (d, p) in spec.decisions().iter().zip(search.probabilities()) {
            let cells: Vec<String> = d
                .candidates()
                .iter()
                .zip(&p)
                .map(|(c, v)| format!("{c}: {v:.3}"))
                .collect();
            println!("  {:<16} {}", d.name(), cells.join("  "));
        }
        // Discretize (argmax per decision, or SPOS's second stage on 4 batches of the α split)
        // and run the single path with the inherited weights.
        let model = search.model.valid();
        let batches = || in_memory_valid_batches(x_inner, y_inner, a, 64);
        let metric = tangle_twostage::Metric::Accuracy;
        let arch = discover(a, &search, &model, strategy, batches, metric, &out)?;
        let fixed = Mixtures::fixed(&spec, &arch)?;
        let test_acc = evaluate(&model, &fixed, &xt, &yt)?;
        println!("\ndiscovered architecture: {}", arch.to_json());
        println!("inherited-weight test accuracy of the discovered single path: {test_acc:.3}");
        write_search(&out, &search, &arch, 6)?;
        println!("outputs in {}", out.display());
        Ok(())
    }
}

/// The command line with this example's defaults: 6 epochs, one peer (the supernet has batch
/// norms, whose statistics differ on half batches).
pub fn command() -> clap::Command {
    experiment_command::<Cli>(
        "conv_macro_synthetic",
        "A differentiable architecture search on a small conv-macro supernet, on synthetic \
         gratings.",
        &[
            ("epochs", "6".into()),
            ("devices", "1".into()),
            ("out", "runs/conv_macro_synthetic".into()),
        ],
    )
}

fn main() {
    let cli: Cli = parse(command());
    let run = cli.run.clone();
    exit_on_error(dispatch(&run, cli, 100));
}
