//! [`ConvMacroConfig`]: the space's configuration (Burn `Config`: saved and loaded as JSON).
//!
//! In its own file because Burn's `Config` derive needs the standard `Result` in scope, and
//! the space's file uses tangle-core's.

use burn::config::Config;

/// The toy conv-macro space's settings; its candidates are fixed by the paper (Table 17).
#[derive(Config, Debug, Copy, PartialEq)]
pub struct ConvMacroConfig {
    /// Channel dropout (`Dropout2d`) after conv3 and before the classifier, as the reference.
    #[config(default = 0.5)]
    pub dropout: f64,
}

impl Default for ConvMacroConfig {
    /// The reference's dropout, 0.5.
    fn default() -> Self {
        Self::new()
    }
}
