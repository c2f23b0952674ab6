//! The command-line options of an image-classification search, and which supernet they name.

use super::{ExperimentError, Result, RunArgs};

/// The options every image-classification search takes: [`RunArgs`] and the image job's own.
/// An example flattens it into its command line (`#[command(flatten)]`) beside its space's
/// options, and sets its defaults with [`super::command`].
#[derive(Debug, Clone, clap::Args)]
pub struct ImageArgs {
    /// The options every experiment takes.
    #[command(flatten)]
    pub run: RunArgs,
    /// Supernet: we (weight-entangled) or ws (weight-sharing, where the space has one).
    #[arg(long, default_value = "we", value_parser = ["we", "ws"])]
    pub supernet: String,
    /// Mini-batch size (split between the peers).
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Training images the search sees, half for the weights and half for α (0 = all).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub train_samples: usize,
    /// Also retrain the discovered architecture from scratch for this many epochs (0 = off), on
    /// every training image (not only the search's --train-samples).
    #[arg(long, value_name = "EPOCHS", default_value_t = 0)]
    pub retrain: usize,
    /// Candidates evaluated by spos-rs / spos-es.
    #[arg(long, default_value_t = 100)]
    pub budget: usize,
    /// Weight learning rate (0 = the space's preset).
    #[arg(long, default_value_t = 0.0)]
    pub lr: f64,
    /// Steps of linear learning-rate warm-up before the cosine schedule.
    #[arg(long, value_name = "STEPS", default_value_t = 0)]
    pub warmup: usize,
    /// Epochs that train the weights only, before α steps start (default: the space's).
    #[arg(long, value_name = "EPOCHS")]
    pub alpha_warmup: Option<usize>,
    /// Also train the discovered architecture alone (same data and weight steps).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub reference: bool,
    /// Batch-norm re-estimation batches at the result (0 = off).
    #[arg(long, default_value_t = 30)]
    pub recalibrate: usize,
}

impl ImageArgs {
    /// Whether `--supernet ws` asked for the weight-sharing supernet; an error naming the flag
    /// and `space` when the space has none (`available` false).
    pub fn weight_sharing(&self, space: &str, available: bool) -> Result<bool> {
        match self.supernet.as_str() {
            "ws" if !available => Err(ExperimentError::usage(format!(
                "--supernet ws: {space} has `we` only"
            ))),
            other => Ok(other == "ws"),
        }
    }

    /// The builder of the supernet `--supernet` names, for a space whose weight-entangled
    /// (`we`) and weight-sharing (`ws`) supernets are one type.
    pub fn supernet<M>(
        &self,
        space: &str,
        we: impl Fn() -> tangle_core::Result<M>,
        ws: impl Fn() -> tangle_core::Result<M>,
    ) -> Result<impl Fn() -> tangle_core::Result<M>> {
        let sharing = self.weight_sharing(space, true)?;
        Ok(move || if sharing { ws() } else { we() })
    }
}
