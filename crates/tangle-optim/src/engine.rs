//! The bi-level search engine: an α step on a validation batch, then a weight step on a
//! training batch, every step; per-epoch records; checkpoint and resume.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hashbrown::HashMap;

use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    Adam, AdamConfig, AdamW, AdamWConfig, GradientsParams, Optimizer, Sgd, SgdConfig,
};
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};
use serde::{Deserialize, Serialize};
use tangle_core::{Architecture, Mixtures, SearchSpec, Supernet, Widening};

use crate::error::{OptimError, Result};
use crate::method::{Method, MethodMixer};
use crate::mixer::{argmax, Mixer};
use crate::parallel::{self, Peer, Peers, Shard};
use crate::params::{host, ArchParams};
use crate::prune::CandidateMask;

/// The optimizer of the network weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum WeightOptimizer {
    /// SGD with momentum (Nesterov optional) and weight decay.
    Sgd {
        /// Momentum (0.9 in DARTS-style searches).
        momentum: f64,
        /// Nesterov momentum.
        nesterov: bool,
        /// L2 weight decay (3e-4).
        weight_decay: f64,
    },
    /// Adam with L2 weight decay.
    Adam {
        /// L2 weight decay.
        weight_decay: f64,
    },
    /// AdamW (decoupled weight decay).
    AdamW {
        /// Decoupled weight decay.
        weight_decay: f64,
    },
}

/// How the architecture gradient is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArchStep {
    /// ∇α L_val(w, α) (DARTS v1, GDAS, DrNAS).
    FirstOrder,
    /// DARTS v2: the gradient of L_val(w − η∇w L_train(w, α), α), with the Hessian-vector product
    /// by central differences at `w± = w ± R·∇w′L_val`, `R = 0.01 / ‖∇w′L_val‖`.
    SecondOrder,
}

/// Search hyperparameters. `Default` is the paper's NB201 setting (Table 24); the other tables'
/// settings are the named presets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    /// Number of epochs.
    pub epochs: usize,
    /// Epochs of weight training before α is updated.
    pub warmup_epochs: usize,
    /// Weight optimizer.
    pub weight_optimizer: WeightOptimizer,
    /// Initial weight learning rate (cosine-annealed).
    pub lr: f64,
    /// Final weight learning rate.
    pub lr_min: f64,
    /// Global gradient-norm clipping of the weights (5 in the paper); `None`: off.
    pub grad_clip: Option<f64>,
    /// β₂ of an Adam / AdamW weight optimizer (0.999; 0.99 for language models).
    pub adam_beta_2: f64,
    /// ε of every Adam / AdamW optimizer here, weights and α (PyTorch's 1e-8; Burn's own
    /// default is 1e-5, which shrinks steps whose gradients are ~1e-5, as α's often are).
    #[serde(default = "pytorch_adam_epsilon")]
    pub adam_epsilon: f64,
    /// Linear learning-rate warm-up over the first this many steps (0: none; 100 for language
    /// models).
    pub lr_warmup_steps: usize,
    /// α learning rate (Adam).
    pub arch_lr: f64,
    /// α Adam betas.
    pub arch_betas: (f64, f64),
    /// α weight decay (L2 regularization of α).
    pub arch_weight_decay: f64,
    /// First- or second-order α step.
    pub arch_step: ArchStep,
    /// A differentiable resource penalty on the α loss (constrained search); `None`: off.
    #[serde(default)]
    pub param_penalty: Option<ParamPenalty>,
}

/// Saves and loads as JSON (`save` / `load`), as every configuration of the library; a run
/// writes it beside its results.
impl burn::config::Config for SearchConfig {}

/// The expected-parameter penalty of a constrained search: `coeff · Σ_d Σ_i w_{d,i} · cost_{d,i}`
/// added to the α loss, with `w_d` the mixture weights of decision `d` in that step (for a
/// single choice with a straight-through weight, `s · cost_{d,i}`). `cost_{d,i}` is what choosing
/// candidate `i` of decision `d` adds to the network's parameter count (in millions, say), so
/// the penalty is the mixture-weighted parameter count up to a constant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamPenalty {
    /// Strength.
    pub coeff: f64,
    /// Per decision (spec order), per candidate, the cost.
    pub costs: Vec<Vec<f64>>,
}

impl ParamPenalty {
    /// Costs from a space's parameter count: `cost_{d,i}` = parameters (in millions) of the
    /// largest architecture with decision `d` set to candidate `i`, minus those with `d` at its
    /// smallest candidate — the marginal cost of each choice around the largest network.
    pub fn from_counts(
        coeff: f64,
        spec: &SearchSpec,
        params: impl Fn(&tangle_core::Architecture) -> tangle_core::Result<usize>,
    ) -> Result<Self> {
        let largest = spec.indices(&spec.largest())?;
        let mut costs = Vec::with_capacity(largest.len());
        for (d, decision) in spec.decisions().iter().enumerate() {
            let mut at = largest.clone();
            let mut row = Vec::with_capacity(decision.len());
            for i in 0..decision.len() {
                at[d] = i;
                row.push(params(&spec.architecture(&at)?)? as i128);
            }
            let base = row[0];
            costs.push(row.into_iter().map(|c| (c - base) as f64 / 1e6).collect());
        }
        Ok(ParamPenalty { coeff, costs })
    }

    /// The penalty of one step's mixtures.
    pub fn of<B: Backend>(&self, mix: &Mixtures<B>) -> Option<Tensor<B, 1>> {
        let terms: Vec<Tensor<B, 1>> = mix
            .as_slice()
            .iter()
            .zip(&self.costs)
            .filter_map(|(m, c)| match m {
                tangle_core::Mixture::Weights(w) => {
                    let cost = Tensor::<B, 1>::from_floats(
                        c.iter().map(|&v| v as f32).collect::<Vec<_>>().as_slice(),
                        &w.device(),
                    );
                    Some((w.clone() * cost).sum())
                }
                tangle_core::Mixture::Single {
                    index,
                    weight: Some(s),
                } => Some(s.clone() * c[*index]),
                tangle_core::Mixture::Single { weight: None, .. } => None,
            })
            .collect();
        terms
            .into_iter()
            .reduce(|a, b| a + b)
            .map(|t| t * self.coeff)
    }
}

/// PyTorch's Adam ε, which the paper's hyperparameters assume.
fn pytorch_adam_epsilon() -> f64 {
    1e-8
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            epochs: 50,
            warmup_epochs: 0,
            weight_optimizer: WeightOptimizer::Sgd {
                momentum: 0.9,
                nesterov: false,
                weight_decay: 3e-4,
            },
            lr: 0.025,
            lr_min: 1e-3,
            grad_clip: Some(5.0),
            adam_beta_2: 0.999,
            adam_epsilon: pytorch_adam_epsilon(),
            lr_warmup_steps: 0,
            arch_lr: 3e-4,
            arch_betas: (0.5, 0.999),
            arch_weight_decay: 1e-3,
            arch_step: ArchStep::FirstOrder,
            param_penalty: None,
        }
    }
}

impl SearchConfig {
    /// Table 24, NB201: 100 epochs, SGD lr 0.025 → 1e-3, momentum 0.9, weight decay 3e-4,
    /// α lr 3e-4.
    pub fn nb201() -> Self {
        SearchConfig {
            epochs: 100,
            ..Self::default()
        }
    }

    /// Table 24, DARTS: 50 epochs, SGD lr 0.1 → 0, Nesterov momentum 0.9, weight decay 3e-4,
    /// α lr 6e-4.
    pub fn darts() -> Self {
        SearchConfig {
            epochs: 50,
            weight_optimizer: WeightOptimizer::Sgd {
                momentum: 0.9,
                nesterov: true,
                weight_decay: 3e-4,
            },
            lr: 0.1,
            lr_min: 0.0,
            arch_lr: 6e-4,
            ..Self::default()
        }
    }

    /// Table 21, toy cell space: 100 epochs, SGD lr 0.1 → 1e-3, Nesterov momentum 0.9, weight
    /// decay 5e-4, α lr 3e-4.
    pub fn toy_cell() -> Self {
        SearchConfig {
            epochs: 100,
            weight_optimizer: WeightOptimizer::Sgd {
                momentum: 0.9,
                nesterov: true,
                weight_decay: 5e-4,
            },
            lr: 0.1,
            lr_min: 1e-3,
            ..Self::default()
        }
    }

