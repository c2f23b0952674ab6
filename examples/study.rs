//! The quality study's ground truth (issue 17): every architecture of a small space trained
//! alone with one fixed recipe, so that a search's result can be looked up.
//!
//! ```text
//! cargo run --release --example study -- --table images                 # build / extend it
//! cargo run --release --example study -- --table images --limit 20      # at most 20 new runs
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

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use tangle_core::{Extract, SearchSpec};
use tangle_optim::{ArchStep, Mixer};
use tangle_spaces::small_conv::{self, SmallConv, SmallConvConfig};

use common::{dispatch, images, Args, Job, Strategy};

/// One architecture trained alone with one seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// Decision indices in spec order.
    index: Vec<usize>,
    /// The architecture (decision → value).
    architecture: serde_json::Value,
    seed: u64,
    params: usize,
    test_accuracy: f32,
    seconds: f64,
}

/// The table: how it was made, and its runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Table {
    table: String,
    space: String,
    recipe: String,
    train_samples: usize,
    test_samples: usize,
    epochs: usize,
    seeds: u64,
    command: String,
    entries: Vec<Entry>,
}

struct Build {
    args: Args,
    train_samples: usize,
    seeds: u64,
    limit: usize,
}

/// Every index vector of `spec`, in mixed-radix order (the last decision fastest).
fn all_indices(spec: &SearchSpec) -> Vec<Vec<usize>> {
    let sizes: Vec<usize> = spec.decisions().iter().map(|d| d.len()).collect();
    let mut out = vec![vec![]];
    for &n in &sizes {
        out = out
            .into_iter()
            .flat_map(|prefix: Vec<usize>| {
                (0..n).map(move |i| {
                    let mut p = prefix.clone();
                    p.push(i);
                    p
                })
            })
            .collect();
    }
    out
}

