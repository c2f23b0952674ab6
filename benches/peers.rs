//! Data-parallel scaling: search steps per second of the three reference workloads (W1
//! AutoFormer-T, W2 toy conv-macro, W3 nanoGPT-small; as in `benches/workloads.rs`) on 1, 2 and
//! 4 peers (`Search::with_peers`), side by side.
//!
//! A step is a full DrNAS search step: the α step on a validation batch, then the weight step on
//! a training batch, each with its all-reduce across the peers. Every variant runs `STEPS` steps
//! per round, in turn, for `TANGLE_PEER_ROUNDS` rounds (default 3) after a warm-up round, so
//! every variant sees the same machine state; medians and the spread are printed. On a 2-core
//! machine 4 peers oversubscribe the cores: the row shows what that costs.
//!
//! Run: `cargo bench --bench peers` (`TANGLE_WORKLOAD=w1|w2|w3` for one workload,
//! `TANGLE_PEERS=1,2,4` for other peer counts).

mod common;

use common::FixedBatches;

use std::time::Instant;

use burn::tensor::{Distribution, Tensor};
use tangle_core::Supernet;
use tangle_optim::{
    Classification, Method, MethodMixer, Objective, Peers, Search, SearchConfig, Shard,
    WeightOptimizer,
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type AB = tanglenas::backend::CpuAutodiff;
type Device = <AB as burn::tensor::backend::BackendTypes>::Device;

/// Steps per round and variant.
const STEPS: usize = 2;

/// A workload's searches by peer count, each a round of steps per call.
type Variants = Vec<(usize, Box<dyn FnMut()>)>;

/// Per peer count in `counts`, a search of a fresh `net()` on the batch `(x, y)`.
fn variants<M, I, T>(counts: &[usize], net: impl Fn() -> M, x: I, y: T) -> Variants
where
    M: Supernet<AB, Input = I> + burn::module::AutodiffModule<AB> + Send + 'static,
    I: Clone + Shard<AB> + Sync + Send + 'static,
    T: Clone + Shard<AB> + Sync + Send + 'static,
    Classification: Objective<AB, M::Output, T>,
{
    counts
        .iter()
        .map(|&n| {
            let data = FixedBatches {
                train: (x.clone(), y.clone()),
                valid: (x.clone(), y.clone()),
                steps: STEPS,
            };
            (n, round(net(), data, n))
        })
        .collect()
}

/// A round of `STEPS` search steps (one epoch) of a search on `peers` peers.
fn round<M, I, T>(net: M, data: FixedBatches<I, T>, peers: usize) -> Box<dyn FnMut()>
where
    M: Supernet<AB, Input = I> + burn::module::AutodiffModule<AB> + Send + 'static,
    I: Clone + Shard<AB> + Sync + Send + 'static,
    T: Clone + Shard<AB> + Sync + Send + 'static,
    Classification: Objective<AB, M::Output, T>,
{
    let device = Device::default();
    let config = SearchConfig {
        epochs: 1_000,
        warmup_epochs: 0,
        weight_optimizer: WeightOptimizer::Sgd {
            momentum: 0.9,
            nesterov: false,
            weight_decay: 3e-4,
        },
        ..SearchConfig::default()
    };
    let mut search: Search<AB, M, MethodMixer> =
        Search::with_method(net, Method::Drnas, config, 0, &device).unwrap();
    if peers > 1 {
        search = search.with_peers(Peers::threads(device, peers).unwrap());
    }
    Box::new(move || {
        let stop = search.epoch + 1;
        search.run_until(&data, &Classification, stop).unwrap();
    })
}

fn spread(mut t: Vec<f64>) -> (f64, f64, f64) {
    t.sort_by(f64::total_cmp);
    (t[0], t[t.len() / 2], t[t.len() - 1])
}

fn main() {
    let device = Device::default();
    let only = std::env::var("TANGLE_WORKLOAD").ok();
    let run = |w: &str| only.as_deref().is_none_or(|o| o == w);
    let rounds: usize = std::env::var("TANGLE_PEER_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let counts: Vec<usize> = std::env::var("TANGLE_PEERS")
        .unwrap_or_else(|_| "1,2,4".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("TANGLE_PEERS: peer counts such as 1,2,4")
        })
        .collect();
    println!(
        "peers bench: {STEPS} DrNAS search steps per round, {rounds} rounds after a warm-up, \
         peer counts {counts:?}, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let mut workloads: Vec<(&str, Variants)> = Vec::new();
    if run("w1") {
        use tangle_spaces::autoformer::AutoFormerConfig;
        let x = Tensor::<AB, 4>::random([32, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
        let y = common::labels::<AB>(32, 10, &device);
        let v = variants(
            &counts,
            || {
                AutoFormerConfig::tiny(32, 4, 10)
                    .init::<AB>(&device)
                    .unwrap()
            },
            x,
            y,
        );
        workloads.push(("W1 AutoFormer-T (batch 32, 65 tokens)", v));
    }
    if run("w2") {
        use tangle_spaces::conv_macro::ConvMacroConfig;
        let x = Tensor::<AB, 4>::random([64, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
        let y = common::labels::<AB>(64, 10, &device);
        let v = variants(
            &counts,
            || ConvMacroConfig::new().init::<AB>(&device).unwrap(),
            x,
            y,
        );
        workloads.push(("W2 toy conv-macro (batch 64, 32×32)", v));
    }
    if run("w3") {
        use tangle_spaces::gpt::GptConfig;
        let (x, y) = common::text_batch::<AB>(12, 224, &device);
        let v = variants(
            &counts,
            || GptConfig::table18(65, 224).init::<AB>(&device).unwrap(),
            x,
            y,
        );
        workloads.push(("W3 nanoGPT-small (batch 12, context 224)", v));
    }

    let mut table = Vec::new();
    for (name, mut variants) in workloads {
        let mut times = vec![Vec::new(); variants.len()];
        for r in 0..=rounds {
            for ((_, step), t) in variants.iter_mut().zip(&mut times) {
                let start = Instant::now();
                step();
                if r > 0 {
                    t.push(start.elapsed().as_secs_f64() / STEPS as f64);
                }
            }
        }
        let one = spread(times[0].clone()).1;
        let before = table.len();
        for ((n, _), t) in variants.iter().zip(times) {
            let (lo, med, hi) = spread(t);
            table.push(format!(
                "| {name} | {n} | {:.3} ({:.3}–{:.3}) | {:.2} | {:.2}× |",
                1.0 / med,
                1.0 / hi,
                1.0 / lo,
                med,
                one / med
            ));
        }
        // Each workload's rows as soon as they are measured: W1 alone takes minutes.
        for row in &table[before..] {
            println!("{row}");
        }
    }
    println!("\n| workload | peers | steps/s, median (min–max) | s/step | vs first row |");
    println!("|---|---|---|---|---|");
    for row in table {
        println!("{row}");
    }
}
