//! The experiment runner the examples are built on, for your own binaries too: one command
//! line for every search ([`RunArgs`], flattened into a binary's own clap options, with
//! `--help` generated), backend and method dispatch ([`Job`], [`dispatch`]), data-parallel
//! peers ([`on_peers`]), a fresh output folder that never overwrites a run ([`run_dir`]), the
//! search with its log and progress bar ([`start_search`]), the epoch loop with a checkpoint
//! after every epoch and `--resume` ([`search_epochs`]), the discovered architecture
//! ([`discover`]: argmax, or the second stage of a two-stage search, [`second_stage`]) and the
//! files every search writes ([`write_search`]), the same architecture trained alone
//! ([`reference()`], [`train_alone`]), the image and text datasets `--dataset` names
//! ([`images`], [`text`]),
//! accuracy ([`accuracy`]) and retraining from scratch ([`retrain()`]), and one error type
//! ([`ExperimentError`]). An image-classification space's whole search job — search,
//! batch-norm re-estimation at the result, scores with inherited weights, the reference, the
//! retrained network, `summary.json` — is [`ImageSearch`], configured by [`ImageArgs`]; the
//! space's example adds only its supernet and how to print what it found.
//!
//! A binary declares its options, flattening [`RunArgs`]:
//!
//! ```
//! use tanglenas::experiment::{command, RunArgs};
//!
//! #[derive(Debug, clap::Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     run: RunArgs,
//!     /// Hidden units of my space's widest layer.
//!     #[arg(long, default_value_t = 64)]
//!     hidden: usize,
//! }
//!
//! // The binary's name, description and its own defaults for the shared options.
//! let cmd = command::<Cli>("my_search", "My space, searched.", &[("epochs", "5".into())]);
//! let cli: Cli = clap::FromArgMatches::from_arg_matches(
//!     &cmd.try_get_matches_from(["my_search", "--seed", "3"]).unwrap(),
//! )
//! .unwrap();
//! assert_eq!((cli.run.epochs, cli.run.seed, cli.hidden), (5, 3, 64));
//! ```
//!
//! then implements [`Job`] for its search (data, space, how to print the architecture) and
//! hands it to [`dispatch`], which picks the backend (`--device`) and method (`--optimizer`).

mod cli;
mod error;
mod evaluate;
mod found;
mod image_args;
mod image_search;
pub mod images;
mod job;
mod output;
mod peers;
mod retrain;
mod search;
pub mod text;
mod train;
mod two_stage;

pub use cli::{command, num, parse, plan, Cluster, RunArgs, Strategy};
pub use error::{ExperimentError, Result};
pub use evaluate::accuracy;
pub use found::{Found, ImageSupernet, Outcome};
pub use image_args::ImageArgs;
pub use image_search::{ImageSearch, Progression, Widen};
pub use job::{dispatch, Job};
pub use output::{
    architecture_value, fresh_dir, read_json, run_dir, save_json, write, write_config, write_json,
};
pub use peers::{on_peers, peers};
pub use retrain::{retrain, RetrainSettings};
pub use search::{
    discover, in_memory_valid_batches, start_search, write_search, SECOND_STAGE_BATCHES,
};
pub use train::{print_epoch, reference, search_epochs, train_alone};
pub use two_stage::{evolution_config, pick, second_stage};

/// Ends a binary: on an error, prints it (`error: …`) and exits with status 1.
pub fn exit_on_error(result: Result<()>) {
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
