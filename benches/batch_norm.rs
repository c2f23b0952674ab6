//! Batch norm on the CPU backend: Burn's `BatchNorm::forward` against
//! `tangle_core::batch_norm_forward` (the same values, computed on a `[n·c, h·w]` view), and the
//! superposed `SuperBatchNorm2d` over three channel candidates, at sizes the conv spaces use.
//! Each measurement is a training step's worth of work: forward in training mode (batch
//! statistics, running-statistic update) and backward into the input.
//!
//! Run: `cargo bench --bench batch_norm`; the ratios at the end come from this run's medians.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::nn::BatchNormConfig;
use burn::tensor::{Distribution, Tensor};
use common::median;
use criterion::{black_box, BenchmarkId, Criterion};
use tangle_core::{batch_norm_forward, Mixture, SuperBatchNorm2dConfig};

type AB = Autodiff<Flex>;

/// `[batch, channels, size, size]`: NB201's first stage at C 16, a DARTS reduction-cell input,
/// a MobileNetV3 expansion.
const SHAPES: [[usize; 4]; 3] = [[32, 16, 32, 32], [32, 64, 16, 16], [32, 144, 8, 8]];

fn id(s: &[usize; 4]) -> usize {
    s[1]
}

fn bench(c: &mut Criterion) {
    let device = Default::default();
    let mut g = c.benchmark_group("batch_norm");
    for shape in SHAPES {
        let ch = shape[1];
        let x =
            Tensor::<AB, 4>::random(shape, Distribution::Normal(0.5, 2.0), &device).require_grad();
        let bn = BatchNormConfig::new(ch).init::<AB>(&device);
        let step = |y: Tensor<AB, 4>| {
            let grads = y.sum().backward();
            black_box(x.grad(&grads));
        };
        g.bench_function(BenchmarkId::new("burn", id(&shape)), |b| {
            b.iter(|| step(bn.forward(x.clone())))
        });
        g.bench_function(BenchmarkId::new("ours", id(&shape)), |b| {
            b.iter(|| step(batch_norm_forward(&bn, x.clone())))
        });
        let sup = SuperBatchNorm2dConfig::new(vec![ch / 4, ch / 2, ch])
            .init::<AB>(&device)
            .unwrap();
        let w = Tensor::<AB, 1>::from_floats([0.2, 0.3, 0.5], &device).require_grad();
        g.bench_function(BenchmarkId::new("superposed", id(&shape)), |b| {
            b.iter(|| {
                step(
                    sup.forward(x.clone(), &Mixture::weights(w.clone()))
                        .unwrap(),
                )
            })
        });
    }
    g.finish();
}

fn main() {
    let mut c = common::op_criterion();
    bench(&mut c);
    c.final_summary();
    println!("\n| shape | Burn BatchNorm | batch_norm_forward | SuperBatchNorm2d (3 candidates) | Burn / ours |");
    println!("|---|---|---|---|---|");
    for s in SHAPES {
        let n = id(&s);
        if let (Some(b), Some(o), Some(p)) = (
            median("batch_norm", "burn", n),
            median("batch_norm", "ours", n),
            median("batch_norm", "superposed", n),
        ) {
            println!(
                "| {s:?} | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} |",
                b / 1e6,
                o / 1e6,
                p / 1e6,
                b / o
            );
        }
    }
}
