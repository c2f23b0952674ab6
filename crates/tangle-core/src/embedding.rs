//! `SuperEmbedding`: token / position tables over an embedding-dim decision.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Initializer};
use burn::tensor::{backend::Backend, module::embedding, Int, Tensor};

use crate::combi::{Combi, Plan};
use crate::error::CoreError;
use crate::mixture::Mixture;
use crate::spec::check_increasing_sizes;

/// A table `[rows, max dim]` read by index (tokens) or by position (position embeddings, a cls
/// token), whose width is an embedding-dim decision. Superposed, rows are masked column-wise
/// (`row ⊙ m`, the same as looking up in `W ⊙ m`); single, the table is sliced to `[rows, e]`.
#[derive(Module, Debug)]
pub struct SuperEmbedding<B: Backend> {
    /// The table, `[rows, max dim]`.
    pub weight: Param<Tensor<B, 2>>,
    #[module(skip)]
    combi: Combi,
}

/// Configuration of a [`SuperEmbedding`]: `SuperEmbeddingConfig::new(rows, dims).init(&device)`.
#[derive(Config, Debug, PartialEq)]
pub struct SuperEmbeddingConfig {
    /// Rows of the table (vocabulary size, context length, 1 for a cls token).
    pub rows: usize,
    /// The width candidates (one decision), increasing.
    pub dims: Vec<usize>,
    /// Standard deviation of the `N(0, std²)` initialization.
    #[config(default = 0.02)]
    pub std: f64,
}

impl SuperEmbeddingConfig {
    /// Builds the table. Errors for no rows or width candidates that are not increasing.
    pub fn init<B: Backend>(&self, device: &B::Device) -> crate::Result<SuperEmbedding<B>> {
        check_increasing_sizes("SuperEmbedding.dim", &self.dims)?;
        if self.rows == 0 {
            return Err(CoreError::Config(
                "an embedding table needs at least one row".into(),
            ));
        }
        let combi = Combi::sizes(&self.dims)?;
        let n = combi.max()[0];
        let init = Initializer::Normal {
            mean: 0.0,
            std: self.std,
        };
        Ok(SuperEmbedding {
            weight: init.init([self.rows, n], device),
            combi,
        })
    }
}

impl<B: Backend> SuperEmbedding<B> {
    /// Number of rows (vocabulary size or context length).
    pub fn rows(&self) -> usize {
        self.weight.dims()[0]
    }

    fn apply<const D: usize>(&self, y: Tensor<B, D>, plan: &Plan<B>) -> Tensor<B, D> {
        let e = plan.extents[0];
        let mut shape = [1usize; D];
        shape[D - 1] = e;
        if plan.is_single() {
            match plan.scale() {
                Some(s) => y * s.reshape([1; D]),
                None => y,
            }
        } else {
            match plan.axis_mask(0) {
                Some(m) => y * m.reshape(shape),
                None => y,
            }
        }
    }

    fn table(&self, plan: &Plan<B>) -> Tensor<B, 2> {
        let e = plan.extents[0];
        let w = self.weight.val();
        if e != self.combi.max()[0] {
            let rows = self.rows();
            w.slice([0..rows, 0..e])
        } else {
            w
        }
    }

    /// Looks up `ids` (`[batch, seq]`) → `[batch, seq, e]`.
    pub fn forward(&self, ids: Tensor<B, 2, Int>, mix: &Mixture<B>) -> crate::Result<Tensor<B, 3>> {
        let plan = self.combi.plan(&[mix], "SuperEmbedding")?;
        Ok(self.apply(embedding(self.table(&plan), ids), &plan))
    }

    /// The first `n` rows → `[n, e]` (position embeddings for a sequence of length `n`, or a
    /// cls token with `n = 1`).
    pub fn first_rows(&self, n: usize, mix: &Mixture<B>) -> crate::Result<Tensor<B, 2>> {
        if n > self.rows() {
            return Err(CoreError::Shape {
                module: "SuperEmbedding".into(),
                expected: format!("at most {} positions", self.rows()),
                got: vec![n],
            });
        }
        let plan = self.combi.plan(&[mix], "SuperEmbedding")?;
        let t = self.table(&plan);
        let e = plan.extents[0];
        Ok(self.apply(t.slice([0..n, 0..e]), &plan))
    }

    /// The standalone `Embedding` at candidate `index`.
    pub fn extract(&self, index: usize) -> crate::Result<Embedding<B>> {
        let e = self.combi.extents(&[index])?[0];
        let rows = self.rows();
        let mut emb = EmbeddingConfig::new(rows, e).init::<B>(&self.weight.device());
        emb.weight = Param::from_tensor(self.weight.val().slice([0..rows, 0..e]).detach());
        Ok(emb)
    }
}
