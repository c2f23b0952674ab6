//! [`AutoFormerConfig`]: the space's configuration (Burn `Config`: saved and loaded as JSON).
//!
//! In its own file because Burn's `Config` derive needs the standard `Result` in scope, and
//! the space's file uses tangle-core's.

use burn::config::Config;

/// The candidates and the image geometry of an AutoFormer space.
#[derive(Config, Debug, PartialEq)]
pub struct AutoFormerConfig {
    /// Embedding dims.
    pub embeds: Vec<usize>,
    /// Depths.
    pub depths: Vec<usize>,
    /// MLP ratios (per layer).
    pub ratios: Vec<f64>,
    /// Head counts (per layer).
    pub heads: Vec<usize>,
    /// Width of one head (64).
    pub head_dim: usize,
    /// Input resolution.
    pub image_size: usize,
    /// Patch size.
    pub patch: usize,
    /// Input channels.
    pub channels: usize,
    /// Classes.
    pub classes: usize,
    /// AutoFormer's 2-D relative position encodings on keys and values in every block,
    /// distances clipped to this many patches (AutoFormer and TangleNAS: 14); `None`: off.
    pub relative_position: Option<usize>,
}
