//! What the space examples share: the command line, devices and optimizers, the output
//! directory (never overwriting a previous run) and its files.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use tangle_optim::{EpochRecord, Method};

/// mimalloc instead of the system allocator. Burn's CPU backend allocates and frees a tensor
/// per op; glibc's malloc hands every block over 128 KiB back to the kernel, so each large
/// tensor comes back as fresh, page-faulted, zeroed memory (a third of the main job's time went
/// to page faults, zeroing and copies). See docs/benchmarks.md for the measured difference.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Options every space example takes (clap flattens them into each example's command line;
/// an example sets its own defaults with [`command`]).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Backend: `cpu` (Burn's Flex), `wgpu` or `cuda`.
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "wgpu", "cuda"])]
    pub device: String,
    /// Search method: single-stage drnas (TangleNAS on the weight-entangled supernet),
    /// darts-v1, darts-v2, gdas; or two-stage SPOS supernet training then random (spos-rs) or
    /// evolutionary (spos-es) search.
    #[arg(long, default_value = "drnas",
          value_parser = ["drnas", "darts-v1", "darts-v2", "gdas", "spos-rs", "spos-es"])]
    pub optimizer: String,
    /// Where the dataset's files are (for a --dataset other than the shipped one).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Dataset.
    #[arg(long, default_value = "shipped-mnist")]
    pub dataset: String,
    /// Search epochs (one pass over the weights' half of the training data each).
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Seed of everything: data order, initialization, mixture samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory; a fresh numbered sibling is used if it exists and is not empty.
    #[arg(long, value_name = "DIR", default_value = "runs/run")]
    pub out: PathBuf,
    /// Continue the killed or stopped run in DIR from its last checkpoint (DIR is then the
    /// output directory).
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// Fraction of the training data that trains the weights (the rest trains α).
    #[arg(long, default_value_t = 0.5)]
    pub train_portion: f64,
    /// α learning rate (Adam).
    #[arg(long, default_value_t = 3e-3)]
    pub arch_lr: f64,
    /// Data-parallel peers: N CPU threads, or N GPUs (default: one per CPU core on cpu, one
    /// device elsewhere).
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub devices: Option<usize>,
    /// A multi-node run (one process per node); one node by default.
    #[command(flatten)]
    pub cluster: Cluster,
}

fn at_least_one(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(0) => Err("give at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// The command line of an example's options `P` (which flattens [`Args`]), with the
/// example's `name`, description and defaults (`(argument id, value)`, the id being the field
/// name), so that `--help` shows them.
pub fn command<P: clap::CommandFactory>(
    name: &'static str,
    about: &'static str,
    defaults: &[(&str, String)],
) -> clap::Command {
    // A repeated option takes its last value (a script can append an override).
    let mut cmd = P::command()
        .name(name)
        .about(about)
        .args_override_self(true);
    for (id, value) in defaults {
        cmd = cmd.mut_arg(*id, |a| a.default_value(value.clone()));
    }
    cmd
}

/// Parses the process's command line with `cmd` (from [`command`]) into `P`; exits with
/// clap's message on `--help` or a bad argument.
pub fn parse<P: clap::FromArgMatches>(cmd: clap::Command) -> P {
    P::from_arg_matches(&cmd.get_matches()).unwrap_or_else(|e| e.exit())
}

/// Where this process stands in a multi-node search: node `node` of `nodes`, reaching the
/// orchestrator at `global_address` and reached at `node_address` (its data service on
/// `data_port`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Cluster {
    /// Nodes (processes) in the run; 0 or 1 for a single process.
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub nodes: u32,
    /// This node's index.
    #[arg(long, value_name = "I", default_value_t = 0, hide_default_value = true)]
    pub node: u32,
    /// The orchestrator's address, `ws://HOST:PORT` (examples/orchestrator.rs runs one).
    #[arg(long, value_name = "URL")]
    pub global_address: Option<String>,
    /// This node's address as the others reach it, `ws://HOST:PORT`.
    #[arg(long, value_name = "URL")]
    pub node_address: Option<String>,
    /// The port of this node's data service (the PORT of --node-address).
    #[arg(long, value_name = "PORT")]
    pub data_port: Option<u16>,
}

/// Parses a number, naming the flag on failure.
pub fn num<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: cannot parse {value:?}"))
}

