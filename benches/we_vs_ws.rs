//! Weight entanglement (WE) vs weight sharing (WS) on the NAS-Bench-201 and DARTS supernets:
//! time and peak memory of one superposed training step (softmax mixture over every edge,
//! forward + backward into weights and architecture parameters), CIFAR-sized input.
//!
//! Run: `cargo bench --bench we_vs_ws`. Each supernet is measured in a fresh child process (the
//! bench re-runs itself with `TANGLE_PEAK=<space>:<we|ws>`): one warm-up step, then the median
//! time of three steps, then the process's peak resident set (Linux `VmHWM`), so the memory
//! figures do not include each other. All four run one after another in the same bench run.
//! (Not criterion: a DARTS WS step takes tens of seconds on 2 CPU cores, and criterion's
//! minimum of ten samples per benchmark would make this bench run for a quarter of an hour.)

mod common;

use burn::backend::{Autodiff, Flex};
use burn::tensor::{Distribution, Tensor};
use criterion::black_box;
use tangle_core::Supernet;
use tangle_optim::{ArchParams, Darts as Softmax, Mixer};
use tangle_spaces::darts::DartsConfig;
use tangle_spaces::nb201::Nb201Config;

type AB = Autodiff<Flex>;

/// Batch size (the paper's search batch is 64; a quarter of it keeps the CPU bench short).
const BATCH: usize = 16;
const SPACES: [&str; 2] = ["nb201", "darts"];

/// Boxed step of one supernet: forward with softmax(α) mixtures, backward.
fn stepper(space: &str, ws: bool) -> Box<dyn Fn()> {
    let device = Default::default();
    let x = Tensor::<AB, 4>::random([BATCH, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    fn make<M>(net: M, x: Tensor<AB, 4>) -> Box<dyn Fn()>
    where
        M: Supernet<AB, Input = Tensor<AB, 4>, Output = Tensor<AB, 2>> + 'static,
    {
        let device = x.device();
        // Small random α per decision (tracked for gradients), softmax'd as DARTS does.
        let alphas = ArchParams::<AB>::new(net.spec(), 0, &device);
        Box::new(move || {
            let mix = Softmax::softmax().mixtures(&alphas, net.spec(), 0).unwrap();
            let y = net.forward_mixed(x.clone(), &mix).unwrap();
            black_box(y.sum().backward());
        })
    }
    match (space, ws) {
        ("nb201", false) => make(Nb201Config::default().init(&device).unwrap(), x),
        ("nb201", true) => make(Nb201Config::default().init_ws(&device).unwrap(), x),
        ("darts", false) => make(DartsConfig::default().init(&device).unwrap(), x),
        ("darts", true) => make(DartsConfig::default().init_ws(&device).unwrap(), x),
        _ => unreachable!("known spaces"),
    }
}

fn main() {
    if let Ok(which) = std::env::var("TANGLE_PEAK") {
        let (space, mode) = which.split_once(':').expect("space:mode");
        common::report_child(stepper(space, mode == "ws"));
        return;
    }
    println!("\nWE vs WS supernets, batch {BATCH}, 32×32 (median of 3 steps and peak RSS, one process each):");
    println!(
        "| space | WE step | WS step | WS/WE time | WE peak MiB | WS peak MiB | WE memory saving |"
    );
    println!("|---|---|---|---|---|---|---|");
    for space in SPACES {
        let measure = |mode: &str| common::measure_child("TANGLE_PEAK", &format!("{space}:{mode}"));
        let (we, ws) = (measure("we"), measure("ws"));
        let (tw, ts) = (we.map(|m| m.0), ws.map(|m| m.0));
        let (mw, ms) = (we.map(|m| m.1), ws.map(|m| m.1));
        let f = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.0}"));
        let ratio = match (tw, ts) {
            (Some(a), Some(b)) => format!("{:.2}", b / a),
            _ => "–".into(),
        };
        let saving = match (mw, ms) {
            (Some(a), Some(b)) => format!("{:.1}%", 100.0 * (1.0 - a / b)),
            _ => "–".into(),
        };
        println!(
            "| {space} | {} ms | {} ms | {ratio} | {} | {} | {saving} |",
            f(tw),
            f(ts),
            f(mw),
            f(ms)
        );
    }
}
