//! [`DartsConfig`]: the space's configuration (Burn `Config`: saved and loaded as JSON).
//!
//! In its own file because Burn's `Config` derive needs the standard `Result` in scope, and
//! the space's file uses tangle-core's.

use burn::config::Config;

/// Size of the search network.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub struct DartsConfig {
    /// Channels of the first cells (16).
    #[config(default = 16)]
    pub channels: usize,
    /// Cells (8).
    #[config(default = 8)]
    pub layers: usize,
    /// Classes.
    #[config(default = 10)]
    pub classes: usize,
    /// Partial channel factor: edges see `1/partial` of the channels (1 = off).
    #[config(default = 1)]
    pub partial: usize,
}

impl Default for DartsConfig {
    /// DARTS's search network: C = 16, 8 cells, 10 classes, all channels.
    fn default() -> Self {
        Self::new()
    }
}
