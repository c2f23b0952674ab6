//! The quality study (issue 17): ground truth that a search's result can be looked up in, and
//! the search methods compared against it.
//!
//! ```text
//! cargo run --release --example study -- --table images                 # build / extend it
//! cargo run --release --example study -- --table images --limit 20      # at most 20 new runs
//! cargo run --release --example study -- --table images --method tanglenas --seeds 4
//! cargo run --release --example study -- --table images --method all --seeds 4
//! cargo run --release --example study -- --table images --report        # the comparison table
//! ```
//!
//! `images`: the 81 networks of `tangle_spaces::small_conv` (three conv layers, widths
//! {8, 16, 32} each, one shared kernel {3, 5, 7}) on the first `--train-samples` shipped MNIST
//! training digits (500 by default: few enough that architectures differ), each trained from
//! scratch for `--epochs` epochs (SGD momentum 0.9, lr 0.025 cosine to 0, batch 32, ±2-pixel
//! crops) with `--seeds` seeds, and scored on the 1000 shipped test digits. The table is a JSON
//! file (`--out`, default `benches/quality/images.json`) rewritten atomically after every run;
//! an existing table is extended, never redone, so an interrupted build resumes where it
//! stopped. It records per run the architecture, seed, parameters, test accuracy and seconds,
//! and prints the best architecture overall and under half the largest one's parameters.
//!
//! `--method NAME|all`: the comparison. Each method searches the same space on the same digits
//! (half train the weights, half train α or score SPOS's candidates) for `--search-epochs`
//! supernet epochs, with `--seeds` seeds; the architecture it ends with is looked up in the
//! table (rank, regret, and regret under the half-parameters constraint) and scored on the test
//! digits with its inherited weights. Runs go to `--results` (default
//! `benches/quality/images-methods.json`), saved after each one and never redone; α
//! trajectories of seed 0 to `benches/quality/alphas/`. `--report` prints the comparison.

/// mimalloc instead of the system allocator: Burn's CPU backend allocates a tensor per op, and
/// glibc's malloc hands every block over 128 KiB back to the kernel (docs/benchmarks.md).
/// Left out when a test includes this file (the test binary keeps its own allocator).
#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod language;
mod methods;
mod table;

use std::path::PathBuf;

// The library's experiment runner, under the name the study's files use.
use tanglenas::experiment as common;

use common::{dispatch, ExperimentError, Result, RunArgs};

/// The study's command line: the shared options (`--epochs` is the table's recipe, `--out` the
/// table file, `--arch-lr` the comparison's α lr; each 0 / empty for the table's own default)
/// and the study's own.
#[derive(Debug, clap::Parser)]
#[command(
    after_help = "study --table images|language: builds (or extends) the table, every \
architecture of the space trained alone with one recipe and each seed. \
study --table T --method NAME[,NAME…]|all: runs the methods (tanglenas, drnas-ws (images), \
darts-v1, gdas, spos-rs, spos-es, random, tanglenas-penalty, spos-es-window) against the table; \
runs already in --results are kept, not redone. Images: search epochs 40, α warm-up 10, α lr \
0.05. Language: the table's recipe, warm-up a quarter, α lr the paper's total α travel (3e-4 × \
6000 steps) over this budget's α steps. study --table T --report: prints the comparison."
)]
struct StudyCli {
    #[command(flatten)]
    run: RunArgs,
    /// Which table: images (the small conv space on MNIST) or language (nanoGPT, global
    /// choices, on Shakespeare).
    #[arg(long, default_value = "images", value_parser = ["images", "language"])]
    table: String,
    /// Methods to compare, comma-separated, or `all`.
    #[arg(long, value_name = "NAME[,NAME…]|all")]
    method: Option<String>,
    /// Print the comparison of the runs in --results.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false,
          action = clap::ArgAction::Set)]
    report: bool,
    /// Seeds (default: 2 for a table, 4 for a comparison).
    #[arg(long)]
    seeds: Option<u64>,
    /// Stop a table build after N new runs.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Each single-stage method instead chooses its α lr from LR × F on the validation split
    /// (seed 0, lowest validation loss of the discovered architecture); results then default
    /// to TABLE-methods-tuned.json.
    #[arg(long, value_name = "F,F,…")]
    tune_arch_lr: Option<String>,
    /// The comparison's results file (default benches/quality/TABLE-methods.json).
    #[arg(long, value_name = "FILE")]
    results: Option<PathBuf>,
    /// Images: training digits of the table and the searches.
    #[arg(long, value_name = "N", default_value_t = 500)]
    train_samples: usize,
    /// Supernet epochs of a comparison's search (images 40; language the table's).
    #[arg(long, value_name = "E")]
    search_epochs: Option<usize>,
    /// Weights-only epochs before α (images 10; language a quarter of the search).
    #[arg(long, value_name = "W")]
    alpha_warmup: Option<usize>,
    /// Scale of the expected-parameter penalty (tanglenas-penalty).
    #[arg(long, default_value_t = 1.0)]
    penalty: f64,
    /// Candidates of the two-stage searches.
    #[arg(long, default_value_t = 20)]
    budget: usize,
    /// Language: embedding dims.
    #[arg(long, default_value = "48,72,96")]
    embeds: String,
    /// Language: layer counts.
    #[arg(long, default_value = "1,2,3")]
    layers: String,
    /// Language: context length.
    #[arg(long, default_value_t = 64)]
    context: usize,
    /// Language: sequences per step.
    #[arg(long, default_value_t = 12)]
    batch: usize,
    /// Language: steps per epoch.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Language: AdamW learning rate of the table's recipe.
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Language: held-out batches that score a network.
    #[arg(long, default_value_t = 40)]
    eval_batches: usize,
}

