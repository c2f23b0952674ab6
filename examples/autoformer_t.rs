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

use std::path::PathBuf;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use tangle_core::{Extract, Supernet};
use tangle_data::ImageBatches;
use tangle_optim::{Method, SearchConfig, SearchData as _};
use tangle_spaces::autoformer::{AutoFormerConfig, ViT};

use tanglenas::experiment::{
    accuracy, command as experiment_command, discover, dispatch, exit_on_error, images, num, parse,
    reference, run_dir, search_epochs, start_search, write, write_config, write_json, write_search,
    ExperimentError, Job, Result, RunArgs, Strategy,
};

struct VitJob {
    args: RunArgs,
    small: bool,
    patch: usize,
    image_size: usize,
    train_samples: usize,
    batch: usize,
    lr: f64,
    depths: Option<Vec<usize>>,
    /// Also train the discovered architecture alone (fresh weights, same data and weight steps).
    reference: bool,
    /// Epochs of weight training before α is updated.
    alpha_warmup: usize,
}

impl Job for VitJob {
    fn run<B: AutodiffBackend>(
        self,
        method: Method,
        strategy: Strategy,
        device: B::Device,
    ) -> Result<()> {
        let a = &self.args;
        let (train, test, transform) = images::load(a, 3, self.image_size)?;
        let train = images::first(train, self.train_samples);
        let classes = train.classes;
        // The validation batches a two-stage search scores candidates on (inference backend).
        let valid_batches: Vec<_> = match strategy {
            Strategy::Gradient => Vec::new(),
            Strategy::Spos { .. } => {
                images::valid_batches(&train, a, self.batch, &transform, &device)?
            }
        };
        let data = ImageBatches::<B>::new(
            train,
            a.train_portion,
            self.batch,
            transform.clone(),
            a.seed,
            &device,
        )?;
        let config = if self.small {
            AutoFormerConfig::small(self.image_size, self.patch, classes)
        } else {
            AutoFormerConfig::tiny(self.image_size, self.patch, classes)
        };
        let config = match &self.depths {
            Some(d) => AutoFormerConfig {
                depths: d.clone(),
                ..config
            },
            None => config,
        };
        let net = config.clone().init::<B>(&device)?;
        let spec = net.spec().clone();
        let out = run_dir(a)?;
        let search_config = SearchConfig {
            arch_lr: a.arch_lr,
            lr: self.lr,
            lr_min: self.lr / 50.0,
            warmup_epochs: self.alpha_warmup,
            ..SearchConfig::autoformer(a.epochs)
        };
        let search = start_search(a, net, method, search_config, &out, &device)?;
        println!(
            "AutoFormer-{} on {} ({} training images, {}×{} patches of {}): {} architectures, {} with {} epochs of {} steps; output in {}",
            if self.small { "S" } else { "T" },
            a.dataset,
            data.split().train.len() + data.split().valid.len(),
            self.image_size / self.patch,
            self.image_size / self.patch,
            self.patch,
            spec.size(),
            a.optimizer,
            a.epochs,
            data.steps_per_epoch(),
            out.display()
        );
        let search = search_epochs(a, search, &data, &out, &device)?;
        // Discretize (argmax per decision, or the second stage's best) → the plain ViT with
        // the inherited weights.
        let model = search.model.valid();
        let metric = tangle_twostage::Metric::Accuracy;
        let batches = || Ok(valid_batches);
        let arch = discover(a, &search, &model, strategy, batches, metric, &out)?;
        let form = model.describe(&arch)?;
        let vit = model.extract(&arch)?;
        let logits = |net: &ViT<B::InnerBackend>, x| Ok::<_, ExperimentError>(net.forward(x));
        let acc = accuracy(&test, &transform, &device, |x| logits(&vit, x))?;
        let fresh = || config.init::<B>(&device);
        let alone = reference(a, self.reference, fresh, &arch, &search.config, &data, &out)?
            .map(|m| -> Result<_> {
                let net = m.extract(&arch)?;
                accuracy(&test, &transform, &device, |x| logits(&net, x))
            })
            .transpose()?;
        let form_json = serde_json::to_string(&form)
            .map_err(|e| ExperimentError::json("the AutoFormer form", e))?;
        println!("\ndiscovered architecture (AutoFormer form): {form_json}");
        println!(
            "test accuracy of the discovered network with inherited weights: {acc:.4} ({} test images)",
            test.len()
        );
        if let Some(r) = alone {
            println!("test accuracy of the same architecture trained alone: {r:.4}");
        }
        write(&out, "autoformer.json", &form_json)?;
        let probs = search.probabilities();
        write_search(&out, &search, &arch, 6)?;
        let summary = serde_json::json!({
            "space": if self.small { "autoformer-s" } else { "autoformer-t" },
            "optimizer": a.optimizer,
            "dataset": a.dataset,
            "epochs": a.epochs,
            "seed": a.seed,
            "architecture": form,
            "test_accuracy": acc,
            "test_accuracy_trained_alone": alone,
            "train_portion": a.train_portion,
            "train_samples": self.train_samples,
            "batch": self.batch,
            "lr": self.lr,
            "arch_lr": a.arch_lr,
            "warmup_epochs": search.config.warmup_epochs,
            "test_images": test.len(),
            "final_probabilities": probs,
            "seconds": search.records.last().map(|r| r.seconds),
        });
        write_json(&out, "summary.json", &summary)?;
        write_config(&out, "space_config.json", &config)?;
        let weights: PathBuf = out.join("subnet.bpk");
        tangle_core::subnet::save(&vit, &weights)?;
        println!(
            "wrote metrics.jsonl, architecture.json, autoformer.json, alphas.svg, summary.json, space_config.json, search_config.json and subnet.bpk to {}",
            out.display()
        );
        Ok(())
    }
}

