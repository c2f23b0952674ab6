//! Errors of data loading and splitting.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// What can go wrong with data.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DataError {
    /// A split or batch setting that leaves a side empty or is out of range.
    #[error("invalid split: {0}")]
    Split(String),
    /// Inputs and labels disagree.
    #[error("data shape: {0}")]
    Shape(String),
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's message.
        reason: String,
    },
    /// A file was read but is not what it should be (bad magic, truncated, inconsistent).
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl DataError {
    pub(crate) fn format(path: impl AsRef<Path>, reason: impl Into<String>) -> Self {
        DataError::Format {
            path: path.as_ref().to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// Reads a whole file, un-gzipping it when it starts with the gzip magic.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    gunzip_if_needed(raw, path)
}

/// Un-gzips `raw` if it is gzip data; `name` names it in errors.
pub(crate) fn gunzip_if_needed(raw: Vec<u8>, name: &Path) -> Result<Vec<u8>, DataError> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| DataError::format(name, format!("corrupt gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}
