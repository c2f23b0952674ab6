//! Reproducible randomness inside a forward pass: seed mixing and dropout masks.
//!
//! Burn's random generator is one per process. Peers on threads of one process draw from it in
//! an order that depends on scheduling, so a mask drawn from it differs from run to run. These
//! functions draw from a seed of their own when given one ([`crate::Mixtures::with_seed`] hands
//! each dropout of a pass its own), and from Burn's generator otherwise.

use burn::tensor::{backend::Backend, Distribution, Tensor, TensorData};

/// A 64-bit mix of a seed and two counters (the SplitMix64 finalizer): independent RNG seeds
/// for nearby seeds, draws and streams.
pub fn mix_seed(seed: u64, a: u64, b: u64) -> u64 {
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Dropout with probability `prob` in training (autodiff) mode, as `burn::nn::Dropout`: every
/// element kept with probability `1 − prob` and scaled by `1 / (1 − prob)`; the identity in
/// inference mode or at `prob ≤ 0`, zero at `prob ≥ 1`. The mask comes from `seed`, or from
/// Burn's generator without one.
pub fn dropout<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    prob: f64,
    seed: Option<u64>,
) -> Tensor<B, D> {
    let shape = x.dims();
    masked_dropout(x, prob, shape, seed)
}

/// Channel dropout (`Dropout2d`): whole channels of `[n, c, h, w]` kept with probability
/// `1 − prob` and scaled by `1 / (1 − prob)`, in training mode; otherwise as [`dropout`].
pub fn dropout_channels<B: Backend>(x: Tensor<B, 4>, prob: f64, seed: Option<u64>) -> Tensor<B, 4> {
    let [n, c, _, _] = x.dims();
    masked_dropout(x, prob, [n, c, 1, 1], seed)
}

/// Dropout with a mask of shape `mask`, broadcast over `x` (a whole channel per entry when
/// the spatial axes are 1).
fn masked_dropout<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    prob: f64,
    mask: [usize; D],
    seed: Option<u64>,
) -> Tensor<B, D> {
    let device = x.device();
    if prob <= 0.0 || !B::ad_enabled(&device) {
        return x;
    }
    if prob >= 1.0 {
        return x.zeros_like();
    }
    let keep = 1.0 - prob;
    let mask = match seed {
        Some(seed) => {
            use rand::{Rng, SeedableRng};
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let n: usize = mask.iter().product();
            let v: Vec<f32> = (0..n)
                .map(|_| if rng.random::<f64>() < keep { 1.0 } else { 0.0 })
                .collect();
            Tensor::<B, D>::from_data(TensorData::new(v, mask), &device)
        }
        None => Tensor::<B, D>::random(mask, Distribution::Bernoulli(keep), &device),
    };
    x * mask / keep
}
