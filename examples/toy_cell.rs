//! TangleNAS on the toy cell space (a DARTS-like cell on Fashion-MNIST-sized inputs), searched
//! on images; prints the discovered cells as a genotype. The search, batch-norm re-estimation,
//! scores, reference and retraining are the library's image job
//! (`tanglenas::experiment::ImageSearch`); this file holds the space, its defaults and how the
//! result is named.
//!
//! ```text
//! cargo run --release --example toy_cell                 # scaled-down search on shipped MNIST
//! cargo run --release --example toy_cell -- --help        # options
//! ```
//!
//! Writes `metrics.jsonl`, `architecture.json`, `alphas.svg`, `summary.json`,
//! `space_config.json` and the discovered network's weights `subnet.bpk` to `--out` (default
//! `runs/toy_cell`, never overwritten).

/// mimalloc instead of the system allocator: Burn's CPU backend allocates a tensor per op, and
/// glibc's malloc hands every block over 128 KiB back to the kernel (docs/benchmarks.md).
/// Left out when a test includes this file (the test binary keeps its own allocator).
#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use burn::tensor::backend::AutodiffBackend;
use tangle_optim::{Method, SearchConfig};
use tangle_spaces::toy_cell::{ToyCellConfig, ToyGenotype};
use tanglenas::experiment::{
    command as experiment_command, dispatch, exit_on_error, parse, Found, ImageArgs, ImageSearch,
    Job, Outcome, Result, Strategy,
};

const NAME: &str = "toy_cell";

/// The command line: the image search's options (the space has none of its own).
#[derive(Debug, clap::Parser)]
pub struct Cli {
    #[command(flatten)]
    image: ImageArgs,
}

impl Job for Cli {
    fn run<B: AutodiffBackend>(
        self,
        method: Method,
        strategy: Strategy,
        device: B::Device,
    ) -> Result<()> {
        let cfg = ToyCellConfig::new();
        let search = ImageSearch::new(&self.image, NAME, SearchConfig::toy_cell())
            .with_input(1, 28)
            .with_space_config(&cfg);
        let d = device.clone();
        let make = self
            .image
            .supernet(NAME, || cfg.init::<B>(&d), || cfg.init_ws::<B>(&d))?;
        search.run(make, method, strategy, device, |found| report(found, &cfg))
    }
}

/// Names the discovered cells, and retrains them from scratch on their single path in a fresh
/// supernet if `--retrain` asks.
fn report<B: AutodiffBackend, N>(found: Found<'_, B, N>, cfg: &ToyCellConfig) -> Result<Outcome> {
    let genotype = ToyGenotype::from_architecture(found.arch)?;
    Ok(Outcome {
        description: genotype.to_string(),
        retrained: found.retrain_path(cfg.init::<B>(found.device)?)?,
    })
}

/// The command line with this example's defaults, chosen to finish in under 10 minutes on 2
/// CPU cores on the shipped digits.
pub fn command() -> clap::Command {
    experiment_command::<Cli>(
        NAME,
        "A search of the toy cell space on images: search (single- or two-stage), discretize, \
         evaluate with inherited weights, export.",
        &[
            // 9 epochs (≈ 9 min): 5 scored 0.939 on the α split's accuracy with inherited
            // weights, 9 scored 0.956; 11 with 3 weights only, 0.936 (docs/results.md,
            // 2026-12-07).
            ("epochs", "9".into()),
            ("train_samples", "6000".into()),
            // 0.01, not the paper's 0.1 (Table 21), at which the search stays at chance on the
            // shipped digits; the official code's toy-cell 0.025 learned more slowly than 0.01
            // (α-split accuracy 0.661 against 0.882 after 3 epochs; docs/results.md).
            ("lr", "0.01".into()),
            // α lr 0.1: α-split accuracy 0.870 at 3e-3, 0.937 at 3e-2, 0.939 at 0.1.
            ("arch_lr", "0.1".into()),
            ("out", format!("runs/{NAME}")),
        ],
    )
}

fn main() {
    let cli: Cli = parse(command());
    let run = cli.image.run.clone();
    let budget = cli.image.budget;
    exit_on_error(dispatch(&run, cli, budget));
}
