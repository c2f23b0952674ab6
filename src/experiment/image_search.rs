//! The search job of an image-classification space, whole: load the images, search (single- or
//! two-stage, or DrNAS's progressive recipe), discretize, re-estimate batch norms at the result,
//! score it with inherited weights, optionally train it alone and retrain it from scratch, and
//! write the run's files (the discovered network's weights among them). A space's example
//! supplies only its supernet, how to print its architecture, and its defaults.

use burn::tensor::backend::AutodiffBackend;
use serde_json::{json, Map, Value};
use tangle_core::{Extract, Mixtures, Supernet, Widening};
use tangle_data::ImageBatches;
use tangle_optim::{
    CandidateMask, Classification, Method, Progressive, SearchConfig, SearchData as _,
};

use super::{
    accuracy, discover, images, print_epoch, reference, run_dir, search_epochs, start_search,
    write, write_json, write_search, ExperimentError, Found, ImageArgs, ImageSupernet, Outcome,
    Result, RetrainSettings, Strategy,
};

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
            let inputs = tangle_twostage::recalibration_batches(&data, ia.recalibrate);
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
        // The discovered network with the inherited weights (burnpack; reload it with
        // `tangle_core::subnet::load`).
        tangle_core::subnet::save(&model.extract(&arch)?, out.join("subnet.bpk"))?;
        let outcome = report(Found {
            model: &model,
            arch: &arch,
            probabilities: probabilities.as_deref(),
            out: &out,
            train: &all_train,
            test: &test,
            transform: &transform,
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
