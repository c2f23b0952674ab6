//! Observers: what a search does besides searching — logging, progress, anything a user adds.
//! The run loop calls every observer at the start of a `run` / `run_until` call, after every
//! step, after every epoch and at the end; on several peers only the first peer's search calls
//! them, once per step of the whole batch.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use crate::error::Result;

use super::checkpoint::io_err;
use super::EpochRecord;

/// Watches a search's run loop. Every method has a default that does nothing; an error stops
/// the search with that error (after the step or epoch that was observed).
///
/// ```
/// use tangle_optim::{EpochRecord, Observer, Result};
///
/// /// Stops a search whose training loss stalls.
/// struct StopOnPlateau(Option<f32>);
///
/// impl Observer for StopOnPlateau {
///     fn on_epoch(&mut self, record: &EpochRecord) -> Result<()> {
///         let stalled = self.0.is_some_and(|prev| record.train_loss > 0.999 * prev);
///         self.0 = Some(record.train_loss);
///         if stalled {
///             return Err(tangle_optim::OptimError::Config(format!(
///                 "training loss stalled at epoch {}",
///                 record.epoch
///             )));
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Observer: Send {
    /// A `run` / `run_until` call starts: epochs `first..stop` of `steps_per_epoch` steps.
    fn on_start(&mut self, _first: usize, _stop: usize, _steps_per_epoch: usize) -> Result<()> {
        Ok(())
    }

    /// Step `step` of epoch `epoch` is done (α and weight updates applied).
    fn on_step(&mut self, _epoch: usize, _step: usize) -> Result<()> {
        Ok(())
    }

    /// An epoch is done; `record` is its record (also pushed to `Search::records`).
    fn on_epoch(&mut self, _record: &EpochRecord) -> Result<()> {
        Ok(())
    }

    /// The `run` / `run_until` call ends normally; `records` are all the search's records.
    fn on_end(&mut self, _records: &[EpochRecord]) -> Result<()> {
        Ok(())
    }
}

/// Appends each epoch's record as one JSON line to a file (`Search::with_log`).
#[derive(Debug, Clone)]
pub struct JsonLinesLog {
    path: PathBuf,
}

impl JsonLinesLog {
    /// A log appending to `path` (created if absent).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonLinesLog { path: path.into() }
    }
}

impl Observer for JsonLinesLog {
    fn on_epoch(&mut self, record: &EpochRecord) -> Result<()> {
        let path = &self.path;
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        let line = serde_json::to_string(record).map_err(|e| io_err(path, e))?;
        writeln!(f, "{line}").map_err(|e| io_err(path, e))
    }
}

/// A progress bar on stderr over the steps of a `run` / `run_until` call, hidden when stderr is
/// not a terminal (`Search::with_progress`).
#[derive(Debug, Default)]
pub struct ProgressBar {
    bar: Option<indicatif::ProgressBar>,
}

impl ProgressBar {
    /// A progress bar, drawn from the next `run` call on.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Observer for ProgressBar {
    fn on_start(&mut self, first: usize, stop: usize, steps_per_epoch: usize) -> Result<()> {
        let pb = indicatif::ProgressBar::with_draw_target(
            Some((stop.saturating_sub(first) * steps_per_epoch) as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} steps {msg}",
            )
            .expect("valid template"),
        );
        self.bar = Some(pb);
        Ok(())
    }

    fn on_step(&mut self, _epoch: usize, _step: usize) -> Result<()> {
        if let Some(pb) = &self.bar {
            pb.inc(1);
        }
        Ok(())
    }

    fn on_epoch(&mut self, record: &EpochRecord) -> Result<()> {
        if let Some(pb) = &self.bar {
            pb.set_message(format!(
                "epoch {} train loss {:.3}",
                record.epoch, record.train_loss
            ));
        }
        Ok(())
    }

    fn on_end(&mut self, _records: &[EpochRecord]) -> Result<()> {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
        Ok(())
    }
}
