//! The three reference workloads (issue 7), each a superposed (DrNAS-style) training step against
//! the largest fixed architecture's step, and for W2 the weight-sharing (WS) step, side by side:
//!
//! * W1 AutoFormer-T supernet step: 32×32×3 images, patch 4 (65 tokens), batch 32, 10 classes,
//!   embed {192, 216, 240}, depth {12, 13, 14}, heads {3, 4}×64, MLP ratio {3.5, 4}; SGD step.
//! * W2 toy conv-macro supernet step: batch 64, 32×32×3, the Table 17 space.
//! * W3 nanoGPT-small supernet step: batch 12, context 224, the Table 18 space, vocabulary 65.
//! * W4 the main job's bi-level DrNAS step at its default sizes (AutoFormer-T, depth {2, 3, 4},
//!   patch 8 on 32×32×3, batch 32): the engine's own step, an α pass then a weight pass (AdamW,
//!   clipping), on one peer (`bilevel_1peer`) and on one data-parallel peer per core
//!   (`bilevel_peers`).
//!
//! A step is forward, backward (into the weights and, superposed, into α) and an SGD update.
//! Run: `cargo bench --bench workloads` (CPU) or `cargo bench --features cuda --bench workloads`;
//! `TANGLE_WORKLOAD=w1|w2|w3` runs one workload; the ratios printed at the end come from this run's
//! criterion medians. `TANGLE_INTERLEAVE=N` replaces criterion by N rounds of one step of each
//! variant in turn (after a warm-up round) and prints their medians: every variant then runs
//! under the same machine state. Targets: superposed / largest ≤ 1.05 (W1, W2), ≤ 1.25 (W3).
//! `benches/torch/compare.sh` runs this bench and our PyTorch rendering of W1–W4
//! (`benches/torch/workloads.py`) in turns and prints the Rust / PyTorch ratios.

mod common;

/// mimalloc, as every example and `benches/peers.rs`: what a user's search runs on (Burn's CPU
/// backend allocates a tensor per op; glibc's malloc returns large ones to the system and
/// page-faults them back, mimalloc keeps them; docs/benchmarks.md). Before 2026-12-03 this
/// bench ran on glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::{Distribution, Int, Tensor};
use common::median;
use criterion::{BenchmarkId, Criterion};
use tangle_core::{Mixtures, Supernet};
use tangle_optim::{
    ArchParams, Classification, Darts, Method, Mixer, Objective, Peers, Search, SearchConfig,
};

/// The backend: CPU (Flex), or CUDA with `--features cuda` (scripts/gpu-check.sh).
#[cfg(not(feature = "cuda"))]
type AB = tanglenas::backend::CpuAutodiff;
#[cfg(feature = "cuda")]
type AB = tanglenas::backend::CudaAutodiff;
type Device = <AB as burn::tensor::backend::BackendTypes>::Device;

/// One training step of `net` on `(x, y)` (superposed: softmax mixtures on every decision;
/// otherwise the largest architecture's single path), as a closure that runs one step per call.
/// The first step, which realizes lazily initialized parameters, runs here.
fn stepper<M, I: Clone, T>(net: M, x: I, y: T, superposed: bool) -> impl FnMut()
where
    M: Supernet<AB, Input = I> + AutodiffModule<AB> + Clone,
    Classification: Objective<AB, M::Output, T>,
{
    let device = Default::default();
    let spec = net.spec().clone();
    // Small random α per decision (tracked for gradients), softmax'd as DARTS does.
    let alphas = ArchParams::<AB>::new(&spec, 0, &device);
    let mixtures = move || {
        if superposed {
            Darts::softmax().mixtures(&alphas, &spec, 0).unwrap()
        } else {
            Mixtures::fixed(&spec, &spec.largest()).unwrap()
        }
    };
    let mut opt = SgdConfig::new().init::<AB, M>();
    let mut net = Some(net);
    let mut step = move || {
        let n = net.take().expect("the net is put back after every step");
        let loss = Classification.loss(n.forward_mixed(x.clone(), &mixtures()).unwrap(), &y);
        let grads = GradientsParams::from_grads(loss.backward(), &n);
        net = Some(opt.step(1e-3, n, grads));
    };
    step();
    step
}

