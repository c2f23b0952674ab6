//! # tangle-optim
//!
//! The single-stage half of TangleNAS: architecture parameters ([`ArchParams`]), the mixers that
//! turn them into mixtures ([`Darts`], [`Gdas`], [`Drnas`]; sparsemax as an optional
//! normalizer), and the bi-level [`Search`] engine with per-epoch records, checkpoints and resume.
//! It drives any space implementing [`tangle_core::Supernet`].
//!
//! ```
//! use burn::backend::{Autodiff, Flex};
//! use tangle_core::{Decision, SearchSpec};
//! use tangle_optim::{ArchParams, Darts, Mixer};
//!
//! type B = Autodiff<Flex>;
//! let spec = SearchSpec::new(vec![
//!     Decision::kernels("conv.kernel", &[3, 5, 7])?,
//!     Decision::sizes("conv.channels", &[16, 32], 32)?,
//! ])?;
//! // α ~ 1e-3·N(0, 1), seeded: the same on every backend.
//! let alphas = ArchParams::<B>::new(&spec, 0, &Default::default());
//! let darts = Darts::softmax();
//! // One mixture per decision, what a supernet's forward pass consumes.
//! let mixtures = Mixer::<B>::mixtures(&darts, &alphas, &spec, 0)?;
//! assert_eq!(mixtures.as_slice().len(), 2);
//! let p = Mixer::<B>::probabilities(&darts, &alphas);
//! assert!((p[0].iter().sum::<f32>() - 1.0).abs() < 1e-5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod darts;
pub mod drnas;
pub mod engine;
pub mod error;
pub mod fixed;
pub mod gdas;
pub mod method;
pub mod mixer;
pub mod parallel;
pub mod params;
pub mod plot;
pub mod progressive;
pub mod prune;
pub mod sparsemax;
pub mod special;
pub mod uniform;

pub use darts::{Darts, Normalizer};
pub use drnas::Drnas;
pub use engine::{
    checkpoint_exists, clip_global_norm, ArchStep, Classification, EpochRecord, JsonLinesLog,
    Objective, Observer, ParamPenalty, ProgressBar, Regression, Search, SearchConfig, SearchData,
    WeightOptimizer,
};
pub use error::{OptimError, Result};
pub use fixed::FixedPath;
pub use gdas::Gdas;
pub use method::{Method, MethodMixer};
pub use mixer::{argmax, Mixer};
pub use parallel::{Peers, Shard};
pub use params::ArchParams;
pub use progressive::{Progressive, Stage};
pub use prune::CandidateMask;
pub use tangle_core;
pub use uniform::UniformPath;
