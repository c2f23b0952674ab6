//! TangleNAS on the DARTS space, searched on images with DrNAS's progressive recipe; prints the
//! DARTS genotype, and `--retrain` trains its evaluation network from scratch (DARTS's
//! protocol). The search, batch-norm re-estimation, scores, reference and retraining are the
//! library's image job (`tanglenas::experiment::ImageSearch`); this file holds the space, its
//! recipe, its defaults and how the result is discretized.
//!
//! ```text
//! cargo run --release --example darts                 # scaled-down search on shipped MNIST
//! cargo run --release --example darts -- --retrain 3   # then retrain the genotype's network (≈ 10 min in all)
//! cargo run --release --example darts -- --help        # options
//! ```
//!
//! Writes `metrics.jsonl`, `architecture.json`, `genotype.txt`, `alphas.svg`, `summary.json`,
//! `space_config.json` and the discovered network's weights `subnet.bpk` to `--out` (default
//! `runs/darts`, never overwritten).

/// mimalloc instead of the system allocator: Burn's CPU backend allocates a tensor per op, and
/// glibc's malloc hands every block over 128 KiB back to the kernel (docs/benchmarks.md).
/// Left out when a test includes this file (the test binary keeps its own allocator).
#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use burn::tensor::backend::AutodiffBackend;
use tangle_optim::{Method, Progressive, SearchConfig};
use tangle_spaces::darts::{
    Darts, DartsConfig, DartsNetwork, DartsNetworkConfig, Genotype, PRIMITIVES,
};
use tangle_spaces::ops::Primitive;
use tanglenas::experiment::{
    command as experiment_command, dispatch, exit_on_error, images, parse, write, Found, ImageArgs,
    ImageSearch, Job, Outcome, Progression, Result, Strategy,
};

const NAME: &str = "darts";

/// The command line: the image search's options and the space's size.
#[derive(Debug, clap::Parser)]
pub struct Cli {
    #[command(flatten)]
    image: ImageArgs,
    /// Channels of the first cell, C (the paper's search: 16; evaluation: 36).
    #[arg(long, value_name = "C", default_value_t = 12)]
    channels: usize,
    /// Cells (the paper's search: 8; evaluation: 20).
    #[arg(long, value_name = "N", default_value_t = 5)]
    cells: usize,
}

impl Job for Cli {
    fn run<B: AutodiffBackend>(
        self,
        method: Method,
        strategy: Strategy,
        device: B::Device,
    ) -> Result<()> {
        let a = &self.image.run;
        // DrNAS runs its progressive recipe: partial channels 1/6 then 1/4, 7 operations (no
        // `none`) then the 4 strongest per edge, the epochs split in two stages, α updated
        // from the first fifth of the run on (from epoch 10 of 50 in DrNAS's code).
        let progressive = a.optimizer == "drnas";
        let classes = images::classes(&a.dataset)?;
        let cfg = DartsConfig {
            channels: self.channels,
            layers: self.cells,
            classes,
            partial: if progressive { 6 } else { 1 },
        };
        let (epochs, seed) = (a.epochs, a.seed);
        let progression = progressive.then(|| Progression {
            recipe: Progressive::drnas_darts_epochs(epochs - epochs / 2, epochs / 2),
            keep: |_, i| PRIMITIVES[i] != Primitive::Zero,
            widen: Box::new(move |m: Darts<B>, k| m.with_partial(k, seed ^ 0x77)),
        });
        let search = ImageSearch::new(&self.image, NAME, SearchConfig::darts())
            .with_classes(classes)
            .with_alpha_warmup(if progressive { epochs / 5 } else { 0 })
            .with_space_config(&cfg)
            .with_summary("channels", self.channels)
            .with_summary("cells", self.cells);
        let d = device.clone();
        let make = self
            .image
            .supernet(NAME, || cfg.init::<B>(&d), || cfg.init_ws::<B>(&d))?;
        let report = |found: Found<'_, B, Darts<B::InnerBackend>>| {
            // The genotype from the mixer's probabilities: each node's two strongest incoming
            // edges, each edge's strongest operation other than `none`.
            let genotype = Genotype::discretize(found.arch, found.probabilities)?;
            write(found.out, "genotype.txt", &genotype.to_string())?;
            // DARTS's evaluation network of the genotype (no auxiliary head), fresh.
            let eval = DartsNetworkConfig {
                classes,
                channels: self.channels,
                layers: self.cells,
                auxiliary: false,
                ..Default::default()
            };
            let fresh = || DartsNetwork::<B>::new(&genotype, &eval, found.device);
            let logits = |n: &DartsNetwork<B>, x| n.forward(x).map(|(y, _)| y);
            let logits_inner = |n: &DartsNetwork<B::InnerBackend>, x| n.forward(x).map(|(y, _)| y);
            Ok(Outcome {
                description: genotype.to_string(),
                retrained: found.retrain(fresh, logits, logits_inner)?,
            })
        };
        search.run_progressive(make, progression, method, strategy, device, report)
    }
}

/// The command line with this example's defaults, chosen to finish in under 10 minutes on 2
/// CPU cores on the shipped digits.
pub fn command() -> clap::Command {
    experiment_command::<Cli>(
        NAME,
        "A search of the DARTS space on images: search (single- or two-stage), discretize the \
         genotype, evaluate with inherited weights, export; --retrain trains the genotype's \
         network from scratch.",
        &[
            // DrNAS's two progressive stages, 3 epochs each, on 1000 digits: the supernet
            // (C = 12, 5 cells) takes 2.9–6.5 s a step on one peer, 15 steps an epoch.
            ("epochs", "6".into()),
            ("train_samples", "1000".into()),
            ("lr", SearchConfig::darts().lr.to_string()),
            // α lr 3e-3, five times the paper's 6e-4 for a run of 6 epochs, not 50; the other
            // spaces' 0.1 was not tried here.
            ("arch_lr", "3e-3".into()),
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
