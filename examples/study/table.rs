//! The image table: every architecture of `tangle_spaces::small_conv` trained alone with one
//! fixed recipe and each seed, written to a JSON file that is extended, never redone.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use tangle_core::{Extract, SearchSpec};
use tangle_optim::Method as SearchMethod;
use tangle_spaces::small_conv::{self, SmallConvConfig};

use crate::common::{self, images, ExperimentError, Job, Result, RunArgs, Strategy};

/// One architecture trained alone with one seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Decision indices in spec order.
    pub index: Vec<usize>,
    /// The architecture (decision → value).
    pub architecture: serde_json::Value,
    pub seed: u64,
    pub params: usize,
    pub test_accuracy: f32,
    pub seconds: f64,
}

/// The table: how it was made, and its runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    /// `images`.
    pub table: String,
    /// The space, in words.
    pub space: String,
    /// The training recipe, in words.
    pub recipe: String,
    /// Training digits (the first of the shipped set).
    pub train_samples: usize,
    /// Test digits scored.
    pub test_samples: usize,
    /// Training epochs per run.
    pub epochs: usize,
    /// Seeds per architecture.
    pub seeds: u64,
    /// The command that builds the table.
    pub command: String,
    /// The runs.
    pub entries: Vec<Entry>,
}

pub struct Build {
    /// The command line.
    pub args: RunArgs,
    /// Training digits.
    pub train_samples: usize,
    /// Seeds per architecture.
    pub seeds: u64,
    /// Stop after this many new runs.
    pub limit: usize,
}

