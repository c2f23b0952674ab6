//! Errors of the search engine.

use thiserror::Error;

/// Everything that can go wrong during a search.
#[derive(Debug, Error)]
pub enum OptimError {
    /// An error from the space or the entangled modules.
    #[error(transparent)]
    Core(#[from] tangle_core::CoreError),
    /// A loss or an architecture parameter became NaN or infinite.
    #[error("{what} is not finite at epoch {epoch}, step {step}")]
    NonFinite {
        /// What diverged.
        what: String,
        /// The epoch.
        epoch: usize,
        /// The step within the epoch.
        step: usize,
    },
    /// An invalid configuration.
    #[error("invalid search configuration: {0}")]
    Config(String),
    /// A collective operation of a data-parallel search (register, all-reduce, finish) failed
    /// or did not complete in time.
    #[error("data-parallel exchange failed: {0}")]
    Collective(String),
    /// A peer of a data-parallel search panicked; the other peers stopped with it.
    #[error("peer {rank} of the data-parallel search panicked: {message}")]
    PeerPanicked {
        /// The peer's global rank.
        rank: usize,
        /// The panic's message.
        message: String,
    },
    /// Reading or writing a checkpoint or record failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, OptimError>;
