//! The experiment runner's error type.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// What can go wrong in an experiment: a bad command-line value, a file that cannot be read
/// or written, or an error of one of the crates, passed through unchanged.
#[derive(Debug, Error)]
pub enum ExperimentError {
    /// A command-line value that cannot work; the message names the flag.
    #[error("{0}")]
    Usage(String),
    /// A file or folder that could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A JSON document that could not be written or read.
    #[error("{what}: {source}")]
    Json {
        /// Which document.
        what: String,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// A search-space, architecture or subnet problem.
    #[error(transparent)]
    Core(#[from] tangle_core::CoreError),
    /// A search-engine problem.
    #[error(transparent)]
    Optim(#[from] tangle_optim::OptimError),
    /// A dataset problem.
    #[error(transparent)]
    Data(#[from] tangle_data::DataError),
    /// A two-stage search problem.
    #[error(transparent)]
    TwoStage(#[from] tangle_twostage::TwoStageError),
    /// Something else that stops the run, said in words.
    #[error("{0}")]
    Run(String),
}

impl ExperimentError {
    /// A bad command-line value; `message` names the flag.
    pub fn usage(message: impl Into<String>) -> Self {
        ExperimentError::Usage(message.into())
    }

    /// A run that cannot go on; `message` says why.
    pub fn run(message: impl Into<String>) -> Self {
        ExperimentError::Run(message.into())
    }

    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        ExperimentError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A JSON error on the document `what`.
    pub fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        ExperimentError::Json {
            what: what.into(),
            source,
        }
    }
}

/// Result with [`ExperimentError`].
pub type Result<T> = std::result::Result<T, ExperimentError>;
