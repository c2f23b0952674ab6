//! [`MobileNetConfig`]: the space's configuration (Burn `Config`: saved and loaded as JSON).
//!
//! In its own file because Burn's `Config` derive needs the standard `Result` in scope, and
//! the space's file uses tangle-core's.

use burn::config::Config;

/// The network size.
#[derive(Config, Debug, Copy, PartialEq)]
pub struct MobileNetConfig {
    /// Input resolution (224 for ImageNet, 32 for small runs).
    #[config(default = 224)]
    pub image_size: usize,
    /// Classes.
    #[config(default = 1000)]
    pub classes: usize,
    /// Dropout before the classifier.
    #[config(default = 0.1)]
    pub dropout: f64,
}

impl Default for MobileNetConfig {
    /// ImageNet: 224 × 224, 1000 classes, dropout 0.1.
    fn default() -> Self {
        Self::new()
    }
}
