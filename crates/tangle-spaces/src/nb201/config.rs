//! [`Nb201Config`]: the space's configuration (Burn `Config`: saved and loaded as JSON).
//!
//! In its own file because Burn's `Config` derive needs the standard `Result` in scope, and
//! the space's file uses tangle-core's.

use burn::config::Config;

/// Size of the network.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub struct Nb201Config {
    /// Channels of the first stage (16).
    #[config(default = 16)]
    pub channels: usize,
    /// Cells per stage (5).
    #[config(default = 5)]
    pub cells: usize,
    /// Classes (10 for CIFAR-10, 100, 120 for ImageNet16-120).
    #[config(default = 10)]
    pub classes: usize,
}

impl Default for Nb201Config {
    /// The benchmark's network: C = 16, N = 5, 10 classes.
    fn default() -> Self {
        Self::new()
    }
}
