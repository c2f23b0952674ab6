//! The contract between a search space and the optimizers that drive it.

use std::sync::atomic::{AtomicU64, Ordering};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{backend::Backend, Tensor};

use crate::error::{CoreError, Result};
use crate::key::{Candidate, DecisionKey};
use crate::mixture::Mixture;
use crate::random;
use crate::spec::{Architecture, SearchSpec};

/// One [`Mixture`] per decision of a [`SearchSpec`], in spec order, and the seed of the pass's
/// other random draws (its dropout masks; [`Mixtures::with_seed`]).
#[derive(Debug, Clone)]
pub struct Mixtures<B: Backend> {
    names: Vec<String>,
    mixtures: Vec<Mixture<B>>,
    random: Option<PassRandom>,
}

/// The seeded random stream of one forward pass: draw `k` of the pass comes from `(seed, k)`.
#[derive(Debug)]
struct PassRandom {
    seed: u64,
    next: AtomicU64,
}

impl Clone for PassRandom {
    fn clone(&self) -> Self {
        PassRandom {
            seed: self.seed,
            next: AtomicU64::new(self.next.load(Ordering::Relaxed)),
        }
    }
}

impl<B: Backend> Mixtures<B> {
    /// Pairs `mixtures` with the decisions of `spec`, checking counts and shapes.
    pub fn new(spec: &SearchSpec, mixtures: Vec<Mixture<B>>) -> Result<Self> {
        if mixtures.len() != spec.decisions().len() {
            return Err(CoreError::BadMixture {
                decision: "<spec>".into(),
                reason: format!(
                    "{} mixtures for {} decisions",
                    mixtures.len(),
                    spec.decisions().len()
                ),
            });
        }
        for (d, m) in spec.decisions().iter().zip(&mixtures) {
            m.check(d.len(), d.name())?;
        }
        Ok(Mixtures {
            random: None,
            names: spec
                .decisions()
                .iter()
                .map(|d| d.name().to_string())
                .collect(),
            mixtures,
        })
    }

    /// A fixed architecture: a plain single choice for every decision.
    pub fn fixed(spec: &SearchSpec, arch: &Architecture) -> Result<Self> {
        let idx = spec.indices(arch)?;
        Self::new(spec, idx.into_iter().map(Mixture::single).collect())
    }

    /// The mixture of the decision called `name`.
    pub fn get(&self, name: &str) -> Result<&Mixture<B>> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| &self.mixtures[i])
            .ok_or_else(|| CoreError::UnknownDecision(name.to_string()))
    }

    /// The mixture of `key`'s decision; errors when the key belongs to another space.
    pub fn of<T: Candidate>(&self, key: &DecisionKey<T>) -> Result<&Mixture<B>> {
        let found = self.names.get(key.position());
        match found {
            Some(name) if name == key.name() => {
                let m = &self.mixtures[key.position()];
                m.check(key.len(), key.name())?;
                Ok(m)
            }
            _ => Err(key.wrong(found.map(String::as_str))),
        }
    }

    /// The mixtures in spec order.
    pub fn as_slice(&self) -> &[Mixture<B>] {
        &self.mixtures
    }

    /// Seeds the pass's other random draws: its dropout masks ([`Mixtures::dropout`]) then
    /// follow from `seed` and their order in the pass alone. The search seeds every pass from
    /// its seed, the step and the peer, so a search with dropout is reproducible and resumes
    /// to the same result, and the two passes of DARTS v2's finite difference see the same
    /// masks. Burn's own generator is one per process, shared by every peer's thread, in an
    /// order that depends on scheduling. Unseeded mixtures draw from it, as `burn::nn::Dropout`.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.random = Some(PassRandom {
            seed,
            next: AtomicU64::new(0),
        });
        self
    }

    /// Dropout with probability `prob` in training mode ([`crate::random::dropout`]), its mask
    /// from the pass's seeded stream ([`Mixtures::with_seed`]) or, unseeded, from Burn's
    /// generator.
    pub fn dropout<const D: usize>(&self, x: Tensor<B, D>, prob: f64) -> Tensor<B, D> {
        random::dropout(x, prob, self.next_seed())
    }

    /// Channel dropout (`Dropout2d`, [`crate::random::dropout_channels`]), seeded as
    /// [`Mixtures::dropout`].
    pub fn dropout_channels(&self, x: Tensor<B, 4>, prob: f64) -> Tensor<B, 4> {
        random::dropout_channels(x, prob, self.next_seed())
    }

    /// The seed of the pass's next draw, `(seed, k)` for its `k`-th (from 1), if seeded.
    fn next_seed(&self) -> Option<u64> {
        self.random.as_ref().map(|r| {
            let k = r.next.fetch_add(1, Ordering::Relaxed);
            random::mix_seed(r.seed, k + 1, 0)
        })
    }
}

