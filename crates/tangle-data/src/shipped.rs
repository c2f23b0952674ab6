//! Small real datasets embedded in the crate, so examples run offline on a fresh machine.
//! Provenance and licences: `crates/tangle-data/data/README.md`.

use std::path::Path;

use crate::error::{gunzip_if_needed, DataError};
use crate::images::Images;

const MNIST_TRAIN_IMAGES: &[u8] = include_bytes!("../data/mnist-train-images-idx3-ubyte.gz");
const MNIST_TRAIN_LABELS: &[u8] = include_bytes!("../data/mnist-train-labels-idx1-ubyte.gz");
const MNIST_TEST_IMAGES: &[u8] = include_bytes!("../data/mnist-t10k-images-idx3-ubyte.gz");
const MNIST_TEST_LABELS: &[u8] = include_bytes!("../data/mnist-t10k-labels-idx1-ubyte.gz");
const SHAKESPEARE: &[u8] = include_bytes!("../data/shakespeare.txt.gz");

/// The first 6000 MNIST training images (28×28 grayscale, 10 classes).
pub fn mnist_train() -> Result<Images, DataError> {
    Images::from_idx_bytes(
        MNIST_TRAIN_IMAGES,
        Path::new("<shipped>/mnist-train-images-idx3-ubyte.gz"),
        MNIST_TRAIN_LABELS,
        Path::new("<shipped>/mnist-train-labels-idx1-ubyte.gz"),
        10,
    )
}

/// The first 1000 MNIST test images.
pub fn mnist_test() -> Result<Images, DataError> {
    Images::from_idx_bytes(
        MNIST_TEST_IMAGES,
        Path::new("<shipped>/mnist-t10k-images-idx3-ubyte.gz"),
        MNIST_TEST_LABELS,
        Path::new("<shipped>/mnist-t10k-labels-idx1-ubyte.gz"),
        10,
    )
}

/// About 1.1 M characters of Shakespeare (77 distinct characters).
pub fn shakespeare() -> Result<String, DataError> {
    let name = Path::new("<shipped>/shakespeare.txt.gz");
    String::from_utf8(gunzip_if_needed(SHAKESPEARE.to_vec(), name)?)
        .map_err(|e| DataError::format(name, format!("not UTF-8 text: {e}")))
}
