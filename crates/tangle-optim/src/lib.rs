//! # tangle-optim
//!
//! Architecture parameters, the DrNAS / DARTS / GDAS mixers and the bi-level search engine.
//! This crate is laid down with the workspace so the layering is visible; its contents arrive
//! with the optimizer issue. It depends on [`tangle_core`] only.

#![warn(missing_docs)]

pub use tangle_core;
