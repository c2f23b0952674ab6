//! An in-memory dataset served as the batches of a bi-level search.

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use tangle_core::SearchData;

use crate::error::DataError;
use crate::split::{train_valid_split, Split};

/// Inputs `[n, …]` and integer labels `[n]` held on the device, split into a training and a
/// validation part. Each epoch both parts are shuffled with an RNG seeded by `(seed, epoch)`, so
/// the batches are a pure function of `(epoch, step)` — a resumed search sees the same batches.
#[derive(Debug, Clone)]
pub struct InMemory<B: Backend, const D: usize> {
    x: Tensor<B, D>,
    y: Tensor<B, 1, Int>,
    split: Split,
    batch: usize,
    seed: u64,
}

impl<B: Backend, const D: usize> InMemory<B, D> {
    /// Serves `x` / `y` split by `train_portion`, `batch` examples per step.
    pub fn new(
        x: Tensor<B, D>,
        y: Tensor<B, 1, Int>,
        train_portion: f64,
        batch: usize,
        seed: u64,
    ) -> Result<Self, DataError> {
        let n = x.dims()[0];
        if y.dims()[0] != n {
            return Err(DataError::Shape(format!(
                "{n} inputs but {} labels",
                y.dims()[0]
            )));
        }
        let split = train_valid_split(n, train_portion)?;
        crate::split::check_batch(&split, batch, "examples")?;
        Ok(InMemory {
            x,
            y,
            split,
            batch,
            seed,
        })
    }

    /// The split.
    pub fn split(&self) -> &Split {
        &self.split
    }

    fn pick(
        &self,
        part: &[usize],
        epoch: usize,
        step: usize,
        salt: u64,
    ) -> (Tensor<B, D>, Tensor<B, 1, Int>) {
        let idx: Vec<i64> = batch_indices(part, self.batch, self.seed, epoch, step, salt)
            .into_iter()
            .map(|i| i as i64)
            .collect();
        let device = self.x.device();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [self.batch]), &device);
        (
            self.x.clone().select(0, idx.clone()),
            self.y.clone().select(0, idx),
        )
    }
}

/// The examples of batch `step` of `epoch` from `part`. The part holds `w = ⌊len / batch⌋`
/// windows of `batch`; step `s` takes window `s mod w` of the part shuffled by an RNG seeded
/// with `(seed, epoch, salt, ⌊s / w⌋)`. An epoch's first `w` steps are therefore one pass over
/// the part, and a part with fewer windows than the epoch has steps (the validation split
/// beside a larger training split) cycles, reshuffled for each pass, as the DARTS / DrNAS /
/// TangleNAS code cycles its validation queue. A pure function, so a resumed search sees the
/// same batches.
pub(crate) fn batch_indices(
    part: &[usize],
    batch: usize,
    seed: u64,
    epoch: usize,
    step: usize,
    salt: u64,
) -> Vec<usize> {
    let windows = (part.len() / batch).max(1);
    let (pass, window) = ((step / windows) as u64, step % windows);
    let mut order = part.to_vec();
    let mut rng = StdRng::seed_from_u64(
        seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ salt
            ^ pass.wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
    );
    order.shuffle(&mut rng);
    order[window * batch..window * batch + batch].to_vec()
}

/// Steps of one epoch: one pass over the training part (`⌊train / batch⌋`), the validation part
/// cycling beside it.
pub(crate) fn epoch_steps(split: &Split, batch: usize) -> usize {
    split.train.len() / batch
}

/// The RNG of batch `step` of `epoch` on side `salt` (augmentation, random windows): seeded by
/// `(seed, epoch, step, salt)` alone, so a resumed search draws the same numbers.
pub(crate) fn step_rng(seed: u64, epoch: usize, step: usize, salt: u64) -> StdRng {
    StdRng::seed_from_u64(
        seed ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03)
            ^ (((epoch as u64) << 32) | step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

impl<B: Backend, const D: usize> SearchData<Tensor<B, D>, Tensor<B, 1, Int>> for InMemory<B, D> {
    fn steps_per_epoch(&self) -> usize {
        epoch_steps(&self.split, self.batch)
    }

    fn train(&self, epoch: usize, step: usize) -> (Tensor<B, D>, Tensor<B, 1, Int>) {
        self.pick(&self.split.train, epoch, step, 1)
    }

    fn valid(&self, epoch: usize, step: usize) -> (Tensor<B, D>, Tensor<B, 1, Int>) {
        self.pick(&self.split.valid, epoch, step, 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    /// `n` examples whose input and label are their index.
    fn indexed(n: usize) -> (Tensor<Flex, 2>, Tensor<Flex, 1, Int>) {
        let device = Default::default();
        (
            Tensor::from_data(
                TensorData::new((0..n).map(|i| i as f32).collect(), [n, 1]),
                &device,
            ),
            Tensor::from_data(TensorData::new((0..n as i64).collect(), [n]), &device),
        )
    }

    fn labels(t: Tensor<Flex, 1, Int>) -> Vec<i64> {
        t.into_data().convert::<i64>().to_vec::<i64>().unwrap()
    }

    #[test]
    fn batches_come_from_their_side_and_repeat_per_epoch() {
        let device = Default::default();
        let n = 20;
        let (x, y) = indexed(n);
        let data = InMemory::new(x, y, 0.5, 4, 3).unwrap();
        assert_eq!(data.steps_per_epoch(), 2);
        let (xt, yt) = data.train(0, 1);
        let tl = labels(yt);
        assert!(tl.iter().all(|&l| l < 10), "{tl:?}");
        assert_eq!(
            xt.into_data().convert::<f32>().to_vec::<f32>().unwrap(),
            tl.iter().map(|&l| l as f32).collect::<Vec<_>>()
        );
        assert!(labels(data.valid(0, 1).1).iter().all(|&l| l >= 10));
        assert_eq!(labels(data.train(2, 0).1), labels(data.train(2, 0).1));
        assert_ne!(labels(data.train(0, 0).1), labels(data.train(1, 0).1));
        let x = Tensor::<Flex, 2>::zeros([5, 1], &device);
        let y = Tensor::<Flex, 1, Int>::zeros([4], &device);
        assert!(matches!(
            InMemory::new(x, y, 0.5, 1, 0),
            Err(DataError::Shape(_))
        ));
    }

    /// An epoch is one pass over the training split (the DARTS protocol), not
    /// min(train, valid) / batch steps; the smaller validation split cycles beside it.
    #[test]
    fn an_epoch_is_one_pass_over_the_training_split() {
        let n = 100;
        let (x, y) = indexed(n);
        // 80 training, 20 validation examples, batch 8: 10 steps, 2 validation windows.
        let data = InMemory::new(x, y, 0.8, 8, 5).unwrap();
        assert_eq!(data.steps_per_epoch(), 10);
        let mut seen: Vec<i64> = (0..10).flat_map(|s| labels(data.train(3, s).1)).collect();
        seen.sort();
        assert_eq!(
            seen,
            (0..80).collect::<Vec<_>>(),
            "each training example once"
        );
        let passes: Vec<Vec<i64>> = (0..10).map(|s| labels(data.valid(3, s).1)).collect();
        for (s, v) in passes.iter().enumerate() {
            assert!(v.iter().all(|&l| (80..100).contains(&l)), "step {s}: {v:?}");
        }
        // Each pass over the validation windows is disjoint, and the passes are reshuffled.
        let mut pass0: Vec<i64> = passes[0].iter().chain(&passes[1]).copied().collect();
        pass0.sort();
        pass0.dedup();
        assert_eq!(pass0.len(), 16);
        assert_ne!(passes[0], passes[2]);
    }
}
