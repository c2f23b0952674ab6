//! One convolution's forward and backward pass on the CPU backend: Burn's `conv2d` (whose
//! backward is Burn's generic default on Flex) against `tangle_core::conv2d` (Flex's forward,
//! this project's backward), at the MobileNetV3 and NB201 sizes where the search spends its
//! time: batch 32 at 16 × 16. A step computes the input and the weight gradients, as a
//! supernet's training step does.
//!
//! Run: `cargo bench --bench conv_backward`; the table at the end comes from this run's medians.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::tensor::{module, ops::ConvOptions, Distribution, Tensor};
use common::median;
use criterion::{black_box, BenchmarkId, Criterion};

type AB = Autodiff<Flex>;

/// (what, input channels, kernel `[out, in / groups, k, k]`, stride, groups)
const CASES: [(&str, usize, [usize; 4], usize, usize); 6] = [
    (
        "depthwise 7x7, 96 channels, stride 1",
        96,
        [96, 1, 7, 7],
        1,
        96,
    ),
    (
        "depthwise 3x3, 96 channels, stride 1",
        96,
        [96, 1, 3, 3],
        1,
        96,
    ),
    (
        "depthwise 7x7, 96 channels, stride 2",
        96,
        [96, 1, 7, 7],
        2,
        96,
    ),
    ("pointwise 1x1, 16 -> 96", 16, [96, 16, 1, 1], 1, 1),
    ("pointwise 1x1, 96 -> 16", 96, [16, 96, 1, 1], 1, 1),
    ("dense 3x3, 16 -> 16", 16, [16, 16, 3, 3], 1, 1),
];

type Conv =
    fn(Tensor<AB, 4>, Tensor<AB, 4>, Option<Tensor<AB, 1>>, ConvOptions<2>) -> Tensor<AB, 4>;

fn bench(c: &mut Criterion) {
    let device = Default::default();
    let mut g = c.benchmark_group("conv_backward");
    for (n, (_, ci, kernel, stride, groups)) in CASES.into_iter().enumerate() {
        let x = Tensor::<AB, 4>::random([32, ci, 16, 16], Distribution::Normal(0.0, 1.0), &device)
            .require_grad();
        let w =
            Tensor::<AB, 4>::random(kernel, Distribution::Normal(0.0, 0.1), &device).require_grad();
        let opts = ConvOptions::new([stride; 2], [kernel[2] / 2; 2], [1, 1], groups);
        let variants: [(&str, Conv); 2] = [("burn", module::conv2d), ("ours", tangle_core::conv2d)];
        for (name, conv) in variants {
            g.bench_function(BenchmarkId::new(format!("{name}-forward"), n), |b| {
                b.iter(|| {
                    black_box(conv(
                        x.clone().detach(),
                        w.clone().detach(),
                        None,
                        opts.clone(),
                    ))
                })
            });
            g.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(|| {
                    let y = conv(x.clone(), w.clone(), None, opts.clone());
                    let grads = y.sum().backward();
                    black_box((x.grad(&grads), w.grad(&grads)));
                })
            });
        }
    }
    g.finish();
}

fn main() {
    let mut c = common::op_criterion();
    bench(&mut c);
    c.final_summary();
    println!("\n| convolution | forward | Burn: forward + backward | ours: forward + backward | Burn / ours |");
    println!("|---|---|---|---|---|");
    for (n, (what, ..)) in CASES.into_iter().enumerate() {
        let m = |id: &str| median("conv_backward", id, n);
        if let (Some(f), Some(b), Some(o)) = (m("burn-forward"), m("burn"), m("ours")) {
            println!(
                "| {what} | {:.2} ms | {:.2} ms | {:.2} ms | {:.1}× |",
                f / 1e6,
                b / 1e6,
                o / 1e6,
                b / o
            );
        }
    }
}
