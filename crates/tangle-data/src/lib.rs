//! # tangle-data
//!
//! Data for searches: image sets from IDX (MNIST / Fashion-MNIST) and CIFAR binary files with
//! normalization and augmentation ([`images`]), character-level text and nanoGPT token files
//! ([`text`]), the train/validation split of a bi-level search ([`split`]), in-memory batches
//! ([`batches`]), and small real default datasets embedded in the crate ([`shipped`]). Every
//! served dataset implements `tangle_core::SearchData`. Missing or corrupt files are a
//! [`DataError`] naming the file and what was wrong.
//!
//! ```
//! use tangle_data::{shipped, train_valid_split, CharVocab};
//!
//! // The bi-level search's split: training batches for the weights, validation for α.
//! let split = train_valid_split(1000, 0.5)?;
//! assert_eq!((split.train.len(), split.valid.len()), (500, 500));
//! // The shipped Shakespeare subset, character-level.
//! let text = shipped::shakespeare()?;
//! let vocab = CharVocab::from_text(&text);
//! let ids = vocab.encode("To be")?;
//! assert_eq!(vocab.decode(&ids), "To be");
//! # Ok::<(), tangle_data::DataError>(())
//! ```

#![warn(missing_docs)]

pub mod batches;
pub mod error;
pub mod images;
pub mod shipped;
pub mod split;
pub mod text;

pub use batches::InMemory;
pub use error::DataError;
pub use images::{ImageBatches, Images, Transform};
pub use split::{train_valid_split, Split};
pub use text::{CharVocab, TextBatches};