    /// Table 21, toy conv-macro space: 100 epochs, Adam lr 3e-4 → 1e-4, weight decay 5e-4,
    /// α lr 3e-4.
    pub fn toy_conv_macro() -> Self {
        SearchConfig {
            epochs: 100,
            weight_optimizer: WeightOptimizer::Adam { weight_decay: 5e-4 },
            lr: 3e-4,
            lr_min: 1e-4,
            ..Self::default()
        }
    }

    /// Table 23, language models: AdamW lr 5e-4 → 5e-5 (cosine per epoch after 100 warm-up
    /// steps), β₂ 0.99, weight decay 0.1, gradient clipping 1.
    pub fn language_model(epochs: usize) -> Self {
        SearchConfig {
            epochs,
            weight_optimizer: WeightOptimizer::AdamW { weight_decay: 0.1 },
            lr: 5e-4,
            lr_min: 5e-5,
            grad_clip: Some(1.0),
            adam_beta_2: 0.99,
            lr_warmup_steps: 100,
            ..Self::default()
        }
    }

    /// AutoFormer's supernet recipe (its official training code, which the paper follows):
    /// AdamW lr 5e-4 → 1e-5 with weight decay 0.05, gradient clipping 5; α as Table 24.
    pub fn autoformer(epochs: usize) -> Self {
        SearchConfig {
            epochs,
            weight_optimizer: WeightOptimizer::AdamW { weight_decay: 0.05 },
            lr: 5e-4,
            lr_min: 1e-5,
            grad_clip: Some(5.0),
            ..Self::default()
        }
    }

    /// The weight learning rate of global step `step` in `epoch`: the epoch's cosine value,
    /// scaled linearly during the first `lr_warmup_steps` steps.
    pub fn lr_at_step(&self, epoch: usize, step: usize) -> f64 {
        let lr = self.lr_at(epoch);
        if step < self.lr_warmup_steps {
            lr * (step + 1) as f64 / self.lr_warmup_steps as f64
        } else {
            lr
        }
    }

    /// The weight learning rate of `epoch` (cosine from `lr` to `lr_min`).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let t = epoch as f64 / self.epochs.max(1) as f64;
        self.lr_min + 0.5 * (self.lr - self.lr_min) * (1.0 + (std::f64::consts::PI * t).cos())
    }

    fn check(&self) -> Result<()> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        let bad = |what: &str, v: &dyn std::fmt::Display, want: &str| {
            Err(OptimError::Config(format!(
                "search config: {what} = {v}, must be {want}"
            )))
        };
        if self.epochs == 0 {
            return bad("epochs", &self.epochs, "at least 1");
        }
        if !positive(self.lr) {
            return bad("lr", &self.lr, "positive and finite");
        }
        if !positive(self.arch_lr) {
            return bad("arch_lr", &self.arch_lr, "positive and finite");
        }
        if !(self.lr_min >= 0.0 && self.lr_min.is_finite()) {
            return bad("lr_min", &self.lr_min, "non-negative and finite");
        }
        if !positive(self.adam_epsilon) {
            return bad("adam_epsilon", &self.adam_epsilon, "positive and finite");
        }
        Ok(())
    }
}

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

/// One epoch's record (one JSON line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The epoch (0-based).
    pub epoch: usize,
    /// Mean training loss (weight steps).
    pub train_loss: f32,
    /// Mean training accuracy, if the objective has one.
    pub train_acc: Option<f32>,
    /// Mean validation loss of the α steps; `None` in an epoch without α updates (warm-up,
    /// SPOS), which never touches the validation data.
    pub valid_loss: Option<f32>,
    /// Mean validation accuracy.
    pub valid_acc: Option<f32>,
    /// Weight learning rate of the epoch.
    pub lr: f64,
    /// α per decision (empty for a method without α).
    pub alpha: Vec<Vec<f32>>,
    /// The mixer's probabilities per decision (empty for a method without α).
    pub probabilities: Vec<Vec<f32>>,
    /// The current argmax architecture; `None` for SPOS, which has none of its own.
    pub architecture: Option<Architecture>,
    /// Seconds since this `Search` first ran (a resumed search counts from its resumption).
    pub seconds: f64,
}

enum WeightOpt<B: AutodiffBackend, M: AutodiffModule<B>> {
    Sgd(OptimizerAdaptor<Sgd<B::InnerBackend>, M, B>),
    Adam(OptimizerAdaptor<Adam, M, B>),
    AdamW(OptimizerAdaptor<AdamW, M, B>),
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> Clone for WeightOpt<B, M> {
    fn clone(&self) -> Self {
        match self {
            WeightOpt::Sgd(o) => WeightOpt::Sgd(o.clone()),
            WeightOpt::Adam(o) => WeightOpt::Adam(o.clone()),
            WeightOpt::AdamW(o) => WeightOpt::AdamW(o.clone()),
        }
    }
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> WeightOpt<B, M> {
    fn new(cfg: &WeightOptimizer, beta_2: f64, epsilon: f64) -> Self {
        match *cfg {
            WeightOptimizer::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => WeightOpt::Sgd(
                SgdConfig::new()
                    .with_momentum(Some(pytorch_momentum(momentum, nesterov)))
                    .with_weight_decay(
                        (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32)),
                    )
                    .init(),
            ),
            WeightOptimizer::Adam { weight_decay } => WeightOpt::Adam(
                AdamConfig::new()
                    .with_beta_1(0.9)
                    .with_beta_2(beta_2 as f32)
                    .with_epsilon(epsilon as f32)
                    .with_amsgrad(false)
                    .with_weight_decay(
                        (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32)),
                    )
                    .init(),
            ),
            WeightOptimizer::AdamW { weight_decay } => WeightOpt::AdamW(
                AdamWConfig::new()
                    .with_beta_1(0.9)
                    .with_beta_2(beta_2 as f32)
                    .with_epsilon(epsilon as f32)
                    .with_amsgrad(false)
                    .with_cautious_weight_decay(false)
                    .with_weight_decay(weight_decay as f32)
                    .init(),
            ),
        }
    }

    fn step(&mut self, lr: f64, m: M, g: GradientsParams) -> M {
        match self {
            WeightOpt::Sgd(o) => o.step(lr, m, g),
            WeightOpt::Adam(o) => o.step(lr, m, g),
            WeightOpt::AdamW(o) => o.step(lr, m, g),
        }
    }

    /// The state of every widened parameter widened as the parameter was.
    fn widen(self, before: &M, widening: &Widening) -> Result<Self> {
        if widening.is_empty() {
            return Ok(self);
        }
        let dims = shapes_by_id(before);
        Ok(match self {
            WeightOpt::Sgd(o) => {
                let record = widen_states(o.to_record(), widening, &dims, &SgdWidener)?;
                WeightOpt::Sgd(o.load_record(record))
            }
            WeightOpt::Adam(o) => {
                let record = widen_states(o.to_record(), widening, &dims, &AdamWidener)?;
                WeightOpt::Adam(o.load_record(record))
            }
            WeightOpt::AdamW(o) => {
                let record = widen_states(o.to_record(), widening, &dims, &AdamWidener)?;
                WeightOpt::AdamW(o.load_record(record))
            }
        })
    }

    fn save(&self, path: &Path) -> Result<()> {
        let rec = BinFileRecorder::<FullPrecisionSettings>::new();
        let r = match self {
            WeightOpt::Sgd(o) => rec.record(o.to_record(), path.to_path_buf()),
            WeightOpt::Adam(o) => rec.record(o.to_record(), path.to_path_buf()),
            WeightOpt::AdamW(o) => rec.record(o.to_record(), path.to_path_buf()),
        };
        r.map_err(|e| io_err(path, e))
    }

    fn load(self, path: &Path, device: &B::Device, saved: &[u64], current: &[u64]) -> Result<Self> {
        Ok(match self {
            WeightOpt::Sgd(o) => WeightOpt::Sgd(load_optimizer(o, path, device, saved, current)?),
            WeightOpt::Adam(o) => WeightOpt::Adam(load_optimizer(o, path, device, saved, current)?),
            WeightOpt::AdamW(o) => {
                WeightOpt::AdamW(load_optimizer(o, path, device, saved, current)?)
            }
        })
    }
}

