//! The search job of an image-classification space, whole: load the images, search (single- or
//! two-stage, or DrNAS's progressive recipe), discretize, re-estimate batch norms at the result,
//! score it with inherited weights, optionally train it alone and retrain it from scratch, and
//! write the run's files. A space's example supplies only its supernet, how to export and print
//! its architecture, and its defaults.

use std::path::Path;

use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use serde_json::{json, Map, Value};
use tangle_core::{Architecture, Mixtures, Supernet, Widening};
use tangle_data::{ImageBatches, Images, Transform};
use tangle_optim::{
    CandidateMask, Classification, Method, Progressive, SearchConfig, SearchData as _,
};

use super::{
    accuracy, discover, images, print_epoch, reference, retrain, run_dir, search_epochs,
    start_search, write, write_json, write_search, ExperimentError, Result, RetrainSettings,
    RunArgs, Strategy,
};

/// The options every image-classification search takes: [`RunArgs`] and the image job's own.
/// An example flattens it into its command line (`#[command(flatten)]`) beside its space's
/// options, and sets its defaults with [`super::command`].
#[derive(Debug, Clone, clap::Args)]
pub struct ImageArgs {
    /// The options every experiment takes.
    #[command(flatten)]
    pub run: RunArgs,
    /// Supernet: we (weight-entangled) or ws (weight-sharing, where the space has one).
    #[arg(long, default_value = "we", value_parser = ["we", "ws"])]
    pub supernet: String,
    /// Mini-batch size (split between the peers).
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Training images the search sees, half for the weights and half for α (0 = all).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub train_samples: usize,
    /// Also retrain the discovered architecture from scratch for this many epochs (0 = off), on
    /// every training image (not only the search's --train-samples).
    #[arg(long, value_name = "EPOCHS", default_value_t = 0)]
    pub retrain: usize,
    /// Candidates evaluated by spos-rs / spos-es.
    #[arg(long, default_value_t = 100)]
    pub budget: usize,
    /// Weight learning rate (0 = the space's preset).
    #[arg(long, default_value_t = 0.0)]
    pub lr: f64,
    /// Steps of linear learning-rate warm-up before the cosine schedule.
    #[arg(long, value_name = "STEPS", default_value_t = 0)]
    pub warmup: usize,
    /// Epochs that train the weights only, before α steps start (default: the space's).
    #[arg(long, value_name = "EPOCHS")]
    pub alpha_warmup: Option<usize>,
    /// Also train the discovered architecture alone (same data and weight steps).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub reference: bool,
    /// Batch-norm re-estimation batches at the result (0 = off).
    #[arg(long, default_value_t = 30)]
    pub recalibrate: usize,
}

impl ImageArgs {
    /// Whether `--supernet ws` asked for the weight-sharing supernet; an error naming the flag
    /// and `space` when the space has none (`available` false).
    pub fn weight_sharing(&self, space: &str, available: bool) -> Result<bool> {
        match self.supernet.as_str() {
            "ws" if !available => Err(ExperimentError::usage(format!(
                "--supernet ws: {space} has `we` only"
            ))),
            other => Ok(other == "ws"),
        }
    }

    /// The builder of the supernet `--supernet` names, for a space whose weight-entangled
    /// (`we`) and weight-sharing (`ws`) supernets are one type.
    pub fn supernet<M>(
        &self,
        space: &str,
        we: impl Fn() -> tangle_core::Result<M>,
        ws: impl Fn() -> tangle_core::Result<M>,
    ) -> Result<impl Fn() -> tangle_core::Result<M>> {
        let sharing = self.weight_sharing(space, true)?;
        Ok(move || if sharing { ws() } else { we() })
    }
}

/// A supernet that classifies images: images in, logits out, on the training backend and on
/// its inference copy. Every image space's supernet is one (implemented for all such types).
pub trait ImageSupernet<B: AutodiffBackend>:
    Supernet<B, Input = Tensor<B, 4>, Output = Tensor<B, 2>>
    + AutodiffModule<
        B,
        InnerModule: Supernet<
            B::InnerBackend,
            Input = Tensor<B::InnerBackend, 4>,
            Output = Tensor<B::InnerBackend, 2>,
        >,
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
    >,
{
}

