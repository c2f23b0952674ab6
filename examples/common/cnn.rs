//! The search job of the five convolutional spaces: toy conv-macro, toy cell, NAS-Bench-201,
//! DARTS and MobileNetV3 — search (single- or two-stage), discretize, evaluate with inherited
//! weights, export, and optionally retrain the discovered architecture from scratch.

use std::path::Path;

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor};
use tangle_core::{Architecture, Extract, Mixtures, Supernet, Widening};
use tangle_data::images::batch;
use tangle_data::{ImageBatches, Images, Transform};
use tangle_optim::{
    CandidateMask, Classification, Method, Objective, Progressive, SearchConfig, SearchData as _,
};
use tangle_spaces::ops::Primitive;
use tangle_spaces::{conv_macro, darts, mobilenet, nb201, toy_cell};

use super::{
    dispatch, exit_on_error, images, print_epoch, run_dir, write, write_json, ExperimentError, Job,
    Result, RunArgs, Strategy,
};

/// The five spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Paper Table 17.
    ConvMacro,
    /// The toy cell space.
    ToyCell,
    /// NAS-Bench-201.
    Nb201,
    /// DARTS.
    Darts,
    /// MobileNetV3 (OFA).
    MobileNet,
}

impl Space {
    fn name(&self) -> &'static str {
        match self {
            Space::ConvMacro => "toy_conv_macro",
            Space::ToyCell => "toy_cell",
            Space::Nb201 => "nb201",
            Space::Darts => "darts",
            Space::MobileNet => "mobilenetv3",
        }
    }

    /// `(channels, size)` of the input.
    fn input(&self) -> (usize, usize) {
        match self {
            Space::ToyCell => (1, 28),
            _ => (3, 32),
        }
    }

    fn has_ws(&self) -> bool {
        !matches!(self, Space::MobileNet)
    }

    fn config(&self, epochs: usize) -> SearchConfig {
        let c = match self {
            Space::ConvMacro => SearchConfig::toy_conv_macro(),
            Space::ToyCell => SearchConfig::toy_cell(),
            Space::Nb201 => SearchConfig::nb201(),
            Space::Darts => SearchConfig::darts(),
            Space::MobileNet => SearchConfig::nb201(),
        };
        SearchConfig { epochs, ..c }
    }

    /// Default search epochs (an epoch is one pass over the weight half of the training
    /// digits), chosen with [`Space::default_train_samples`] to keep the default run under 10
    /// minutes on 2 cores, on one data-parallel peer per core (measured in docs/results.md; on
    /// 2 cores an NB201 epoch takes 37 s on 2 peers, 55 s on one). The conv-macro supernet,
    /// at its default width divisor 2, fits 6 epochs of half of the 6000 digits.
    fn default_epochs(&self) -> usize {
        match self {
            Space::Nb201 => 10,
            // 9 epochs: 8 min 56 s; 5 scored 0.939 on the α split, 9 scored 0.956
            // (docs/results.md, 2026-12-07).
            Space::ToyCell => 9,
            Space::MobileNet => 3,
            // DARTS: DrNAS's two progressive stages, 3 epochs each (15 steps of 2.9–6.5 s on
            // one peer).
            Space::Darts => 6,
            // At width divisor 2: 7 epochs of 93 steps, the first 2 weights only (about 40 s
            // each, 85 s with α steps; docs/results.md, 2026-12-07).
            Space::ConvMacro => 7,
        }
    }

    /// Default training digits (half for the weights, half for α): all 6000 shipped digits
    /// where the steps are cheap enough (NB201: 93 steps an epoch, about 80 s); fewer where
    /// they are not (DARTS's progressive supernet, C = 12 and 5 cells, takes 2.9–6.5 s a step:
    /// 1000 images, 15 steps an epoch).
    fn default_train_samples(&self) -> usize {
        match self {
            Space::Nb201 | Space::ToyCell | Space::MobileNet | Space::ConvMacro => 6000,
            Space::Darts => 1000,
        }
    }

    /// The paper's weight learning rate for this space — except the toy cell's 0.01: at the
    /// paper's 0.1 (Table 21) it stays at chance on the shipped digits, and the official code's
    /// toy-cell configuration's 0.025 (`configs/search/toy_cell-drnas.config`) learns more
    /// slowly than 0.01 in the default run (validation accuracy on the α split 0.661 vs 0.882
    /// after 3 epochs; docs/results.md).
    fn default_lr(&self) -> f64 {
        if matches!(self, Space::ToyCell) {
            return 0.01;
        }
        self.config(1).lr
    }

    /// Default epochs that train the weights only before α steps start. DrNAS's DARTS recipe
    /// updates α from epoch 10 of 50: the same fifth of the run. Conv-macro: 2 of its 7 (a
    /// weights-only epoch costs half an epoch with α steps, and the supernet is near chance
    /// for its first epoch); chosen on the α split's accuracy with inherited weights, 0.931
    /// with none in 6 epochs, 0.950 with 2 in 7, 0.933 with 3 in 8 (docs/results.md,
    /// 2026-12-07). Scaled with `epochs`; none elsewhere.
    fn default_alpha_warmup(&self, epochs: usize, optimizer: &str) -> usize {
        match self {
            Space::Darts if optimizer == "drnas" => epochs / 5,
            Space::ConvMacro => epochs * 2 / 7,
            _ => 0,
        }
    }

    /// Conv-macro's default width divisor (1 elsewhere).
    fn default_width_divisor(&self) -> usize {
        match self {
            Space::ConvMacro => 2,
            _ => 1,
        }
    }

    /// The α learning rate (Adam). The shared default, 3e-3, already ten times the paper's
    /// 3e-4 for these short runs, leaves DrNAS's Dirichlet diffuse: the supernet keeps
    /// training a mixture, and the discovered network's inherited weights fall behind it.
    /// Chosen on the discovered network's accuracy with inherited weights on the α split
    /// (never the test digits; docs/results.md, 2026-12-07): the toy cell 0.870 at 3e-3, 0.937
    /// at 3e-2, 0.939 at 0.1; NB201 0.965, 0.971 and 0.972; MobileNetV3 0.923 at 3e-3, 0.937
    /// at 0.1; conv-macro (width divisor 2) 0.903 at 3e-3, 0.931 at 0.1. DARTS was not tried.
    fn default_arch_lr(&self) -> f64 {
        match self {
            Space::ToyCell | Space::Nb201 | Space::MobileNet | Space::ConvMacro => 0.1,
            _ => 3e-3,
        }
    }
}