/// A widened parameter as the optimizer state saw it: its shape before widening, and where
/// it lives.
struct Before<B: AutodiffBackend> {
    shape: Vec<usize>,
    device: burn::tensor::Device<B::InnerBackend>,
}

/// Widens one optimizer's per-parameter state as [`Widening`] widened the parameter.
trait StateWidener<B: AutodiffBackend, O: burn::optim::SimpleOptimizer<B::InnerBackend>> {
    fn widen<const D: usize>(
        &self,
        state: O::State<D>,
        id: ParamId,
        before: &Before<B>,
        w: &Widening,
    ) -> O::State<D>;
}

/// SGD: the momentum velocity ([`sgd_velocity`]), widened and put back into a new state.
struct SgdWidener;

impl<B: AutodiffBackend> StateWidener<B, Sgd<B::InnerBackend>> for SgdWidener {
    fn widen<const D: usize>(
        &self,
        state: burn::optim::SgdState<B::InnerBackend, D>,
        id: ParamId,
        before: &Before<B>,
        w: &Widening,
    ) -> burn::optim::SgdState<B::InnerBackend, D> {
        let shape: [usize; D] = before
            .shape
            .clone()
            .try_into()
            .expect("rank of the parameter");
        let zeros = Tensor::<B::InnerBackend, D>::zeros(shape, &before.device);
        match sgd_velocity(state.clone(), zeros) {
            Some(velocity) => burn::optim::SgdState::new(Some(
                burn::optim::momentum::MomentumState::new(w.apply(id, velocity)),
            )),
            None => state,
        }
    }
}

/// The momentum velocity of an SGD state (`zeros`: a zero tensor of the parameter's shape), or
/// `None` without momentum. Burn 0.21 keeps the velocity private; a plain-momentum step
/// (momentum 1, dampening 0) of lr 1 from zero weights with a zero gradient returns exactly
/// −velocity.
fn sgd_velocity<B: Backend, const D: usize>(
    state: burn::optim::SgdState<B, D>,
    zeros: Tensor<B, D>,
) -> Option<Tensor<B, D>> {
    state.momentum.as_ref()?;
    let probe = SgdConfig::new()
        .with_momentum(Some(pytorch_momentum(1.0, false)))
        .with_weight_decay(None)
        .build::<B>();
    let (neg_velocity, _) =
        burn::optim::SimpleOptimizer::step(&probe, 1.0, zeros.clone(), zeros, Some(state));
    Some(-neg_velocity)
}

/// Adam and AdamW: both moments (and AMSGrad's maximum), widened by the same copies.
struct AdamWidener;

impl<B: AutodiffBackend> StateWidener<B, Adam> for AdamWidener {
    fn widen<const D: usize>(
        &self,
        mut state: burn::optim::AdamState<B::InnerBackend, D>,
        id: ParamId,
        _before: &Before<B>,
        w: &Widening,
    ) -> burn::optim::AdamState<B::InnerBackend, D> {
        state.momentum = widen_moments(state.momentum, id, w);
        state
    }
}

impl<B: AutodiffBackend> StateWidener<B, AdamW> for AdamWidener {
    fn widen<const D: usize>(
        &self,
        mut state: burn::optim::AdamWState<B::InnerBackend, D>,
        id: ParamId,
        _before: &Before<B>,
        w: &Widening,
    ) -> burn::optim::AdamWState<B::InnerBackend, D> {
        state.momentum = widen_moments(state.momentum, id, w);
        state
    }
}

fn widen_moments<B: Backend, const D: usize>(
    mut m: burn::optim::AdaptiveMomentumState<B, D>,
    id: ParamId,
    w: &Widening,
) -> burn::optim::AdaptiveMomentumState<B, D> {
    m.moment_1 = w.apply(id, m.moment_1);
    m.moment_2 = w.apply(id, m.moment_2);
    m.max_moment_2 = m.max_moment_2.map(|t| w.apply(id, t));
    m
}

/// Shape and device of every float parameter of `model`, by id.
fn shapes_by_id<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
) -> HashMap<ParamId, Before<B>> {
    struct Shapes<B: AutodiffBackend>(HashMap<ParamId, Before<B>>);
    impl<B: AutodiffBackend> ModuleVisitor<B> for Shapes<B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let t = param.val().inner();
            self.0.insert(
                param.id,
                Before {
                    shape: t.dims().to_vec(),
                    device: t.device(),
                },
            );
        }
    }
    let mut s = Shapes::<B>(HashMap::new());
    model.visit(&mut s);
    s.0
}

/// Every widened parameter's optimizer state widened by `widener`; `before`: the parameters
/// before widening.
fn widen_states<B, O, W>(
    record: HashMap<ParamId, burn::optim::record::AdaptorRecord<O, B>>,
    widening: &Widening,
    before: &HashMap<ParamId, Before<B>>,
    widener: &W,
) -> Result<HashMap<ParamId, burn::optim::record::AdaptorRecord<O, B>>>
where
    B: AutodiffBackend,
    O: burn::optim::SimpleOptimizer<B::InnerBackend>,
    W: StateWidener<B, O>,
{
    use burn::optim::record::AdaptorRecord;
    record
        .into_iter()
        .map(|(id, r)| {
            let Some(b) = before.get(&id).filter(|_| widening.contains(id)) else {
                return Ok((id, r));
            };
            let r = match b.shape.len() {
                1 => AdaptorRecord::from_state::<1>(widener.widen(
                    r.into_state::<1>(),
                    id,
                    b,
                    widening,
                )),
                2 => AdaptorRecord::from_state::<2>(widener.widen(
                    r.into_state::<2>(),
                    id,
                    b,
                    widening,
                )),
                3 => AdaptorRecord::from_state::<3>(widener.widen(
                    r.into_state::<3>(),
                    id,
                    b,
                    widening,
                )),
                4 => AdaptorRecord::from_state::<4>(widener.widen(
                    r.into_state::<4>(),
                    id,
                    b,
                    widening,
                )),
                5 => AdaptorRecord::from_state::<5>(widener.widen(
                    r.into_state::<5>(),
                    id,
                    b,
                    widening,
                )),
                rank => {
                    return Err(OptimError::Config(format!(
                        "cannot widen the optimizer state of a parameter of rank {rank}"
                    )))
                }
            };
            Ok((id, r))
        })
        .collect()
}

/// SGD momentum as PyTorch's: Burn's default dampening is 0.1, PyTorch's (the paper's) 0.
fn pytorch_momentum(momentum: f64, nesterov: bool) -> MomentumConfig {
    MomentumConfig::new()
        .with_momentum(momentum)
        .with_dampening(0.0)
        .with_nesterov(nesterov)
}

/// The α optimizer: Adam with the configured betas, ε and L2 weight decay, every
/// hyperparameter set explicitly (Burn's defaults differ from PyTorch's, which the paper assumes).
fn arch_optimizer<B: AutodiffBackend>(
    config: &SearchConfig,
) -> OptimizerAdaptor<Adam, ArchParams<B>, B> {
    AdamConfig::new()
        .with_beta_1(config.arch_betas.0 as f32)
        .with_beta_2(config.arch_betas.1 as f32)
        .with_epsilon(config.adam_epsilon as f32)
        .with_amsgrad(false)
        .with_weight_decay(
            (config.arch_weight_decay > 0.0)
                .then(|| WeightDecayConfig::new(config.arch_weight_decay as f32)),
        )
        .init()
}

fn io_err(path: &Path, e: impl std::fmt::Debug) -> OptimError {
    OptimError::Io {
        path: path.display().to_string(),
        reason: format!("{e:?}"),
    }
}

/// Realizes every lazily initialized parameter. Burn initializes parameters at first use, and a
/// clone taken before that initializes its own copy independently: the engine clones the
/// supernet (frozen α-step copy, DARTS-v2 unrolled copies), so all clones must share one value.
struct Realize;

impl<B: Backend> ModuleVisitor<B> for Realize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = param.val();
    }
}

/// The ids of a module's float parameters (only the trainable ones: what optimizer state is
/// keyed by), in visit order.
struct Ids {
    trainable_only: bool,
    ids: Vec<ParamId>,
}

impl<B: Backend> ModuleVisitor<B> for Ids {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if !self.trainable_only || param.is_require_grad() {
            self.ids.push(param.id);
        }
    }
}

