//! The search's hyperparameters: the weight optimizer, the α step, `SearchConfig` and the
//! paper's presets.

use serde::{Deserialize, Serialize};

use super::*;

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

/// PyTorch's Adam ε, which the paper's hyperparameters assume.
pub(super) fn pytorch_adam_epsilon() -> f64 {
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

    pub(super) fn check(&self) -> Result<()> {
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