/// DrNAS's progressive search (its DARTS-space recipe): the stages, the candidates the first
/// stage keeps (`keep(decision, candidate)`), and how the supernet widens to a stage's partial
/// channel factor.
pub struct Progression<M> {
    /// The stages: epochs, partial channels 1/K, candidates kept per decision.
    pub recipe: Progressive,
    /// Whether the first stage keeps candidate `c` of decision `d`: `keep(d, c)`.
    pub keep: fn(usize, usize) -> bool,
    /// The supernet rebuilt at partial factor K, and how its parameters map to the old ones.
    pub widen: Widen<M>,
}

/// Rebuilds a supernet at partial channel factor K ([`Progression::widen`]).
pub type Widen<M> = Box<dyn FnMut(M, usize) -> tangle_core::Result<(M, Widening)>>;

/// The discovered architecture handed to a space's report ([`ImageSearch::run`]'s `report`):
/// the searched supernet (inference copy, batch norms re-estimated at `arch`), the
/// architecture, the run's data and output folder, and retraining from scratch as `--retrain`
/// asks.
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
    /// The dataset's number of classes.
    pub classes: usize,
    /// The device the search ran on.
    pub device: &'a B::Device,
    /// `--retrain`'s epochs with the search's batch and seed (0 epochs: off).
    pub retraining: RetrainSettings,
}

impl<B: AutodiffBackend, N> Found<'_, B, N> {
    /// Saves `subnet`, the discovered network's weights, as `subnet.bpk` (burnpack; reload it
    /// with `tangle_core::subnet::load`).
    pub fn save_subnet<B2: burn::tensor::backend::Backend>(
        &self,
        subnet: &impl Module<B2>,
    ) -> Result<()> {
        Ok(tangle_core::subnet::save(
            subnet,
            self.out.join("subnet.bpk"),
        )?)
    }

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

/// An image-classification search on one space, configured by [`ImageArgs`] and the space's
/// defaults; [`ImageSearch::run`] runs it.
#[derive(Debug, Clone)]
pub struct ImageSearch<'a> {
    args: &'a ImageArgs,
    space: &'static str,
    preset: SearchConfig,
    input: (usize, usize),
    classes: usize,
    alpha_warmup: usize,
    summary: Map<String, Value>,
    space_config: Option<String>,
}

impl<'a> ImageSearch<'a> {
    /// A search of the space named `space` with its paper `preset` (the search's epochs, α lr
    /// and weight lr come from `args`, the rest from the preset), on 3 × 32 × 32 inputs, with
    /// no weights-only epochs unless `--alpha-warmup` asks.
    pub fn new(args: &'a ImageArgs, space: &'static str, preset: SearchConfig) -> Self {
        ImageSearch {
            args,
            space,
            preset,
            input: (3, 32),
            classes: 10,
            alpha_warmup: 0,
            summary: Map::new(),
            space_config: None,
        }
    }

    /// The supernet's input: `channels` × `size` × `size` (the images are adapted to it).
    pub fn with_input(mut self, channels: usize, size: usize) -> Self {
        self.input = (channels, size);
        self
    }

    /// The number of classes the space's networks output (10 unless set; for a configurable
    /// space, [`images::classes`] of `--dataset`). A dataset with another number is an error
    /// naming `--dataset`.
    pub fn with_classes(mut self, classes: usize) -> Self {
        self.classes = classes;
        self
    }

    /// The weights-only epochs when `--alpha-warmup` is not given.
    pub fn with_alpha_warmup(mut self, epochs: usize) -> Self {
        self.alpha_warmup = epochs;
        self
    }

    /// The space's own configuration, written as `space_config.json` (a Burn `Config`:
    /// `XConfig::load` reads it back).
    pub fn with_space_config(mut self, config: &impl burn::config::Config) -> Self {
        self.space_config = Some(burn::config::config_to_json(config));
        self
    }

    /// One more entry in `summary.json` (a space's size, say).
    pub fn with_summary(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.summary.insert(key.to_string(), value.into());
        self
    }

