//! Image classification data: IDX (MNIST / Fashion-MNIST) and CIFAR binary files, channel and
//! size adaptation, normalization and the usual augmentation, served as search batches.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::Rng;
use tangle_core::SearchData;

use crate::batches::batch_indices;
use crate::error::{gunzip_if_needed, read_maybe_gz, DataError};
use crate::split::{train_valid_split, Split};

/// Images as bytes `[n, channels, height, width]` (channel-major per image) with labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    /// Pixel values, `n · channels · height · width` bytes.
    pub pixels: Vec<u8>,
    /// One label per image.
    pub labels: Vec<usize>,
    /// Channels (1 grayscale, 3 RGB).
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// Number of classes (labels are below it).
    pub classes: usize,
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses one IDX file of unsigned bytes: its dimensions and its data.
fn parse_idx(bytes: &[u8], name: &Path, rank: usize) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(DataError::format(
            name,
            "not an IDX file (bad magic number)",
        ));
    }
    if bytes[2] != 0x08 {
        return Err(DataError::format(
            name,
            format!(
                "IDX element type 0x{:02x}, expected unsigned bytes (0x08)",
                bytes[2]
            ),
        ));
    }
    if bytes[3] as usize != rank {
        return Err(DataError::format(
            name,
            format!("IDX rank {}, expected {rank}", bytes[3]),
        ));
    }
    let head = 4 + 4 * rank;
    if bytes.len() < head {
        return Err(DataError::format(name, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| be_u32(bytes, 4 + 4 * i) as usize)
        .collect();
    let len: usize = dims.iter().product();
    if bytes.len() - head != len {
        return Err(DataError::format(
            name,
            format!(
                "IDX data has {} bytes, dimensions {dims:?} need {len}",
                bytes.len() - head
            ),
        ));
    }
    Ok((dims, bytes[head..].to_vec()))
}

impl Images {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// MNIST-style IDX files (`*-images-idx3-ubyte`, `*-labels-idx1-ubyte`), gzip or raw.
    pub fn from_idx(images: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<Self, DataError> {
        let (images, labels) = (images.as_ref(), labels.as_ref());
        Self::from_idx_bytes(
            &read_maybe_gz(images)?,
            images,
            &read_maybe_gz(labels)?,
            labels,
            10,
        )
    }

    /// IDX contents already in memory (gzip or raw); the names appear in errors.
    pub fn from_idx_bytes(
        images: &[u8],
        images_name: &Path,
        labels: &[u8],
        labels_name: &Path,
        classes: usize,
    ) -> Result<Self, DataError> {
        let images = gunzip_if_needed(images.to_vec(), images_name)?;
        let labels = gunzip_if_needed(labels.to_vec(), labels_name)?;
        let (dims, pixels) = parse_idx(&images, images_name, 3)?;
        let (ldims, labels) = parse_idx(&labels, labels_name, 1)?;
        if ldims[0] != dims[0] {
            return Err(DataError::format(
                labels_name,
                format!("{} labels for {} images", ldims[0], dims[0]),
            ));
        }
        let labels: Vec<usize> = labels.into_iter().map(usize::from).collect();
        if let Some(&bad) = labels.iter().find(|&&l| l >= classes) {
            return Err(DataError::format(
                labels_name,
                format!("label {bad} outside {classes} classes"),
            ));
        }
        Ok(Images {
            pixels,
            labels,
            channels: 1,
            height: dims[1],
            width: dims[2],
            classes,
        })
    }

    /// CIFAR binary batches (`data_batch_*.bin`, `test_batch.bin`; `train.bin`, `test.bin` for
    /// CIFAR-100, whose records carry a coarse and a fine label: the fine one is used).
    pub fn from_cifar(files: &[PathBuf], cifar100: bool) -> Result<Self, DataError> {
        let (label_bytes, classes) = if cifar100 { (2, 100) } else { (1, 10) };
        let record = label_bytes + 3072;
        let mut out = Images {
            pixels: Vec::new(),
            labels: Vec::new(),
            channels: 3,
            height: 32,
            width: 32,
            classes,
        };
        if files.is_empty() {
            return Err(DataError::Split("no CIFAR files given".into()));
        }
        for f in files {
            let bytes = read_maybe_gz(f)?;
            if bytes.is_empty() || bytes.len() % record != 0 {
                return Err(DataError::format(
                    f,
                    format!(
                        "{} bytes is not a whole number of {record}-byte CIFAR records",
                        bytes.len()
                    ),
                ));
            }
            for r in bytes.chunks(record) {
                let label = r[label_bytes - 1] as usize;
                if label >= classes {
                    return Err(DataError::format(
                        f,
                        format!("label {label} outside {classes} classes"),
                    ));
                }
                out.labels.push(label);
                out.pixels.extend_from_slice(&r[label_bytes..]);
            }
        }
        Ok(out)
    }

    /// The images at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Self {
        let k = self.image_len();
        Images {
            pixels: idx
                .iter()
                .flat_map(|&i| self.pixels[i * k..(i + 1) * k].iter().copied())
                .collect(),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            ..self.clone_empty()
        }
    }

    fn clone_empty(&self) -> Self {
        Images {
            pixels: Vec::new(),
            labels: Vec::new(),
            ..*self
        }
    }

    /// Grayscale replicated to `channels` (a grayscale set for an RGB space).
    pub fn with_channels(self, channels: usize) -> Result<Self, DataError> {
        if self.channels == channels {
            return Ok(self);
        }
        if self.channels != 1 {
            return Err(DataError::Shape(format!(
                "cannot turn {} channels into {channels}",
                self.channels
            )));
        }
        let k = self.height * self.width;
        let pixels = self
            .pixels
            .chunks(k)
            .flat_map(|img| std::iter::repeat_n(img, channels).flatten().copied())
            .collect();
        Ok(Images {
            pixels,
            channels,
            ..self
        })
    }

    /// Zero-padded (centred) to `size × size` (28×28 MNIST for a 32×32 space).
    pub fn padded_to(self, size: usize) -> Result<Self, DataError> {
        if self.height == size && self.width == size {
            return Ok(self);
        }
        if self.height > size || self.width > size {
            return Err(DataError::Shape(format!(
                "cannot pad {}×{} images to {size}×{size}",
                self.height, self.width
            )));
        }
        let (top, left) = ((size - self.height) / 2, (size - self.width) / 2);
        let mut pixels = vec![0u8; self.len() * self.channels * size * size];
        for (p, plane) in self.pixels.chunks(self.height * self.width).enumerate() {
            for (r, row) in plane.chunks(self.width).enumerate() {
                let at = p * size * size + (top + r) * size + left;
                pixels[at..at + self.width].copy_from_slice(row);
            }
        }
        Ok(Images {
            pixels,
            height: size,
            width: size,
            ..self
        })
    }
}

/// Normalization and augmentation of image batches.
#[derive(Debug, Clone, PartialEq)]
pub struct Transform {
    /// Per-channel mean (of pixel / 255).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation.
    pub std: Vec<f32>,
    /// Random crop after zero padding by this many pixels (0 = off).
    pub crop_padding: usize,
    /// Random horizontal flips.
    pub flip: bool,
}

impl Transform {
    /// CIFAR-10's statistics, crop with padding 4, flips.
    pub fn cifar10() -> Self {
        Transform {
            mean: vec![0.4914, 0.4822, 0.4465],
            std: vec![0.2470, 0.2435, 0.2616],
            crop_padding: 4,
            flip: true,
        }
    }

    /// CIFAR-100's statistics, crop with padding 4, flips.
    pub fn cifar100() -> Self {
        Transform {
            mean: vec![0.5071, 0.4865, 0.4409],
            std: vec![0.2673, 0.2564, 0.2762],
            ..Self::cifar10()
        }
    }

    /// MNIST's statistics on every channel, crop with padding 2, no flips (digits are not
    /// mirror-symmetric).
    pub fn mnist(channels: usize) -> Self {
        Transform {
            mean: vec![0.1307; channels],
            std: vec![0.3081; channels],
            crop_padding: 2,
            flip: false,
        }
    }

    /// The same normalization without augmentation (evaluation).
    pub fn eval(&self) -> Self {
        Transform {
            crop_padding: 0,
            flip: false,
            ..self.clone()
        }
    }
}

/// Images `idx` as a normalized `[b, c, h, w]` batch with labels; `rng` drives the augmentation
/// (none without it).
pub fn batch<B: Backend>(
    images: &Images,
    idx: &[usize],
    transform: &Transform,
    mut rng: Option<&mut StdRng>,
    device: &B::Device,
) -> Result<(Tensor<B, 4>, Tensor<B, 1, Int>), DataError> {
    let (c, h, w) = (images.channels, images.height, images.width);
    if transform.mean.len() != c || transform.std.len() != c {
        return Err(DataError::Shape(format!(
            "normalization for {} channels, images have {c}",
            transform.mean.len()
        )));
    }
    let mut out = Vec::with_capacity(idx.len() * c * h * w);
    let pad = transform.crop_padding as i64;
    for &i in idx {
        let img = &images.pixels[i * c * h * w..(i + 1) * c * h * w];
        let (dy, dx, flip) = match rng.as_deref_mut() {
            Some(r) => (
                if pad > 0 {
                    r.random_range(-pad..=pad)
                } else {
                    0
                },
                if pad > 0 {
                    r.random_range(-pad..=pad)
                } else {
                    0
                },
                transform.flip && r.random::<bool>(),
            ),
            None => (0, 0, false),
        };
        for ch in 0..c {
            let (m, s) = (transform.mean[ch], transform.std[ch]);
            for y in 0..h as i64 {
                for x in 0..w as i64 {
                    let sx = if flip { w as i64 - 1 - x } else { x } + dx;
                    let sy = y + dy;
                    let v = if sy < 0 || sx < 0 || sy >= h as i64 || sx >= w as i64 {
                        0.0
                    } else {
                        img[ch * h * w + sy as usize * w + sx as usize] as f32 / 255.0
                    };
                    out.push((v - m) / s);
                }
            }
        }
    }
    let labels: Vec<i64> = idx.iter().map(|&i| images.labels[i] as i64).collect();
    Ok((
        Tensor::from_data(TensorData::new(out, [idx.len(), c, h, w]), device),
        Tensor::from_data(TensorData::new(labels, [idx.len()]), device),
    ))
}

/// A training set served as search batches: split into a weight part and an architecture part,
/// shuffled per epoch and augmented per batch, all from `seed` (batches are a pure function of
/// `(epoch, step)`, so a resumed search sees the same ones).
#[derive(Debug, Clone)]
pub struct ImageBatches<B: Backend> {
    images: Arc<Images>,
    split: Split,
    batch: usize,
    seed: u64,
    transform: Transform,
    device: B::Device,
}

impl<B: Backend> ImageBatches<B> {
    /// `images` split by `train_portion`, `batch` per step.
    pub fn new(
        images: Images,
        train_portion: f64,
        batch: usize,
        transform: Transform,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self, DataError> {
        let split = train_valid_split(images.len(), train_portion)?;
        crate::split::check_batch(&split, batch, "images")?;
        // Fails early on a channel mismatch.
        self::batch::<B>(&images, &[0], &transform, None, device)?;
        Ok(ImageBatches {
            images: Arc::new(images),
            split,
            batch,
            seed,
            transform,
            device: device.clone(),
        })
    }

    /// The split.
    pub fn split(&self) -> &Split {
        &self.split
    }

    fn pick(
        &self,
        part: &[usize],
        epoch: usize,
        step: usize,
        salt: u64,
    ) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
        let idx = batch_indices(part, self.batch, self.seed, epoch, step, salt);
        let mut rng = crate::batches::step_rng(self.seed, epoch, step, salt);
        batch(
            &self.images,
            &idx,
            &self.transform,
            Some(&mut rng),
            &self.device,
        )
        .expect("checked in new")
    }
}

impl<B: Backend> SearchData<Tensor<B, 4>, Tensor<B, 1, Int>> for ImageBatches<B> {
    fn steps_per_epoch(&self) -> usize {
        crate::batches::epoch_steps(&self.split, self.batch)
    }

    fn train(&self, epoch: usize, step: usize) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
        self.pick(&self.split.train, epoch, step, 1)
    }

    fn valid(&self, epoch: usize, step: usize) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
        self.pick(&self.split.valid, epoch, step, 2)
    }
}
