//! The weight optimizers (SGD, Adam, AdamW with PyTorch's hyperparameters) and how their
//! state follows a widened supernet.

use std::path::Path;

use hashbrown::HashMap;

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    Adam, AdamConfig, AdamW, AdamWConfig, GradientsParams, Optimizer, Sgd, SgdConfig,
};
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use tangle_core::Widening;

use crate::error::{OptimError, Result};

use super::*;

pub(super) enum WeightOpt<B: AutodiffBackend, M: AutodiffModule<B>> {
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
    pub(super) fn new(cfg: &WeightOptimizer, beta_2: f64, epsilon: f64) -> Self {
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

    pub(super) fn step(&mut self, lr: f64, m: M, g: GradientsParams) -> M {
        match self {
            WeightOpt::Sgd(o) => o.step(lr, m, g),
            WeightOpt::Adam(o) => o.step(lr, m, g),
            WeightOpt::AdamW(o) => o.step(lr, m, g),
        }
    }

    /// The state of every widened parameter widened as the parameter was.
    pub(super) fn widen(self, before: &M, widening: &Widening) -> Result<Self> {
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

    pub(super) fn save(&self, path: &Path) -> Result<()> {
        let rec = BinFileRecorder::<FullPrecisionSettings>::new();
        let r = match self {
            WeightOpt::Sgd(o) => rec.record(o.to_record(), path.to_path_buf()),
            WeightOpt::Adam(o) => rec.record(o.to_record(), path.to_path_buf()),
            WeightOpt::AdamW(o) => rec.record(o.to_record(), path.to_path_buf()),
        };
        r.map_err(|e| io_err(path, e))
    }

    pub(super) fn load(
        self,
        path: &Path,
        device: &B::Device,
        saved: &[u64],
        current: &[u64],
    ) -> Result<Self> {
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
pub(super) struct Before<B: AutodiffBackend> {
    shape: Vec<usize>,
    device: burn::tensor::Device<B::InnerBackend>,
}

/// Widens one optimizer's per-parameter state as [`Widening`] widened the parameter.
pub(super) trait StateWidener<B: AutodiffBackend, O: burn::optim::SimpleOptimizer<B::InnerBackend>>
{
    fn widen<const D: usize>(
        &self,
        state: O::State<D>,
        id: ParamId,
        before: &Before<B>,
        w: &Widening,
    ) -> O::State<D>;
}

/// SGD: the momentum velocity ([`sgd_velocity`]), widened and put back into a new state.
pub(super) struct SgdWidener;

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
pub(super) fn sgd_velocity<B: Backend, const D: usize>(
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
pub(super) struct AdamWidener;

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

pub(super) fn widen_moments<B: Backend, const D: usize>(
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
pub(super) fn shapes_by_id<B: AutodiffBackend, M: AutodiffModule<B>>(
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
pub(super) fn widen_states<B, O, W>(
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
pub(super) fn pytorch_momentum(momentum: f64, nesterov: bool) -> MomentumConfig {
    MomentumConfig::new()
        .with_momentum(momentum)
        .with_dampening(0.0)
        .with_nesterov(nesterov)
}