    /// The weight learning rate: `--lr`, or the preset's.
    fn lr(&self) -> f64 {
        if self.args.lr > 0.0 {
            self.args.lr
        } else {
            self.preset.lr
        }
    }

    /// Runs the search of the supernet `make()` builds with `method` (`strategy`: argmax, or a
    /// SPOS second stage) on `device`; then hands the discovered architecture to `report` (to
    /// export the network, print the architecture in the space's form and retrain it) and
    /// writes the run's files.
    pub fn run<B, M>(
        &self,
        make: impl Fn() -> tangle_core::Result<M>,
        method: Method,
        strategy: Strategy,
        device: B::Device,
        report: impl FnOnce(Found<'_, B, M::InnerModule>) -> Result<Outcome>,
    ) -> Result<()>
    where
        B: AutodiffBackend,
        M: ImageSupernet<B>,
    {
        self.run_progressive(make, None, method, strategy, device, report)
    }

    /// [`ImageSearch::run`], with DrNAS's progressive stages if `progression` is given.
    pub fn run_progressive<B, M>(
        &self,
        make: impl Fn() -> tangle_core::Result<M>,
        progression: Option<Progression<M>>,
        method: Method,
        strategy: Strategy,
        device: B::Device,
        report: impl FnOnce(Found<'_, B, M::InnerModule>) -> Result<Outcome>,
    ) -> Result<()>
    where
        B: AutodiffBackend,
        M: ImageSupernet<B>,
    {
        let ia = self.args;
        let a = &ia.run;
        if progression.is_some() && a.resume.is_some() {
            return Err(ExperimentError::usage(
                "--resume: DrNAS's progressive DARTS recipe cannot resume yet (its stages \
                 prune and widen the supernet); rerun, or use another --optimizer",
            ));
        }
        let (c, size) = self.input;
        let (all_train, test, transform) = images::load(a, c, size)?;
        let classes = all_train.classes;
        if classes != self.classes {
            return Err(ExperimentError::usage(format!(
                "--dataset {}: {classes} classes, and {} classifies {}",
                a.dataset, self.space, self.classes
            )));
        }
        let net = make()?;
        // The search sees the first --train-samples; retraining from scratch, as DARTS's
        // protocol, uses every training image.
        let train = images::first(all_train.clone(), ia.train_samples);
        let data = ImageBatches::<B>::new(
            train.clone(),
            a.train_portion,
            ia.batch,
            transform.clone(),
            a.seed,
            &device,
        )?;
        let spec = net.spec().clone();
        let out = run_dir(a)?;
        let lr = self.lr();
        let alpha_warmup = ia.alpha_warmup.unwrap_or(self.alpha_warmup);
        let config = SearchConfig {
            epochs: a.epochs,
            arch_lr: a.arch_lr,
            lr,
            lr_min: self.preset.lr_min.min(lr),
            lr_warmup_steps: ia.warmup,
            warmup_epochs: self.preset.warmup_epochs.max(alpha_warmup),
            ..self.preset.clone()
        };
        let mut search = start_search(a, net, method, config, &out, &device)?;
        println!(
            "{} ({}) on {}: {} architectures, {} with {} epochs of {} steps; output in {}",
            self.space,
            ia.supernet.to_uppercase(),
            a.dataset,
            spec.size(),
            a.optimizer,
            a.epochs,
            data.steps_per_epoch(),
            out.display()
        );
        match progression {
            Some(p) => {
                search.set_mask(CandidateMask::from_fn(&spec, p.keep)?)?;
                println!(
                    "progressive stages (epochs, partial channels 1/K, candidates kept): {}",
                    p.recipe
                        .stages
                        .iter()
                        .map(|s| format!("({}, 1/{}, {})", s.epochs, s.partial, s.keep))
                        .collect::<Vec<_>>()
                        .join(" → ")
                );
                p.recipe
                    .run(&mut search, &data, &Classification, p.widen, print_epoch)?;
            }
            None => search = search_epochs(a, search, &data, &out, &device)?,
        }
        let batches = || images::valid_batches(&train, a, ia.batch, &transform, &device);
        let metric = tangle_twostage::Metric::Accuracy;
        let model = search.model.valid();
        let arch = discover(a, &search, &model, strategy, batches, metric, &out)?;
        // The supernet's batch-norm statistics were gathered under the mixture (or, with SPOS,
        // over many sampled paths): re-estimate them on the discovered path before scoring and
        // exporting it — training-mode passes at `arch`, no weight change.
        let model = if ia.recalibrate > 0 {
            let steps = data.steps_per_epoch().max(1);
            let inputs: Vec<_> = (0..ia.recalibrate)
                .map(|i| data.train(i / steps, i % steps).0)
                .collect();
            tangle_twostage::recalibrate(&search.model, &arch, &inputs)?;
            search.model.valid()
        } else {
            model
        };
        let fixed = Mixtures::fixed(&spec, &arch)?;
        let test_acc = accuracy::<B::InnerBackend, _>(&test, &transform, &device, |x| {
            model.forward_mixed(x, &fixed)
        })?;
        // The same network on the α half of the training images: a score to choose settings
        // on, which the test images must never be (α was trained on these images, the weights
        // were not).
        let valid_acc = accuracy::<B::InnerBackend, _>(
            &train.subset(&data.split().valid),
            &transform,
            &device,
            |x| model.forward_mixed(x, &fixed),
        )?;
        // A single-stage search ends with the mixer's probabilities (DARTS discretizes them);
        // a two-stage one only with the architecture it picked.
        let probabilities = matches!(strategy, Strategy::Gradient).then(|| search.probabilities());
        let alone = reference(a, ia.reference, &make, &arch, &search.config, &data, &out)?
            .map(|net| {
                accuracy::<B::InnerBackend, _>(&test, &transform, &device, |x| {
                    net.forward_mixed(x, &fixed)
                })
            })
            .transpose()?;
        let outcome = report(Found {
            model: &model,
            arch: &arch,
            probabilities: probabilities.as_deref(),
            out: &out,
            train: &all_train,
            test: &test,
            transform: &transform,
            classes,
            device: &device,
            retraining: RetrainSettings::darts(ia.retrain, ia.batch, a.seed),
        })?;
        println!("\ndiscovered architecture: {}", outcome.description);
        println!(
            "validation accuracy with inherited weights: {valid_acc:.4} ({} α-split images)",
            data.split().valid.len()
        );
        println!(
            "test accuracy with inherited weights: {test_acc:.4} ({} test images)",
            test.len()
        );
        if let Some(r) = alone {
            println!("test accuracy of the same architecture trained alone: {r:.4}");
        }
        if let Some(r) = outcome.retrained {
            println!("test accuracy after retraining from scratch: {r:.4}");
        }
        write_search(&out, &search, &arch, 7)?;
        let mut summary = json!({
            "space": self.space,
            "supernet": ia.supernet,
            "optimizer": a.optimizer,
            "dataset": a.dataset,
            "epochs": a.epochs,
            "seed": a.seed,
            "lr": lr,
            "lr_warmup_steps": ia.warmup,
            "alpha_warmup_epochs": search.config.warmup_epochs,
            "batch_norm_recalibration_batches": ia.recalibrate,
            "architecture": outcome.description,
            "valid_accuracy_inherited": valid_acc,
            "test_accuracy_inherited": test_acc,
            "test_accuracy_retrained": outcome.retrained,
            "test_accuracy_trained_alone": alone,
            "train_samples": ia.train_samples,
            "train_portion": a.train_portion,
            "batch": ia.batch,
            "arch_lr": a.arch_lr,
            "test_images": test.len(),
            "final_probabilities": probabilities,
            "seconds": search.records.last().map(|r| r.seconds),
        });
        if let Value::Object(m) = &mut summary {
            m.extend(self.summary.clone());
        }
        write_json(&out, "summary.json", &summary)?;
        if let Some(config) = &self.space_config {
            write(&out, "space_config.json", config)?;
        }
        println!("outputs in {}", out.display());
        Ok(())
    }
}
