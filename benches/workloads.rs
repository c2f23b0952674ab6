//! The three reference workloads (issue 7), each a superposed (DrNAS-style) training step against
//! the largest fixed architecture's step, and for W2 the weight-sharing (WS) step, side by side:
//!
//! * W1 AutoFormer-T supernet step: 32×32×3 images, patch 4 (65 tokens), batch 32, 10 classes,
//!   embed {192, 216, 240}, depth {12, 13, 14}, heads {3, 4}×64, MLP ratio {3.5, 4}; SGD step.
//! * W2 toy conv-macro supernet step: batch 64, 32×32×3, the Table 17 space.
//! * W3 nanoGPT-small supernet step: batch 12, context 224, the Table 18 space, vocabulary 65.
//!
//! A step is forward, backward (into the weights and, superposed, into α) and an SGD update.
//! Run: `cargo bench --bench workloads` (CPU) or `cargo bench --features cuda --bench workloads`;
//! `TANGLE_WORKLOAD=w1|w2|w3` runs one workload; the ratios printed at the end come from this run's
//! criterion medians. Targets: superposed / largest ≤ 1.05 (W1, W2), ≤ 1.25 (W3).

mod common;

use std::time::Duration;

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use common::median;
use criterion::{BenchmarkId, Criterion};
use tangle_core::{Mixtures, Supernet};
use tangle_optim::{ArchParams, Classification, Darts, Mixer, Objective};

/// The backend: CPU (Flex), or CUDA with `--features cuda` (scripts/gpu-check.sh).
#[cfg(not(feature = "cuda"))]
type AB = tanglenas::backend::CpuAutodiff;
#[cfg(feature = "cuda")]
type AB = tanglenas::backend::CudaAutodiff;
type Device = <AB as burn::tensor::backend::BackendTypes>::Device;

/// One training step of `net` on `(x, y)` under mixtures from `mix`.
fn bench_net<M, I: Clone, T>(
    c: &mut Criterion,
    group: &str,
    id: &str,
    net: M,
    x: I,
    y: T,
    superposed: bool,
) where
    M: Supernet<AB, Input = I> + AutodiffModule<AB> + Clone,
    Classification: Objective<AB, M::Output, T>,
{
    let device = Default::default();
    let spec = net.spec().clone();
    // Small random α per decision (tracked for gradients), softmax'd as DARTS does.
    let alphas = ArchParams::<AB>::new(&spec, 0, &device);
    let mixtures = || {
        if superposed {
            Darts::softmax().mixtures(&alphas, &spec, 0).unwrap()
        } else {
            Mixtures::fixed(&spec, &spec.largest()).unwrap()
        }
    };
    let mut opt = SgdConfig::new().init::<AB, M>();
    let mut net = net;
    // Realize lazily initialized parameters outside the measurement.
    let loss = Classification.loss(net.forward_mixed(x.clone(), &mixtures()).unwrap(), &y);
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    net = opt.step(1e-3, net, grads);
    let mut g = c.benchmark_group(group);
    g.bench_function(BenchmarkId::new(id, 1), |b| {
        b.iter(|| {
            let loss = Classification.loss(net.forward_mixed(x.clone(), &mixtures()).unwrap(), &y);
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = opt.step(1e-3, net.clone(), grads);
        })
    });
    g.finish();
}

fn labels(n: usize, classes: i64, device: &Device) -> Tensor<AB, 1, Int> {
    Tensor::from_data(
        TensorData::new((0..n as i64).map(|i| i % classes).collect(), [n]),
        device,
    )
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    let device = Device::default();
    let only = std::env::var("TANGLE_WORKLOAD").ok();
    let run = |w: &str| only.as_deref().is_none_or(|o| o == w);

    if run("w1") {
        use tangle_spaces::autoformer::{AutoFormer, AutoFormerConfig};
        let x = Tensor::<AB, 4>::random([32, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
        let y = labels(32, 10, &device);
        for (id, sup) in [("largest", false), ("superposed", true)] {
            let net = AutoFormer::<AB>::new(AutoFormerConfig::tiny(32, 4, 10), &device).unwrap();
            bench_net(
                &mut c,
                "w1_autoformer_t",
                id,
                net,
                x.clone(),
                y.clone(),
                sup,
            );
        }
    }
    if run("w2") {
        use tangle_spaces::conv_macro::{ConvMacro, ConvMacroWs};
        let x = Tensor::<AB, 4>::random([64, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
        let y = labels(64, 10, &device);
        for (id, sup) in [("largest", false), ("superposed", true)] {
            bench_net(
                &mut c,
                "w2_conv_macro",
                id,
                ConvMacro::<AB>::new(&device).unwrap(),
                x.clone(),
                y.clone(),
                sup,
            );
        }
        bench_net(
            &mut c,
            "w2_conv_macro",
            "ws",
            ConvMacroWs::<AB>::new(&device).unwrap(),
            x,
            y,
            true,
        );
    }
    if run("w3") {
        use tangle_spaces::gpt::{Gpt, GptConfig};
        let ids: Vec<i64> = (0..12 * 224).map(|i| (i * 7 % 65) as i64).collect();
        let x = Tensor::<AB, 2, Int>::from_data(TensorData::new(ids.clone(), [12, 224]), &device);
        let y = Tensor::<AB, 2, Int>::from_data(
            TensorData::new(
                ids.iter().map(|i| (i + 1) % 65).collect::<Vec<_>>(),
                [12, 224],
            ),
            &device,
        );
        for (id, sup) in [("largest", false), ("superposed", true)] {
            let net = Gpt::<AB>::new(GptConfig::table18(65, 224), &device).unwrap();
            bench_net(&mut c, "w3_nanogpt", id, net, x.clone(), y.clone(), sup);
        }
    }
    c.final_summary();
    println!("\n| workload | largest step | superposed step | superposed / largest | WS / largest | target |");
    println!("|---|---|---|---|---|---|");
    for (group, target) in [
        ("w1_autoformer_t", "≤ 1.05"),
        ("w2_conv_macro", "≤ 1.05"),
        ("w3_nanogpt", "≤ 1.25"),
    ] {
        let (Some(l), Some(s)) = (median(group, "largest", 1), median(group, "superposed", 1))
        else {
            continue;
        };
        let ws = median(group, "ws", 1).map_or("–".into(), |w| format!("{:.2}", w / l));
        println!(
            "| {group} | {:.0} ms | {:.0} ms | {:.2} | {ws} | {target} |",
            l / 1e6,
            s / 1e6,
            s / l
        );
    }
}
