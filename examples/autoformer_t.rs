//! AutoFormer-T search (paper Table 20) with TangleNAS: every choice superposed, one forward
//! pass. Search (single- or two-stage), discretize, score the discovered ViT with inherited
//! weights on the test images, export it; `--reference` also trains it alone. `autoformer_s`
//! runs this same file on AutoFormer-S's space.
//!
//! ```text
//! cargo run --release --example autoformer_t                 # scaled-down run on shipped MNIST
//! cargo run --release --example autoformer_t -- --help       # options (CIFAR, devices, sizes)
//! ```
//!
//! Writes `metrics.jsonl`, `architecture.json`, `autoformer.json` (AutoFormer's form),
//! `alphas.svg` (probabilities per decision over the epochs), `summary.json` and the discovered
//! ViT's weights `subnet.bpk` to `--out` (default `runs/autoformer_t`, never overwritten). The
//! file reads on its own: the data, the space, how the discovered ViT is scored and reported,
//! and the command line; everything else is the library's experiment runner
//! (`tanglenas::experiment`).

/// mimalloc instead of the system allocator: Burn's CPU backend allocates a tensor per op, and
/// glibc's malloc hands every block over 128 KiB back to the kernel (docs/benchmarks.md).
/// Left out when a test includes this file (the test binary keeps its own allocator).
#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use burn::tensor::backend::AutodiffBackend;
use tangle_optim::{Method, SearchConfig};
use tangle_spaces::autoformer::{AutoFormer, AutoFormerConfig};

use tanglenas::experiment::{
    command as experiment_command, dispatch, exit_on_error, images, num, parse, write,
    ExperimentError, Found, ImageArgs, ImageSearch, Job, Outcome, Result, Strategy,
};

/// AutoFormer-T's or -S's search, as the command line asks.
struct VitJob {
    cli: VitCli,
    small: bool,
    /// `--depths`, parsed (`None`: the paper's).
    depths: Option<Vec<usize>>,
}

impl Job for VitJob {
    fn run<B: AutodiffBackend>(
        self,
        method: Method,
        strategy: Strategy,
        device: B::Device,
    ) -> Result<()> {
        let image = &self.cli.image;
        let (size, patch) = (self.cli.image_size, self.cli.patch);
        let classes = images::classes(&image.run.dataset)?;
        let config = if self.small {
            AutoFormerConfig::small(size, patch, classes)
        } else {
            AutoFormerConfig::tiny(size, patch, classes)
        };
        let config = match &self.depths {
            Some(d) => AutoFormerConfig {
                depths: d.clone(),
                ..config
            },
            None => config,
        };
        if image.retrain > 0 {
            // The library's retraining is DARTS's SGD recipe, which is not a ViT's.
            return Err(ExperimentError::usage(
                "--retrain: not for AutoFormer (retraining is DARTS's SGD recipe, not \
                 AutoFormer's AdamW); --reference trains the discovered ViT alone",
            ));
        }
        let name = if self.small {
            "autoformer-s"
        } else {
            "autoformer-t"
        };
        let search = ImageSearch::new(image, name, SearchConfig::autoformer(image.run.epochs))
            .with_input(3, size)
            .with_classes(classes)
            .with_space_config(&config)
            .with_summary("patch", patch);
        let report = |found: Found<'_, B, AutoFormer<B::InnerBackend>>| {
            // AutoFormer's own form of the discovered ViT.
            let form = found.model.describe(found.arch)?;
            let form = serde_json::to_string(&form)
                .map_err(|e| ExperimentError::json("the AutoFormer form", e))?;
            write(found.out, "autoformer.json", &form)?;
            Ok(Outcome {
                description: form,
                retrained: None,
            })
        };
        let d = device.clone();
        search.run(|| config.init::<B>(&d), method, strategy, device, report)
    }
}

/// The command line of the AutoFormer examples: the image search's options and this space's.
#[derive(Debug, clap::Parser)]
#[command(
    after_help = "Defaults: a scaled-down search that finishes in under 10 minutes on 2 \
CPU cores: the space's embed / heads / MLP-ratio choices at depth {2, 3, 4} (--depths paper for \
{12, 13, 14}), patch 8 (16 patches + cls), the shipped MNIST digits (half for the weights, half \
for α), AdamW lr 5e-4. The paper's CIFAR setting: --dataset cifar10 --data-dir DIR --depths \
paper --patch 4 --train-samples 0 --train-portion 0.8 --lr 5e-4 --arch-lr 3e-4 --epochs 500 \
--alpha-warmup 0."
)]
pub struct VitCli {
    #[command(flatten)]
    image: ImageArgs,
    /// Patch size.
    #[arg(long, default_value_t = 8)]
    patch: usize,
    /// Input images are resized to this side.
    #[arg(long, default_value_t = 32)]
    image_size: usize,
    /// Candidate depths, comma-separated, or `paper` ({12, 13, 14}).
    #[arg(long, default_value = "2,3,4")]
    depths: String,
}

/// The command line of AutoFormer-T (`small = false`) or -S, with its defaults.
pub fn command(small: bool) -> clap::Command {
    let name = if small {
        "autoformer_s"
    } else {
        "autoformer_t"
    };
    experiment_command::<VitCli>(
        name,
        "An AutoFormer search on images: search (single- or two-stage), discretize, evaluate \
         with inherited weights, export.",
        &[
            // -T: the time mimalloc (1.55× faster steps) and one peer per core (1.49× on 2
            // cores, docs/benchmarks.md) freed, spent on 14 epochs, 6 of them weights only
            // (the length fixed from the measured epoch times before the run); -S keeps its
            // earlier length. These spaces have no batch norm, so one peer per core gives the
            // one-peer result whatever the count (tests/parallel.rs), only sooner.
            ("epochs", (if small { 5 } else { 14 }).to_string()),
            ("alpha_warmup", (if small { 2 } else { 6 }).to_string()),
            // AutoFormer-S's steps cost about twice -T's: a third of the digits keeps its
            // default run near -T's time.
            (
                "train_samples",
                (if small { 2000 } else { 6000 }).to_string(),
            ),
            // AutoFormer's AdamW lr (its supernet recipe).
            ("lr", SearchConfig::autoformer(1).lr.to_string()),
            // No batch norm in a ViT: nothing to re-estimate.
            ("recalibrate", "0".into()),
            ("out", format!("runs/{name}")),
        ],
    )
}

/// Parses the command line and runs the search on AutoFormer-T's space, or -S's if `small`.
pub fn search(small: bool) {
    let cli: VitCli = parse(command(small));
    let result = (|| -> Result<()> {
        let depths = match cli.depths.as_str() {
            "paper" => None,
            d => Some(
                d.split(',')
                    .map(|v| num("--depths", v.trim()))
                    .collect::<Result<Vec<usize>>>()?,
            ),
        };
        let run = cli.image.run.clone();
        let budget = cli.image.budget;
        dispatch(&run, VitJob { cli, small, depths }, budget)
    })();
    exit_on_error(result);
}

fn main() {
    search(false);
}
