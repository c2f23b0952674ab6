//! One epoch's record, the JSON lines of a search's log.

use serde::{Deserialize, Serialize};
use tangle_core::Architecture;

/// One epoch's record (one JSON line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The epoch (0-based).
    pub epoch: usize,
    /// Mean training loss (weight steps).
    pub train_loss: f32,
    /// Mean training accuracy, if the objective has one.
    pub train_acc: Option<f32>,
    /// Mean validation loss of the α steps; `None` in an epoch without α updates (warm-up,
    /// SPOS), which never touches the validation data.
    pub valid_loss: Option<f32>,
    /// Mean validation accuracy.
    pub valid_acc: Option<f32>,
    /// Weight learning rate of the epoch.
    pub lr: f64,
    /// α per decision (empty for a method without α).
    pub alpha: Vec<Vec<f32>>,
    /// The mixer's probabilities per decision (empty for a method without α).
    pub probabilities: Vec<Vec<f32>>,
    /// The current argmax architecture; `None` for SPOS, which has none of its own.
    pub architecture: Option<Architecture>,
    /// Seconds since this `Search` first ran (a resumed search counts from its resumption).
    pub seconds: f64,
}
