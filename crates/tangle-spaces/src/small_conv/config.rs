//! [`SmallConvConfig`]: the space's configuration (Burn `Config`: saved and loaded as JSON).
//!
//! In its own file because Burn's `Config` derive needs the standard `Result` in scope, and
//! the space's file uses tangle-core's.

use burn::config::Config;

/// Input channels and classes.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub struct SmallConvConfig {
    /// Image channels (1 for MNIST).
    #[config(default = 1)]
    pub in_channels: usize,
    /// Classes.
    #[config(default = 10)]
    pub classes: usize,
}

impl Default for SmallConvConfig {
    /// Grey-scale digits: 1 channel, 10 classes.
    fn default() -> Self {
        Self::new()
    }
}
