//! A real differentiable architecture search on a small conv-macro supernet, offline, on
//! synthetic data, in a few minutes on 2 CPU cores.
//!
//! The supernet has six decisions — three conv widths and three kernel sizes (324 architectures)
//! — realized by weight superposition: every conv runs once on `W ⊙ mask`. The search is DARTS
//! first-order (softmax over α) in the bi-level loop: an α step on a validation batch, then a
//! weight step on a training batch. The data are 4-class oriented gratings in heavy noise,
//! generated from the seed. The discovered architecture (argmax per decision) is extracted as a
//! standalone single path and evaluated; everything is written to `--out`.
//!
//! ```text
//! cargo run --release --example conv_macro_synthetic -- [--epochs 6] [--seed 0] [--out runs/conv_macro]
//! ```
//!
//! This example carries its own small bi-level loop; the full search engine (DrNAS, GDAS,
//! DARTS v2, schedules, checkpoints) lives in `tangle-optim`.

use std::f32::consts::PI;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::{AutodiffModule, Module, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, Optimizer, SgdConfig};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::module::{adaptive_avg_pool2d, max_pool2d};
use burn::tensor::{Distribution, ElementConversion, Int, Tensor, TensorData};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::json;
use tangle_core::{
    Decision, Mixture, Mixtures, Result, SearchSpec, SuperBatchNorm2d, SuperConv2d,
    SuperConv2dConfig, SuperLinear, SuperLinearConfig, Supernet,
};
use tanglenas::backend::CpuAutodiff;

const C1: [usize; 3] = [8, 16, 32];
const C2: [usize; 3] = [16, 32, 48];
const C3: [usize; 2] = [32, 64];
const K12: [usize; 3] = [3, 5, 7];
const K3: [usize; 2] = [3, 5];
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
}

fn spec() -> SearchSpec {
    SearchSpec::new(vec![
        Decision::sizes("conv1.channels", &C1, 32).unwrap(),
        Decision::kernels("conv1.kernel", &K12).unwrap(),
        Decision::sizes("conv2.channels", &C2, 48).unwrap(),
        Decision::kernels("conv2.kernel", &K12).unwrap(),
        Decision::sizes("conv3.channels", &C3, 64).unwrap(),
        Decision::kernels("conv3.kernel", &K3).unwrap(),
    ])
    .unwrap()
}

