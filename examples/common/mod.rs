//! What the space examples share: the command line, devices and optimizers, the output
//! directory (never overwriting a previous run) and its files.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use tangle_optim::{ArchStep, Darts, Drnas, EpochRecord, Gdas, Mixer};

/// Options every space example takes; the rest (`--key value`) go to `extra`.
#[derive(Debug, Clone)]
pub struct Args {
    /// `cpu`, `wgpu` or `cuda`.
    pub device: String,
    /// `drnas`, `darts-v1`, `darts-v2` or `gdas`.
    pub optimizer: String,
    /// Where dataset files are (for `--dataset` other than the shipped default).
    pub data_dir: Option<PathBuf>,
    /// Dataset name.
    pub dataset: String,
    /// Epochs.
    pub epochs: usize,
    /// Seed of everything.
    pub seed: u64,
    /// Output directory (a fresh one is picked if it exists and is not empty).
    pub out: PathBuf,
    /// Fraction of the training set that trains the weights (the rest trains α).
    pub train_portion: f64,
    /// α learning rate.
    pub arch_lr: f64,
    /// Example-specific options.
    pub extra: BTreeMap<String, String>,
}

impl Args {
    /// Parses `std::env::args`, with the example's defaults; `usage` is printed for `--help`.
    pub fn parse(defaults: Args, usage: &str) -> Args {
        let argv: Vec<String> = std::env::args().skip(1).collect();
        match Self::parse_from(defaults, &argv) {
            Ok(a) => a,
            Err(e) if e == "help" => {
                println!("{usage}");
                std::process::exit(0);
            }
            Err(e) => {
                eprintln!("error: {e}\n\n{usage}");
                std::process::exit(2);
            }
        }
    }

    fn parse_from(mut a: Args, argv: &[String]) -> Result<Args, String> {
        let mut it = argv.iter();
        while let Some(flag) = it.next() {
            if flag == "-h" || flag == "--help" {
                return Err("help".into());
            }
            let key = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {flag:?}"))?;
            let value = it
                .next()
                .ok_or_else(|| format!("{flag} needs a value"))?
                .clone();
            match key {
                "device" => a.device = value,
                "optimizer" => a.optimizer = value,
                "data-dir" => a.data_dir = Some(PathBuf::from(value)),
                "dataset" => a.dataset = value,
                "epochs" => a.epochs = num(flag, &value)?,
                "seed" => a.seed = num(flag, &value)?,
                "out" => a.out = PathBuf::from(value),
                "train-portion" => a.train_portion = num(flag, &value)?,
                "arch-lr" => a.arch_lr = num(flag, &value)?,
                _ => {
                    a.extra.insert(key.to_string(), value);
                }
            }
        }
        Ok(a)
    }

    /// Takes an example-specific option, parsed, or `default`.
    pub fn take<T: std::str::FromStr>(&mut self, key: &str, default: T) -> Result<T, String> {
        match self.extra.remove(key) {
            Some(v) => num(&format!("--{key}"), &v),
            None => Ok(default),
        }
    }

    /// Errors on options nobody took.
    pub fn done(&self) -> Result<(), String> {
        match self.extra.keys().next() {
            Some(k) => Err(format!("unknown option --{k}; try --help")),
            None => Ok(()),
        }
    }
}

/// Parses a number, naming the flag on failure.
pub fn num<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: cannot parse {value:?}"))
}

/// A search job, run on a device with a mixer.
pub trait Job {
    /// Runs the job.
    fn run<B: AutodiffBackend, X: Mixer<B>>(
        self,
        mixer: X,
        step: ArchStep,
        device: B::Device,
    ) -> Result<(), String>;
}

fn with_optimizer<B: AutodiffBackend, J: Job>(a: &Args, job: J) -> Result<(), String> {
    let device = B::Device::default();
    B::seed(&device, a.seed);
    match a.optimizer.as_str() {
        "drnas" => job.run::<B, _>(Drnas::new(a.seed), ArchStep::FirstOrder, device),
        "darts-v1" => job.run::<B, _>(Darts::softmax(), ArchStep::FirstOrder, device),
        "darts-v2" => job.run::<B, _>(Darts::softmax(), ArchStep::SecondOrder, device),
        "gdas" => job.run::<B, _>(Gdas::new(a.seed), ArchStep::FirstOrder, device),
        other => Err(format!(
            "unknown optimizer `{other}` (drnas, darts-v1, darts-v2, gdas)"
        )),
    }
}

/// Runs `job` on `--device` with `--optimizer`.
pub fn dispatch<J: Job>(a: &Args, job: J) -> Result<(), String> {
    match a.device.as_str() {
        "cpu" => with_optimizer::<tanglenas::backend::CpuAutodiff, J>(a, job),
        #[cfg(feature = "wgpu")]
        "wgpu" => with_optimizer::<tanglenas::backend::WgpuAutodiff, J>(a, job),
        #[cfg(feature = "cuda")]
        "cuda" => with_optimizer::<tanglenas::backend::CudaAutodiff, J>(a, job),
        "wgpu" | "cuda" => Err(format!(
            "--device {} needs the example built with `--features {}`",
            a.device, a.device
        )),
        other => Err(format!("unknown device `{other}` (cpu, wgpu, cuda)")),
    }
}

/// `dir` if it is absent or empty, else the first free `dir-1`, `dir-2`, …: a run never
/// overwrites an earlier one.
pub fn fresh_dir(dir: &Path) -> Result<PathBuf, String> {
    let empty = |p: &Path| {
        !p.exists()
            || fs::read_dir(p)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false)
    };
    let mut candidate = dir.to_path_buf();
    let mut i = 1;
    while !empty(&candidate) {
        candidate = PathBuf::from(format!("{}-{i}", dir.display()));
        i += 1;
    }
    fs::create_dir_all(&candidate).map_err(|e| format!("{}: {e}", candidate.display()))?;
    Ok(candidate)
}

/// Writes `name` into `dir`.
pub fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf, String> {
    let p = dir.join(name);
    fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(p)
}

/// Prints one epoch's line.
pub fn print_epoch(r: &EpochRecord) {
    println!(
        "epoch {:>2}  train loss {:.3}{}  valid loss {:.3}{}  lr {:.1e}  [{:.0}s]",
        r.epoch,
        r.train_loss,
        r.train_acc
            .map_or(String::new(), |a| format!(" acc {a:.3}")),
        r.valid_loss,
        r.valid_acc
            .map_or(String::new(), |a| format!(" acc {a:.3}")),
        r.lr,
        r.seconds
    );
}

pub mod images;
pub mod lm;
pub mod vit;
