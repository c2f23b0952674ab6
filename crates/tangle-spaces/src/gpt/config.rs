//! [`GptConfig`]: the space's configuration (Burn `Config`: saved and loaded as JSON).
//!
//! In its own file because Burn's `Config` derive needs the standard `Result` in scope, and
//! the space's file uses tangle-core's.

use burn::config::Config;

/// The candidates and sizes of a language-model space.
#[derive(Config, Debug, PartialEq)]
pub struct GptConfig {
    /// Embedding dims.
    pub embeds: Vec<usize>,
    /// Head counts (per layer); each must divide every embedding dim.
    pub heads: Vec<usize>,
    /// MLP ratios (per layer).
    pub ratios: Vec<f64>,
    /// Numbers of layers.
    pub layers: Vec<usize>,
    /// Vocabulary size.
    pub vocab: usize,
    /// Context length (positions).
    pub context: usize,
    /// Dropout on embeddings, attention probabilities and residual branches.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// One heads decision and one MLP-ratio decision shared by every layer (`heads`,
    /// `mlp_ratio`) instead of one of each per layer: the space reduced to global choices, as
    /// the quality study's language table (|embeds| · |layers| · |heads| · |ratios|
    /// architectures). The paper's space is untied.
    #[config(default = false)]
    pub tied: bool,
}
