//! [`ConvMacroConfig`]: the space's configuration (Burn `Config`: saved and loaded as JSON).
//!
//! In its own file because Burn's `Config` derive needs the standard `Result` in scope, and
//! the space's file uses tangle-core's.

use burn::config::Config;

/// The toy conv-macro space's settings. Its candidates are the paper's (Table 17), every channel
/// width optionally divided by `width_divisor`.
#[derive(Config, Debug, Copy, PartialEq)]
pub struct ConvMacroConfig {
    /// Channel dropout (`Dropout2d`) after conv3 and before the classifier, as the reference.
    #[config(default = 0.5)]
    pub dropout: f64,
    /// Divides every convolution's width, candidates and conv5 alike (1, 2, 4 or 8; 1 is the
    /// paper's space). The same 6561 architectures at a fraction of the cost: width 1/d costs
    /// about 1/d² of the convolutions' arithmetic. The classifier's hidden layers (256 → 128 →
    /// 64) are kept; its input follows conv5's width.
    #[config(default = 1)]
    pub width_divisor: usize,
}

impl Default for ConvMacroConfig {
    /// The reference's dropout, 0.5.
    fn default() -> Self {
        Self::new()
    }
}
