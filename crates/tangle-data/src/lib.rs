//! # tangle-data
//!
//! Dataset formats, train/validation splits and batching for searches. This release has the
//! split and the in-memory batcher the search engine consumes; the file formats (IDX, CIFAR,
//! text) and the shipped default data arrive with the data issue.

#![warn(missing_docs)]

pub mod batches;
pub mod error;
pub mod split;

pub use batches::InMemory;
pub use error::DataError;
pub use split::{train_valid_split, Split};
