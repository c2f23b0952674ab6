//! Sparsemax (Martins & Astudillo, 2016): the Euclidean projection onto the simplex.

use burn::tensor::{activation::relu, backend::Backend, Tensor};

use crate::params::host;

/// `sparsemax(z) = max(z − τ, 0)` with τ chosen so the result sums to 1. The support is found
/// on the host; τ is then an expression of the support's entries, so gradients flow as for the
/// exact sparsemax Jacobian.
pub fn sparsemax<B: Backend>(z: Tensor<B, 1>) -> Tensor<B, 1> {
    let v = host(&z);
    let mut sorted = v.clone();
    sorted.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    let mut cum = 0.0;
    let mut k = 0;
    let mut cum_k = 0.0;
    for (i, &x) in sorted.iter().enumerate() {
        cum += x;
        if 1.0 + (i as f32 + 1.0) * x > cum {
            k = i + 1;
            cum_k = cum;
        }
    }
    let threshold = (cum_k - 1.0) / k as f32;
    let support: Vec<f32> = v
        .iter()
        .map(|&x| if x > threshold { 1.0 } else { 0.0 })
        .collect();
    let device = z.device();
    let s = Tensor::<B, 1>::from_floats(support.as_slice(), &device);
    let tau = ((z.clone() * s).sum() - 1.0) / k as f64;
    relu(z - tau)
}
