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

#[path = "../common/mod.rs"]
mod common;
mod language;
mod methods;
mod table;

use std::path::PathBuf;

use common::{dispatch, Args};

fn main() {
    let usage =
        "study --table images [--train-samples 500] [--epochs 20] [--seeds 2] [--limit N]\n\
         \x20   [--out benches/quality/images.json] [--device cpu|wgpu|cuda]\n\
         \x20   Builds (or extends) the image table: every architecture of the space trained alone\n\
         \x20   with one recipe and each seed; --limit stops after N new runs.\n\
         study --table language [--embeds 48,72,96] [--layers 1,2,3] [--steps 50] [--epochs 8]\n\
         \x20   [--context 64] [--batch 12] [--lr 2e-3] [--eval-batches 40] [--seeds 2] [--limit N]\n\
         \x20   [--out benches/quality/language.json]\n\
         \x20   Builds (or extends) the language table: the nanoGPT space with one heads and one\n\
         \x20   MLP-ratio choice for all layers (heads {6, 8, 12}, ratio {2, 3, 4}), every network\n\
         \x20   trained alone for --epochs × --steps AdamW steps on the first 90 % of the shipped\n\
         \x20   Shakespeare and scored on the last 10 %.\n\
         study --table images|language --method NAME[,NAME…]|all [--seeds 4]\n\
         \x20   [--search-epochs E] [--alpha-warmup W] [--arch-lr LR] [--penalty 1.0] [--budget 20]\n\
         \x20   [--tune-arch-lr F,F,…] [--results benches/quality/TABLE-methods.json]\n\
         \x20   (+ the table's own options above)\n\
         \x20   Runs the methods (tanglenas, drnas-ws (images), darts-v1, gdas, spos-rs, spos-es,\n\
         \x20   random, tanglenas-penalty, spos-es-window) against the table; runs already in\n\
         \x20   --results are kept, not redone. Images: E = 40, W = 10, LR = 0.05. Language: E and\n\
         \x20   the steps per epoch as the table's recipe, W = E / 4, LR = the paper's total α\n\
         \x20   travel (3e-4 × 6000 steps) over this budget's α steps. --tune-arch-lr F,…: each\n\
         \x20   single-stage method instead chooses its α lr from LR × F on the validation split\n\
         \x20   (seed 0, lowest validation loss of the discovered architecture; TangleNAS + penalty\n\
         \x20   takes TangleNAS's); results then default to TABLE-methods-tuned.json.\n\
         study --table images|language --report [--results …]\n\
         \x20   Prints the comparison: rank, regret, inherited score, time, memory, tests.";
    let defaults = Args {
        device: "cpu".into(),
        optimizer: "drnas".into(),
        data_dir: None,
        dataset: "shipped-mnist".into(),
        // 0: the table's own default (images 20, language 8).
        epochs: 0,
        seed: 0,
        out: PathBuf::new(),
        resume: false,
        train_portion: 0.5,
        // 0: the table's own default (see the usage).
        arch_lr: 0.0,
        devices: 1,
        cluster: Default::default(),
        extra: Default::default(),
    };
    let a = Args::parse(defaults, usage);
    if let Err(e) = run(a) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(mut a: Args) -> Result<(), String> {
    let table: String = a.take("table", "images".to_string())?;
    let method: Option<String> = a.extra.remove("method");
    let report = a.take("report", false)?;
    let comparison = method.is_some() || report;
    let seeds = a.take("seeds", if comparison { 4 } else { 2 })?;
    let limit = a.take("limit", usize::MAX)?;
    let methods: Vec<methods::Method> = match method.as_deref() {
        None => vec![],
        // The language space has no WS twin: `all` there is every other method.
        Some("all") => methods::Method::ALL
            .into_iter()
            .filter(|&m| table != "language" || m != methods::Method::DrnasWs)
            .collect(),
        Some(list) => list.split(',').map(str::parse).collect::<Result<_, _>>()?,
    };
    if seeds == 0 {
        return Err("--seeds must be positive".into());
    }
    let factors: Vec<f64> = match a.extra.remove("tune-arch-lr") {
        None => vec![],
        Some(list) => list
            .split(',')
            .map(|x| match common::num::<f64>("--tune-arch-lr", x) {
                Ok(f) if f > 0.0 && f.is_finite() => Ok(f),
                Ok(_) => Err(format!("--tune-arch-lr: {x} is not a positive factor")),
                Err(e) => Err(e),
            })
            .collect::<Result<_, _>>()?,
    };
    let default_results = |table: &str| {
        PathBuf::from(if factors.is_empty() {
            format!("benches/quality/{table}-methods.json")
        } else {
            format!("benches/quality/{table}-methods-tuned.json")
        })
    };
    let out_or = |a: &Args, default: &str| {
        if a.out.as_os_str().is_empty() {
            PathBuf::from(default)
        } else {
            a.out.clone()
        }
    };
    let check_warmup = |epochs: usize, warmup: usize| {
        if epochs == 0 || warmup >= epochs {
            Err(format!(
                "--search-epochs must be positive and --alpha-warmup ({warmup}) below it ({epochs})"
            ))
        } else {
            Ok(())
        }
    };
    match table.as_str() {
        "images" => {
            if a.epochs == 0 {
                a.epochs = 20;
            }
            let train_samples = a.take("train-samples", 500)?;
            let table_path = out_or(&a, "benches/quality/images.json");
            if !comparison {
                let build = table::Build {
                    train_samples,
                    seeds,
                    limit,
                    args: Args {
                        out: table_path,
                        ..a.clone()
                    },
                };
                a.done()?;
                if train_samples < 32 {
                    return Err("--train-samples must be at least a batch (32)".into());
                }
                return dispatch(&a, build, 0);
            }
            let results: PathBuf = a.take("results", default_results("images"))?;
            let arch_lr = if a.arch_lr > 0.0 { a.arch_lr } else { 0.05 };
            let settings = methods::Settings {
                train_samples,
                train_portion: a.train_portion,
                batch: 32,
                epochs: a.take("search-epochs", 40)?,
                alpha_warmup: a.take("alpha-warmup", 10)?,
                lr: 0.025,
                // About the paper's total α travel on the toy spaces (3e-4 × 100 epochs × 390
                // steps ≈ 11.7) over this budget's 30 × 7 = 210 α steps.
                arch_lr,
                arch_lr_candidates: factors.iter().map(|f| f * arch_lr).collect(),
                penalty: a.take("penalty", 1.0)?,
                budget: a.take("budget", 20)?,
                recalibration_batches: 20,
            };
            a.done()?;
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
            let list = |a: &mut Args, key: &str, default: &str| -> Result<Vec<usize>, String> {
                let v: String = a.take(key, default.to_string())?;
                v.split(',')
                    .map(|x| common::num(&format!("--{key}"), x))
                    .collect()
            };
            let recipe = language::LmRecipe {
                embeds: list(&mut a, "embeds", "48,72,96")?,
                layers: list(&mut a, "layers", "1,2,3")?,
                heads: vec![6, 8, 12],
                ratios: vec![2.0, 3.0, 4.0],
                context: a.take("context", 64)?,
                batch: a.take("batch", 12)?,
                steps: a.take("steps", 50)?,
                epochs: a.epochs,
                lr: a.take("lr", 2e-3)?,
                eval_batches: a.take("eval-batches", 40)?,
            };
            if recipe.steps == 0 || recipe.epochs == 0 {
                return Err("--steps and --epochs must be positive".into());
            }
            let table_path = out_or(&a, "benches/quality/language.json");
            if !comparison {
                let build = language::LmBuild {
                    recipe,
                    seeds,
                    limit,
                    path: table_path,
                };
                a.done()?;
                return dispatch(&a, build, 0);
            }
            let results: PathBuf = a.take("results", default_results("language"))?;
            let epochs = a.take("search-epochs", recipe.epochs)?;
            let alpha_warmup = a.take("alpha-warmup", epochs / 4)?;
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
                penalty: a.take("penalty", 1.0)?,
                budget: a.take("budget", 20)?,
                score_batches: 10,
                recipe,
            };
            a.done()?;
            if report {
                let c: methods::Comparison<language::LmSettings> = methods::load(&results)?;
                let truth = language::truth(&c.table, &c.settings.recipe)?;
                println!("{}", methods::report(&c, &truth, "inherited held-out loss"));
                return Ok(());
            }
            language::run_language(&a, &methods, seeds, settings, &table_path, &results)
        }
        other => Err(format!("--table {other}: `images` or `language`")),
    }
}
