//! Scoring a classifier: top-1 accuracy over a set of images.

use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Tensor};
use tangle_data::images::batch;
use tangle_data::{Images, Transform};

use super::{ExperimentError, Result};

/// Top-1 accuracy of `logits(x)` over `set`, in batches of 100 with `t`'s evaluation transform
/// (no augmentation), on `device`. `logits` may fail with any error that converts into
/// [`ExperimentError`] (a space's forward pass, say); an empty set scores 0.
pub fn accuracy<B: Backend, E>(
    set: &Images,
    t: &Transform,
    device: &B::Device,
    logits: impl Fn(Tensor<B, 4>) -> std::result::Result<Tensor<B, 2>, E>,
) -> Result<f32>
where
    ExperimentError: From<E>,
{
    let idx: Vec<usize> = (0..set.len()).collect();
    let mut correct = 0usize;
    for chunk in idx.chunks(100) {
        let (x, y) = batch::<B>(set, chunk, &t.eval(), None, device)?;
        let pred = logits(x)?.argmax(1).reshape([chunk.len()]);
        correct += pred.equal(y).int().sum().into_scalar().elem::<i64>() as usize;
    }
    Ok(correct as f32 / set.len().max(1) as f32)
}