struct CnnJob {
    args: RunArgs,
    space: Space,
    ws: bool,
    batch: usize,
    train_samples: usize,
    channels: usize,
    cells: usize,
    /// Conv-macro's width divisor (1 elsewhere).
    width_divisor: usize,
    retrain: usize,
    budget: usize,
    lr: f64,
    /// Steps of linear learning-rate warm-up.
    warmup: usize,
    recalibrate: usize,
    /// Also train the discovered architecture alone (fresh weights, same data and steps).
    reference: bool,
    /// Epochs that train the weights only before α steps start.
    alpha_warmup: usize,
}

/// Top-1 accuracy of `logits(x)` over `set` (`logits` may fail with any error that converts
/// into [`ExperimentError`], a space's forward pass for one).
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

/// Trains `net` from scratch on `train` for `epochs` (SGD momentum 0.9, cosine lr 0.025 → 0),
/// printing the loss; returns it.
#[allow(clippy::too_many_arguments)]
pub fn retrain<B: AutodiffBackend, N: AutodiffModule<B>, E>(
    mut net: N,
    train: &Images,
    t: &Transform,
    epochs: usize,
    batch_size: usize,
    seed: u64,
    device: &B::Device,
    logits: impl Fn(&N, Tensor<B, 4>) -> std::result::Result<Tensor<B, 2>, E>,
) -> Result<N>
where
    ExperimentError: From<E>,
{
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    if train.len() < batch_size {
        return Err(ExperimentError::usage(format!(
            "--train-samples: {} training images for batch {batch_size}",
            train.len()
        )));
    }
    let steps = train.len() / batch_size;
    let mut opt = SgdConfig::new()
        .with_momentum(Some(
            burn::optim::momentum::MomentumConfig::new()
                .with_momentum(0.9)
                .with_dampening(0.0)
                .with_nesterov(false),
        ))
        .init::<B, N>();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let start = std::time::Instant::now();
    for epoch in 0..epochs {
        let lr = 0.025 * 0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / epochs as f64).cos());
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rng);
        let mut total = 0.0;
        for s in 0..steps {
            let idx = &order[s * batch_size..(s + 1) * batch_size];
            let (x, y): (Tensor<B, 4>, Tensor<B, 1, Int>) =
                batch(train, idx, t, Some(&mut rng), device)?;
            let loss = Classification.loss(logits(&net, x)?, &y);
            total += loss.clone().into_scalar().elem::<f32>();
            let grads = GradientsParams::from_grads(loss.backward(), &net);
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

/// A progressive search (DrNAS's DARTS-space recipe): the stages, the candidates the first
/// stage keeps (decision, candidate), and how the supernet widens to a partial factor.
struct Progression<M> {
    recipe: Progressive,
    keep: fn(usize, usize) -> bool,
    widen: WidenFn<M>,
}

type WidenFn<M> = Box<dyn FnMut(M, usize) -> tangle_core::Result<(M, Widening)>>;

/// What the space-specific part reports.
struct Finished {
    description: String,
    retrained: Option<f32>,
}

impl CnnJob {
    #[allow(clippy::too_many_arguments)]
    fn go<B, M>(
        &self,
        make: impl Fn() -> tangle_core::Result<M>,
        method: Method,
        strategy: Strategy,
        device: B::Device,
        space_config: String,
        progression: Option<Progression<M>>,
        finish: impl FnOnce(
            &M::InnerModule,
            &Architecture,
            Option<&[Vec<f32>]>,
            &Path,
            &Images,
            &Images,
            &Transform,
        ) -> Result<Finished>,
    ) -> Result<()>
    where
        B: AutodiffBackend,
        M: Supernet<B, Input = Tensor<B, 4>, Output = Tensor<B, 2>> + AutodiffModule<B>,
        M::InnerModule: Supernet<
            B::InnerBackend,
            Input = Tensor<B::InnerBackend, 4>,
            Output = Tensor<B::InnerBackend, 2>,
        >,
    {
        let a = &self.args;
        let net = make()?;
        let (c, size) = self.space.input();
        let (all_train, test, transform) = images::load(a, c, size)?;
        // The search sees the first --train-samples; retraining from scratch, as DARTS's
        // protocol, uses every training image.
        let train = images::first(all_train.clone(), self.train_samples);
        let data = ImageBatches::<B>::new(
            train.clone(),
            a.train_portion,
            self.batch,
            transform.clone(),
            a.seed,
            &device,
        )?;
        let spec = net.spec().clone();
        let out = run_dir(a)?;
        let base = self.space.config(a.epochs);
        let mut config = SearchConfig {
            arch_lr: a.arch_lr,
            lr: self.lr,
            lr_min: base.lr_min.min(self.lr),
            lr_warmup_steps: self.warmup,
            ..base
        };
        if self.alpha_warmup > 0 {
            config.warmup_epochs = config.warmup_epochs.max(self.alpha_warmup);
        }
        let mut search = super::start_search(a, net, method, config, &out, &device)?;
        println!(
            "{} ({}) on {}: {} architectures, {} with {} epochs of {} steps; output in {}",
            self.space.name(),
            if self.ws { "WS" } else { "WE" },
            a.dataset,
            spec.size(),
            a.optimizer,
            a.epochs,
            data.steps_per_epoch(),
            out.display()
        );
        match progression {
            Some(_) if a.resume.is_some() => {
                return Err(ExperimentError::usage(
                    "--resume: DrNAS's progressive DARTS recipe cannot resume yet (its stages \
                     prune and widen the supernet); rerun, or use another --optimizer",
                ))
            }
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
            None => search = super::search_epochs(a, search, &data, &out, &device)?,
        }
        let model = search.model.valid();
        let batches = || images::valid_batches(&train, a, self.batch, &transform, &device);
        let metric = tangle_twostage::Metric::Accuracy;
        let arch = super::discover(a, &search, &model, strategy, batches, metric, &out)?;
        // The supernet's batch-norm statistics were gathered under the mixture (or, with SPOS,
        // over many sampled paths): re-estimate them on the discovered path before scoring and
        // exporting it — training-mode passes at `arch`, no weight change.
        let model = if self.recalibrate > 0 {
            let steps = data.steps_per_epoch().max(1);
            let inputs: Vec<_> = (0..self.recalibrate)
                .map(|i| data.train(i / steps, i % steps).0)
                .collect();
            tangle_twostage::recalibrate(&search.model, &arch, &inputs)?;
            search.model.valid()
        } else {
            model
        };
        let fixed = Mixtures::fixed(&spec, &arch)?;
        let acc = accuracy::<B::InnerBackend, _>(&test, &transform, &device, |x| {
            model.forward_mixed(x, &fixed)
        })?;
        // The same network on the α half of the training digits: a score to choose settings
        // on, which the test digits must never be (α was trained on these digits, the weights
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
        let alone = super::reference(a, self.reference, &make, &arch, &search.config, &data, &out)?
            .map(|net| {
                accuracy::<B::InnerBackend, _>(&test, &transform, &device, |x| {
                    net.forward_mixed(x, &fixed)
                })
            })
            .transpose()?;
        let done = finish(
            &model,
            &arch,
            probabilities.as_deref(),
            &out,
            &all_train,
            &test,
            &transform,
        )?;
        println!("\ndiscovered architecture: {}", done.description);
        println!(
            "validation accuracy with inherited weights: {valid_acc:.4} ({} α-split images)",
            data.split().valid.len()
        );
        println!(
            "test accuracy with inherited weights: {acc:.4} ({} test images)",
            test.len()
        );
        if let Some(r) = alone {
            println!("test accuracy of the same architecture trained alone: {r:.4}");
        }
        if let Some(r) = done.retrained {
            println!("test accuracy after retraining from scratch: {r:.4}");
        }
        super::write_search(&out, &search, &arch, 7)?;
        let summary = serde_json::json!({
            "space": self.space.name(),
            "supernet": if self.ws { "ws" } else { "we" },
            "optimizer": a.optimizer,
            "dataset": a.dataset,
            "epochs": a.epochs,
            "seed": a.seed,
            "lr": self.lr,
            "lr_warmup_steps": self.warmup,
            "alpha_warmup_epochs": search.config.warmup_epochs,
            "batch_norm_recalibration_batches": self.recalibrate,
            "architecture": done.description,
            "valid_accuracy_inherited": valid_acc,
            "test_accuracy_inherited": acc,
            "test_accuracy_retrained": done.retrained,
            "test_accuracy_trained_alone": alone,
            "train_samples": self.train_samples,
            "batch": self.batch,
            // NB201's and DARTS's size (the other spaces have a fixed one).
            "channels": (self.channels > 0).then_some(self.channels),
            "cells": (self.cells > 0).then_some(self.cells),
            "width_divisor": matches!(self.space, Space::ConvMacro).then_some(self.width_divisor),
            "seconds": search.records.last().map(|r| r.seconds),
        });
        write_json(&out, "summary.json", &summary)?;
        // The space's own configuration (a Burn `Config`: `XConfig::load` reads it back).
        write(&out, "space_config.json", &space_config)?;
        println!("outputs in {}", out.display());
        Ok(())
    }

    /// Retrains a fresh network at `arch` (its single path in a fresh supernet) and returns its
    /// test accuracy, if `--retrain` asked for it.
    fn retrain_fresh<B, M>(
        &self,
        fresh: M,
        arch: &Architecture,
        train: &Images,
        test: &Images,
        t: &Transform,
        device: &B::Device,
    ) -> Result<Option<f32>>
    where
        B: AutodiffBackend,
        M: Supernet<B, Input = Tensor<B, 4>, Output = Tensor<B, 2>> + AutodiffModule<B>,
        M::InnerModule: Supernet<
            B::InnerBackend,
            Input = Tensor<B::InnerBackend, 4>,
            Output = Tensor<B::InnerBackend, 2>,
        >,
    {
        let spec = fresh.spec().clone();
        let fixed = Mixtures::<B>::fixed(&spec, arch)?;
        let fixed_inner = Mixtures::fixed(&spec, arch)?;
        self.retrain_plain(
            || Ok(fresh),
            train,
            test,
            t,
            device,
            |n, x| n.forward_mixed(x, &fixed),
            |n, x| n.forward_mixed(x, &fixed_inner),
        )
    }

    /// If `--retrain` asked for it, trains the network `make` builds from scratch and returns
    /// its test accuracy; `logits` and `logits_inner` are its forward pass on the training and
    /// the inference backend (the three may fail with one error type that converts into
    /// [`ExperimentError`]).
    #[allow(clippy::too_many_arguments)]
    fn retrain_plain<B, N, E>(
        &self,
        make: impl FnOnce() -> std::result::Result<N, E>,
        train: &Images,
        test: &Images,
        t: &Transform,
        device: &B::Device,
        logits: impl Fn(&N, Tensor<B, 4>) -> std::result::Result<Tensor<B, 2>, E>,
        logits_inner: impl Fn(
            &N::InnerModule,
            Tensor<B::InnerBackend, 4>,
        ) -> std::result::Result<Tensor<B::InnerBackend, 2>, E>,
    ) -> Result<Option<f32>>
    where
        B: AutodiffBackend,
        N: AutodiffModule<B>,
        ExperimentError: From<E>,
    {
        if self.retrain == 0 {
            return Ok(None);
        }
        let net = retrain(
            make()?,
            train,
            t,
            self.retrain,
            self.batch,
            self.args.seed,
            device,
            logits,
        )?;
        let inner = net.valid();
        accuracy::<B::InnerBackend, _>(test, t, device, |x| logits_inner(&inner, x)).map(Some)
    }
}

fn save<B: Backend, N: burn::module::Module<B>>(net: &N, out: &Path) -> Result<()> {
    Ok(tangle_core::subnet::save(net, out.join("subnet.bpk"))?)
}

impl Job for CnnJob {
    fn run<B: AutodiffBackend>(
        self,
        method: Method,
        strategy: Strategy,
        device: B::Device,
    ) -> Result<()> {
        let d = device.clone();
        let conv_macro_cfg =
            conv_macro::ConvMacroConfig::new().with_width_divisor(self.width_divisor);
        match (self.space, self.ws) {
            (Space::ConvMacro, false) => self.go(
                || conv_macro_cfg.init::<B>(&d),
                method,
                strategy,
                device,
                burn::config::config_to_json(&conv_macro_cfg),
                None,
                |m, arch, _probabilities, out, train, test, t| {
                    save(&m.extract(arch)?, out)?;
                    let retrained = self.retrain_fresh(
                        conv_macro_cfg.init::<B>(&d)?,
                        arch,
                        train,
                        test,
                        t,
                        &d,
                    )?;
                    Ok(Finished {
                        description: arch.to_json(),
                        retrained,
                    })
                },
            ),
            (Space::ConvMacro, true) => self.go(
                || conv_macro_cfg.init_ws::<B>(&d),
                method,
                strategy,
                device,
                burn::config::config_to_json(&conv_macro_cfg),
                None,
                |m, arch, _probabilities, out, train, test, t| {
                    save(&m.extract(arch)?, out)?;
                    let retrained = self.retrain_fresh(
                        conv_macro_cfg.init::<B>(&d)?,
                        arch,
                        train,
                        test,
                        t,
                        &d,
                    )?;
                    Ok(Finished {
                        description: arch.to_json(),
                        retrained,
                    })
                },
            ),
            (Space::ToyCell, ws) => {
                let net = || {
                    if ws {
                        toy_cell::ToyCellConfig::new().init_ws::<B>(&d)
                    } else {
                        toy_cell::ToyCellConfig::new().init::<B>(&d)
                    }
                };
                self.go(
                    net,
                    method,
                    strategy,
                    device,
                    burn::config::config_to_json(&toy_cell::ToyCellConfig::new()),
                    None,
                    |m, arch, _probabilities, out, train, test, t| {
                        save(&m.extract(arch)?, out)?;
                        let g = toy_cell::ToyGenotype::from_architecture(arch)?;
                        let retrained = self.retrain_fresh(
                            toy_cell::ToyCellConfig::new().init::<B>(&d)?,
                            arch,
                            train,
                            test,
                            t,
                            &d,
                        )?;
                        Ok(Finished {
                            description: g.to_string(),
                            retrained,
                        })
                    },
                )
            }
            (Space::Nb201, ws) => {
                let cfg = nb201::Nb201Config {
                    channels: self.channels,
                    cells: self.cells,
                    classes: 10,
                };
                let net = || {
                    if ws {
                        cfg.init_ws::<B>(&d)
                    } else {
                        cfg.init::<B>(&d)
                    }
                };
                self.go(
                    net,
                    method,
                    strategy,
                    device,
                    burn::config::config_to_json(&cfg),
                    None,
                    |m, arch, _probabilities, out, train, test, t| {
                        save(&m.extract(arch)?, out)?;
                        let s = nb201::arch_string(arch)?;
                        // The benchmark's evaluation network (affine cell batch norms), fresh.
                        let retrained = self.retrain_plain(
                            || cfg.init::<B>(&d).and_then(|n| n.extract(arch)),
                            train,
                            test,
                            t,
                            &d,
                            |n, x| n.forward(x),
                            |n, x| n.forward(x),
                        )?;
                        Ok(Finished {
                            description: s,
                            retrained,
                        })
                    },
                )
            }
            (Space::Darts, ws) => {
                // DrNAS runs its progressive recipe: partial channels 1/6 then 1/4, 7 operations
                // (no `none`) then the 4 strongest per edge, the epochs split in two stages.
                let progressive = self.args.optimizer == "drnas";
                let cfg = darts::DartsConfig {
                    channels: self.channels,
                    layers: self.cells,
                    classes: 10,
                    partial: if progressive { 6 } else { 1 },
                };
                let epochs = self.args.epochs;
                let seed = self.args.seed;
                let progression = progressive.then(|| Progression {
                    recipe: Progressive::drnas_darts_epochs(epochs - epochs / 2, epochs / 2),
                    keep: |_, i| darts::PRIMITIVES[i] != Primitive::Zero,
                    widen: Box::new(move |m: darts::Darts<B>, k| m.with_partial(k, seed ^ 0x77)),
                });
                let net = || {
                    if ws {
                        cfg.init_ws::<B>(&d)
                    } else {
                        cfg.init::<B>(&d)
                    }
                };
                self.go(
                    net,
                    method,
                    strategy,
                    device,
                    burn::config::config_to_json(&cfg),
                    progression,
                    |m, arch, probabilities, out, train, test, t| {
                        save(&m.extract(arch)?, out)?;
                        let g = darts::Genotype::discretize(arch, probabilities)?;
                        write(out, "genotype.txt", &g.to_string())?;
                        let eval_cfg = darts::DartsNetworkConfig {
                            channels: self.channels,
                            layers: self.cells,
                            auxiliary: false,
                            ..Default::default()
                        };
                        let retrained = self.retrain_plain(
                            || darts::DartsNetwork::<B>::new(&g, &eval_cfg, &d),
                            train,
                            test,
                            t,
                            &d,
                            |n, x| n.forward(x).map(|(y, _)| y),
                            |n, x| n.forward(x).map(|(y, _)| y),
                        )?;
                        Ok(Finished {
                            description: g.to_string(),
                            retrained,
                        })
                    },
                )
            }
            (Space::MobileNet, _) => {
                let cfg = mobilenet::MobileNetConfig {
                    image_size: 32,
                    classes: 10,
                    dropout: 0.1,
                };
                self.go(
                    || cfg.init::<B>(&d),
                    method,
                    strategy,
                    device,
                    burn::config::config_to_json(&cfg),
                    None,
                    |m, arch, _probabilities, out, train, test, t| {
                        save(&m.extract(arch)?, out)?;
                        let retrained =
                            self.retrain_fresh(cfg.init::<B>(&d)?, arch, train, test, t, &d)?;
                        Ok(Finished {
                            description: m.describe(arch)?,
                            retrained,
                        })
                    },
                )
            }
        }
    }
}

/// The command line of a convolutional example: the shared options and this job's own.
#[derive(Debug, clap::Parser)]
#[command(
    after_help = "Defaults: a scaled-down search on the shipped MNIST digits in under 10 \
minutes on 2 CPU cores. --reference true also trains the discovered architecture alone (a fresh \
network, the same data and weight steps) for comparison."
)]
pub struct CnnCli {
    #[command(flatten)]
    run: RunArgs,
    /// Supernet: we (weight-entangled) or ws (weight-sharing; not MobileNetV3).
    #[arg(long, default_value = "we", value_parser = ["we", "ws"])]
    supernet: String,
    /// Mini-batch size (split between the peers).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Training digits, half for the weights and half for α (0 = all).
    #[arg(long, value_name = "N", default_value_t = 0)]
    train_samples: usize,
    /// NB201's C (channels of the first stage) and DARTS's C.
    #[arg(long, value_name = "C", default_value_t = 0)]
    channels: usize,
    /// NB201's cells per stage and DARTS's cells.
    #[arg(long, value_name = "N", default_value_t = 0)]
    cells: usize,
    /// Conv-macro only: divides every convolution's width (1 = the paper's widths; 2, 4, 8).
    #[arg(long, value_name = "D", default_value_t = 1)]
    width_divisor: usize,
    /// Also retrain the discovered architecture from scratch for this many epochs (0 = off), on
    /// every training image (not only the search's --train-samples).
    #[arg(long, value_name = "EPOCHS", default_value_t = 0)]
    retrain: usize,
    /// Candidates evaluated by spos-rs / spos-es.
    #[arg(long, default_value_t = 100)]
    budget: usize,
    /// Weight learning rate (default: the paper's for the space).
    #[arg(long, default_value_t = 0.0)]
    lr: f64,
    /// Steps of linear learning-rate warm-up before the cosine schedule.
    #[arg(long, value_name = "STEPS", default_value_t = 0)]
    warmup: usize,
    /// Epochs that train the weights only, before α (default 0; DARTS with DrNAS: a fifth of
    /// --epochs, as its recipe; conv-macro: two sevenths).
    #[arg(long, value_name = "EPOCHS")]
    alpha_warmup: Option<usize>,
    /// Also train the discovered architecture alone (same data and weight steps).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false,
          action = clap::ArgAction::Set)]
    reference: bool,
    /// Batch-norm re-estimation batches at the result (0 = off).
    #[arg(long, default_value_t = 30)]
    recalibrate: usize,
}