fn main() {
    let cli: StudyCli = common::parse(common::command::<StudyCli>(
        "study",
        "The quality study: ground-truth tables, and the search methods compared against them.",
        &[
            // 0 / empty: the table's own default (images 20 epochs, language 8).
            ("epochs", "0".to_string()),
            ("out", String::new()),
            ("arch_lr", "0".to_string()),
            ("devices", "1".to_string()),
        ],
    ));
    if let Err(e) = run(cli) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(cli: StudyCli) -> Result<()> {
    let mut a = cli.run.clone();
    let table = cli.table.clone();
    let method = cli.method.clone();
    let report = cli.report;
    let comparison = method.is_some() || report;
    let seeds = cli.seeds.unwrap_or(if comparison { 4 } else { 2 });
    let limit = cli.limit.unwrap_or(usize::MAX);
    let methods: Vec<methods::Method> = match method.as_deref() {
        None => vec![],
        // The language space has no WS twin: `all` there is every other method.
        Some("all") => methods::Method::ALL
            .into_iter()
            .filter(|&m| table != "language" || m != methods::Method::DrnasWs)
            .collect(),
        Some(list) => list.split(',').map(str::parse).collect::<Result<_>>()?,
    };
    if seeds == 0 {
        return Err(ExperimentError::usage("--seeds must be positive"));
    }
    let factors: Vec<f64> = match &cli.tune_arch_lr {
        None => vec![],
        Some(list) => list
            .split(',')
            .map(|x| match common::num::<f64>("--tune-arch-lr", x) {
                Ok(f) if f > 0.0 && f.is_finite() => Ok(f),
                Ok(_) => Err(ExperimentError::usage(format!(
                    "--tune-arch-lr: {x} is not a positive factor"
                ))),
                Err(e) => Err(e),
            })
            .collect::<Result<_>>()?,
    };
    let default_results = |table: &str| {
        PathBuf::from(if factors.is_empty() {
            format!("benches/quality/{table}-methods.json")
        } else {
            format!("benches/quality/{table}-methods-tuned.json")
        })
    };
    let out_or = |a: &RunArgs, default: &str| {
        if a.out.as_os_str().is_empty() {
            PathBuf::from(default)
        } else {
            a.out.clone()
        }
    };
    let check_warmup = |epochs: usize, warmup: usize| {
        if epochs == 0 || warmup >= epochs {
            Err(ExperimentError::usage(format!(
                "--search-epochs must be positive and --alpha-warmup ({warmup}) below it ({epochs})"
            )))
        } else {
            Ok(())
        }
    };
    match table.as_str() {
        "images" => {
            if a.epochs == 0 {
                a.epochs = 20;
            }
            let train_samples = cli.train_samples;
            let table_path = out_or(&a, "benches/quality/images.json");
            if !comparison {
                let build = table::Build {
                    train_samples,
                    seeds,
                    limit,
                    args: RunArgs {
                        out: table_path,
                        ..a.clone()
                    },
                };
                if train_samples < 32 {
                    return Err(ExperimentError::usage(
                        "--train-samples must be at least a batch (32)",
                    ));
                }
                return dispatch(&a, build, 0);
            }
            let results = cli
                .results
                .clone()
                .unwrap_or_else(|| default_results("images"));
            let arch_lr = if a.arch_lr > 0.0 { a.arch_lr } else { 0.05 };
            let settings = methods::Settings {
                train_samples,
                train_portion: a.train_portion,
                batch: 32,
                epochs: cli.search_epochs.unwrap_or(40),
                alpha_warmup: cli.alpha_warmup.unwrap_or(10),
                lr: 0.025,
                // About the paper's total α travel on the toy spaces (3e-4 × 100 epochs × 390
                // steps ≈ 11.7) over this budget's 30 × 7 = 210 α steps.
                arch_lr,
                arch_lr_candidates: factors.iter().map(|f| f * arch_lr).collect(),
                penalty: cli.penalty,
                budget: cli.budget,
                recalibration_batches: 20,
            };
            if report {
                let c: methods::Comparison<methods::Settings> = methods::load(&results)?;
                let truth = methods::Truth::images(&table::load(&c.table)?)?;
                println!("{}", methods::report(&c, &truth, "inherited test acc."));
                return Ok(());
            }
            check_warmup(settings.epochs, settings.alpha_warmup)?;
            methods::run_images(&a, &methods, seeds, settings, &table_path, &results)
        }
        "language" => {
            if a.epochs == 0 {
                a.epochs = 8;
            }
            let list = |key: &str, v: &str| -> Result<Vec<usize>> {
                v.split(',')
                    .map(|x| common::num(&format!("--{key}"), x))
                    .collect()
            };
            let recipe = language::LmRecipe {
                embeds: list("embeds", &cli.embeds)?,
                layers: list("layers", &cli.layers)?,
                heads: vec![6, 8, 12],
                ratios: vec![2.0, 3.0, 4.0],
                context: cli.context,
                batch: cli.batch,
                steps: cli.steps,
                epochs: a.epochs,
                lr: cli.lr,
                eval_batches: cli.eval_batches,
            };
            if recipe.steps == 0 || recipe.epochs == 0 {
                return Err(ExperimentError::usage(
                    "--steps and --epochs must be positive",
                ));
            }
            let table_path = out_or(&a, "benches/quality/language.json");
            if !comparison {
                let build = language::LmBuild {
                    recipe,
                    seeds,
                    limit,
                    path: table_path,
                };
                return dispatch(&a, build, 0);
            }
            let results = cli
                .results
                .clone()
                .unwrap_or_else(|| default_results("language"));
            let epochs = cli.search_epochs.unwrap_or(recipe.epochs);
            let alpha_warmup = cli.alpha_warmup.unwrap_or(epochs / 4);
            check_warmup(epochs, alpha_warmup)?;
            let alpha_steps = ((epochs - alpha_warmup) * recipe.steps) as f64;
            let arch_lr = if a.arch_lr > 0.0 {
                a.arch_lr
            } else {
                3e-4 * 6000.0 / alpha_steps
            };
            let settings = language::LmSettings {
                epochs,
                steps: recipe.steps,
                alpha_warmup,
                arch_lr,
                arch_lr_candidates: factors.iter().map(|f| f * arch_lr).collect(),
                penalty: cli.penalty,
                budget: cli.budget,
                score_batches: 10,
                recipe,
            };
            if report {
                let c: methods::Comparison<language::LmSettings> = methods::load(&results)?;
                let truth = language::truth(&c.table, &c.settings.recipe)?;
                println!("{}", methods::report(&c, &truth, "inherited held-out loss"));
                return Ok(());
            }
            language::run_language(&a, &methods, seeds, settings, &table_path, &results)
        }
        other => Err(ExperimentError::usage(format!(
            "--table {other}: `images` or `language`"
        ))),
    }
}
