//! The α step: its optimizer, and the first- and second-order (DARTS v2) α gradients.

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};
use tangle_core::Supernet;

use crate::error::{OptimError, Result};
use crate::mixer::Mixer;
use crate::parallel::{self, Peer};
use crate::params::{host, ArchParams};

use super::*;

/// The α optimizer: Adam with the configured betas, ε and L2 weight decay, every
/// hyperparameter set explicitly (Burn's defaults differ from PyTorch's, which the paper assumes).
pub(super) fn arch_optimizer<B: AutodiffBackend>(
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

impl<B, M, X> Search<B, M, X>
where
    B: AutodiffBackend,
    M: Supernet<B> + AutodiffModule<B>,
    X: Mixer<B>,
{
    /// The seed of pass `draw`'s own random draws (dropout masks) on this peer: the search's
    /// seed, the draw and the peer's rank — peers hold different rows, so they draw different
    /// masks, each reproducibly. (The mixers' streams use other third arguments.)
    pub(super) fn pass_seed(&self, draw: u64) -> u64 {
        tangle_core::random::mix_seed(self.seed, draw, (1 << 40) | self.rank as u64)
    }

    pub(super) fn loss_at<I: Clone, T, Obj: Objective<B, M::Output, T>>(
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
    pub(super) fn loss_and_penalty<I: Clone, T, Obj: Objective<B, M::Output, T>>(
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
        let mix = mix.with_seed(self.pass_seed(draw));
        let penalty = self.config.param_penalty.as_ref().and_then(|p| p.of(&mix));
        let out = model.forward_mixed(batch.0.clone(), &mix)?;
        let acc = objective.accuracy(&out, &batch.1);
        Ok((objective.loss(out, &batch.1), acc, penalty))
    }

    /// A loss's value on this peer (checked once summed over the peers: [`Self::checked`]).
    pub(super) fn local(loss: &Tensor<B, 1>) -> f32 {
        loss.clone().into_scalar().elem::<f32>()
    }

    /// `v` if finite, else the error naming what and where. Every peer checks the same summed
    /// value, so all stop together (one peer stopping alone would leave the others waiting in
    /// an all-reduce).
    pub(super) fn checked(v: f32, what: &str, epoch: usize, step: usize) -> Result<f32> {
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
    pub(super) fn arch_grads<I: Clone, T, Obj: Objective<B, M::Output, T>>(
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
    pub(super) fn unrolled_direction(&self, grads: &GradientsParams) -> GradientsParams {
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
}
