//! Errors of the two-stage methods.

use thiserror::Error;

/// What can go wrong in a two-stage search.
#[derive(Debug, Error)]
pub enum TwoStageError {
    /// An architecture or mixture problem from the space.
    #[error(transparent)]
    Core(#[from] tangle_core::CoreError),
    /// A search-engine problem.
    #[error(transparent)]
    Optim(#[from] tangle_optim::OptimError),
    /// A setting that cannot work.
    #[error("invalid setting: {0}")]
    Config(String),
    /// No candidate satisfies the constraints.
    #[error("infeasible: {0}")]
    Infeasible(String),
    /// A candidate scored NaN or infinity.
    #[error("non-finite score for {0}")]
    NonFinite(String),
}

/// Result with [`TwoStageError`].
pub type Result<T> = std::result::Result<T, TwoStageError>;