/// Every index vector of `spec`, in mixed-radix order (the last decision fastest).
pub fn all_indices(spec: &SearchSpec) -> Vec<Vec<usize>> {
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

/// The (architecture, seed) runs a table still lacks, in table order, at most `limit`; `done`
/// says whether a run is in the table already.
pub fn missing(
    spec: &SearchSpec,
    seeds: u64,
    limit: usize,
    done: impl Fn(&[usize], u64) -> bool,
) -> Vec<(Vec<usize>, u64)> {
    all_indices(spec)
        .into_iter()
        .flat_map(|idx| (0..seeds).map(move |seed| (idx.clone(), seed)))
        .filter(|(idx, seed)| !done(idx, *seed))
        .take(limit)
        .collect()
}

/// The backend seed of one table run: the run's seed and its architecture, so that every run
/// draws its own initialization and a rerun draws the same one.
pub fn run_seed(idx: &[usize], seed: u64) -> u64 {
    seed.wrapping_mul(1000) + idx.iter().fold(0, |h, &i| h * 3 + i as u64)
}

/// Prints how far a table is: `runs` of its architectures × `seeds`.
pub fn report_progress(runs: usize, spec: &SearchSpec, seeds: u64, path: &Path) {
    let total = spec.size() as usize * seeds as usize;
    println!(
        "{runs} of {total} runs in {}{}",
        path.display(),
        if runs < total {
            " (run again to continue)"
        } else {
            ""
        }
    );
}

/// Reads a table written by [`Build`].
pub fn load(path: &Path) -> Result<Table> {
    common::read_json(path, "a study table")
}

/// A measured run of a ground-truth table: an architecture, a seed, and its score.
pub trait Row {
    /// Decision indices in spec order.
    fn index(&self) -> &[usize];
    /// Parameters of the network.
    fn params(&self) -> usize;
    /// The score (test accuracy, held-out loss …).
    fn value(&self) -> f32;
}

impl Row for Entry {
    fn index(&self) -> &[usize] {
        &self.index
    }
    fn params(&self) -> usize {
        self.params
    }
    fn value(&self) -> f32 {
        self.test_accuracy
    }
}

/// One architecture's mean score over its seeds.
#[derive(Debug, Clone)]
pub struct Mean {
    /// Decision indices.
    pub index: Vec<usize>,
    /// Parameters.
    pub params: usize,
    /// Mean score.
    pub value: f32,
    /// The seeds' scores.
    pub values: Vec<f32>,
}

/// The mean score of every measured architecture, best first (`higher_better`: accuracy;
/// otherwise a loss).
pub fn means<R: Row>(rows: &[R], higher_better: bool) -> Vec<Mean> {
    let mut out: Vec<Mean> = Vec::new();
    for r in rows {
        match out.iter_mut().find(|m| m.index == r.index()) {
            Some(m) => m.values.push(r.value()),
            None => out.push(Mean {
                index: r.index().to_vec(),
                params: r.params(),
                value: 0.0,
                values: vec![r.value()],
            }),
        }
    }
    for m in &mut out {
        m.value = m.values.iter().sum::<f32>() / m.values.len() as f32;
    }
    out.sort_by(|a, b| {
        if higher_better {
            b.value.total_cmp(&a.value)
        } else {
            a.value.total_cmp(&b.value)
        }
    });
    out
}

/// Prints a table's summary: the ten best architectures, the seeds' agreement, where the
/// largest network ranks, and the best with at most half its parameters (`largest`).
pub fn summarize<R: Row>(
    rows: &[R],
    higher_better: bool,
    score_name: &str,
    spec: &SearchSpec,
    largest: usize,
) -> Result<()> {
    let m = means(rows, higher_better);
    if m.is_empty() {
        return Ok(());
    }
    let name = |idx: &[usize]| -> Result<String> {
        Ok(spec.architecture(idx)?.to_json().replace(['\n', ' '], ""))
    };
    let largest_idx = spec.indices(&spec.largest())?;
    // Seed agreement: mean |seed 0 − seed 1| over the architectures with two or more seeds.
    let pairs: Vec<f32> = m
        .iter()
        .filter(|x| x.values.len() >= 2)
        .map(|x| (x.values[0] - x.values[1]).abs())
        .collect();
    println!(
        "{} architectures measured ({} runs); mean |seed 0 − seed 1| {:.4} over {} architectures",
        m.len(),
        rows.len(),
        pairs.iter().sum::<f32>() / pairs.len().max(1) as f32,
        pairs.len()
    );
    println!("rank  mean {score_name}  parameters  architecture");
    for (r, x) in m.iter().enumerate().take(10) {
        println!(
            "{:>4}  {:.4}  {:>9}  {}",
            r + 1,
            x.value,
            x.params,
            name(&x.index)?
        );
    }
    if let Some(r) = m.iter().position(|x| x.index == largest_idx) {
        println!(
            "the largest network ({largest} parameters) ranks {} of {} ({:.4})",
            r + 1,
            m.len(),
            m[r].value
        );
    }
    if let Some(c) = m.iter().find(|x| 2 * x.params <= largest) {
        println!(
            "best with at most half the largest's {largest} parameters: {} — {:.4}, {} parameters",
            name(&c.index)?,
            c.value,
            c.params
        );
    }
    Ok(())
}

impl Job for Build {
    fn run<B: AutodiffBackend>(
        self,
        _method: SearchMethod,
        _strategy: Strategy,
        device: B::Device,
    ) -> Result<()> {
        let a = &self.args;
        let config = SmallConvConfig::default();
        let (train, test, transform) = images::load(a, 1, 28)?;
        let train = images::first(train, self.train_samples);
        let spec = small_conv::spec();
        let path: PathBuf = a.out.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| ExperimentError::io(dir, e))?;
        }
        let command = format!(
            "cargo run --release --example study -- --table images --train-samples {} --epochs {} --seeds {}",
            self.train_samples, a.epochs, self.seeds
        );
        let mut table = if path.exists() {
            let t = load(&path)?;
            if t.train_samples != self.train_samples || t.epochs != a.epochs {
                return Err(ExperimentError::usage(format!(
                    "{} was built with --train-samples {} --epochs {}; extend it with the same \
                     settings or choose another --out",
                    path.display(),
                    t.train_samples,
                    t.epochs
                )));
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
        let todo = missing(&spec, self.seeds, self.limit, |idx, seed| {
            table
                .entries
                .iter()
                .any(|e| e.index == idx && e.seed == seed)
        });
        for (idx, seed) in todo {
            let arch = spec.architecture(&idx)?;
            let start = Instant::now();
            B::seed(&device, run_seed(&idx, seed));
            let fresh = config.init::<B>(&device)?;
            let net = fresh.extract(&arch)?;
            let params = fresh.params(&arch)?;
            let net = common::retrain(
                net,
                &train,
                &transform,
                common::RetrainSettings::darts(a.epochs, 32, seed),
                &device,
                |n, x| Ok::<_, ExperimentError>(n.forward(x)),
            )?;
            let inner = net.valid();
            let acc = common::accuracy::<B::InnerBackend, ExperimentError>(
                &test,
                &transform,
                &device,
                |x| Ok(inner.forward(x)),
            )?;
            let seconds = start.elapsed().as_secs_f64();
            println!(
                "{} seed {seed}: {acc:.4} test accuracy, {params} parameters, {seconds:.1} s",
                arch.to_json().replace(['\n', ' '], "")
            );
            table.entries.push(Entry {
                index: idx.clone(),
                architecture: common::architecture_value(&arch)?,
                seed,
                params,
                test_accuracy: acc,
                seconds,
            });
            common::save_json(&path, &table)?;
        }
        let largest = small_conv::small_conv_params(&spec.largest(), SmallConvConfig::default())?;
        summarize(&table.entries, true, "test acc.", &spec, largest)?;
        report_progress(table.entries.len(), &spec, self.seeds, &path);
        Ok(())
    }
}