/// How the architecture is found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// Single-stage: the bi-level search, then argmax.
    Gradient,
    /// Two-stage: SPOS supernet training, then random (`es = false`) or evolutionary search
    /// with `budget` evaluations on the validation split.
    Spos {
        /// Evolution instead of random search.
        es: bool,
        /// Candidates evaluated.
        budget: usize,
    },
}

/// A search job, run on a device by one method (`strategy` says how the architecture is
/// found: the method's own argmax, or a second stage on its SPOS supernet).
pub trait Job {
    /// Runs the job.
    fn run<B: AutodiffBackend>(
        self,
        method: Method,
        strategy: Strategy,
        device: B::Device,
    ) -> Result<(), String>;
}

/// The second stage: random or evolutionary search over `model` (the trained supernet's
/// inference copy) scored on `batches`; writes every evaluation to `history.jsonl` in `out`.
#[allow(clippy::too_many_arguments)]
pub fn second_stage<B, M, T, O>(
    model: &M,
    batches: &[(M::Input, T)],
    objective: &O,
    metric: tangle_twostage::Metric,
    es: bool,
    budget: usize,
    seed: u64,
    out: &Path,
) -> Result<tangle_core::Architecture, String>
where
    B: burn::tensor::backend::Backend,
    M: tangle_core::Supernet<B>,
    M::Input: Clone,
    O: tangle_optim::Objective<B, M::Output, T>,
{
    let spec = model.spec().clone();
    let f = |a: &tangle_core::Architecture| {
        tangle_twostage::score(model, a, batches, objective, metric)
    };
    let history = pick(&spec, es, budget, None, seed, f)?;
    write(out, "history.jsonl", &history.to_json_lines())?;
    Ok(history
        .best()
        .ok_or("no candidate evaluated")?
        .architecture
        .clone())
}

/// The second stage's search proper: evolution (`es`) or random search over `spec` with about
/// `budget` evaluations of `score` (higher is better), inside `window` if given; prints the
/// best score and returns every evaluation.
pub fn pick(
    spec: &tangle_core::SearchSpec,
    es: bool,
    budget: usize,
    window: Option<&tangle_twostage::Window>,
    seed: u64,
    score: impl FnMut(&tangle_core::Architecture) -> tangle_twostage::Result<f32>,
) -> Result<tangle_twostage::History, String> {
    let history = if es {
        tangle_twostage::evolution(spec, &evolution_config(budget), window, seed, score)
    } else {
        tangle_twostage::random_search(spec, budget, window, seed, score)
    }
    .map_err(|e| e.to_string())?;
    let best = history.best().ok_or("no candidate evaluated")?;
    println!(
        "{}: {} candidates evaluated, best score {:.4}",
        if es { "evolution" } else { "random search" },
        history.evaluated.len(),
        best.score
    );
    Ok(history)
}

/// An evolutionary search of about `budget` evaluations, in AutoFormer's proportions (population
/// 50, parents 10, 25 mutations and 25 crossovers a generation) scaled down to the budget.
pub fn evolution_config(budget: usize) -> tangle_twostage::EvolutionConfig {
    let population = (budget / 3).clamp(2, 50);
    let half = (population / 2).clamp(1, 25);
    tangle_twostage::EvolutionConfig {
        population,
        top_k: (population / 5).clamp(2, 10),
        mutations: half,
        crossovers: half,
        generations: budget.saturating_sub(population) / (2 * half),
        ..Default::default()
    }
}

fn with_optimizer<B: AutodiffBackend, J: Job>(
    a: &Args,
    job: J,
    budget: usize,
) -> Result<(), String> {
    let device = B::Device::default();
    B::seed(&device, a.seed);
    let (method, strategy) = plan(&a.optimizer, budget)?;
    job.run::<B>(method, strategy, device)
}

