//! # tangle-optim
//!
//! The single-stage half of TangleNAS: architecture parameters ([`ArchParams`]), the mixers that
//! turn them into mixtures ([`Darts`], [`Gdas`], [`Drnas`]; sparsemax as an optional
//! normalizer), and the bi-level [`Search`] engine with per-epoch records, checkpoints and resume.
//! It drives any space implementing [`tangle_core::Supernet`].

#![warn(missing_docs)]

pub mod darts;
pub mod drnas;
pub mod engine;
pub mod error;
pub mod gdas;
pub mod mixer;
pub mod params;
pub mod plot;
pub mod sparsemax;
pub mod special;

pub use darts::{Darts, Normalizer};
pub use drnas::Drnas;
pub use engine::{
    ArchStep, Classification, EpochRecord, Objective, ParamPenalty, Regression, Search,
    SearchConfig, SearchData, WeightOptimizer,
};
pub use error::{OptimError, Result};
pub use gdas::Gdas;
pub use mixer::{argmax, Mixer};
pub use params::ArchParams;
pub use tangle_core;