/// A workload's steps under comparison, by id (`largest`, `superposed`, `ws`).
type Steps = Vec<(&'static str, Box<dyn FnMut()>)>;

/// Median step time (ms) by id.
type Medians = Vec<(&'static str, f64)>;

/// Criterion medians of each step of `group`.
fn bench_steps(c: &mut Criterion, group: &str, steps: Steps) {
    let mut g = c.benchmark_group(group);
    for (id, mut step) in steps {
        g.bench_function(BenchmarkId::new(id, 1), |b| b.iter(&mut step));
    }
    g.finish();
}

/// Interleaved mode: `rounds` rounds of one step of each, in turn, after one warm-up round; the
/// medians per id in ms. Alternating puts every variant under the same machine state (criterion
/// runs one variant's samples back to back, and its medians drift upwards over a long run here).
fn interleave(rounds: usize, mut steps: Steps) -> Medians {
    let mut times = vec![Vec::with_capacity(rounds); steps.len()];
    for round in 0..=rounds {
        for ((_, step), t) in steps.iter_mut().zip(&mut times) {
            let start = Instant::now();
            step();
            if round > 0 {
                t.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    steps
        .iter()
        .zip(times)
        .map(|((id, _), mut t)| {
            println!("{id}: steps {t:.0?} ms");
            t.sort_by(f64::total_cmp);
            (*id, t[t.len() / 2])
        })
        .collect()
}

/// W4: the engine's bi-level DrNAS step on the main job's supernet (`examples/autoformer_t`'s
/// defaults: AdamW 5e-4, weight decay 0.05, clipping 5, α Adam 3e-3), on `peers` peers; one
/// call runs one step (a one-step epoch).
fn bilevel_stepper(peers: usize, device: &Device) -> impl FnMut() {
    use tangle_spaces::autoformer::AutoFormerConfig;
    let config = AutoFormerConfig {
        depths: vec![2, 3, 4],
        ..AutoFormerConfig::tiny(32, 8, 10)
    };
    let net = config.init::<AB>(device).unwrap();
    let batch = || {
        (
            Tensor::<AB, 4>::random([32, 3, 32, 32], Distribution::Normal(0.0, 1.0), device),
            labels(32, 10, device),
        )
    };
    let data = common::FixedBatches {
        train: batch(),
        valid: batch(),
        steps: 1,
    };
    let config = SearchConfig {
        arch_lr: 3e-3,
        ..SearchConfig::autoformer(1_000_000)
    };
    let mut search = Search::with_method(net, Method::Drnas, config, 0, device).unwrap();
    if peers > 1 {
        search = search.with_peers(Peers::threads(*device, peers).unwrap());
    }
    let mut epoch = 0;
    let mut step = move || {
        epoch += 1;
        search.run_until(&data, &Classification, epoch).unwrap();
    };
    step();
    step
}

fn labels(n: usize, classes: i64, device: &Device) -> Tensor<AB, 1, Int> {
    common::labels::<AB>(n, classes, device)
}

fn main() {
    let device = Device::default();
    let only = std::env::var("TANGLE_WORKLOAD").ok();
    let run = |w: &str| only.as_deref().is_none_or(|o| o == w);
    let rounds: Option<usize> =
        std::env::var("TANGLE_INTERLEAVE")
            .ok()
            .map(|r| match r.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    eprintln!("TANGLE_INTERLEAVE={r}: expected a number of rounds ≥ 1");
                    std::process::exit(2);
                }
            });

    let mut workloads: Vec<(&str, &str, Steps)> = Vec::new();
    if run("w1") {
        use tangle_spaces::autoformer::AutoFormerConfig;
        let x = Tensor::<AB, 4>::random([32, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
        let y = labels(32, 10, &device);
        let net = || {
            AutoFormerConfig::tiny(32, 4, 10)
                .init::<AB>(&device)
                .unwrap()
        };
        let steps: Steps = vec![
            (
                "largest",
                Box::new(stepper(net(), x.clone(), y.clone(), false)),
            ),
            ("superposed", Box::new(stepper(net(), x, y, true))),
        ];
        workloads.push(("w1_autoformer_t", "≤ 1.05", steps));
    }
    if run("w2") {
        use tangle_spaces::conv_macro::ConvMacroConfig;
        let x = Tensor::<AB, 4>::random([64, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
        let y = labels(64, 10, &device);
        let net = || ConvMacroConfig::new().init::<AB>(&device).unwrap();
        let ws = ConvMacroConfig::new().init_ws::<AB>(&device).unwrap();
        let steps: Steps = vec![
            (
                "largest",
                Box::new(stepper(net(), x.clone(), y.clone(), false)),
            ),
            (
                "superposed",
                Box::new(stepper(net(), x.clone(), y.clone(), true)),
            ),
            ("ws", Box::new(stepper(ws, x, y, true))),
        ];
        workloads.push(("w2_conv_macro", "≤ 1.05", steps));
    }
    if run("w3") {
        use tangle_spaces::gpt::GptConfig;
        let (x, y) = common::text_batch::<AB>(12, 224, &device);
        let net = || GptConfig::table18(65, 224).init::<AB>(&device).unwrap();
        let steps: Steps = vec![
            (
                "largest",
                Box::new(stepper(net(), x.clone(), y.clone(), false)),
            ),
            ("superposed", Box::new(stepper(net(), x, y, true))),
        ];
        workloads.push(("w3_nanogpt", "≤ 1.25", steps));
    }

    if run("w4") {
        #[allow(unused_mut)]
        let mut steps: Steps = vec![("bilevel_1peer", Box::new(bilevel_stepper(1, &device)))];
        // One peer per core is the CPU's data parallelism; on a GPU it would be that many
        // replicas on one device.
        #[cfg(not(feature = "cuda"))]
        steps.push((
            "bilevel_peers",
            Box::new(bilevel_stepper(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
                &device,
            )),
        ));
        workloads.push(("w4_main_job_bilevel", "≤ 1.0× PyTorch", steps));
    }

    // Medians (ms) per workload and id.
    let mut medians: Vec<(&str, &str, Medians)> = Vec::new();
    match rounds {
        Some(rounds) => {
            for (group, target, steps) in workloads {
                let m = interleave(rounds, steps);
                // One JSON line per variant, for benches/torch/compare.sh.
                for (id, v) in &m {
                    println!(
                        "{{\"impl\": \"rust\", \"workload\": \"{}\", \"variant\": \"{id}\", \"median_ms\": {v:.1}}}",
                        &group[..2]
                    );
                }
                medians.push((group, target, m));
            }
        }
        None => {
            let mut c = Criterion::default()
                .configure_from_args()
                .sample_size(10)
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(5));
            for (group, target, steps) in workloads {
                let ids: Vec<&str> = steps.iter().map(|(id, _)| *id).collect();
                bench_steps(&mut c, group, steps);
                let m = ids
                    .into_iter()
                    .filter_map(|id| Some((id, median(group, id, 1)? / 1e6)))
                    .collect();
                medians.push((group, target, m));
            }
            c.final_summary();
        }
    }
    for (group, _, m) in &medians {
        for (id, v) in m.iter().filter(|(id, _)| id.starts_with("bilevel")) {
            println!("{group} {id}: median {v:.0} ms a step");
        }
    }
    println!("\n| workload | largest step | superposed step | superposed / largest | WS / largest | target |");
    println!("|---|---|---|---|---|---|");
    for (group, target, m) in medians {
        let get = |id: &str| m.iter().find(|(i, _)| *i == id).map(|(_, v)| *v);
        let (Some(l), Some(s)) = (get("largest"), get("superposed")) else {
            continue;
        };
        let ws = get("ws").map_or("–".into(), |w| format!("{:.2}", w / l));
        println!(
            "| {group} | {l:.0} ms | {s:.0} ms | {:.2} | {ws} | {target} |",
            s / l
        );
    }
}