/// The command line of the AutoFormer examples: the shared options and this job's own.
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
    run: RunArgs,
    /// Patch size.
    #[arg(long, default_value_t = 8)]
    patch: usize,
    /// Input images are resized to this side.
    #[arg(long, default_value_t = 32)]
    image_size: usize,
    /// Training digits, half for the weights and half for α (0 = all).
    #[arg(long, value_name = "N", default_value_t = 0)]
    train_samples: usize,
    /// Mini-batch size (split between the peers).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Weight learning rate (AdamW).
    #[arg(long, default_value_t = 5e-4)]
    lr: f64,
    /// Candidates evaluated by spos-rs / spos-es.
    #[arg(long, default_value_t = 100)]
    budget: usize,
    /// Also train the discovered architecture alone (same data and weight steps).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false,
          action = clap::ArgAction::Set)]
    reference: bool,
    /// Epochs that train the weights only, before α.
    #[arg(long, value_name = "EPOCHS", default_value_t = 0)]
    alpha_warmup: usize,
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
            ("out", format!("runs/{name}")),
        ],
    )
}

/// Parses the command line and runs the search on AutoFormer-T's space, or -S's if `small`.
pub fn search(small: bool) {
    let cli: VitCli = parse(command(small));
    let a = cli.run;
    let result = (|| -> Result<()> {
        let depths = match cli.depths.as_str() {
            "paper" => None,
            d => Some(
                d.split(',')
                    .map(|v| num("--depths", v.trim()))
                    .collect::<Result<Vec<usize>>>()?,
            ),
        };
        let job = VitJob {
            small,
            patch: cli.patch,
            image_size: cli.image_size,
            train_samples: cli.train_samples,
            batch: cli.batch,
            lr: cli.lr,
            reference: cli.reference,
            alpha_warmup: cli.alpha_warmup,
            depths,
            args: a.clone(),
        };
        dispatch(&a, job, cli.budget)
    })();
    exit_on_error(result);
}

fn main() {
    search(false);
}
