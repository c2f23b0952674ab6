//! Language-model data: character-level text and nanoGPT's `train.bin` / `val.bin` token files,
//! served as random context windows.

use std::path::Path;

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::Rng;
use tangle_core::SearchData;

use crate::error::{read_maybe_gz, DataError};

/// A character vocabulary: the sorted distinct characters of a text (nanoGPT's
/// `shakespeare_char`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharVocab {
    chars: Vec<char>,
}

impl CharVocab {
    /// The distinct characters of `text`, sorted.
    pub fn from_text(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        CharVocab { chars }
    }

    /// Vocabulary size.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Token ids of `text`; a character outside the vocabulary is an error.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>, DataError> {
        text.chars()
            .map(|c| {
                self.chars.binary_search(&c).map_err(|_| {
                    DataError::Shape(format!("character {c:?} is not in the vocabulary"))
                })
            })
            .collect()
    }

    /// The text of `ids` (ids outside the vocabulary become `�`).
    pub fn decode(&self, ids: &[usize]) -> String {
        ids.iter()
            .map(|&i| self.chars.get(i).copied().unwrap_or('\u{fffd}'))
            .collect()
    }
}

/// Reads a UTF-8 text file (gzip or plain).
pub fn read_text(path: impl AsRef<Path>) -> Result<String, DataError> {
    let path = path.as_ref();
    String::from_utf8(read_maybe_gz(path)?)
        .map_err(|e| DataError::format(path, format!("not UTF-8 text: {e}")))
}

/// Reads nanoGPT's token file: little-endian `uint16` ids.
pub fn read_tokens(path: impl AsRef<Path>) -> Result<Vec<usize>, DataError> {
    let path = path.as_ref();
    let bytes = read_maybe_gz(path)?;
    if bytes.len() % 2 != 0 {
        return Err(DataError::format(
            path,
            format!(
                "{} bytes is not a whole number of uint16 tokens",
                bytes.len()
            ),
        ));
    }
    Ok(bytes
        .chunks(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
        .collect())
}

/// Token streams for weights (`train`) and architecture (`valid`) steps, served as random windows
/// of `context + 1` tokens: inputs and the targets shifted by one. Windows come from an RNG seeded
/// by `(seed, epoch, step)`.
#[derive(Debug, Clone)]
pub struct TextBatches<B: Backend> {
    train: Vec<usize>,
    valid: Vec<usize>,
    context: usize,
    batch: usize,
    steps: usize,
    seed: u64,
    device: B::Device,
}

impl<B: Backend> TextBatches<B> {
    /// `steps` batches of `batch` windows per epoch.
    pub fn new(
        train: Vec<usize>,
        valid: Vec<usize>,
        context: usize,
        batch: usize,
        steps: usize,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self, DataError> {
        if context == 0 || batch == 0 || steps == 0 {
            return Err(DataError::Split(
                "context, batch and steps per epoch must be positive".into(),
            ));
        }
        for (name, s) in [("training", &train), ("validation", &valid)] {
            if s.len() <= context {
                return Err(DataError::Split(format!(
                    "{} {name} tokens do not fill one window of {}",
                    s.len(),
                    context + 1
                )));
            }
        }
        Ok(TextBatches {
            train,
            valid,
            context,
            batch,
            steps,
            seed,
            device: device.clone(),
        })
    }

    /// Splits one stream: the first `train_portion` trains the weights, the rest the
    /// architecture.
    pub fn split(
        tokens: Vec<usize>,
        train_portion: f64,
        context: usize,
        batch: usize,
        steps: usize,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self, DataError> {
        let s = crate::split::train_valid_split(tokens.len(), train_portion)?;
        let cut = s.train.len();
        let valid = tokens[cut..].to_vec();
        let mut train = tokens;
        train.truncate(cut);
        Self::new(train, valid, context, batch, steps, seed, device)
    }

    /// Context length.
    pub fn context(&self) -> usize {
        self.context
    }

    /// A batch of windows from `stream`, as nanoGPT's `get_batch`.
    pub fn windows(
        stream: &[usize],
        context: usize,
        batch: usize,
        rng: &mut StdRng,
        device: &B::Device,
    ) -> (Tensor<B, 2, Int>, Tensor<B, 2, Int>) {
        let (mut x, mut y) = (
            Vec::with_capacity(batch * context),
            Vec::with_capacity(batch * context),
        );
        for _ in 0..batch {
            let start = rng.random_range(0..stream.len() - context);
            x.extend(stream[start..start + context].iter().map(|&t| t as i64));
            y.extend(
                stream[start + 1..start + 1 + context]
                    .iter()
                    .map(|&t| t as i64),
            );
        }
        (
            Tensor::from_data(TensorData::new(x, [batch, context]), device),
            Tensor::from_data(TensorData::new(y, [batch, context]), device),
        )
    }

    fn pick(
        &self,
        stream: &[usize],
        epoch: usize,
        step: usize,
        salt: u64,
    ) -> (Tensor<B, 2, Int>, Tensor<B, 2, Int>) {
        let mut rng = crate::batches::step_rng(self.seed, epoch, step, salt);
        Self::windows(stream, self.context, self.batch, &mut rng, &self.device)
    }
}

impl<B: Backend> SearchData<Tensor<B, 2, Int>, Tensor<B, 2, Int>> for TextBatches<B> {
    fn steps_per_epoch(&self) -> usize {
        self.steps
    }

    fn train(&self, epoch: usize, step: usize) -> (Tensor<B, 2, Int>, Tensor<B, 2, Int>) {
        self.pick(&self.train, epoch, step, 1)
    }

    fn valid(&self, epoch: usize, step: usize) -> (Tensor<B, 2, Int>, Tensor<B, 2, Int>) {
        self.pick(&self.valid, epoch, step, 2)
    }
}