/// The method and strategy an `--optimizer` name stands for: a [`Method`] name (`drnas`,
/// `darts-v1`, `darts-v2`, `gdas`), or SPOS with its second stage, `spos-rs` (random search)
/// or `spos-es` (evolution), of `budget` evaluations.
pub fn plan(name: &str, budget: usize) -> Result<(Method, Strategy), String> {
    match name {
        "spos-rs" | "spos-es" => Ok((
            Method::Spos,
            Strategy::Spos {
                es: name == "spos-es",
                budget,
            },
        )),
        // Bare `spos` trains a supernet but names no second stage: say which ones exist.
        "spos" => Err("--optimizer spos needs its second stage: spos-rs or spos-es".into()),
        other => other
            .parse::<Method>()
            .map(|m| (m, Strategy::Gradient))
            .map_err(|_| {
                format!("unknown optimizer `{other}` (drnas, darts-v1, darts-v2, gdas, spos-rs, spos-es)")
            }),
    }
}

/// Runs `job` on `--device` with `--optimizer` (`budget`: candidates of a two-stage search).
pub fn dispatch<J: Job>(a: &Args, job: J, budget: usize) -> Result<(), String> {
    match a.device.as_str() {
        "cpu" => with_optimizer::<tanglenas::backend::CpuAutodiff, J>(a, job, budget),
        #[cfg(feature = "wgpu")]
        "wgpu" => with_optimizer::<tanglenas::backend::WgpuAutodiff, J>(a, job, budget),
        #[cfg(feature = "cuda")]
        "cuda" => with_optimizer::<tanglenas::backend::CudaAutodiff, J>(a, job, budget),
        // Reached only for a backend this build left out.
        #[allow(unreachable_patterns)]
        "wgpu" | "cuda" => Err(format!(
            "--device {} needs the example built with `--features {}`",
            a.device, a.device
        )),
        other => Err(format!("unknown device `{other}` (cpu, wgpu, cuda)")),
    }
}

/// The search's data-parallel peers for `--devices N` (none for 1): N threads sharing the CPU
/// device, or GPUs 0..N of `device`'s kind.
pub fn peers<B: burn::tensor::backend::Backend>(
    a: &Args,
    device: &B::Device,
) -> Result<Option<tangle_optim::Peers<B::Device>>, String> {
    use burn::tensor::backend::Device;
    let c = &a.cluster;
    if c.nodes > 1 {
        let need = |v: &Option<String>, flag: &str| {
            v.clone()
                .ok_or_else(|| format!("--nodes {} needs {flag}", c.nodes))
        };
        let global = need(&c.global_address, "--global-address ws://HOST:PORT")?;
        let address = need(&c.node_address, "--node-address ws://HOST:PORT")?;
        let port = c
            .data_port
            .ok_or_else(|| format!("--nodes {} needs --data-port PORT", c.nodes))?;
        return tangle_optim::Peers::new(vec![device.clone()])
            .and_then(|p| p.across_nodes(c.node, c.nodes, &global, &address, port))
            .map(Some)
            .map_err(|e| e.to_string());
    }
    let n = match (a.devices, a.device.as_str()) {
        (None, "cpu") => std::thread::available_parallelism().map_or(1, |n| n.get()),
        (None, _) => 1,
        (Some(n), _) => n,
    };
    if n <= 1 {
        return Ok(None);
    }
    let peers = if a.device == "cpu" {
        tangle_optim::Peers::threads(device.clone(), n)
    } else {
        let devices = (0..n)
            .map(|i| {
                let mut id = device.to_id();
                id.index_id = i as u16;
                B::Device::from_id(id)
            })
            .collect();
        tangle_optim::Peers::new(devices)
    };
    peers.map(Some).map_err(|e| e.to_string())
}

