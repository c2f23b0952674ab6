//! Text datasets named by `--dataset` for a language-model search: the shipped Shakespeare,
//! a text file of your own (`text`: `DIR/input.txt`), both encoded by characters, or nanoGPT's
//! token files (`tokens`: `DIR/train.bin`, `DIR/val.bin`), each split three ways — the weights'
//! tokens, α's, and held-out tokens neither trains on, which score the discovered model.

use std::path::PathBuf;

use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor};
use tangle_core::{Classification, Objective, SearchData};
use tangle_data::text::{read_text, read_tokens};
use tangle_data::{shipped, CharVocab, TextBatches};

use super::{ExperimentError, Result, RunArgs};

/// The token streams of a run: `weights` trains the supernet's weights, `alpha` trains α, and
/// `held_out` is seen by neither: the discovered model is scored on it.
pub struct Tokens {
    /// Trains the supernet's weights.
    pub weights: Vec<usize>,
    /// Trains α.
    pub alpha: Vec<usize>,
    /// Seen by neither: scores the discovered model.
    pub held_out: Vec<usize>,
    /// The character vocabulary of a text dataset (`None` for token files).
    pub chars: Option<CharVocab>,
    /// The vocabulary size.
    pub vocab: usize,
}

/// The share of a single text kept for scoring, as nanoGPT's 90/10 train/val split of
/// Shakespeare; the rest is split between weights and α by `--train-portion`.
pub const HELD_OUT: f64 = 0.1;

/// Splits `ids` at `portion`: the first part, and the rest.
fn cut(mut ids: Vec<usize>, portion: f64) -> Result<(Vec<usize>, Vec<usize>)> {
    let at = tangle_data::train_valid_split(ids.len(), portion)?
        .train
        .len();
    let rest = ids.split_off(at);
    Ok((ids, rest))
}

/// One text's tokens split three ways, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct TextSplit {
    /// Trains the supernet's weights.
    pub weights: Vec<usize>,
    /// Trains α.
    pub alpha: Vec<usize>,
    /// Seen by neither: scores the discovered model.
    pub held_out: Vec<usize>,
}

/// Divides a search's tokens between the weights (the first `train_portion`) and α.
fn weights_and_alpha(ids: Vec<usize>, train_portion: f64) -> Result<(Vec<usize>, Vec<usize>)> {
    cut(ids, train_portion).map_err(|e| ExperimentError::usage(format!("--train-portion: {e}")))
}

/// Splits `ids`: the held-out last [`HELD_OUT`] share, and the rest divided between the
/// weights and α by `train_portion`.
pub fn split_text(ids: Vec<usize>, train_portion: f64) -> Result<TextSplit> {
    let (search, held_out) = cut(ids, 1.0 - HELD_OUT)?;
    let (weights, alpha) = weights_and_alpha(search, train_portion)?;
    Ok(TextSplit {
        weights,
        alpha,
        held_out,
    })
}

/// The tokens of `--dataset` (`shipped-shakespeare`, `text` or `tokens`, the latter two from
/// `--data-dir`), split by [`split_text`] (a text) or, for token files, `train.bin` between the
/// weights and α by `--train-portion` and `val.bin` held out; `vocab` is the token files'
/// vocabulary size (a token outside it is an error naming it).
pub fn load(a: &RunArgs, vocab: usize) -> Result<Tokens> {
    let dir = || {
        a.data_dir.clone().ok_or_else(|| {
            ExperimentError::usage(format!("--dataset {} needs --data-dir", a.dataset))
        })
    };
    match a.dataset.as_str() {
        "shipped-shakespeare" | "text" => {
            let text = if a.dataset == "text" {
                read_text(dir()?.join("input.txt"))?
            } else {
                shipped::shakespeare()?
            };
            let v = CharVocab::from_text(&text);
            let ids = v.encode(&text)?;
            let TextSplit {
                weights,
                alpha,
                held_out,
            } = split_text(ids, a.train_portion)?;
            let vocab = v.len();
            Ok(Tokens {
                weights,
                alpha,
                held_out,
                chars: Some(v),
                vocab,
            })
        }
        "tokens" => {
            let d: PathBuf = dir()?;
            let train = read_tokens(d.join("train.bin"))?;
            let held_out = read_tokens(d.join("val.bin"))?;
            if let Some(&bad) = train.iter().chain(&held_out).find(|&&t| t >= vocab) {
                return Err(ExperimentError::usage(format!(
                    "token {bad} is outside --vocab {vocab}"
                )));
            }
            let (weights, alpha) = weights_and_alpha(train, a.train_portion)?;
            Ok(Tokens {
                weights,
                alpha,
                held_out,
                chars: None,
                vocab,
            })
        }
        other => Err(ExperimentError::usage(format!(
            "unknown dataset `{other}` (shipped-shakespeare, text: DIR/input.txt, tokens: DIR/train.bin (weights and α) + DIR/val.bin (held out))"
        ))),
    }
}

/// Mean next-token loss of `logits` (a language model's forward pass, which may fail with any
/// error that converts into [`ExperimentError`]) over the first `batches` windows `windows`
/// serves as validation windows (its second stream).
pub fn window_loss<B: Backend, E>(
    windows: &TextBatches<B>,
    batches: usize,
    logits: impl Fn(Tensor<B, 2, Int>) -> std::result::Result<Tensor<B, 3>, E>,
) -> Result<f32>
where
    ExperimentError: From<E>,
{
    let mut total = 0.0;
    for s in 0..batches {
        let (x, y) = windows.valid(0, s);
        total += Classification
            .loss(logits(x)?, &y)
            .into_scalar()
            .elem::<f32>();
    }
    Ok(total / batches.max(1) as f32)
}
