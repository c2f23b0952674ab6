//! `tangle_core::conv2d` against Burn's own convolution: the same output and the same gradients
//! for the input, the weight and the bias, over depthwise, pointwise, dense, grouped, strided,
//! dilated, padded and unpadded shapes. On the CPU (Flex) the backward passes are independent
//! implementations; on a GPU backend both are Burn's, and the test checks the fallback.
mod common;

use burn::tensor::{module, ops::ConvOptions, Distribution, Tensor};
use common::{dev, vec_of, AB, B, GPU};

/// One convolution: (what, input `[batch, in, h, w]`, kernel `[out, in / groups, kh, kw]`,
/// stride, padding, dilation, groups).
type Case = (
    &'static str,
    [usize; 4],
    [usize; 4],
    [usize; 2],
    [usize; 2],
    [usize; 2],
    usize,
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    ("depthwise 3x3", [3, 8, 10, 10], [8, 1, 3, 3], [1, 1], [1, 1], [1, 1], 8),
    ("depthwise 7x7", [2, 5, 12, 12], [5, 1, 7, 7], [1, 1], [3, 3], [1, 1], 5),
    ("depthwise 5x5 stride 2, odd size", [3, 6, 9, 9], [6, 1, 5, 5], [2, 2], [2, 2], [1, 1], 6),
    ("depthwise 9x9, wider than 8 lanes", [2, 3, 12, 14], [3, 1, 9, 9], [1, 1], [4, 4], [1, 1], 3),
    ("depthwise 3x3 dilated", [2, 4, 11, 11], [4, 1, 3, 3], [1, 1], [2, 2], [2, 2], 4),
    ("depthwise 3x3 stride 2, even size", [2, 4, 8, 8], [4, 1, 3, 3], [2, 2], [1, 1], [1, 1], 4),
    ("depthwise, channel multiplier 2", [2, 4, 7, 7], [8, 1, 3, 3], [1, 1], [1, 1], [1, 1], 4),
    ("dense 3x3", [3, 3, 9, 9], [5, 3, 3, 3], [1, 1], [1, 1], [1, 1], 1),
    ("dense 3x3 unpadded", [2, 4, 8, 8], [6, 4, 3, 3], [1, 1], [0, 0], [1, 1], 1),
    ("dense 3x3 stride 2", [2, 4, 9, 9], [6, 4, 3, 3], [2, 2], [1, 1], [1, 1], 1),
    ("dense 3x5 asymmetric", [2, 3, 8, 10], [4, 3, 3, 5], [2, 1], [1, 2], [1, 1], 1),
    ("pointwise", [3, 6, 7, 7], [4, 6, 1, 1], [1, 1], [0, 0], [1, 1], 1),
    ("pointwise stride 2", [2, 6, 8, 8], [5, 6, 1, 1], [2, 2], [0, 0], [1, 1], 1),
    ("grouped 3x3 stride 2", [2, 4, 9, 9], [6, 2, 3, 3], [2, 2], [1, 1], [1, 1], 2),
    ("padding past the kernel's reach", [2, 3, 6, 6], [4, 3, 1, 1], [1, 1], [1, 1], [1, 1], 1),
];

struct Grads {
    y: Vec<f32>,
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
}

fn run(&(_, input, kernel, stride, padding, dilation, groups): &Case, fast: bool) -> Grads {
    let d = dev();
    // Seeded so both runs see the same tensors.
    <AB as burn::tensor::backend::Backend>::seed(&d, 7);
    let x = Tensor::<AB, 4>::random(input, Distribution::Normal(0.0, 1.0), &d).require_grad();
    let w = Tensor::<AB, 4>::random(kernel, Distribution::Normal(0.0, 1.0), &d).require_grad();
    let b = Tensor::<AB, 1>::random([kernel[0]], Distribution::Normal(0.0, 1.0), &d).require_grad();
    let opts = ConvOptions::new(stride, padding, dilation, groups);
    let y = if fast {
        tangle_core::conv2d(x.clone(), w.clone(), Some(b.clone()), opts)
    } else {
        module::conv2d(x.clone(), w.clone(), Some(b.clone()), opts)
    };
    // A random weighting of the outputs, so that every output's gradient differs.
    let r = Tensor::<AB, 4>::random(y.dims(), Distribution::Normal(0.0, 1.0), &d);
    let grads = (y.clone() * r).sum().backward();
    Grads {
        y: vec_of(&y),
        x: vec_of(&x.grad(&grads).unwrap()),
        w: vec_of(&w.grad(&grads).unwrap()),
        b: vec_of(&b.grad(&grads).unwrap()),
    }
}

fn assert_close(case: &str, what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{case}: {what} sizes");
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    let tol = if GPU { 2e-3 } else { 2e-5 } * scale;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "{case}: {what}[{i}] = {g}, Burn's gives {w}"
        );
    }
}

#[test]
fn gradients_match_burns_convolution() {
    for c in CASES {
        let (fast, burn) = (run(c, true), run(c, false));
        assert_close(c.0, "output", &fast.y, &burn.y);
        assert_close(c.0, "input gradient", &fast.x, &burn.x);
        assert_close(c.0, "weight gradient", &fast.w, &burn.w);
        assert_close(c.0, "bias gradient", &fast.b, &burn.b);
    }
}

/// A 1-channel 2 × 2 input, a 2 × 2 kernel of ones, stride 1, no padding: one output,
/// `y = Σ x`, so `dy/dx = 1` everywhere and `dy/dW = x`.
#[test]
fn gradients_by_hand() {
    let d = dev();
    let x = Tensor::<AB, 4>::from_floats([[[[1.0, 2.0], [3.0, 4.0]]]], &d).require_grad();
    let w = Tensor::<AB, 4>::ones([1, 1, 2, 2], &d).require_grad();
    let y = tangle_core::conv2d(
        x.clone(),
        w.clone(),
        None,
        ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
    );
    assert_eq!(vec_of(&y), vec![10.0]);
    let grads = y.sum().backward();
    assert_eq!(vec_of(&x.grad(&grads).unwrap()), vec![1.0; 4]);
    assert_eq!(vec_of(&w.grad(&grads).unwrap()), vec![1.0, 2.0, 3.0, 4.0]);
}

/// The hand-written backward pass is the one taken on `Autodiff<Flex>` (and only there), so the
/// comparison above is between two implementations on the CPU.
#[test]
fn fast_backward_runs_on_autodiff_flex_only() {
    assert_eq!(tangle_core::has_fast_backward::<AB>(), !GPU);
    assert!(!tangle_core::has_fast_backward::<B>());
}