/// Adds `--devices`'s peers, if any, to `search`.
pub fn on_peers<B, M, X>(
    a: &Args,
    device: &B::Device,
    search: tangle_optim::Search<B, M, X>,
) -> Result<tangle_optim::Search<B, M, X>, String>
where
    B: AutodiffBackend,
    M: tangle_core::Supernet<B> + burn::module::AutodiffModule<B>,
    X: tangle_optim::Mixer<B>,
{
    Ok(match peers::<B>(a, device)? {
        Some(p) => {
            println!("data-parallel on {} peers", p.world());
            search.with_peers(p)
        }
        None => search,
    })
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

/// The run's output directory: with `--resume DIR`, `DIR` itself, which must hold a
/// checkpoint (a finished run's results move into `DIR/before-resume`, so resuming it with
/// more `--epochs` loses nothing); otherwise a fresh directory ([`fresh_dir`]).
pub fn run_dir(a: &Args) -> Result<PathBuf, String> {
    let Some(dir) = &a.resume else {
        return fresh_dir(&a.out);
    };
    let checkpoint = dir.join("checkpoint");
    if !tangle_optim::checkpoint_exists(&checkpoint) {
        return Err(format!(
            "--resume {}: no checkpoint there (none in {}); a run writes one after every epoch",
            dir.display(),
            checkpoint.display()
        ));
    }
    // A finished run resumed (to run more epochs) would overwrite its results: move them into
    // a fresh `before-resume` folder first (the log is copied: the resumed run continues it).
    if dir.join("summary.json").exists() {
        let keep = fresh_dir(&dir.join("before-resume"))?;
        let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
            if !path.is_file() {
                continue;
            }
            let to = keep.join(path.file_name().expect("a file has a name"));
            let moved = if path.file_name() == Some("metrics.jsonl".as_ref()) {
                fs::copy(&path, &to).map(|_| ())
            } else {
                fs::rename(&path, &to)
            };
            moved.map_err(|e| format!("{} → {}: {e}", path.display(), to.display()))?;
        }
        println!(
            "the run in {} had finished: its results are now in {}",
            dir.display(),
            keep.display()
        );
    }
    Ok(dir.clone())
}

/// Runs `search`'s epochs up to `--epochs`, printing each and checkpointing after each into
/// `out/checkpoint` (a complete folder per save, named by `LATEST` only once written, so a
/// kill leaves the last good one). With `--resume`, first restores that checkpoint and the epoch records
/// before it, and drops any later line a killed run left in `metrics.jsonl`: the resumed run
/// ends where an uninterrupted one ends (the schedules and mixture samples are functions of
/// the seed, epoch and step).
pub fn search_epochs<B, M, X, T, D>(
    a: &Args,
    mut search: tangle_optim::Search<B, M, X>,
    data: &D,
    out: &Path,
    device: &B::Device,
) -> Result<tangle_optim::Search<B, M, X>, String>
where
    B: AutodiffBackend,
    M: tangle_core::Supernet<B> + burn::module::AutodiffModule<B> + Send,
    M::Input: Clone + tangle_optim::Shard<B>,
    X: tangle_optim::Mixer<B> + Clone + Send,
    T: tangle_optim::Shard<B>,
    D: tangle_optim::SearchData<M::Input, T> + Sync,
    tangle_optim::Classification: tangle_optim::Objective<B, M::Output, T>,
{
    let checkpoint = out.join("checkpoint");
    if a.resume.is_some() {
        search = search
            .load_checkpoint(&checkpoint, device)
            .map_err(|e| format!("--resume {}: {e}", out.display()))?;
        let log = out.join("metrics.jsonl");
        let text = fs::read_to_string(&log).unwrap_or_default();
        let mut kept = Vec::new();
        for line in text.lines() {
            let r: tangle_optim::EpochRecord = serde_json::from_str(line).map_err(|e| {
                format!("{}: a line that is not an epoch record: {e}", log.display())
            })?;
            if r.epoch < search.epoch {
                kept.push((line.to_string(), r));
            }
        }
        let lines: String = kept.iter().map(|(l, _)| format!("{l}\n")).collect();
        fs::write(&log, lines).map_err(|e| format!("{}: {e}", log.display()))?;
        search.records = kept.into_iter().map(|(_, r)| r).collect();
        println!(
            "resuming {} at epoch {} of {}",
            out.display(),
            search.epoch,
            a.epochs
        );
    }
    for epoch in search.epoch..a.epochs {
        search
            .run_until(data, &tangle_optim::Classification, epoch + 1)
            .map_err(|e| e.to_string())?;
        print_epoch(search.records.last().expect("a record per epoch"));
        search
            .save_checkpoint(&checkpoint)
            .map_err(|e| e.to_string())?;
    }
    Ok(search)
}

/// Writes `name` into `dir`.
pub fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf, String> {
    let p = dir.join(name);
    fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(p)
}