fn save(table: &Table, path: &Path) -> Result<(), String> {
    let tmp = path.with_extension("json.partial");
    let text = serde_json::to_string_pretty(table).map_err(|e| e.to_string())?;
    fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Mean test accuracy per architecture over its seeds, with its parameters.
fn means(table: &Table) -> Vec<(Vec<usize>, usize, f32, usize)> {
    let mut out: Vec<(Vec<usize>, usize, f32, usize)> = Vec::new();
    for e in &table.entries {
        match out.iter_mut().find(|m| m.0 == e.index) {
            Some(m) => {
                m.2 += e.test_accuracy;
                m.3 += 1;
            }
            None => out.push((e.index.clone(), e.params, e.test_accuracy, 1)),
        }
    }
    for m in &mut out {
        m.2 /= m.3 as f32;
    }
    out
}

fn summarize(table: &Table, spec: &SearchSpec) -> Result<(), String> {
    let mut m = means(table);
    if m.is_empty() {
        return Ok(());
    }
    m.sort_by(|a, b| b.2.total_cmp(&a.2));
    let name = |idx: &[usize]| -> Result<String, String> {
        Ok(spec
            .architecture(idx)
            .map_err(|e| e.to_string())?
            .to_json()
            .replace(['\n', ' '], ""))
    };
    // The space's largest network, measured or not.
    let largest_arch = spec.largest();
    let largest_idx = spec.indices(&largest_arch).map_err(|e| e.to_string())?;
    let largest = small_conv::small_conv_params(&largest_arch, SmallConvConfig::default())
        .map_err(|e| e.to_string())?;
    // Seed agreement: mean |difference| between the seeds of architectures with two or more.
    let mut spread = (0.0f32, 0usize);
    for (idx, _, _, n) in &m {
        if *n >= 2 {
            let accs: Vec<f32> = table
                .entries
                .iter()
                .filter(|e| &e.index == idx)
                .map(|e| e.test_accuracy)
                .collect();
            spread.0 += (accs[0] - accs[1]).abs();
            spread.1 += 1;
        }
    }
    println!(
        "{} architectures measured ({} runs); mean |seed 0 − seed 1| {:.4} over {} architectures",
        m.len(),
        table.entries.len(),
        spread.0 / spread.1.max(1) as f32,
        spread.1
    );
    println!("rank  mean test acc.  parameters  architecture");
    for (r, (idx, params, acc, _)) in m.iter().enumerate().take(10) {
        println!(
            "{:>4}  {acc:.4}          {params:>9}  {}",
            r + 1,
            name(idx)?
        );
    }
    if let Some(r) = m.iter().position(|x| x.0 == largest_idx) {
        println!(
            "the largest network ({largest} parameters) ranks {} of {} ({:.4})",
            r + 1,
            m.len(),
            m[r].2
        );
    }
    if let Some(c) = m.iter().find(|x| 2 * x.1 <= largest) {
        println!(
            "best with at most half the largest's {largest} parameters: {} — {:.4}, {} parameters",
            name(&c.0)?,
            c.2,
            c.1
        );
    }
    Ok(())
}

impl Job for Build {
    fn run<B: AutodiffBackend, X: Mixer<B>>(
        self,
        _mixer: X,
        _step: ArchStep,
        _strategy: Strategy,
        device: B::Device,
    ) -> Result<(), String> {
        let a = &self.args;
        let config = SmallConvConfig::default();
        let (train, test, transform) = images::load(a, 1, 28)?;
        let train = images::first(train, self.train_samples);
        let spec = small_conv::spec();
        let path: PathBuf = a.out.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let command = format!(
            "cargo run --release --example study -- --table images --train-samples {} --epochs {} --seeds {}",
            self.train_samples, a.epochs, self.seeds
        );
        let mut table = if path.exists() {
            let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let t: Table = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not a study table: {e}", path.display()))?;
            if t.train_samples != self.train_samples || t.epochs != a.epochs {
                return Err(format!(
                    "{} was built with --train-samples {} --epochs {}; extend it with the same \
                     settings or choose another --out",
                    path.display(),
                    t.train_samples,
                    t.epochs
                ));
            }
            t
        } else {
            Table {
                table: "images".into(),
                space: "tangle_spaces::small_conv (81 architectures)".into(),
                recipe: "SGD momentum 0.9 (dampening 0), lr 0.025 cosine to 0, batch 32, \
                         ±2-pixel crops, no weight decay; fresh supernet weights sliced at the \
                         architecture"
                    .into(),
                train_samples: train.len(),
                test_samples: test.len(),
                epochs: a.epochs,
                seeds: self.seeds,
                command: command.clone(),
                entries: Vec::new(),
            }
        };
        table.seeds = table.seeds.max(self.seeds);
        table.command = command;
        let mut new_runs = 0;
        'all: for idx in all_indices(&spec) {
            for seed in 0..self.seeds {
                if table
                    .entries
                    .iter()
                    .any(|e| e.index == idx && e.seed == seed)
                {
                    continue;
                }
                if new_runs == self.limit {
                    break 'all;
                }
                let arch = spec.architecture(&idx).map_err(|e| e.to_string())?;
                let start = Instant::now();
                B::seed(
                    &device,
                    seed.wrapping_mul(1000) + idx.iter().fold(0, |h, &i| h * 3 + i as u64),
                );
                let fresh = SmallConv::<B>::new(config, &device).map_err(|e| e.to_string())?;
                let net = fresh.extract(&arch).map_err(|e| e.to_string())?;
                let params = fresh.params(&arch).map_err(|e| e.to_string())?;
                let net = common::cnn::retrain(
                    net,
                    &train,
                    &transform,
                    a.epochs,
                    32,
                    seed,
                    &device,
                    |n, x| Ok(n.forward(x)),
                )?;
                let inner = net.valid();
                let acc =
                    common::cnn::accuracy::<B::InnerBackend>(&test, &transform, &device, |x| {
                        Ok(inner.forward(x))
                    })?;
                let seconds = start.elapsed().as_secs_f64();
                println!(
                    "{} seed {seed}: {acc:.4} test accuracy, {params} parameters, {seconds:.1} s",
                    arch.to_json().replace(['\n', ' '], "")
                );
                table.entries.push(Entry {
                    index: idx.clone(),
                    architecture: serde_json::from_str(&arch.to_json())
                        .map_err(|e| e.to_string())?,
                    seed,
                    params,
                    test_accuracy: acc,
                    seconds,
                });
                save(&table, &path)?;
                new_runs += 1;
            }
        }
        summarize(&table, &spec)?;
        let total = spec.size() as usize * self.seeds as usize;
        println!(
            "{} of {total} runs in {}{}",
            table.entries.len(),
            path.display(),
            if table.entries.len() < total {
                " (run again to continue)"
            } else {
                ""
            }
        );
        Ok(())
    }
}

fn main() {
    let usage =
        "study --table images [--train-samples 500] [--epochs 20] [--seeds 2] [--limit N]\n\
         \x20   [--out benches/quality/images.json] [--device cpu|wgpu|cuda]\n\
         Builds (or extends) the ground-truth table: every architecture of the space trained\n\
         alone with one recipe and each seed; --limit stops after N new runs.";
    let defaults = Args {
        device: "cpu".into(),
        optimizer: "drnas".into(),
        data_dir: None,
        dataset: "shipped-mnist".into(),
        epochs: 20,
        seed: 0,
        out: PathBuf::from("benches/quality/images.json"),
        train_portion: 0.5,
        arch_lr: 3e-3,
        extra: Default::default(),
    };
    let mut a = Args::parse(defaults, usage);
    let result = (|| -> Result<(), String> {
        let table: String = a.take("table", "images".to_string())?;
        if table != "images" {
            return Err(format!("--table {table}: only `images` is built so far"));
        }
        let build = Build {
            train_samples: a.take("train-samples", 500)?,
            seeds: a.take("seeds", 2)?,
            limit: a.take("limit", usize::MAX)?,
            args: a.clone(),
        };
        a.done()?;
        if build.seeds == 0 || build.train_samples < 32 {
            return Err(
                "--seeds must be positive and --train-samples at least a batch (32)".into(),
            );
        }
        dispatch(&a, build, 0)
    })();
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
