//! TangleNAS on NAS-Bench-201, searched on images; prints the benchmark's architecture string.
//! The search, batch-norm re-estimation, scores, reference and retraining are the library's
//! image job (`tanglenas::experiment::ImageSearch`); this file holds the space, its defaults
//! and how the result is named.
//!
//! ```text
//! cargo run --release --example nb201                 # scaled-down search on shipped MNIST
//! cargo run --release --example nb201 -- --help        # options
//! ```
//!
//! Writes `metrics.jsonl`, `architecture.json`, `alphas.svg`, `summary.json`,
//! `space_config.json` and the discovered network's weights `subnet.bpk` to `--out` (default
//! `runs/nb201`, never overwritten).

/// mimalloc instead of the system allocator: Burn's CPU backend allocates a tensor per op, and
/// glibc's malloc hands every block over 128 KiB back to the kernel (docs/benchmarks.md).
/// Left out when a test includes this file (the test binary keeps its own allocator).
#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use burn::tensor::backend::AutodiffBackend;
use tangle_core::Extract;
use tangle_optim::{Method, SearchConfig};
use tangle_spaces::nb201::{arch_string, Nb201Config};
use tanglenas::experiment::{
    command as experiment_command, dispatch, exit_on_error, images, parse, Found, ImageArgs,
    ImageSearch, Job, Outcome, Result, Strategy,
};

const NAME: &str = "nb201";

/// The command line: the image search's options and the space's size.
#[derive(Debug, clap::Parser)]
pub struct Cli {
    #[command(flatten)]
    image: ImageArgs,
    /// Channels of the first stage, C (the benchmark's: 16).
    #[arg(long, value_name = "C", default_value_t = 8)]
    channels: usize,
    /// Cells per stage, N (the benchmark's: 5).
    #[arg(long, value_name = "N", default_value_t = 1)]
    cells: usize,
}

impl Job for Cli {
    fn run<B: AutodiffBackend>(
        self,
        method: Method,
        strategy: Strategy,
        device: B::Device,
    ) -> Result<()> {
        let classes = images::classes(&self.image.run.dataset)?;
        let cfg = Nb201Config {
            channels: self.channels,
            cells: self.cells,
            classes,
        };
        let search = ImageSearch::new(&self.image, NAME, SearchConfig::nb201())
            .with_classes(classes)
            .with_space_config(&cfg)
            .with_summary("channels", self.channels)
            .with_summary("cells", self.cells);
        let d = device.clone();
        let make = self
            .image
            .supernet(NAME, || cfg.init::<B>(&d), || cfg.init_ws::<B>(&d))?;
        search.run(make, method, strategy, device, |found| report(found, &cfg))
    }
}

/// Names the discovered network as the benchmark does, and retrains it from scratch if
/// `--retrain` asks — as the benchmark's evaluation network (affine batch norms in the cells),
/// not the search supernet's path.
fn report<B: AutodiffBackend, N>(found: Found<'_, B, N>, cfg: &Nb201Config) -> Result<Outcome> {
    let fresh = || {
        cfg.init::<B>(found.device)
            .and_then(|n| n.extract(found.arch))
    };
    Ok(Outcome {
        description: arch_string(found.arch)?,
        retrained: found.retrain(fresh, |n, x| n.forward(x), |n, x| n.forward(x))?,
    })
}

/// The command line with this example's defaults, chosen to finish in under 10 minutes on 2
/// CPU cores on the shipped digits.
pub fn command() -> clap::Command {
    experiment_command::<Cli>(
        NAME,
        "A search of NAS-Bench-201 on images: search (single- or two-stage), discretize, \
         evaluate with inherited weights, export.",
        &[
            // 10 epochs of 93 steps on all 6000 digits (≈ 37 s an epoch on 2 peers).
            ("epochs", "10".into()),
            ("train_samples", "6000".into()),
            ("lr", SearchConfig::nb201().lr.to_string()),
            // α lr 0.1: α-split accuracy with inherited weights 0.965 at 3e-3, 0.971 at 3e-2,
            // 0.972 at 0.1 (docs/results.md, 2026-12-07).
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
