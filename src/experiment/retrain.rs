//! Training a discovered network from scratch, as DARTS's evaluation protocol does.

use burn::module::AutodiffModule;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Int, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tangle_data::images::batch;
use tangle_data::{Images, Transform};
use tangle_optim::{Classification, Objective};

use super::{ExperimentError, Result};

/// How [`retrain`] trains: DARTS's evaluation recipe (SGD, momentum 0.9, no dampening, weight
/// decay 3e-4, the gradients' global norm clipped at 5, cosine learning rate from `lr` to 0 over
/// the epochs), scaled to `epochs` of `batch` images. Not in it: DARTS's auxiliary head, cutout
/// and drop path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrainSettings {
    /// Passes over the training images.
    pub epochs: usize,
    /// Images per step.
    pub batch: usize,
    /// The initial learning rate (DARTS: 0.025).
    pub lr: f64,
    /// L2 weight decay, added to the gradient before momentum as PyTorch's SGD does (DARTS:
    /// 3e-4).
    pub weight_decay: f64,
    /// The largest global L2 norm of a step's gradients, applied before the weight decay
    /// (DARTS: 5; `None`: no clipping).
    pub clip_norm: Option<f64>,
    /// Seeds the image order and augmentation.
    pub seed: u64,
}

impl RetrainSettings {
    /// DARTS's learning rate 0.025, weight decay 3e-4 and clipping at 5, for `epochs` of `batch`
    /// images, seeded by `seed`.
    pub fn darts(epochs: usize, batch: usize, seed: u64) -> Self {
        RetrainSettings {
            epochs,
            batch,
            lr: 0.025,
            weight_decay: 3e-4,
            clip_norm: Some(5.0),
            seed,
        }
    }

    /// The learning rate of `epoch`: cosine from `lr` to 0, per epoch.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let progress = epoch as f64 / self.epochs.max(1) as f64;
        self.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

/// Trains `net` from scratch on `train` with `settings` (a shuffled pass over the images an
/// epoch, `t`'s augmentation), printing each epoch's loss, and returns it. `logits` is its
/// forward pass and may fail with any error that converts into [`ExperimentError`]. Errors
/// when `train` holds fewer images than one batch.
pub fn retrain<B: AutodiffBackend, N: AutodiffModule<B>, E>(
    mut net: N,
    train: &Images,
    t: &Transform,
    settings: RetrainSettings,
    device: &B::Device,
    logits: impl Fn(&N, Tensor<B, 4>) -> std::result::Result<Tensor<B, 2>, E>,
) -> Result<N>
where
    ExperimentError: From<E>,
{
    let RetrainSettings {
        epochs,
        batch: size,
        seed,
        ..
    } = settings;
    if size == 0 || train.len() < size {
        return Err(ExperimentError::usage(format!(
            "--batch {size}: retraining needs at least one batch, and has {} training images",
            train.len()
        )));
    }
    let steps = train.len() / size;
    let momentum = MomentumConfig::new()
        .with_momentum(0.9)
        .with_dampening(0.0)
        .with_nesterov(false);
    let decay =
        (settings.weight_decay > 0.0).then(|| WeightDecayConfig::new(settings.weight_decay as f32));
    let mut opt = SgdConfig::new()
        .with_momentum(Some(momentum))
        .with_weight_decay(decay)
        .init::<B, N>();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let start = std::time::Instant::now();
    for epoch in 0..epochs {
        let lr = settings.lr_at(epoch);
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rng);
        let mut total = 0.0;
        for s in 0..steps {
            let idx = &order[s * size..(s + 1) * size];
            let (x, y): (Tensor<B, 4>, Tensor<B, 1, Int>) =
                batch(train, idx, t, Some(&mut rng), device)?;
            let loss = Classification.loss(logits(&net, x)?, &y);
            total += loss.clone().into_scalar().elem::<f32>();
            let mut grads = GradientsParams::from_grads(loss.backward(), &net);
            if let Some(max) = settings.clip_norm {
                grads = tangle_optim::clip_global_norm(&net, grads, max);
            }
            net = opt.step(lr, net, grads);
        }
        println!(
            "retrain epoch {epoch:>2}  train loss {:.3}  lr {lr:.1e}  [{:.0}s]",
            total / steps.max(1) as f32,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(net)
}
