//! Superposed op vs weight-sharing (WS) output mixture vs the largest fixed op, for n = 2, 4, 8
//! candidates, on conv and linear layers. Each measurement is one training step's worth of work
//! (forward + backward of the summed output) on the CPU backend.
//!
//! Run: `cargo bench --bench superposition`. After the criterion runs, the bench prints the
//! ratios superposed/largest and WS/largest taken from this same run's medians.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{activation::softmax, Distribution, Tensor};
use common::median;
use criterion::{black_box, BenchmarkId, Criterion};
use tangle_core::{Mixture, SuperConv2dConfig, SuperLinearConfig, WsMixedOp};

type AB = Autodiff<Flex>;

const NS: [usize; 3] = [2, 4, 8];

fn sizes(max: usize, n: usize) -> Vec<usize> {
    (1..=n).map(|i| max * i / n).collect()
}

fn alphas(n: usize, device: &burn::backend::flex::FlexDevice) -> Tensor<AB, 1> {
    Tensor::<AB, 1>::random([n], Distribution::Normal(0.0, 1e-3), device).require_grad()
}

fn pad_last<const D: usize>(x: Tensor<AB, D>, n: usize) -> Tensor<AB, D> {
    let d = x.dims()[D - 1];
    if d == n {
        x
    } else {
        x.pad([(0, n - d)], burn::tensor::ops::PadMode::Constant(0.0))
    }
}

fn bench_linear(c: &mut Criterion) {
    let device = Default::default();
    let (d_in, d_out, rows) = (512, 1024, 512);
    let x = Tensor::<AB, 2>::random([rows, d_in], Distribution::Normal(0.0, 1.0), &device);
    let mut g = c.benchmark_group("linear");
    let largest: Linear<AB> = LinearConfig::new(d_in, d_out).init(&device);
    g.bench_function(BenchmarkId::new("largest", 1), |b| {
        b.iter(|| black_box(largest.forward(x.clone()).sum().backward()))
    });
    for n in NS {
        let outs = sizes(d_out, n);
        let sup = SuperLinearConfig::output(d_in, &outs)
            .unwrap()
            .init::<AB>(&device)
            .unwrap();
        let a = alphas(n, &device);
        g.bench_function(BenchmarkId::new("superposed", n), |b| {
            b.iter(|| {
                let m = Mixture::weights(softmax(a.clone(), 0));
                black_box(sup.forward(x.clone(), &[&m]).unwrap().sum().backward())
            })
        });
        let ws = WsMixedOp::<AB, Linear<AB>>::new(
            outs.iter()
                .map(|&o| LinearConfig::new(d_in, o).init(&device))
                .collect(),
        )
        .unwrap();
        g.bench_function(BenchmarkId::new("ws", n), |b| {
            b.iter(|| {
                let m = Mixture::weights(softmax(a.clone(), 0));
                let y = ws
                    .forward(x.clone(), &m, |op, x| Ok(pad_last(op.forward(x), d_out)))
                    .unwrap();
                black_box(y.sum().backward())
            })
        });
    }
    g.finish();
}

fn pad_channels(x: Tensor<AB, 4>, n: usize) -> Tensor<AB, 4> {
    let [b, c, h, w] = x.dims();
    if c == n {
        return x;
    }
    let device = x.device();
    Tensor::cat(vec![x, Tensor::zeros([b, n - c, h, w], &device)], 1)
}

fn bench_conv(c: &mut Criterion) {
    let device = Default::default();
    let (c_in, c_out) = (32, 64);
    let x = Tensor::<AB, 4>::random([32, c_in, 16, 16], Distribution::Normal(0.0, 1.0), &device);
    let mut g = c.benchmark_group("conv");
    let largest: Conv2d<AB> = Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&device);
    g.bench_function(BenchmarkId::new("largest", 1), |b| {
        b.iter(|| black_box(largest.forward(x.clone()).sum().backward()))
    });
    for n in NS {
        let outs = sizes(c_out, n);
        let sup = SuperConv2dConfig::new(&[c_in], &outs, &[3])
            .unwrap()
            .init::<AB>(&device)
            .unwrap();
        let a = alphas(n, &device);
        let one = Mixture::single(0);
        g.bench_function(BenchmarkId::new("superposed", n), |b| {
            b.iter(|| {
                let m = Mixture::weights(softmax(a.clone(), 0));
                black_box(
                    sup.forward(x.clone(), &[&one, &m], None)
                        .unwrap()
                        .sum()
                        .backward(),
                )
            })
        });
        let ws = WsMixedOp::<AB, Conv2d<AB>>::new(
            outs.iter()
                .map(|&o| {
                    Conv2dConfig::new([c_in, o], [3, 3])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(&device)
                })
                .collect(),
        )
        .unwrap();
        g.bench_function(BenchmarkId::new("ws", n), |b| {
            b.iter(|| {
                let m = Mixture::weights(softmax(a.clone(), 0));
                let y = ws
                    .forward(x.clone(), &m, |op, x| {
                        Ok(pad_channels(op.forward(x), c_out))
                    })
                    .unwrap();
                black_box(y.sum().backward())
            })
        });
    }
    g.finish();
    let _ = largest.num_params();
}

fn print_ratios() {
    println!("\nRatios (medians of this run), relative to the largest fixed op:");
    println!("| op | n | superposed / largest | WS / largest | WS / superposed |");
    println!("|---|---|---|---|---|");
    for group in ["linear", "conv"] {
        let Some(base) = median(group, "largest", 1) else {
            continue;
        };
        for n in NS {
            if let (Some(s), Some(w)) = (median(group, "superposed", n), median(group, "ws", n)) {
                println!(
                    "| {group} | {n} | {:.3} | {:.3} | {:.2} |",
                    s / base,
                    w / base,
                    w / s
                );
            }
        }
    }
}

fn main() {
    let mut c = common::op_criterion();
    bench_linear(&mut c);
    bench_conv(&mut c);
    c.final_summary();
    print_ratios();
}
