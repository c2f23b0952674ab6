//! What a search runs on: its data (`SearchData`) and its loss (`Objective`). Here, below the
//! search crates, so that data crates implement it without depending on the optimizer.

use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Tensor};

/// Batches of a search, as a deterministic function of (epoch, step), so that a resumed search
/// sees exactly the batches an uninterrupted one would.
pub trait SearchData<I, T> {
    /// Steps per epoch.
    fn steps_per_epoch(&self) -> usize;
    /// The training batch (weight step) of `(epoch, step)`.
    fn train(&self, epoch: usize, step: usize) -> (I, T);
    /// The validation batch (α step) of `(epoch, step)`.
    fn valid(&self, epoch: usize, step: usize) -> (I, T);
}

/// The loss a search minimizes, and optionally an accuracy to record.
pub trait Objective<B: Backend, O, T> {
    /// Scalar loss, shape `[1]`.
    fn loss(&self, output: O, target: &T) -> Tensor<B, 1>;
    /// Fraction correct, if the task has one.
    fn accuracy(&self, _output: &O, _target: &T) -> Option<f32> {
        None
    }
}

/// Cross-entropy classification on `[batch, classes]` logits.
#[derive(Debug, Clone, Copy, Default)]
pub struct Classification;

impl<B: Backend> Objective<B, Tensor<B, 2>, Tensor<B, 1, burn::tensor::Int>> for Classification {
    fn loss(&self, output: Tensor<B, 2>, target: &Tensor<B, 1, burn::tensor::Int>) -> Tensor<B, 1> {
        let device = output.device();
        burn::nn::loss::CrossEntropyLossConfig::new()
            .init(&device)
            .forward(output, target.clone())
    }

    fn accuracy(
        &self,
        output: &Tensor<B, 2>,
        target: &Tensor<B, 1, burn::tensor::Int>,
    ) -> Option<f32> {
        let n = target.dims()[0];
        let pred = output.clone().argmax(1).reshape([n]);
        let correct = pred
            .equal(target.clone())
            .int()
            .sum()
            .into_scalar()
            .elem::<i64>();
        Some(correct as f32 / n as f32)
    }
}

/// Cross-entropy per position on sequence logits `[batch, seq, classes]` with targets
/// `[batch, seq]` (next-token prediction), averaged over every position.
impl<B: Backend> Objective<B, Tensor<B, 3>, Tensor<B, 2, burn::tensor::Int>> for Classification {
    fn loss(&self, output: Tensor<B, 3>, target: &Tensor<B, 2, burn::tensor::Int>) -> Tensor<B, 1> {
        let [b, t, c] = output.dims();
        self.loss(output.reshape([b * t, c]), &target.clone().reshape([b * t]))
    }

    fn accuracy(
        &self,
        output: &Tensor<B, 3>,
        target: &Tensor<B, 2, burn::tensor::Int>,
    ) -> Option<f32> {
        let [b, t, c] = output.dims();
        self.accuracy(
            &output.clone().reshape([b * t, c]),
            &target.clone().reshape([b * t]),
        )
    }
}

/// Mean squared error.
#[derive(Debug, Clone, Copy, Default)]
pub struct Regression;

impl<B: Backend, const D: usize> Objective<B, Tensor<B, D>, Tensor<B, D>> for Regression {
    fn loss(&self, output: Tensor<B, D>, target: &Tensor<B, D>) -> Tensor<B, 1> {
        (output - target.clone()).powf_scalar(2.0).mean()
    }
}