fn param_ids<B: Backend, M: burn::module::Module<B>>(m: &M, trainable_only: bool) -> Vec<ParamId> {
    let mut v = Ids {
        trainable_only,
        ids: Vec::new(),
    };
    m.visit(&mut v);
    v.ids
}

fn ids<B: Backend, M: burn::module::Module<B>>(m: &M) -> Vec<u64> {
    param_ids(m, false).iter().map(|id| id.val()).collect()
}

/// Optimizer state is keyed by parameter id, and loading weights keeps the ids of the module
/// loaded into: map the saved ids onto the current ones by position in the module.
fn remap<V>(
    record: HashMap<ParamId, V>,
    saved: &[u64],
    current: &[u64],
    path: &Path,
) -> Result<HashMap<ParamId, V>> {
    if saved.len() != current.len() {
        return Err(io_err(
            path,
            "checkpoint's parameters do not match this supernet",
        ));
    }
    let map: HashMap<u64, u64> = saved.iter().copied().zip(current.iter().copied()).collect();
    record
        .into_iter()
        .map(|(k, v)| {
            map.get(&k.val())
                .map(|&n| (ParamId::from(n), v))
                .ok_or_else(|| io_err(path, "optimizer state names an unknown parameter"))
        })
        .collect()
}

/// Loads an optimizer's state saved for parameters `saved` into one for parameters `current`.
fn load_optimizer<B, M, O>(
    opt: OptimizerAdaptor<O, M, B>,
    path: &Path,
    device: &B::Device,
    saved: &[u64],
    current: &[u64],
) -> Result<OptimizerAdaptor<O, M, B>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    O: burn::optim::SimpleOptimizer<B::InnerBackend>,
{
    let rec = BinFileRecorder::<FullPrecisionSettings>::new();
    let record: HashMap<ParamId, burn::optim::record::AdaptorRecord<O, B>> =
        Recorder::<B>::load(&rec, path.to_path_buf(), device).map_err(|e| io_err(path, e))?;
    Ok(opt.load_record(remap(record, saved, current, path)?))
}

/// Scales every gradient so that their global L2 norm is at most `max` (PyTorch's
/// `clip_grad_norm_`; Burn's own clipping is per tensor).
fn clip_global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: GradientsParams,
    max: f64,
) -> GradientsParams {
    let total = grad_norm(model, &grads);
    if total <= max || total == 0.0 {
        return grads;
    }
    let scale = max / (total + 1e-6);
    struct Scale<B: AutodiffBackend> {
        grads: GradientsParams,
        scale: f64,
        _b: std::marker::PhantomData<B>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
                self.grads.register(param.id, g * self.scale);
            }
        }
    }
    let mut s = Scale::<B> {
        grads,
        scale,
        _b: std::marker::PhantomData,
    };
    model.visit(&mut s);
    s.grads
}

/// The momentum state of the SGD weight optimizer, per parameter.
type SgdRecords<B> = HashMap<
    ParamId,
    burn::optim::record::AdaptorRecord<Sgd<<B as AutodiffBackend>::InnerBackend>, B>,
>;

/// Builds `g + λ w + μ·b` per parameter (see [`Search::unrolled_direction`]).
struct UnrolledDirection<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    weight_decay: f64,
    /// The SGD momentum states and μ.
    buffers: Option<(SgdRecords<B>, f64)>,
    out: GradientsParams,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for UnrolledDirection<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) else {
            return;
        };
        let w = param.val().inner();
        let mut d = if self.weight_decay > 0.0 {
            g + w.clone() * self.weight_decay
        } else {
            g
        };
        if let Some((records, momentum)) = &self.buffers {
            if let Some(record) = records.get(&param.id) {
                if let Some(b) = sgd_velocity(record.clone().into_state::<D>(), w.zeros_like()) {
                    d = d + b * *momentum;
                }
            }
        }
        self.out.register(param.id, d);
    }
}

/// `w + s · g` for every float parameter with a gradient in `grads`.
struct Axpy<'a> {
    grads: &'a GradientsParams,
    s: f64,
}

impl<B: AutodiffBackend> ModuleMapper<B> for Axpy<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let id = param.id;
        let require_grad = param.is_require_grad();
        let value = param.val();
        match self.grads.get::<B::InnerBackend, D>(id) {
            Some(g) => {
                let inner = value.inner() + g * self.s;
                let mut t = Tensor::from_inner(inner);
                if require_grad {
                    t = t.require_grad();
                }
                Param::initialized(id, t)
            }
            None => param,
        }
    }
}

/// L2 norm of the gradients of `model`'s parameters.
fn grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(model: &M, grads: &GradientsParams) -> f64 {
    struct Sq<'a> {
        grads: &'a GradientsParams,
        sq: f64,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Sq<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
                self.sq += g.powf_scalar(2.0).sum().into_scalar().elem::<f64>();
            }
        }
    }
    let mut v = Sq { grads, sq: 0.0 };
    model.visit::<Sq<'_>>(&mut v);
    v.sq.sqrt()
}

/// A single-stage search: a supernet, its architecture parameters and a mixer, trained
/// bi-level (Algorithm 1 of the paper).
pub struct Search<B, M, X>
where
    B: AutodiffBackend,
    M: Supernet<B> + AutodiffModule<B>,
    X: Mixer<B>,
{
    /// The supernet.
    pub model: M,
    /// The architecture parameters.
    pub alphas: ArchParams<B>,
    /// The mixer.
    pub mixer: X,
    /// The hyperparameters.
    pub config: SearchConfig,
    /// The next epoch to run.
    pub epoch: usize,
    /// Records of the epochs run so far by this object.
    pub records: Vec<EpochRecord>,
    w_opt: WeightOpt<B, M>,
    a_opt: OptimizerAdaptor<Adam, ArchParams<B>, B>,
    mask: Option<CandidateMask>,
    log: Option<PathBuf>,
    progress: bool,
    started: Option<Instant>,
    peers: Option<Peers<B::Device>>,
}