/// The command line of `space`'s example, with its defaults.
pub fn command(space: Space) -> clap::Command {
    let name = space.name();
    let (c, n) = match space {
        Space::Nb201 => (8, 1),
        Space::Darts => (12, 5),
        _ => (0, 0),
    };
    super::command::<CnnCli>(
        name,
        "A search of the space on images: search (single- or two-stage), discretize, evaluate \
         with inherited weights, export.",
        &[
            ("epochs", space.default_epochs().to_string()),
            ("out", format!("runs/{name}")),
            ("train_samples", space.default_train_samples().to_string()),
            ("lr", space.default_lr().to_string()),
            ("arch_lr", space.default_arch_lr().to_string()),
            ("channels", c.to_string()),
            ("cells", n.to_string()),
            ("width_divisor", space.default_width_divisor().to_string()),
        ],
    )
}

/// Parses the command line and runs the search on `space`.
pub fn main(space: Space) {
    let name = space.name();
    let cli: CnnCli = super::parse(command(space));
    let a = cli.run;
    let result = (|| -> Result<()> {
        let ws = match cli.supernet.as_str() {
            "ws" if !space.has_ws() => {
                return Err(ExperimentError::usage(format!(
                    "--supernet ws: {name} has `we` only"
                )));
            }
            other => other == "ws",
        };
        if cli.width_divisor != 1 && !matches!(space, Space::ConvMacro) {
            return Err(ExperimentError::usage(format!(
                "--width-divisor {}: only toy_conv_macro has one",
                cli.width_divisor
            )));
        }
        let alpha_warmup = cli
            .alpha_warmup
            .unwrap_or(space.default_alpha_warmup(a.epochs, &a.optimizer));
        let job = CnnJob {
            space,
            ws,
            batch: cli.batch,
            train_samples: cli.train_samples,
            channels: cli.channels,
            cells: cli.cells,
            width_divisor: cli.width_divisor,
            retrain: cli.retrain,
            budget: cli.budget,
            lr: cli.lr,
            warmup: cli.warmup,
            alpha_warmup,
            reference: cli.reference,
            recalibrate: cli.recalibrate,
            args: a.clone(),
        };
        dispatch(&a, job, cli.budget)
    })();
    exit_on_error(result);
}
