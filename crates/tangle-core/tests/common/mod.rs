//! Helpers shared by the tangle-core tests.
#![allow(dead_code)]

use burn::backend::Autodiff;
use burn::tensor::{backend::Backend, Distribution, Tensor, TensorData};

/// Forward-only backend: Flex (CPU) unless a GPU test feature is on.
#[cfg(not(any(feature = "test-cuda", feature = "test-wgpu")))]
pub type B = burn::backend::Flex;
/// Forward-only backend: CUDA.
#[cfg(feature = "test-cuda")]
pub type B = burn::backend::Cuda;
/// Forward-only backend: wgpu.
#[cfg(all(feature = "test-wgpu", not(feature = "test-cuda")))]
pub type B = burn::backend::Wgpu;
/// Backend with gradients.
pub type AB = Autodiff<B>;

pub fn dev() -> <B as burn::tensor::backend::BackendTypes>::Device {
    Default::default()
}

pub fn vec_of<Bk: Backend, const D: usize>(t: &Tensor<Bk, D>) -> Vec<f32> {
    t.to_data().convert::<f32>().to_vec::<f32>().unwrap()
}

/// Whether the tests run on a GPU backend. GPU matrix products and convolutions may run in TF32
/// (10-bit mantissa), so comparisons there allow ~1e-3 relative error.
pub const GPU: bool = cfg!(any(feature = "test-cuda", feature = "test-wgpu"));

/// Tolerance of a finite-difference gradient check (looser on GPU, where TF32 adds noise).
pub fn fd_tol(cpu: f32) -> f32 {
    if GPU {
        cpu.max(5e-2)
    } else {
        cpu
    }
}

/// Asserts equal shapes and `max |a - b| <= tol · max(1, max |b|)` (tol ≥ 2e-3 on GPU).
pub fn assert_close<Bk: Backend, const D: usize>(a: &Tensor<Bk, D>, b: &Tensor<Bk, D>, tol: f32) {
    let tol = if GPU && tol > 0.0 { tol.max(2e-3) } else { tol };
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let (va, vb) = (vec_of(a), vec_of(b));
    let scale = vb.iter().fold(1f32, |m, x| m.max(x.abs()));
    let worst = va
        .iter()
        .zip(&vb)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(
        worst <= tol * scale,
        "max abs difference {worst} exceeds {} (scale {scale})",
        tol * scale
    );
}

pub fn randn<Bk: Backend, const D: usize>(shape: [usize; D], device: &Bk::Device) -> Tensor<Bk, D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

pub fn floats<Bk: Backend, const D: usize>(
    v: &[f32],
    shape: [usize; D],
    device: &Bk::Device,
) -> Tensor<Bk, D> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), device)
}

pub fn w<Bk: Backend>(v: &[f32], device: &Bk::Device) -> Tensor<Bk, 1> {
    floats(v, [v.len()], device)
}

/// Zero-pads the last dim of `x` to `n`.
pub fn pad_last<Bk: Backend, const D: usize>(x: Tensor<Bk, D>, n: usize) -> Tensor<Bk, D> {
    let d = x.dims()[D - 1];
    if d == n {
        return x;
    }
    x.pad([(0, n - d)], burn::tensor::ops::PadMode::Constant(0.0))
}

/// Zero-pads dim 1 of a 4-D tensor to `n`.
pub fn pad_dim1(x: Tensor<B, 4>, n: usize) -> Tensor<B, 4> {
    let [b, c, h, w] = x.dims();
    if c == n {
        return x;
    }
    Tensor::cat(vec![x, Tensor::zeros([b, n - c, h, w], &dev())], 1)
}

/// Sum of a non-empty list of tensors.
pub fn sum_all<Bk: Backend, const D: usize>(terms: Vec<Tensor<Bk, D>>) -> Tensor<Bk, D> {
    terms
        .into_iter()
        .reduce(|a, b| a + b)
        .expect("at least one term")
}

/// Central finite difference of `f` along coordinate `i` of `x`, step `h`.
pub fn central_difference(f: impl Fn(&[f32]) -> f32, x: &[f32], i: usize, h: f32) -> f32 {
    let (mut up, mut down) = (x.to_vec(), x.to_vec());
    up[i] += h;
    down[i] -= h;
    (f(&up) - f(&down)) / (2.0 * h)
}
