//! Gradient visitors: realizing lazy parameters, global-norm clipping, the DARTS v2 unrolled
//! direction.

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};

use super::*;

/// Realizes every lazily initialized parameter. Burn initializes parameters at first use, and a
/// clone taken before that initializes its own copy independently: the engine clones the
/// supernet (frozen α-step copy, DARTS-v2 unrolled copies), so all clones must share one value.
pub(super) struct Realize;

impl<B: Backend> ModuleVisitor<B> for Realize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = param.val();
    }
}

/// Scales every gradient of `model`'s parameters so that their global L2 norm is at most `max`
/// (PyTorch's `clip_grad_norm_`, the same `max / (norm + 1e-6)` factor; Burn's own clipping is
/// per tensor). The search's `grad_clip` and `tanglenas::experiment::retrain` use it.
pub fn clip_global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
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

/// Builds `g + λ w + μ·b` per parameter (see [`Search::unrolled_direction`]).
pub(super) struct UnrolledDirection<'a, B: AutodiffBackend> {
    pub(super) grads: &'a GradientsParams,
    pub(super) weight_decay: f64,
    /// The SGD momentum states and μ.
    pub(super) buffers: Option<(SgdRecords<B>, f64)>,
    pub(super) out: GradientsParams,
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
pub(super) struct Axpy<'a> {
    pub(super) grads: &'a GradientsParams,
    pub(super) s: f64,
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
pub(super) fn grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &GradientsParams,
) -> f64 {
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
