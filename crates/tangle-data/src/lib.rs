//! # tangle-data
//!
//! Dataset formats (IDX, CIFAR binary, text), train/validation splits, batching and the small
//! default datasets shipped with the repository. Laid down with the workspace; the loaders arrive
//! with the data issue. It depends on no other tangle crate.

#![warn(missing_docs)]
