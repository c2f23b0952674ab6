//! Errors of data loading and splitting.

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
}
