//! What an image search hands a space's report: the discovered architecture with the searched
//! supernet and the run's data ([`Found`]), and what the report says back ([`Outcome`]); the
//! bound every image supernet meets ([`ImageSupernet`]): images in, logits out, and a
//! discovered network to export.

use std::path::Path;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use tangle_core::{Architecture, Extract, Mixtures, Supernet};
use tangle_data::{Images, Transform};

use super::{accuracy, retrain, ExperimentError, Result, RetrainSettings};

/// A supernet that classifies images: images in, logits out, on the training backend and on
/// its inference copy, which also extracts the discovered network (the search exports it as
/// `subnet.bpk`). Every image space's supernet is one (implemented for all such types).
pub trait ImageSupernet<B: AutodiffBackend>:
    Supernet<B, Input = Tensor<B, 4>, Output = Tensor<B, 2>>
    + AutodiffModule<
        B,
        InnerModule: Supernet<
            B::InnerBackend,
            Input = Tensor<B::InnerBackend, 4>,
            Output = Tensor<B::InnerBackend, 2>,
        > + Extract<B::InnerBackend>,
    >
{
}

impl<B, M> ImageSupernet<B> for M
where
    B: AutodiffBackend,
    M: Supernet<B, Input = Tensor<B, 4>, Output = Tensor<B, 2>> + AutodiffModule<B>,
    M::InnerModule: Supernet<
            B::InnerBackend,
            Input = Tensor<B::InnerBackend, 4>,
            Output = Tensor<B::InnerBackend, 2>,
        > + Extract<B::InnerBackend>,
{
}

/// The discovered architecture handed to a space's report (the `report` of
/// [`super::ImageSearch::run`], called once the discovered network is exported as
/// `subnet.bpk`): the searched supernet (inference copy, batch norms re-estimated at `arch`),
/// the architecture, the run's data and output folder, and retraining from scratch as
/// `--retrain` asks.
pub struct Found<'a, B: AutodiffBackend, N> {
    /// The searched supernet on the inference backend.
    pub model: &'a N,
    /// The discovered architecture.
    pub arch: &'a Architecture,
    /// The mixer's final probabilities per decision (single-stage searches only).
    pub probabilities: Option<&'a [Vec<f32>]>,
    /// The run's output folder.
    pub out: &'a Path,
    /// Every training image (retraining uses all of them).
    pub train: &'a Images,
    /// The test images.
    pub test: &'a Images,
    /// The dataset's transform.
    pub transform: &'a Transform,
    /// The device the search ran on.
    pub device: &'a B::Device,
    /// `--retrain`'s epochs with the search's batch and seed (0 epochs: off).
    pub retraining: RetrainSettings,
}

impl<B: AutodiffBackend, N> Found<'_, B, N> {
    /// If `--retrain` asked for it, trains `fresh` (a newly built supernet) on its single path
    /// at the discovered architecture from scratch, and returns its test accuracy.
    pub fn retrain_path<M>(&self, fresh: M) -> Result<Option<f32>>
    where
        M: ImageSupernet<B>,
    {
        let spec = fresh.spec().clone();
        let fixed = Mixtures::<B>::fixed(&spec, self.arch)?;
        let fixed_inner = Mixtures::fixed(&spec, self.arch)?;
        self.retrain(
            || Ok::<_, tangle_core::CoreError>(fresh),
            |n, x| n.forward_mixed(x, &fixed),
            |n, x| n.forward_mixed(x, &fixed_inner),
        )
    }

    /// If `--retrain` asked for it, trains the network `make` builds (a space's evaluation
    /// network, say) from scratch and returns its test accuracy; `logits` and `logits_inner`
    /// are its forward pass on the training and the inference backend. The three may fail
    /// with one error type that converts into [`ExperimentError`].
    pub fn retrain<T, E>(
        &self,
        make: impl FnOnce() -> std::result::Result<T, E>,
        logits: impl Fn(&T, Tensor<B, 4>) -> std::result::Result<Tensor<B, 2>, E>,
        logits_inner: impl Fn(
            &T::InnerModule,
            Tensor<B::InnerBackend, 4>,
        ) -> std::result::Result<Tensor<B::InnerBackend, 2>, E>,
    ) -> Result<Option<f32>>
    where
        T: AutodiffModule<B>,
        ExperimentError: From<E>,
    {
        if self.retraining.epochs == 0 {
            return Ok(None);
        }
        println!(
            "\nretraining the discovered architecture from scratch: {} epochs on {} images",
            self.retraining.epochs,
            self.train.len()
        );
        let net = retrain(
            make()?,
            self.train,
            self.transform,
            self.retraining,
            self.device,
            logits,
        )?;
        let inner = net.valid();
        accuracy::<B::InnerBackend, _>(self.test, self.transform, self.device, |x| {
            logits_inner(&inner, x)
        })
        .map(Some)
    }
}

/// What a space's report says of the discovered architecture.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The architecture in the space's own form (a genotype, an NB201 string, JSON).
    pub description: String,
    /// Test accuracy after retraining from scratch, if `--retrain` asked for it.
    pub retrained: Option<f32>,
}
