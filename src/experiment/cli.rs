//! The command line every experiment shares: backend, method, data, epochs, seed, output,
//! resume, peers and nodes; an example flattens [`RunArgs`] into its own options.

use std::path::PathBuf;

use tangle_optim::Method;

use super::{ExperimentError, Result};

/// Options every experiment takes (clap flattens them into each example's command line with
/// `#[command(flatten)]`; an example sets its own defaults with [`command`]).
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Backend: `cpu` (Burn's Flex), `wgpu` or `cuda`.
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "wgpu", "cuda"])]
    pub device: String,
    /// Search method: single-stage drnas (TangleNAS on the weight-entangled supernet),
    /// darts-v1, darts-v2, gdas; or two-stage SPOS supernet training then random (spos-rs) or
    /// evolutionary (spos-es) search.
    #[arg(long, default_value = "drnas",
          value_parser = ["drnas", "darts-v1", "darts-v2", "gdas", "spos-rs", "spos-es"])]
    pub optimizer: String,
    /// Where the dataset's files are (for a --dataset other than the shipped one).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Dataset.
    #[arg(long, default_value = "shipped-mnist")]
    pub dataset: String,
    /// Search epochs (one pass over the weights' half of the training data each).
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Seed of everything: data order, initialization, mixture samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory; a fresh numbered sibling is used if it exists and is not empty.
    #[arg(long, value_name = "DIR", default_value = "runs/run")]
    pub out: PathBuf,
    /// Continue the killed or stopped run in DIR from its last checkpoint (DIR is then the
    /// output directory).
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// Fraction of the training data that trains the weights (the rest trains α).
    #[arg(long, default_value_t = 0.5)]
    pub train_portion: f64,
    /// α learning rate (Adam).
    #[arg(long, default_value_t = 3e-3)]
    pub arch_lr: f64,
    /// Data-parallel peers: N CPU threads, or N GPUs (default: one per CPU core on cpu, one
    /// device elsewhere).
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub devices: Option<usize>,
    /// A multi-node run (one process per node); one node by default.
    #[command(flatten)]
    pub cluster: Cluster,
}

impl RunArgs {
    /// For an example that generates its data: an error naming `--dataset` (or `--data-dir`)
    /// when the command line asks for a dataset, and `size_flag`, the option that sizes the
    /// generated data.
    pub fn generates_data(&self, size_flag: &str) -> Result<()> {
        if self.dataset != "shipped-mnist" {
            return Err(ExperimentError::usage(format!(
                "--dataset {}: this example generates its data ({size_flag})",
                self.dataset
            )));
        }
        if let Some(dir) = &self.data_dir {
            return Err(ExperimentError::usage(format!(
                "--data-dir {}: this example generates its data ({size_flag})",
                dir.display()
            )));
        }
        Ok(())
    }
}

fn at_least_one(v: &str) -> std::result::Result<usize, String> {
    match v.parse::<usize>() {
        Ok(0) => Err("give at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// The command line of an example's options `P` (which flattens [`RunArgs`]), with the
/// example's `name`, description and defaults (`(argument id, value)`, the id being the field
/// name), so that `--help` shows them.
pub fn command<P: clap::CommandFactory>(
    name: &'static str,
    about: &'static str,
    defaults: &[(&str, String)],
) -> clap::Command {
    // A repeated option takes its last value (a script can append an override).
    let mut cmd = P::command()
        .name(name)
        .about(about)
        .args_override_self(true);
    for (id, value) in defaults {
        cmd = cmd.mut_arg(*id, |a| a.default_value(value.clone()));
    }
    cmd
}

/// Parses the process's command line with `cmd` (from [`command`]) into `P`; exits with
/// clap's message on `--help` or a bad argument.
pub fn parse<P: clap::FromArgMatches>(cmd: clap::Command) -> P {
    P::from_arg_matches(&cmd.get_matches()).unwrap_or_else(|e| e.exit())
}

/// Where this process stands in a multi-node search: node `node` of `nodes`, reaching the
/// orchestrator at `global_address` and reached at `node_address` (its data service on
/// `data_port`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Cluster {
    /// Nodes (processes) in the run; 0 or 1 for a single process.
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub nodes: u32,
    /// This node's index.
    #[arg(long, value_name = "I", default_value_t = 0, hide_default_value = true)]
    pub node: u32,
    /// The orchestrator's address, `ws://HOST:PORT` (examples/orchestrator.rs runs one).
    #[arg(long, value_name = "URL")]
    pub global_address: Option<String>,
    /// This node's address as the others reach it, `ws://HOST:PORT`.
    #[arg(long, value_name = "URL")]
    pub node_address: Option<String>,
    /// The port of this node's data service (the PORT of --node-address).
    #[arg(long, value_name = "PORT")]
    pub data_port: Option<u16>,
}

/// How the architecture is found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// Single-stage: the bi-level search, then argmax.
    Gradient,
    /// Two-stage: SPOS supernet training, then random (`es = false`) or evolutionary search
    /// with `budget` evaluations on the validation split.
    Spos {
        /// Evolution instead of random search.
        es: bool,
        /// Candidates evaluated.
        budget: usize,
    },
}

/// The method and strategy an `--optimizer` name stands for: a [`Method`] name (`drnas`,
/// `darts-v1`, `darts-v2`, `gdas`), or SPOS with its second stage, `spos-rs` (random search)
/// or `spos-es` (evolution), of `budget` evaluations.
pub fn plan(name: &str, budget: usize) -> Result<(Method, Strategy)> {
    match name {
        "spos-rs" | "spos-es" => Ok((
            Method::Spos,
            Strategy::Spos {
                es: name == "spos-es",
                budget,
            },
        )),
        // Bare `spos` trains a supernet but names no second stage: say which ones exist.
        "spos" => Err(ExperimentError::usage(
            "--optimizer spos needs its second stage: spos-rs or spos-es",
        )),
        other => other
            .parse::<Method>()
            .map(|m| (m, Strategy::Gradient))
            .map_err(|_| {
                ExperimentError::usage(format!(
                    "unknown optimizer `{other}` (drnas, darts-v1, darts-v2, gdas, spos-rs, spos-es)"
                ))
            }),
    }
}

/// Parses a number given to `flag`, naming the flag on failure.
pub fn num<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| ExperimentError::usage(format!("{flag}: cannot parse {value:?}")))
}