/// A search space's supernet: its decisions and a forward pass under given mixtures.
///
/// Optimizers (tangle-optim) turn architecture parameters into [`Mixtures`] and call
/// [`Supernet::forward_mixed`]; two-stage methods pass single-candidate mixtures.
pub trait Supernet<B: Backend>: Module<B> {
    /// What one forward pass consumes (images, token ids …).
    type Input;
    /// What it produces (logits …).
    type Output;

    /// All decisions of the space.
    fn spec(&self) -> &SearchSpec;

    /// Forward pass with one mixture per decision.
    fn forward_mixed(&self, input: Self::Input, mix: &Mixtures<B>) -> Result<Self::Output>;
}

/// A supernet that discretizes: the plain network at one architecture, with the inherited
/// weights, and its size. Every space in tangle-spaces implements it; so can a user's.
pub trait Extract<B: Backend>: Supernet<B> {
    /// The plain (non-superposed) network.
    type Subnet: Module<B>;

    /// The network at `arch`, with weights copied (detached) from the supernet. Errors when
    /// `arch` does not fit the space.
    fn extract(&self, arch: &Architecture) -> Result<Self::Subnet>;

    /// The number of parameters of the network at `arch`.
    ///
    /// The default extracts the network and counts it with [`count_params`] (batch-norm
    /// running statistics excluded). Override it with a formula from the architecture alone
    /// where extraction is too slow for a caller that counts many architectures (an
    /// expected-parameter penalty, a resource window), and test the formula against this
    /// default; override it too when the network holds frozen tensors, which the default
    /// counts.
    fn params(&self, arch: &Architecture) -> Result<usize> {
        Ok(count_params(&self.extract(arch)?))
    }
}

/// The parameters of `module` on any backend: the elements of every float tensor it holds,
/// except batch-norm running statistics — tensors in fields named `running_mean` or
/// `running_var` (Burn's `BatchNorm`, [`crate::SuperBatchNorm2d`]), which are state, not
/// parameters. Tensors frozen with `set_require_grad(false)` (affine-free batch norms) count:
/// on a backend without autodiff nothing tells them apart; on an autodiff backend
/// [`crate::subnet::trainable_params`] leaves them out.
///
/// Burn's own `Module::num_params` counts the running statistics too: a `RunningState` visits
/// as an ordinary `Param`, so only the field name tells them apart.
pub fn count_params<B: Backend, M: Module<B>>(module: &M) -> usize {
    struct Counter {
        // The field (or index) names from the root to the tensor being visited.
        path: Vec<String>,
        total: usize,
    }
    impl<B: Backend> ModuleVisitor<B> for Counter {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let running = matches!(
                self.path.last().map(String::as_str),
                Some("running_mean" | "running_var")
            );
            if !running {
                self.total += param.shape().num_elements();
            }
        }
    }
    let mut counter = Counter {
        path: Vec::new(),
        total: 0,
    };
    module.visit(&mut counter);
    counter.total
}