impl<B, M> Search<B, M, MethodMixer>
where
    B: AutodiffBackend,
    M: Supernet<B> + AutodiffModule<B>,
{
    /// A search by `method` from a freshly built supernet: the method's mixer (its draws and α
    /// seeded by `seed`) and α step; `config.arch_step` is set from the method, and for SPOS
    /// there is no α, so every epoch is a weight epoch whatever `config.warmup_epochs` says.
    pub fn with_method(
        model: M,
        method: Method,
        config: SearchConfig,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self> {
        let config = SearchConfig {
            arch_step: method.arch_step().unwrap_or(ArchStep::FirstOrder),
            ..config
        };
        Self::new(model, method.mixer(seed), config, seed, device)
    }
}

impl<B, M, X> Search<B, M, X>
where
    B: AutodiffBackend,
    M: Supernet<B> + AutodiffModule<B>,
    X: Mixer<B>,
{
    /// A search from a freshly built supernet; α is drawn from `seed`.
    pub fn new(
        model: M,
        mixer: X,
        config: SearchConfig,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self> {
        config.check()?;
        model.visit(&mut Realize);
        // A mixer without α (SPOS, a fixed path) gets none: nothing to step, save or plot.
        let alphas = if mixer.has_alpha() {
            ArchParams::new(model.spec(), seed, device)
        } else {
            ArchParams { alpha: Vec::new() }
        };
        let a_opt = arch_optimizer(&config);
        Ok(Search {
            w_opt: WeightOpt::new(
                &config.weight_optimizer,
                config.adam_beta_2,
                config.adam_epsilon,
            ),
            a_opt,
            model,
            alphas,
            mixer,
            config,
            epoch: 0,
            records: Vec::new(),
            mask: None,
            log: None,
            progress: false,
            started: None,
            peers: None,
        })
    }

    /// Appends each epoch's record as a JSON line to `path`.
    pub fn with_log(mut self, path: impl Into<PathBuf>) -> Self {
        self.log = Some(path.into());
        self
    }

    /// Shows a progress bar on stderr (hidden when stderr is not a terminal).
    pub fn with_progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Runs data-parallel on `peers`: one replica per device, each on a thread of its own and
    /// on its rows of every batch, gradients summed with Burn's collective all-reduce (see
    /// [`crate::parallel`]). The result equals this search on one peer up to float rounding
    /// (for spaces without batch norm, whose statistics are per peer). After a run this
    /// `Search` holds the first peer's state, moved to its device; checkpoints save and load it
    /// as usual, and the next run starts every peer from it.
    pub fn with_peers(mut self, peers: Peers<B::Device>) -> Self {
        self.peers = Some(peers);
        self
    }

    /// The current argmax architecture (over the kept candidates, once pruned). Errors for a
    /// method without one (SPOS: a second-stage search picks it from the trained supernet).
    pub fn architecture(&self) -> Result<Architecture> {
        self.current_architecture()?.ok_or_else(|| {
            OptimError::Config(format!(
                "a `{}` search trains a supernet and has no architecture of its own: pick one \
                 with a second-stage search (tangle_twostage::random_search or evolution)",
                self.mixer.name()
            ))
        })
    }

    fn current_architecture(&self) -> Result<Option<Architecture>> {
        let idx = match &self.mask {
            None => self.mixer.argmax(&self.alphas),
            Some(_) => Some(self.probabilities().iter().map(|p| argmax(p)).collect()),
        };
        Ok(match idx {
            Some(idx) => Some(self.model.spec().architecture(&idx)?),
            None => None,
        })
    }

    /// The mixer's probabilities per decision, pruned candidates at zero (see [`CandidateMask`]).
    pub fn probabilities(&self) -> Vec<Vec<f32>> {
        let p = self.mixer.probabilities(&self.alphas);
        match &self.mask {
            None => p,
            Some(m) => m.probabilities(p),
        }
    }

    /// The candidates still considered; `None`: all.
    pub fn mask(&self) -> Option<&CandidateMask> {
        self.mask.as_ref()
    }

    /// Restricts the search to the candidates `mask` keeps (e.g. a space without its `none`
    /// operation, as DrNAS's DARTS space). Errors when `mask` does not fit the space.
    pub fn set_mask(&mut self, mask: CandidateMask) -> Result<()> {
        let spec = self.model.spec();
        if mask.keep().len() != spec.decisions().len()
            || mask
                .keep()
                .iter()
                .zip(spec.decisions())
                .any(|(k, d)| k.len() != d.len())
        {
            return Err(OptimError::Config(
                "the candidate mask does not fit the space's decisions".into(),
            ));
        }
        self.mask = Some(mask);
        Ok(())
    }

    /// Keeps, of every decision, the `n` kept candidates with the largest α (DrNAS's
    /// progressive pruning).
    pub fn prune(&mut self, n: usize) -> Result<()> {
        let spec = self.model.spec().clone();
        let mut mask = self
            .mask
            .take()
            .unwrap_or_else(|| CandidateMask::all(&spec));
        let result = mask.prune(&self.alphas.values(), n, &spec);
        self.mask = Some(mask);
        result
    }

    /// Replaces the supernet by a wider one (`widen` gets the trained supernet and returns the
    /// wider one with its [`Widening`], e.g. from [`tangle_core::widen_module`]) and widens the
    /// weight optimizer's per-parameter state the same way (SGD momentum; Adam's moments), as
    /// DrNAS's `configure_optimizer`. The schedules continue.
    pub fn widen(
        &mut self,
        widen: impl FnOnce(M) -> tangle_core::Result<(M, Widening)>,
    ) -> Result<()> {
        let (model, widening) = widen(self.model.clone())?;
        if param_ids(&self.model, true) != param_ids(&model, true) {
            return Err(OptimError::Config(
                "widening must keep the supernet's parameter ids (see tangle_core::widen_module)"
                    .into(),
            ));
        }
        let w_opt = std::mem::replace(
            &mut self.w_opt,
            WeightOpt::new(
                &self.config.weight_optimizer,
                self.config.adam_beta_2,
                self.config.adam_epsilon,
            ),
        );
        self.w_opt = w_opt.widen(&self.model, &widening)?;
        self.model = model;
        Ok(())
    }

    fn loss_at<I: Clone, T, Obj: Objective<B, M::Output, T>>(
        &self,
        model: &M,
        objective: &Obj,
        batch: &(I, T),
        draw: u64,
    ) -> Result<(Tensor<B, 1>, Option<f32>)>
    where
        M: Supernet<B, Input = I>,
    {
        let (loss, acc, _) = self.loss_and_penalty(model, objective, batch, draw)?;
        Ok((loss, acc))
    }

    /// The loss, the accuracy and the resource penalty of this step's mixtures.
    #[allow(clippy::type_complexity)]
    fn loss_and_penalty<I: Clone, T, Obj: Objective<B, M::Output, T>>(
        &self,
        model: &M,
        objective: &Obj,
        batch: &(I, T),
        draw: u64,
    ) -> Result<(Tensor<B, 1>, Option<f32>, Option<Tensor<B, 1>>)>
    where
        M: Supernet<B, Input = I>,
    {
        let mut mix = self.mixer.mixtures(&self.alphas, model.spec(), draw)?;
        if let Some(mask) = &self.mask {
            mix = mask.mixtures(model.spec(), mix)?;
        }
        let penalty = self.config.param_penalty.as_ref().and_then(|p| p.of(&mix));
        let out = model.forward_mixed(batch.0.clone(), &mix)?;
        let acc = objective.accuracy(&out, &batch.1);
        Ok((objective.loss(out, &batch.1), acc, penalty))
    }

    /// A loss's value on this peer (checked once summed over the peers: [`Self::checked`]).
    fn local(loss: &Tensor<B, 1>) -> f32 {
        loss.clone().into_scalar().elem::<f32>()
    }

    /// `v` if finite, else the error naming what and where. Every peer checks the same summed
    /// value, so all stop together (one peer stopping alone would leave the others waiting in
    /// an all-reduce).
    fn checked(v: f32, what: &str, epoch: usize, step: usize) -> Result<f32> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(OptimError::NonFinite {
                what: what.to_string(),
                epoch,
                step,
            })
        }
    }

    /// The architecture gradient of one α step. With peers, every gradient is summed across
    /// them (each weighted by its share of the batch) before it is used, so the step is the
    /// whole batch's; the losses returned are the whole batch's too.
    #[allow(clippy::too_many_arguments)]
    fn arch_grads<I: Clone, T, Obj: Objective<B, M::Output, T>>(
        &self,
        objective: &Obj,
        (train, train_share): (&(I, T), f32),
        (valid, valid_share): (&(I, T), f32),
        lr: f64,
        draw: u64,
        epoch: usize,
        step: usize,
        peer: Option<&Peer<B::Device>>,
    ) -> Result<(GradientsParams, f32, Option<f32>)>
    where
        M: Supernet<B, Input = I>,
    {
        let reg = |loss: Tensor<B, 1>, penalty: Option<Tensor<B, 1>>| {
            let loss = match penalty {
                Some(p) => loss + p,
                None => loss,
            };
            match self.mixer.regularizer(&self.alphas) {
                Some(r) => loss + r,
                None => loss,
            }
        };
        match self.config.arch_step {
            ArchStep::FirstOrder => {
                // The α step needs no weight gradients: a frozen copy of the supernet saves their
                // computation in the backward pass (activations still carry α's gradient).
                let frozen = self.model.clone().no_grad();
                let (loss, acc, pen) = self.loss_and_penalty(&frozen, objective, valid, draw)?;
                let v = Self::local(&loss);
                let grads = GradientsParams::from_grads(reg(loss, pen).backward(), &self.alphas);
                let (grads, s) = parallel::all_reduce(
                    peer,
                    &self.alphas,
                    grads,
                    &[v, acc.unwrap_or(0.0)],
                    valid_share,
                )?;
                let v = Self::checked(s[0], "validation loss", epoch, step)?;
                Ok((grads, v, acc.map(|_| s[1])))
            }
            ArchStep::SecondOrder => {
                // w′ = w − η (μ·b + ∇w L_train(w, α) + λ w), the reference's
                // `_compute_unrolled_model` (b: the weight optimizer's momentum buffer).
                let (lt, _) = self.loss_at(&self.model, objective, train, draw)?;
                let v = Self::local(&lt);
                let gw = GradientsParams::from_grads(lt.backward(), &self.model);
                let (gw, s) = parallel::all_reduce(peer, &self.model, gw, &[v], train_share)?;
                Self::checked(s[0], "training loss (unrolled)", epoch, step)?;
                let direction = self.unrolled_direction(&gw);
                let unrolled = self.model.clone().map(&mut Axpy {
                    grads: &direction,
                    s: -lr,
                });
                // ∇α L_val(w′, α) and v = ∇w′ L_val(w′, α).
                let (lv, acc, pen) =
                    self.loss_and_penalty(&unrolled, objective, valid, draw + 1)?;
                let v = Self::local(&lv);
                // The penalty depends on α alone: it only adds its gradient here.
                let g = match pen {
                    Some(p) => (lv + p).backward(),
                    None => lv.backward(),
                };
                let ga = GradientsParams::from_grads(g, &self.alphas);
                let (mut ga, s) = parallel::all_reduce(
                    peer,
                    &self.alphas,
                    ga,
                    &[v, acc.unwrap_or(0.0)],
                    valid_share,
                )?;
                let v = Self::checked(s[0], "validation loss", epoch, step)?;
                let acc = acc.map(|_| s[1]);
                let (lv2, _) = self.loss_at(&unrolled, objective, valid, draw + 1)?;
                let vw = GradientsParams::from_grads(lv2.backward(), &unrolled);
                let (vw, _) = parallel::all_reduce(peer, &unrolled, vw, &[], valid_share)?;
                let norm = grad_norm(&unrolled, &vw);
                if norm > 0.0 {
                    let r = 0.01 / norm;
                    // w± = w ± R v; the Hessian-vector product by a central difference.
                    let plus = self.model.clone().map(&mut Axpy { grads: &vw, s: r });
                    let minus = self.model.clone().map(&mut Axpy { grads: &vw, s: -r });
                    let (lp, _) = self.loss_at(&plus, objective, train, draw)?;
                    let gp = GradientsParams::from_grads(lp.backward(), &self.alphas);
                    let (gp, _) = parallel::all_reduce(peer, &self.alphas, gp, &[], train_share)?;
                    let (lm, _) = self.loss_at(&minus, objective, train, draw)?;
                    let gm = GradientsParams::from_grads(lm.backward(), &self.alphas);
                    let (gm, _) = parallel::all_reduce(peer, &self.alphas, gm, &[], train_share)?;
                    for a in &self.alphas.alpha {
                        let id = a.id;
                        if let (Some(base), Some(p), Some(m)) = (
                            ga.remove::<B::InnerBackend, 1>(id),
                            gp.get::<B::InnerBackend, 1>(id),
                            gm.get::<B::InnerBackend, 1>(id),
                        ) {
                            ga.register(id, base - (p - m) * (lr / (2.0 * r)));
                        }
                    }
                }
                // The regularizer depends on α alone, the same on every peer: added once, after
                // the all-reduce.
                if let Some(rg) = self.mixer.regularizer(&self.alphas) {
                    let gr = GradientsParams::from_grads(rg.backward(), &self.alphas);
                    for a in &self.alphas.alpha {
                        if let (Some(base), Some(extra)) = (
                            ga.remove::<B::InnerBackend, 1>(a.id),
                            gr.get::<B::InnerBackend, 1>(a.id),
                        ) {
                            ga.register(a.id, base + extra);
                        }
                    }
                }
                Ok((ga, v, acc))
            }
        }
    }

    /// The direction of DARTS v2's virtual weight step, as in the reference's
    /// `_compute_unrolled_model`: `∇w L + λ w + μ·b`, with `λ` the weight decay and, for SGD,
    /// `μ·b` the momentum the next real step would add (zero before the first step). Adam and
    /// AdamW take the gradient plus `λ w` (the reference code assumes SGD; an Adam step is not
    /// a linear function of the gradient, so there is no closed unrolled form to match).
    fn unrolled_direction(&self, grads: &GradientsParams) -> GradientsParams {
        let (weight_decay, momentum) = match self.config.weight_optimizer {
            WeightOptimizer::Sgd {
                momentum,
                weight_decay,
                ..
            } => (weight_decay, momentum),
            WeightOptimizer::Adam { weight_decay } | WeightOptimizer::AdamW { weight_decay } => {
                (weight_decay, 0.0)
            }
        };
        let buffers = match (&self.w_opt, momentum > 0.0) {
            (WeightOpt::Sgd(o), true) => Some((o.to_record(), momentum)),
            _ => None,
        };
        let mut v = UnrolledDirection::<B> {
            grads,
            weight_decay,
            buffers,
            out: GradientsParams::new(),
        };
        self.model.visit(&mut v);
        v.out
    }

    /// The α gradient one step of this search would apply (for inspection and tests).
    pub fn architecture_gradient<I: Clone, T, Obj: Objective<B, M::Output, T>>(
        &self,
        objective: &Obj,
        train: &(I, T),
        valid: &(I, T),
        lr: f64,
    ) -> Result<Vec<Vec<f32>>>
    where
        M: Supernet<B, Input = I>,
    {
        let (g, _, _) =
            self.arch_grads(objective, (train, 1.0), (valid, 1.0), lr, 0, 0, 0, None)?;
        Ok(self
            .alphas
            .alpha
            .iter()
            .map(|a| {
                g.get::<B::InnerBackend, 1>(a.id)
                    .map(|t| host(&t))
                    .unwrap_or_default()
            })
            .collect())
    }

    /// Runs the remaining epochs (from `self.epoch` to `config.epochs`).
    pub fn run<I, T, D, Obj>(&mut self, data: &D, objective: &Obj) -> Result<&[EpochRecord]>
    where
        M: Supernet<B, Input = I> + Send,
        X: Clone + Send,
        I: Clone + Shard<B>,
        T: Shard<B>,
        D: SearchData<I, T> + Sync,
        Obj: Objective<B, M::Output, T> + Sync,
    {
        self.run_until(data, objective, self.config.epochs)
    }

    /// Runs epochs up to (not including) `stop`, e.g. to checkpoint midway. With
    /// [`Search::with_peers`], every peer runs them, each on its rows of every batch.
    pub fn run_until<I, T, D, Obj>(
        &mut self,
        data: &D,
        objective: &Obj,
        stop: usize,
    ) -> Result<&[EpochRecord]>
    where
        M: Supernet<B, Input = I> + Send,
        X: Clone + Send,
        I: Clone + Shard<B>,
        T: Shard<B>,
        D: SearchData<I, T> + Sync,
        Obj: Objective<B, M::Output, T> + Sync,
    {
        match self.peers.clone() {
            Some(peers) if peers.world() > 1 => self.run_on_peers(&peers, data, objective, stop)?,
            _ => self.run_epochs(data, objective, stop, None)?,
        }
        Ok(&self.records)
    }

    /// A copy of this search for another peer: the same weights, α, optimizer states, mixer
    /// and epoch, on `device`, writing no log and showing no progress.
    fn replica(&self, device: &B::Device) -> Self
    where
        X: Clone,
    {
        Search {
            model: self.model.clone().fork(device),
            alphas: self.alphas.clone().fork(device),
            mixer: self.mixer.clone(),
            config: self.config.clone(),
            epoch: self.epoch,
            records: Vec::new(),
            w_opt: self.w_opt.clone(),
            a_opt: self.a_opt.clone(),
            mask: self.mask.clone(),
            log: None,
            progress: false,
            started: self.started,
            peers: None,
        }
    }

    /// Runs the epochs on every local peer: this search is the first, the others are replicas
    /// on threads of their own; all end in the same state, and this one is kept.
    fn run_on_peers<I, T, D, Obj>(
        &mut self,
        peers: &Peers<B::Device>,
        data: &D,
        objective: &Obj,
        stop: usize,
    ) -> Result<()>
    where
        M: Supernet<B, Input = I> + Send,
        X: Clone + Send,
        I: Clone + Shard<B>,
        T: Shard<B>,
        D: SearchData<I, T> + Sync,
        Obj: Objective<B, M::Output, T> + Sync,
    {
        // A poisoned lock only means an earlier session panicked. Holding the lock, no other
        // session of this process is live: clear what a panicked one may have left registered.
        let _session = parallel::SESSION
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        burn::collective::reset_collective::<B::InnerBackend>();
        let first = peers.devices()[0].clone();
        self.model = self.model.clone().fork(&first);
        self.alphas = self.alphas.clone().fork(&first);
        let replicas: Vec<Self> = peers.devices()[1..]
            .iter()
            .map(|d| self.replica(d))
            .collect();
        // Every peer is a worker of one rayon pool. Burn's CPU backend runs its parallel
        // kernels on the current pool: from a worker they split across the pool's threads,
        // where from threads outside it they would queue behind each other's jobs and leave
        // the peers' own threads idle. One worker per peer at least, or a peer waiting in an
        // all-reduce would hold the only thread another peer needs.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cores.max(peers.devices().len()))
            .thread_name(|i| format!("tangle-peer-{i}"))
            .build()
            .map_err(|e| OptimError::Config(format!("cannot start the peers' threads: {e}")))?;
        let mut results: Vec<Result<()>> = Vec::new();
        results.resize_with(peers.devices().len(), || Ok(()));
        let run_as = move |search: &mut Self, peer: Peer<B::Device>| {
            let rank = peer.rank;
            let run = || {
                peer.run::<B::InnerBackend>(|| {
                    search.run_epochs(data, objective, stop, Some(&peer))
                })
            };
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|panic| {
                // The other peers wait for this one in their next all-reduce. Resetting the
                // collective fails their pending call, and any later one, with an error.
                burn::collective::reset_collective::<B::InnerBackend>();
                Err(OptimError::PeerPanicked {
                    rank,
                    message: parallel::panic_message(panic.as_ref()),
                })
            })
        };
        pool.scope(|scope| {
            let mut slots = results.iter_mut();
            let first = slots.next().expect("at least one peer");
            let me = &mut *self;
            scope.spawn(move |_| *first = run_as(me, peers.peer(0)));
            for (i, (mut replica, slot)) in replicas.into_iter().zip(slots).enumerate() {
                scope.spawn(move |_| *slot = run_as(&mut replica, peers.peer(i + 1)));
            }
        });
        // A panic is the cause of the other peers' collective errors: report it first.
        let panicked = results
            .iter()
            .position(|r| matches!(r, Err(OptimError::PeerPanicked { .. })));
        match panicked {
            Some(i) => results.swap_remove(i),
            None => results.into_iter().collect(),
        }
    }

    /// The epoch loop, on one peer of `peer`'s collective or alone.
    fn run_epochs<I, T, D, Obj>(
        &mut self,
        data: &D,
        objective: &Obj,
        stop: usize,
        peer: Option<&Peer<B::Device>>,
    ) -> Result<()>
    where
        M: Supernet<B, Input = I>,
        I: Clone + Shard<B>,
        T: Shard<B>,
        D: SearchData<I, T>,
        Obj: Objective<B, M::Output, T>,
    {
        let start = *self.started.get_or_insert_with(Instant::now);
        let steps = data.steps_per_epoch();
        if steps == 0 {
            return Err(OptimError::Config(
                "the data have no steps per epoch".into(),
            ));
        }
        let stop = stop.min(self.config.epochs);
        let bar = self.progress.then(|| {
            let pb = indicatif::ProgressBar::with_draw_target(
                Some(((stop.saturating_sub(self.epoch)) * steps) as u64),
                indicatif::ProgressDrawTarget::stderr(),
            );
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} steps {msg}",
                )
                .expect("valid template"),
            );
            pb
        });
        while self.epoch < stop {
            let epoch = self.epoch;
            self.mixer.start_epoch(epoch, self.config.epochs);
            let lr = self.config.lr_at(epoch);
            let update_alpha = self.mixer.has_alpha() && epoch >= self.config.warmup_epochs;
            let (mut tl, mut ta, mut vl, mut va) = (0.0, 0.0, 0.0, 0.0);
            let (mut n_ta, mut n_vl, mut n_va) = (0, 0, 0);
            for step in 0..steps {
                let lr = self.config.lr_at_step(epoch, epoch * steps + step);
                // Three draws per step: α step (and its unrolled pass), weight step.
                let draw = ((epoch * steps + step) as u64) * 4;
                let (train, train_share) =
                    parallel::take_shard(data.train(epoch, step), peer, "training")?;
                // Without an α update (warm-up, SPOS) the validation batch is not touched: a
                // forward pass there would cost a step's worth of compute, and in training mode
                // it would fold validation data into batch-norm running statistics that later
                // score candidates.
                if update_alpha {
                    let (valid, valid_share) =
                        parallel::take_shard(data.valid(epoch, step), peer, "validation")?;
                    let (grads, v, acc) = self.arch_grads(
                        objective,
                        (&train, train_share),
                        (&valid, valid_share),
                        lr,
                        draw,
                        epoch,
                        step,
                        peer,
                    )?;
                    vl += v;
                    n_vl += 1;
                    if let Some(a) = acc {
                        va += a;
                        n_va += 1;
                    }
                    let alphas = std::mem::replace(&mut self.alphas, ArchParams { alpha: vec![] });
                    self.alphas = self.a_opt.step(self.config.arch_lr, alphas, grads);
                    self.alphas.check_finite(epoch, step)?;
                }
                let (loss, acc) = self.loss_at(&self.model, objective, &train, draw + 2)?;
                let local = Self::local(&loss);
                let grads = GradientsParams::from_grads(loss.backward(), &self.model);
                let (mut grads, s) = parallel::all_reduce(
                    peer,
                    &self.model,
                    grads,
                    &[local, acc.unwrap_or(0.0)],
                    train_share,
                )?;
                tl += Self::checked(s[0], "training loss", epoch, step)?;
                if acc.is_some() {
                    ta += s[1];
                    n_ta += 1;
                }
                if let Some(max) = self.config.grad_clip {
                    grads = clip_global_norm(&self.model, grads, max);
                }
                let model = self.model.clone();
                self.model = self.w_opt.step(lr, model, grads);
                if let Some(pb) = &bar {
                    pb.inc(1);
                }
            }
            let record = EpochRecord {
                epoch,
                train_loss: tl / steps as f32,
                train_acc: (n_ta > 0).then(|| ta / n_ta as f32),
                valid_loss: (n_vl > 0).then(|| vl / n_vl as f32),
                valid_acc: (n_va > 0).then(|| va / n_va as f32),
                lr,
                alpha: self.alphas.values(),
                probabilities: self.probabilities(),
                architecture: self.current_architecture()?,
                seconds: start.elapsed().as_secs_f64(),
            };
            if let Some(pb) = &bar {
                pb.set_message(format!("epoch {epoch} train loss {:.3}", record.train_loss));
            }
            if let Some(path) = &self.log {
                let mut f = fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| io_err(path, e))?;
                let line = serde_json::to_string(&record).map_err(|e| io_err(path, e))?;
                writeln!(f, "{line}").map_err(|e| io_err(path, e))?;
            }
            self.records.push(record);
            self.epoch += 1;
        }
        if let Some(pb) = bar {
            pb.finish_and_clear();
        }
        Ok(())
    }

    /// Writes a checkpoint to `dir`: weights, α, both optimizers' states and the epoch. The
    /// mixers' randomness and the schedules are functions of (seed, epoch, step), so these
    /// suffice to resume bit-identically. Files are written beside and renamed into place, so an
    /// interrupted save never destroys the previous checkpoint.
    pub fn save_checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let tmp = dir.join(".partial");
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
        tangle_core::subnet::save(&self.model, tmp.join("model.bpk"))?;
        tangle_core::subnet::save(&self.alphas, tmp.join("alphas.bpk"))?;
        self.w_opt.save(&tmp.join("weight_optimizer"))?;
        let rec = BinFileRecorder::<FullPrecisionSettings>::new();
        rec.record(self.a_opt.to_record(), tmp.join("arch_optimizer"))
            .map_err(|e| io_err(&tmp, e))?;
        let state = serde_json::json!({
            "epoch": self.epoch,
            "mixer": self.mixer.name(),
            "config": self.config,
            "model_ids": ids(&self.model),
            "alpha_ids": ids(&self.alphas),
            "mask": self.mask,
        });
        fs::write(tmp.join("state.json"), state.to_string()).map_err(|e| io_err(&tmp, e))?;
        for entry in fs::read_dir(&tmp).map_err(|e| io_err(&tmp, e))? {
            let entry = entry.map_err(|e| io_err(&tmp, e))?;
            fs::rename(entry.path(), dir.join(entry.file_name())).map_err(|e| io_err(dir, e))?;
        }
        fs::remove_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
        Ok(())
    }

    /// Restores a checkpoint written by [`Search::save_checkpoint`] into this search (built the
    /// same way: same space, mixer and configuration).
    pub fn load_checkpoint(mut self, dir: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        let dir = dir.as_ref();
        let state_path = dir.join("state.json");
        let text = fs::read_to_string(&state_path).map_err(|e| io_err(&state_path, e))?;
        let state: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| io_err(&state_path, e))?;
        let epoch = state["epoch"]
            .as_u64()
            .ok_or_else(|| io_err(&state_path, "no epoch"))? as usize;
        if state["mixer"].as_str() != Some(self.mixer.name()) {
            return Err(OptimError::Config(format!(
                "checkpoint was written by mixer {}, this search uses {}",
                state["mixer"],
                self.mixer.name()
            )));
        }
        let saved_ids = |key: &str| -> Result<Vec<u64>> {
            serde_json::from_value(state[key].clone()).map_err(|e| io_err(&state_path, e))
        };
        let (model_ids, alpha_ids) = (saved_ids("model_ids")?, saved_ids("alpha_ids")?);
        self.model = tangle_core::subnet::load(self.model, dir.join("model.bpk"))?;
        self.alphas = tangle_core::subnet::load(self.alphas, dir.join("alphas.bpk"))?;
        let current = ids(&self.model);
        self.w_opt =
            self.w_opt
                .load(&dir.join("weight_optimizer"), device, &model_ids, &current)?;
        let a_path = dir.join("arch_optimizer");
        let current = ids(&self.alphas);
        self.a_opt = load_optimizer(self.a_opt, &a_path, device, &alpha_ids, &current)?;
        self.mask = match state.get("mask") {
            None | Some(serde_json::Value::Null) => None,
            Some(m) => Some(serde_json::from_value(m.clone()).map_err(|e| io_err(&state_path, e))?),
        };
        self.epoch = epoch;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    //! Each optimizer the engine builds, pinned by two steps against PyTorch's update rules
    //! written out by hand (in f64).
    use super::*;
    use burn::backend::{Autodiff, Flex};

    type AB = Autodiff<Flex>;

    const W0: [f64; 3] = [0.5, -1.0, 2.0];
    // Gradients as small as α's often are (1e-5) next to ordinary ones.
    const GRADS: [[f64; 3]; 2] = [[1e-5, -2e-3, 0.3], [-3e-5, 1e-3, 0.1]];
    const LR: f64 = 0.05;

    fn params(w: &[f64]) -> ArchParams<AB> {
        ArchParams {
            alpha: vec![Param::from_tensor(Tensor::from_floats(
                w.iter().map(|&v| v as f32).collect::<Vec<_>>().as_slice(),
                &Default::default(),
            ))],
        }
    }

    /// Gradients equal to `g` exactly: the backward of `Σ g·w`.
    fn grads_of(p: &ArchParams<AB>, g: &[f64]) -> GradientsParams {
        let c = Tensor::<AB, 1>::from_floats(
            g.iter().map(|&v| v as f32).collect::<Vec<_>>().as_slice(),
            &Default::default(),
        );
        GradientsParams::from_grads((p.alpha[0].val() * c).sum().backward(), p)
    }

    fn run(mut step: impl FnMut(ArchParams<AB>, GradientsParams) -> ArchParams<AB>) -> Vec<f64> {
        let mut p = params(&W0);
        for g in GRADS {
            let gp = grads_of(&p, &g);
            p = step(p, gp);
        }
        p.values()[0].iter().map(|&v| v as f64).collect()
    }

    fn assert_close(got: &[f64], want: &[f64], what: &str) {
        for i in 0..want.len() {
            // Relative to the distance travelled, so that a halved step fails.
            let moved = (want[i] - W0[i]).abs();
            assert!(
                (got[i] - want[i]).abs() <= 1e-3 * moved + 1e-7,
                "{what}, entry {i}: got {} want {} (moved {moved})",
                got[i],
                want[i]
            );
        }
    }

    /// torch.optim.SGD (dampening 0): d = g + λw; b = d, then μb + d; Nesterov d + μb.
    fn sgd_ref(mu: f64, nesterov: bool, wd: f64) -> Vec<f64> {
        let mut w = W0.to_vec();
        let mut buf: Option<Vec<f64>> = None;
        for g in GRADS {
            let d: Vec<f64> = (0..3).map(|i| g[i] + wd * w[i]).collect();
            let b: Vec<f64> = match &buf {
                None => d.clone(),
                Some(b) => (0..3).map(|i| mu * b[i] + d[i]).collect(),
            };
            for i in 0..3 {
                w[i] -= LR * if nesterov { d[i] + mu * b[i] } else { b[i] };
            }
            buf = Some(b);
        }
        w
    }

    /// torch.optim.Adam (L2 decay in the gradient) or AdamW (decoupled decay), ε = 1e-8.
    fn adam_ref(b1: f64, b2: f64, wd: f64, decoupled: bool) -> Vec<f64> {
        let mut w = W0.to_vec();
        let (mut m, mut v) = (vec![0.0; 3], vec![0.0; 3]);
        for (t, g) in GRADS.iter().enumerate() {
            let t = t as i32 + 1;
            for i in 0..3 {
                let d = if decoupled {
                    w[i] *= 1.0 - LR * wd;
                    g[i]
                } else {
                    g[i] + wd * w[i]
                };
                m[i] = b1 * m[i] + (1.0 - b1) * d;
                v[i] = b2 * v[i] + (1.0 - b2) * d * d;
                let mh = m[i] / (1.0 - b1.powi(t));
                let vh = v[i] / (1.0 - b2.powi(t));
                w[i] -= LR * mh / (vh.sqrt() + 1e-8);
            }
        }
        w
    }

    fn weight_run(cfg: WeightOptimizer, beta_2: f64) -> Vec<f64> {
        let mut opt = WeightOpt::<AB, ArchParams<AB>>::new(&cfg, beta_2, 1e-8);
        run(|p, g| opt.step(LR, p, g))
    }

    #[test]
    fn sgd_momentum_matches_pytorch() {
        let got = weight_run(
            WeightOptimizer::Sgd {
                momentum: 0.9,
                nesterov: false,
                weight_decay: 3e-4,
            },
            0.999,
        );
        assert_close(&got, &sgd_ref(0.9, false, 3e-4), "SGD momentum");
    }

    #[test]
    fn sgd_nesterov_matches_pytorch() {
        let got = weight_run(
            WeightOptimizer::Sgd {
                momentum: 0.9,
                nesterov: true,
                weight_decay: 5e-4,
            },
            0.999,
        );
        assert_close(&got, &sgd_ref(0.9, true, 5e-4), "SGD Nesterov");
    }

    #[test]
    fn adam_matches_pytorch() {
        let got = weight_run(WeightOptimizer::Adam { weight_decay: 5e-4 }, 0.999);
        assert_close(&got, &adam_ref(0.9, 0.999, 5e-4, false), "Adam");
    }

    #[test]
    fn adamw_matches_pytorch() {
        let got = weight_run(WeightOptimizer::AdamW { weight_decay: 0.1 }, 0.99);
        assert_close(&got, &adam_ref(0.9, 0.99, 0.1, true), "AdamW");
    }

    #[test]
    fn arch_adam_matches_pytorch() {
        let config = SearchConfig::default();
        assert_eq!(config.adam_epsilon, 1e-8);
        let mut opt = arch_optimizer::<AB>(&config);
        let got = run(|p, g| opt.step(LR, p, g));
        let (b1, b2) = config.arch_betas;
        assert_close(
            &got,
            &adam_ref(b1, b2, config.arch_weight_decay, false),
            "α Adam",
        );
    }

    #[test]
    fn the_config_saves_and_loads_as_json() {
        use burn::config::Config;
        let config = SearchConfig {
            arch_step: ArchStep::SecondOrder,
            ..SearchConfig::autoformer(14)
        };
        let json = burn::config::config_to_json(&config);
        assert_eq!(
            SearchConfig::load_binary(json.as_bytes()).unwrap(),
            config,
            "{json}"
        );
    }

    #[test]
    fn config_errors_name_the_field() {
        let cfg = SearchConfig {
            arch_lr: -1.0,
            ..SearchConfig::default()
        };
        let msg = cfg.check().unwrap_err().to_string();
        assert!(msg.contains("arch_lr = -1"), "{msg}");
        assert!(!msg.contains("weight_optimizer"), "{msg}");
    }
}
