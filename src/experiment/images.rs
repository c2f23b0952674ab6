//! Image datasets named by `--dataset`: the shipped MNIST digits, or MNIST, Fashion-MNIST and
//! CIFAR-10/100 read from `--data-dir`.

use std::path::{Path, PathBuf};

use tangle_data::{shipped, Images, Transform};

use super::{ExperimentError, Result, RunArgs};

/// Training and test images for `--dataset` (`shipped-mnist` by default; `mnist`,
/// `fashion-mnist`, `cifar10`, `cifar100` read from `--data-dir`), adapted to `channels` ×
/// `size` × `size`, with the dataset's transform.
pub fn load(a: &RunArgs, channels: usize, size: usize) -> Result<(Images, Images, Transform)> {
    let dir = || -> Result<&Path> {
        a.data_dir.as_deref().ok_or_else(|| {
            ExperimentError::usage(format!("--dataset {} needs --data-dir", a.dataset))
        })
    };
    let idx = |d: &Path, prefix: &str| -> Result<Images> {
        let find = |stem: &str| -> PathBuf {
            let gz = d.join(format!("{prefix}-{stem}.gz"));
            if gz.exists() {
                gz
            } else {
                d.join(format!("{prefix}-{stem}"))
            }
        };
        Images::from_idx(find("images-idx3-ubyte"), find("labels-idx1-ubyte"))
            .map_err(ExperimentError::from)
    };
    let (train, test, transform) = match a.dataset.as_str() {
        "shipped-mnist" => (
            shipped::mnist_train()?,
            shipped::mnist_test()?,
            Transform::mnist(channels),
        ),
        "mnist" | "fashion-mnist" => {
            let d = dir()?;
            let t = if a.dataset == "mnist" {
                Transform::mnist(channels)
            } else {
                // Fashion-MNIST's statistics.
                Transform {
                    mean: vec![0.2860; channels],
                    std: vec![0.3530; channels],
                    ..Transform::mnist(channels)
                }
            };
            (idx(d, "train")?, idx(d, "t10k")?, t)
        }
        "cifar10" => {
            let d = dir()?;
            let train: Vec<PathBuf> = (1..=5)
                .map(|i| d.join(format!("data_batch_{i}.bin")))
                .collect();
            (
                Images::from_cifar(&train, false)?,
                Images::from_cifar(&[d.join("test_batch.bin")], false)?,
                Transform::cifar10(),
            )
        }
        "cifar100" => {
            let d = dir()?;
            (
                Images::from_cifar(&[d.join("train.bin")], true)?,
                Images::from_cifar(&[d.join("test.bin")], true)?,
                Transform::cifar100(),
            )
        }
        other => return Err(unknown(other)),
    };
    let adapt = |s: Images| -> Result<Images> {
        s.with_channels(channels)
            .and_then(|s| s.padded_to(size))
            .map_err(ExperimentError::from)
    };
    Ok((adapt(train)?, adapt(test)?, transform))
}

/// The number of classes of `--dataset` (`dataset`), known from its name: 100 for CIFAR-100,
/// 10 for the others; an error naming an unknown one.
pub fn classes(dataset: &str) -> Result<usize> {
    match dataset {
        "cifar100" => Ok(100),
        "shipped-mnist" | "mnist" | "fashion-mnist" | "cifar10" => Ok(10),
        other => Err(unknown(other)),
    }
}

fn unknown(dataset: &str) -> ExperimentError {
    ExperimentError::usage(format!(
        "unknown dataset `{dataset}` (shipped-mnist, mnist, fashion-mnist, cifar10, cifar100)"
    ))
}

/// The first `n` images (all if `n` is 0 or larger).
pub fn first(set: Images, n: usize) -> Images {
    if n == 0 || n >= set.len() {
        return set;
    }
    set.subset(&(0..n).collect::<Vec<_>>())
}

/// A batch of inputs (by default images, `[batch, channels, h, w]`) and their labels.
pub type LabelledBatch<B, const D: usize = 4> = (
    burn::tensor::Tensor<B, D>,
    burn::tensor::Tensor<B, 1, burn::tensor::Int>,
);

/// The validation batches a two-stage search scores its candidates on: the first
/// [`SECOND_STAGE_BATCHES`](super::SECOND_STAGE_BATCHES) batches of
/// `batch` images of `train`'s α split (as `--train-portion` and `--seed` divide it), with the
/// evaluation transform, on the inference backend `B`.
pub fn valid_batches<B: burn::tensor::backend::Backend>(
    train: &Images,
    a: &RunArgs,
    batch: usize,
    transform: &Transform,
    device: &B::Device,
) -> Result<Vec<LabelledBatch<B>>> {
    use tangle_optim::SearchData;
    let v = tangle_data::ImageBatches::<B>::new(
        train.clone(),
        a.train_portion,
        batch,
        transform.eval(),
        a.seed,
        device,
    )?;
    Ok((0..super::SECOND_STAGE_BATCHES)
        .map(|s| v.valid(0, s))
        .collect())
}
