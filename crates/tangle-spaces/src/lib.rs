//! # tangle-spaces
//!
//! The TangleNAS search spaces (toy cell, toy conv-macro, NAS-Bench-201, DARTS, AutoFormer,
//! MobileNetV3, nanoGPT), each built only from [`tangle_core`] parts. Laid down with the
//! workspace; the spaces arrive with their issues.

#![warn(missing_docs)]

pub use tangle_core;
