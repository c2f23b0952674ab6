//! # tangle-twostage
//!
//! The two-stage baselines of the paper on the same weight-entangled supernets:
//!
//! 1. SPOS supernet training: `tangle_optim::Search::with_method(.., Method::Spos, ..)` trains
//!    one uniformly sampled single path per step, with no α and no validation pass, using the
//!    engine's optimizers, schedules, records and checkpoint / resume.
//! 2. Search on the trained supernet ([`TrainedSupernet`], or [`search`] with a score of your
//!    own): [`random_search`] or AutoFormer-style
//!    [`evolution`], each candidate scored by [`evaluate::score`] (inherited weights on the
//!    validation split), optionally inside a parameter / FLOPs [`Window`]. Every evaluation is
//!    recorded in a [`History`].
//!
//! Comparing methods over seeds — mean ± std, Welch's t-test, the Mann-Whitney U test — is in
//! [`stats`].
//!
//! ```
//! use tangle_core::{Decision, SearchSpec};
//! use tangle_twostage::random_search;
//!
//! let spec = SearchSpec::new(vec![
//!     Decision::sizes("width", &[8, 16, 32], 32)?,
//!     Decision::kernels("kernel", &[3, 5, 7])?,
//! ])?;
//! // Score = the width here; with a trained supernet, `tangle_twostage::score` (inherited
//! // weights on validation batches).
//! let history = random_search(&spec, 9, None, 0, |arch| {
//!     Ok(arch.get("width").and_then(|c| c.as_usize()).unwrap_or(0) as f32)
//! })?;
//! assert_eq!(history.evaluated.len(), 9); // distinct architectures: all nine
//! assert_eq!(history.best().unwrap().score, 32.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ```
//! use tangle_core::{Decision, SearchSpec};
//! use tangle_twostage::{evolution, random_search, EvolutionConfig};
//!
//! let spec = SearchSpec::new(vec![
//!     Decision::sizes("embed", &[4, 8, 16], 16)?,
//!     Decision::depths("depth", &[1, 2], 2)?,
//!     Decision::ratios("layer0.mlp_ratio", &[2.0, 4.0])?,
//!     Decision::ratios("layer1.mlp_ratio", &[2.0, 4.0])?,
//! ])?;
//! // A stand-in score: prefer wide, deep networks.
//! let score = |a: &tangle_core::Architecture| -> tangle_twostage::Result<f32> {
//!     Ok(spec.indices(a)?.iter().sum::<usize>() as f32)
//! };
//! let rs = random_search(&spec, 5, None, 0, score)?;
//! assert_eq!(rs.evaluated.len(), 5);
//! let cfg = EvolutionConfig { population: 4, top_k: 2, mutations: 2, crossovers: 2, generations: 2, ..Default::default() };
//! let es = evolution(&spec, &cfg, None, 0, score)?;
//! assert!(es.best().unwrap().score >= rs.evaluated[0].score);
//! # Ok::<(), tangle_twostage::TwoStageError>(())
//! ```

#![warn(missing_docs)]

pub mod error;
pub mod evaluate;
pub mod search;
pub mod stats;
pub mod supernet;

pub use error::{Result, TwoStageError};
pub use evaluate::{recalibrate, recalibration_batches, score, Metric};
pub use search::{
    evolution, random_search, Candidate, EvolutionConfig, Genome, History, Resource, Window,
};
pub use supernet::{TrainedSupernet, ValidBatch};
pub use tangle_core;
