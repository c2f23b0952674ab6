//! Superposition masks.
//!
//! With nested candidates, `Σ_i w_i · pad(slice_i(W))` equals `W ⊙ mask`, where the mask holds at
//! each position the summed weight of the candidates whose slice covers it. Building the mask and
//! multiplying once keeps the cost of a superposed op at one pass of the largest op.

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};

/// Prefix ("first k of N") mask: `m[t] = Σ_{i : t < sizes[i]} w[i]` for `t < len`.
///
/// `sizes` need not be sorted or distinct (combi-superposition produces repeated extents). Cost is
/// a sort of the `n` candidates plus a reverse cumulative sum and one gather of length `len`:
/// O(n log n + len), independent of how many candidates cover each position.
pub fn prefix_mask<B: Backend>(w: Tensor<B, 1>, sizes: &[usize], len: usize) -> Tensor<B, 1> {
    let [n] = w.dims();
    prefix_mask_rows(w.reshape([n, 1]), sizes, len).reshape([len])
}

/// Row-valued prefix mask `[len, m]`: `out[t] = Σ_{i : t < sizes[i]} rows[i]` for `t < len`,
/// where `rows` is `[n, m]`. The same reverse cumulative sum as [`prefix_mask`], with a vector per
/// candidate; combi-superposition of tied axes uses it with `rows[i] = p_i · 1[u < other_i]`.
/// Exact in floating point (additions only), unlike a matrix product, which GPUs may run in
/// reduced precision (TF32).
pub fn prefix_mask_rows<B: Backend>(
    rows: Tensor<B, 2>,
    sizes: &[usize],
    len: usize,
) -> Tensor<B, 2> {
    let device = rows.device();
    let [n, m] = rows.dims();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| sizes[i]);
    let sorted: Vec<usize> = order.iter().map(|&i| sizes[i]).collect();
    let idx = Tensor::<B, 1, Int>::from_data(
        TensorData::new(order.iter().map(|&i| i as i64).collect(), [n]),
        &device,
    );
    let suffix = rows.select(0, idx).flip([0]).cumsum(0).flip([0]);
    let ext = Tensor::cat(vec![suffix, Tensor::zeros([1, m], &device)], 0);
    let seg: Vec<i64> = (0..len)
        .map(|t| sorted.partition_point(|&s| s <= t) as i64)
        .collect();
    ext.select(0, Tensor::from_data(TensorData::new(seg, [len]), &device))
}

/// Centred kernel mask of shape `[k_max, k_max]`: `m[y, x] = Σ_{i : (y,x) in the centred
/// kernels[i] × kernels[i] window} w[i]`. Kernels are odd; a smaller kernel is the centre of the
/// largest.
pub fn kernel_mask<B: Backend>(w: Tensor<B, 1>, kernels: &[usize], k_max: usize) -> Tensor<B, 2> {
    kernel_taps(w, kernels, k_max, 2).reshape([k_max, k_max])
}

/// Centred kernel mask of a `spatial`-dimensional kernel (1 for a 1-D convolution, 2 for a 2-D
/// one), flattened row-major to `k_max^spatial` taps: a tap's weight is `Σ_{i : the tap lies in
/// the centred kernels[i]-window} w[i]`. Kernels are odd; a smaller kernel is the centre of the
/// largest.
pub fn kernel_taps<B: Backend>(
    w: Tensor<B, 1>,
    kernels: &[usize],
    k_max: usize,
    spatial: u32,
) -> Tensor<B, 1> {
    let device = w.device();
    let c = (k_max / 2) as i64;
    // Ring index ρ = Chebyshev distance from the centre; kernel k covers rings ρ ≤ (k-1)/2.
    let radii: Vec<usize> = kernels.iter().map(|k| k / 2 + 1).collect();
    let per_ring = prefix_mask(w, &radii, k_max / 2 + 1);
    let taps = k_max.pow(spatial);
    let rings: Vec<i64> = (0..taps)
        .map(|p| {
            let mut rest = p;
            let mut ring = 0;
            for _ in 0..spatial {
                ring = ring.max(((rest % k_max) as i64 - c).abs());
                rest /= k_max;
            }
            ring
        })
        .collect();
    per_ring.select(
        0,
        Tensor::from_data(TensorData::new(rings, [taps]), &device),
    )
}

/// Indicator matrix `[n, len]` with `row i = 1[t < sizes[i]]`, for rank-1 combi terms.
pub(crate) fn indicator<B: Backend>(
    sizes: &[usize],
    len: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    let mut v = vec![0f32; sizes.len() * len];
    for (i, &s) in sizes.iter().enumerate() {
        for t in 0..s.min(len) {
            v[i * len + t] = 1.0;
        }
    }
    Tensor::from_data(TensorData::new(v, [sizes.len(), len]), device)
}