impl<B: Backend> MacroNet<B> {
    fn new(device: &B::Device) -> Result<Self> {
        Ok(MacroNet {
            // conv1's input is fixed (3 channels): one decision, its output width.
            conv1: SuperConv2dConfig::combi(vec![3], |c| (3, C1[c[0]]), &K12)?.init(device),
            bn1: SuperBatchNorm2d::new(&C1, device)?,
            // conv2 reads conv1's width decision and its own: combi over both.
            conv2: SuperConv2dConfig::new(&C1, &C2, &K12)?.init(device),
            bn2: SuperBatchNorm2d::new(&C2, device)?,
            conv3: SuperConv2dConfig::new(&C2, &C3, &K3)?.init(device),
            bn3: SuperBatchNorm2d::new(&C3, device)?,
            head: SuperLinearConfig::input(&C3, CLASSES)?.init(device),
            spec: spec(),
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
        let m = mix.as_slice();
        let (c1, k1, c2, k2, c3, k3) = (&m[0], &m[1], &m[2], &m[3], &m[4], &m[5]);
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

/// Architecture parameters: one α vector per decision, kept apart from the network weights.
#[derive(Module, Debug)]
struct Alphas<B: Backend> {
    alpha: Vec<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Alphas<B> {
    fn new(spec: &SearchSpec, device: &B::Device) -> Self {
        let alpha = spec
            .decisions()
            .iter()
            .map(|d| {
                Param::from_tensor(Tensor::random(
                    [d.len()],
                    Distribution::Normal(0.0, 1e-3),
                    device,
                ))
            })
            .collect();
        Alphas { alpha }
    }

    /// DARTS: softmax(α) per decision, superposed.
    fn mixtures(&self, spec: &SearchSpec) -> Result<Mixtures<B>> {
        Mixtures::new(
            spec,
            self.alpha
                .iter()
                .map(|a| Mixture::weights(softmax(a.val(), 0)))
                .collect(),
        )
    }

    fn probs(&self) -> Vec<Vec<f32>> {
        self.alpha
            .iter()
            .map(|a| {
                softmax(a.val(), 0)
                    .into_data()
                    .convert::<f32>()
                    .to_vec::<f32>()
                    .unwrap()
            })
            .collect()
    }

    fn argmax(&self) -> Vec<usize> {
        self.probs()
            .iter()
            .map(|p| {
                p.iter()
                    .enumerate()
                    .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
                    .0
            })
            .collect()
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

struct Split<B: Backend> {
    x: Tensor<B, 4>,
    y: Tensor<B, 1, Int>,
    n: usize,
}

impl<B: Backend> Split<B> {
    fn new(n: usize, rng: &mut StdRng, device: &B::Device) -> Self {
        let (xs, ys) = synthetic(n, rng);
        Split {
            x: Tensor::from_data(TensorData::new(xs, [n, 3, SIDE, SIDE]), device),
            y: Tensor::from_data(TensorData::new(ys, [n]), device),
            n,
        }
    }

    fn batch(&self, i: usize, size: usize) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
        let start = (i * size) % self.n;
        let end = (start + size).min(self.n);
        (
            self.x.clone().slice([start..end, 0..3, 0..SIDE, 0..SIDE]),
            self.y.clone().slice([start..end]),
        )
    }
}

fn accuracy<B: Backend>(logits: Tensor<B, 2>, y: Tensor<B, 1, Int>) -> f32 {
    let n = y.dims()[0];
    let pred = logits.argmax(1).reshape([n]);
    pred.equal(y).int().sum().into_scalar().elem::<i64>() as f32 / n as f32
}

fn evaluate<B: Backend>(net: &MacroNet<B>, mix: &Mixtures<B>, data: &Split<B>) -> Result<f32> {
    let mut correct = 0.0;
    let bs = 256;
    for i in 0..data.n.div_ceil(bs) {
        let (x, y) = data.batch(i, bs);
        let n = y.dims()[0];
        correct += accuracy(net.forward_mixed(x, mix)?, y) * n as f32;
    }
    Ok(correct / data.n as f32)
}

struct Args {
    epochs: usize,
    seed: u64,
    out: PathBuf,
    arch_lr: f64,
    samples: usize,
}

fn args() -> Args {
    let mut a = Args {
        epochs: 6,
        seed: 0,
        out: PathBuf::from("runs/conv_macro"),
        arch_lr: 3e-3,
        samples: 2048,
    };
    fn num<T: std::str::FromStr>(flag: &str, value: &str) -> T {
        value.parse().unwrap_or_else(|_| {
            eprintln!("{flag} takes a number, got `{value}`");
            std::process::exit(2)
        })
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--epochs" => a.epochs = num("--epochs", &value),
            "--seed" => a.seed = num("--seed", &value),
            "--out" => a.out = PathBuf::from(value),
            "--arch-lr" => a.arch_lr = num("--arch-lr", &value),
            "--samples" => a.samples = num("--samples", &value),
            "-h" | "--help" => {
                println!("conv_macro_synthetic [--epochs N] [--seed S] [--out DIR] [--arch-lr LR] [--samples N]");
                std::process::exit(0);
            }
            other => {
                eprintln!("unknown argument {other}; try --help");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    a
}

fn run<B: AutodiffBackend>(a: &Args) -> Result<()> {
    let device = B::Device::default();
    B::seed(&device, a.seed);
    let mut rng = StdRng::seed_from_u64(a.seed);
    // Paper setting: half of the training data for weights, half for architecture.
    let train = Split::<B>::new(a.samples / 2, &mut rng, &device);
    let valid = Split::<B>::new(a.samples / 2, &mut rng, &device);
    let test = Split::<B::InnerBackend>::new(1024, &mut rng, &device);

    let mut net = MacroNet::<B>::new(&device)?;
    let spec = net.spec().clone();
    let mut alphas = Alphas::<B>::new(&spec, &device);
    let mut w_opt = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(0.9)))
        .with_weight_decay(Some(WeightDecayConfig::new(3e-4)))
        .init::<B, MacroNet<B>>();
    let mut a_opt = AdamConfig::new()
        .with_beta_1(0.5)
        .with_beta_2(0.999)
        .with_weight_decay(Some(WeightDecayConfig::new(1e-3)))
        .init::<B, Alphas<B>>();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);

    fs::create_dir_all(&a.out).map_err(|e| tangle_core::CoreError::Store {
        path: a.out.display().to_string(),
        reason: e.to_string(),
    })?;
    let metrics_path = a.out.join("metrics.jsonl");
    let mut metrics = fs::File::create(&metrics_path).expect("create metrics file");
    println!(
        "searching {} architectures ({} decisions), {} epochs, {} train / {} valid samples",
        spec.size(),
        spec.decisions().len(),
        a.epochs,
        train.n,
        valid.n
    );
    let bs = 64;
    let steps = train.n / bs;
    let (lr_max, lr_min) = (0.05, 1e-3);
    let start = Instant::now();
    for epoch in 0..a.epochs {
        let lr = lr_min
            + 0.5 * (lr_max - lr_min) * (1.0 + (PI as f64 * epoch as f64 / a.epochs as f64).cos());
        let (mut loss_sum, mut acc_sum) = (0.0, 0.0);
        for step in 0..steps {
            // Architecture step on a validation batch (first-order DARTS).
            let (xv, yv) = valid.batch(epoch * steps + step, bs);
            let logits = net.forward_mixed(xv, &alphas.mixtures(&spec)?)?;
            let loss = loss_fn.forward(logits, yv);
            let grads = GradientsParams::from_grads(loss.backward(), &alphas);
            alphas = a_opt.step(a.arch_lr, alphas, grads);
            // Weight step on a training batch.
            let (xt, yt) = train.batch(epoch * steps + step, bs);
            let logits = net.forward_mixed(xt, &alphas.mixtures(&spec)?)?;
            let loss = loss_fn.forward(logits.clone(), yt.clone());
            let value = loss.clone().into_scalar().elem::<f32>();
            if !value.is_finite() {
                return Err(tangle_core::CoreError::Config(format!(
                    "loss became {value} at epoch {epoch}"
                )));
            }
            loss_sum += value;
            acc_sum += accuracy(logits, yt);
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = w_opt.step(lr, net, grads);
        }
        let inner = net.valid();
        let mix_inner = alphas.valid().mixtures(&spec)?;
        let val_acc = evaluate(
            &inner,
            &mix_inner,
            &Split {
                x: valid.x.clone().inner(),
                y: valid.y.clone().inner(),
                n: valid.n,
            },
        )?;
        let arch = spec.architecture(&alphas.argmax())?;
        let probs = alphas.probs();
        println!(
            "epoch {epoch:>2}  loss {:.3}  train acc {:.3}  supernet val acc {val_acc:.3}  argmax {arch}  [{:.0}s]",
            loss_sum / steps as f32,
            acc_sum / steps as f32,
            start.elapsed().as_secs_f32()
        );
        let record = json!({
            "epoch": epoch,
            "train_loss": loss_sum / steps as f32,
            "train_acc": acc_sum / steps as f32,
            "valid_acc_supernet": val_acc,
            "lr": lr,
            "probs": spec.decisions().iter().zip(&probs).map(|(d, p)| (d.name().to_string(), p.clone())).collect::<std::collections::BTreeMap<_, _>>(),
            "architecture": serde_json::to_value(&arch).unwrap(),
            "seconds": start.elapsed().as_secs_f64(),
        });
        writeln!(metrics, "{record}").expect("write metrics");
    }
    // Discretize: argmax per decision, run the single path with inherited weights.
    let best = alphas.argmax();
    let arch = spec.architecture(&best)?;
    let inner = net.valid();
    let fixed = Mixtures::fixed(&spec, &arch)?;
    let test_acc = evaluate(&inner, &fixed, &test)?;
    println!("\nfinal mixture probabilities (softmax of α):");
    for (d, p) in spec.decisions().iter().zip(alphas.probs()) {
        let cells: Vec<String> = d
            .candidates()
            .iter()
            .zip(&p)
            .map(|(c, v)| format!("{c}: {v:.3}"))
            .collect();
        println!("  {:<16} {}", d.name(), cells.join("  "));
    }
    println!("\ndiscovered architecture: {}", arch.to_json());
    println!("inherited-weight test accuracy of the discovered single path: {test_acc:.3}");
    fs::write(a.out.join("architecture.json"), arch.to_json()).expect("write architecture");
    let path = a.out.join(format!("supernet-{}.bpk", std::process::id()));
    tangle_core::subnet::save(&inner, &path)?;
    println!(
        "wrote {}, {} and {}",
        metrics_path.display(),
        a.out.join("architecture.json").display(),
        path.display()
    );
    Ok(())
}

fn main() {
    let a = args();
    if let Err(e) = run::<CpuAutodiff>(&a) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
