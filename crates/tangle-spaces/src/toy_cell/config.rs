//! [`ToyCellConfig`]: the space's configuration (Burn `Config`: saved and loaded as JSON).
//!
//! In its own file because Burn's `Config` derive needs the standard `Result` in scope, and
//! the space's file uses tangle-core's.

use burn::config::Config;

/// The toy cell space's settings; its cells and operations are fixed by the paper.
#[derive(Config, Debug, Copy, PartialEq)]
pub struct ToyCellConfig {
    /// Dropout after every cell and before the classifier.
    #[config(default = 0.2)]
    pub dropout: f64,
}

impl Default for ToyCellConfig {
    /// The reference's dropout, 0.2.
    fn default() -> Self {
        Self::new()
    }
}
