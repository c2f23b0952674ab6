//! # tangle-spaces
//!
//! The TangleNAS search spaces, each built only from [`tangle_core`] parts and implementing
//! [`tangle_core::Supernet`]. This release has the toy conv-macro space ([`conv_macro`]); the
//! toy cell, NAS-Bench-201, DARTS, MobileNetV3, AutoFormer and nanoGPT spaces arrive with their
//! issues.

#![warn(missing_docs)]

pub mod conv_macro;

pub use tangle_core;