/// Writes a run's configuration `config` as `dir/name` (JSON); it loads back with
/// `XConfig::load(path)` (Burn's `Config`).
pub fn write_config(
    dir: &Path,
    name: &str,
    config: &impl burn::config::Config,
) -> Result<PathBuf, String> {
    write(dir, name, &burn::config::config_to_json(config))
}

/// Prints one epoch's line.
pub fn print_epoch(r: &EpochRecord) {
    println!(
        "epoch {:>2}  train loss {:.3}{}  valid loss {}{}  lr {:.1e}  [{:.0}s]",
        r.epoch,
        r.train_loss,
        r.train_acc
            .map_or(String::new(), |a| format!(" acc {a:.3}")),
        r.valid_loss
            .map_or("- (no α step)".to_string(), |v| format!("{v:.3}")),
        r.valid_acc
            .map_or(String::new(), |a| format!(" acc {a:.3}")),
        r.lr,
        r.seconds
    );
}

pub mod cnn;
pub mod images;
pub mod lm;
pub mod vit;

/// The reference a search's inherited weights are compared with, if `wanted`: the same
/// architecture trained alone — `fresh()` (a newly built supernet, on the device it trains on)
/// on the single path `arch`, with the search's `config` (every epoch a weight epoch), data,
/// seed and peers. Logs each epoch to `out/reference.jsonl` and the console; returns the
/// trained supernet on the inference backend.
pub fn reference<B, M, T, D>(
    a: &Args,
    wanted: bool,
    fresh: impl FnOnce() -> Result<M, String>,
    arch: &tangle_core::Architecture,
    config: &tangle_optim::SearchConfig,
    data: &D,
    out: &Path,
) -> Result<Option<M::InnerModule>, String>
where
    B: AutodiffBackend,
    M: tangle_core::Supernet<B> + burn::module::AutodiffModule<B> + Send,
    M::Input: Clone + tangle_optim::Shard<B>,
    T: tangle_optim::Shard<B>,
    D: tangle_optim::SearchData<M::Input, T> + Sync,
    tangle_optim::Classification: tangle_optim::Objective<B, M::Output, T>,
{
    if !wanted {
        return Ok(None);
    }
    println!("\ntraining the discovered architecture alone (reference)");
    train_alone(a, fresh, arch, config, data, &out.join("reference.jsonl")).map(Some)
}

/// Trains `fresh()` (a newly built supernet, on the device it trains on) on the single path
/// `arch` for `config.epochs` weight epochs on `data`, with `a`'s seed and peers; logs each
/// epoch to `log` and the console and returns the trained supernet on the inference backend.
pub fn train_alone<B, M, T, D>(
    a: &Args,
    fresh: impl FnOnce() -> Result<M, String>,
    arch: &tangle_core::Architecture,
    config: &tangle_optim::SearchConfig,
    data: &D,
    log: &Path,
) -> Result<M::InnerModule, String>
where
    B: AutodiffBackend,
    M: tangle_core::Supernet<B> + burn::module::AutodiffModule<B> + Send,
    M::Input: Clone + tangle_optim::Shard<B>,
    T: tangle_optim::Shard<B>,
    D: tangle_optim::SearchData<M::Input, T> + Sync,
    tangle_optim::Classification: tangle_optim::Objective<B, M::Output, T>,
{
    let fresh = fresh()?;
    let device = &fresh
        .devices()
        .into_iter()
        .next()
        .ok_or("the network trained alone has no parameters")?;
    let spec = fresh.spec().clone();
    let cfg = tangle_optim::SearchConfig {
        warmup_epochs: config.epochs,
        ..config.clone()
    };
    let path = tangle_optim::FixedPath::new(&spec, arch).map_err(|e| e.to_string())?;
    let alone = tangle_optim::Search::new(fresh, path, cfg, a.seed, device)
        .map_err(|e| e.to_string())?
        .with_log(log)
        .with_progress(true);
    let mut alone = on_peers(a, device, alone)?;
    for epoch in 0..config.epochs {
        alone
            .run_until(data, &tangle_optim::Classification, epoch + 1)
            .map_err(|e| e.to_string())?;
        print_epoch(alone.records.last().expect("a record per epoch"));
    }
    Ok(alone.model.valid())
}
