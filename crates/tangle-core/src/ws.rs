//! `WsMixedOp`: the weight-sharing baseline (independent weights, output mixture).

use core::marker::PhantomData;

use burn::module::Module;
use burn::tensor::{backend::Backend, Tensor};

use crate::error::{CoreError, Result};
use crate::mixture::Mixture;

/// The classic DARTS mixed operation (the paper's Algorithm 4): every candidate has its own
/// weights and the *outputs* are mixed, `Σ_i w_i · op_i(x)`. Memory and time grow with the
/// number of candidates — the baseline that weight superposition improves on. A single-candidate
/// mixture runs only that candidate.
#[derive(Module, Debug)]
pub struct WsMixedOp<B: Backend, M: Module<B>> {
    /// One module per candidate.
    pub ops: Vec<M>,
    _backend: PhantomData<B>,
}

impl<B: Backend, M: Module<B>> WsMixedOp<B, M> {
    /// Wraps the candidate operations.
    pub fn new(ops: Vec<M>) -> Result<Self> {
        if ops.is_empty() {
            return Err(CoreError::Config(
                "a mixed op needs at least one candidate".into(),
            ));
        }
        Ok(WsMixedOp {
            ops,
            _backend: PhantomData,
        })
    }

    /// Mixes the outputs of `run(op_i, x)` under `mix`.
    pub fn forward<const D: usize>(
        &self,
        x: Tensor<B, D>,
        mix: &Mixture<B>,
        run: impl Fn(&M, Tensor<B, D>) -> Result<Tensor<B, D>>,
    ) -> Result<Tensor<B, D>> {
        mix.check(self.ops.len(), "WsMixedOp")?;
        let terms = mix
            .active(self.ops.len())
            .into_iter()
            .map(|i| Ok(mix.weigh(i, run(&self.ops[i], x.clone())?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(crate::attention::sum(terms).expect("at least one active candidate"))
    }
}
