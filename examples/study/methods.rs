//! The method comparison on the image table: each search method run with several seeds on the
//! same data and the same supernet-training budget, its discovered architecture looked up in the
//! ground-truth table (rank, regret), scored with its inherited weights, and timed.

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tangle_core::{Architecture, Mixtures, SearchSpec, Supernet};
use tangle_data::ImageBatches;
use tangle_optim::plot::probabilities_svg;
use tangle_optim::{
    ArchStep, Classification, EpochRecord, Method as SearchMethod, ParamPenalty, Search,
    SearchConfig, SearchData as _, WeightOptimizer,
};
use tangle_spaces::small_conv::{self, SmallConvConfig};
use tangle_twostage::stats::{mann_whitney_u, welch_t_test, MeanStd};
use tangle_twostage::{Metric, Window};

use crate::common::{self, images, ExperimentError, Job, Result, RunArgs, Strategy};
use crate::table::{self, Mean, Table};

/// A search method of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// TangleNAS: DrNAS on the weight-entangled supernet.
    TangleNas,
    /// DrNAS on the weight-sharing twin (an output mixture of nine convs a layer).
    DrnasWs,
    /// DARTS, first order, on the weight-entangled supernet.
    DartsV1,
    /// GDAS on the weight-entangled supernet.
    Gdas,
    /// SPOS supernet training, then random search on the validation split.
    SposRs,
    /// SPOS supernet training, then evolutionary search on the validation split.
    SposEs,
    /// TangleNAS with the expected-parameter penalty on the α loss (the constrained search).
    TangleNasPenalty,
    /// SPOS + evolution inside a parameter window of at most half the largest network.
    SposEsWindow,
    /// A uniformly random architecture, no training: the floor.
    Random,
}

impl Method {
    /// Every method, in report order.
    pub const ALL: [Method; 9] = [
        Method::TangleNas,
        Method::DrnasWs,
        Method::DartsV1,
        Method::Gdas,
        Method::SposRs,
        Method::SposEs,
        Method::Random,
        Method::TangleNasPenalty,
        Method::SposEsWindow,
    ];

    /// The command-line name.
    pub fn name(&self) -> &'static str {
        match self {
            Method::TangleNas => "tanglenas",
            Method::DrnasWs => "drnas-ws",
            Method::DartsV1 => "darts-v1",
            Method::Gdas => "gdas",
            Method::SposRs => "spos-rs",
            Method::SposEs => "spos-es",
            Method::TangleNasPenalty => "tanglenas-penalty",
            Method::SposEsWindow => "spos-es-window",
            Method::Random => "random",
        }
    }

    /// The examples' `--optimizer` this method runs with (none for random architectures).
    pub fn optimizer(&self) -> Option<&'static str> {
        match self {
            Method::TangleNas | Method::DrnasWs | Method::TangleNasPenalty => Some("drnas"),
            Method::DartsV1 => Some("darts-v1"),
            Method::Gdas => Some("gdas"),
            Method::SposRs => Some("spos-rs"),
            Method::SposEs | Method::SposEsWindow => Some("spos-es"),
            Method::Random => None,
        }
    }

    /// Whether the method aims at the constrained optimum (at most half the largest's
    /// parameters).
    pub fn constrained(&self) -> bool {
        matches!(self, Method::TangleNasPenalty | Method::SposEsWindow)
    }

    /// Whose α-learning-rate choice this method runs with when the comparison chooses α lr on
    /// the validation split (`--tune-arch-lr`): its own for the single-stage methods; TangleNAS's
    /// for TangleNAS + penalty (the same mixer and α step; the penalty's own strength is a
    /// separate setting); none for the methods without α.
    pub fn arch_lr_from(&self) -> Option<Method> {
        match self {
            Method::TangleNas | Method::DrnasWs | Method::DartsV1 | Method::Gdas => Some(*self),
            Method::TangleNasPenalty => Some(Method::TangleNas),
            Method::SposRs | Method::SposEs | Method::SposEsWindow | Method::Random => None,
        }
    }
}

impl FromStr for Method {
    type Err = ExperimentError;
    fn from_str(s: &str) -> Result<Self> {
        Method::ALL
            .iter()
            .find(|m| m.name() == s)
            .copied()
            .ok_or_else(|| {
                ExperimentError::usage(format!(
                    "--method: unknown method `{s}` ({}, or all)",
                    Method::ALL.map(|m| m.name()).join(", ")
                ))
            })
    }
}

/// Everything that is the same for every run of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Training digits (the first of the shipped set, as the table's).
    pub train_samples: usize,
    /// Share of them that trains the weights; the rest trains α or scores candidates.
    pub train_portion: f64,
    /// Batch size.
    pub batch: usize,
    /// Supernet-training epochs (one pass over the weight part each), the same for every method.
    pub epochs: usize,
    /// Epochs of weights only before α steps start (gradient methods).
    pub alpha_warmup: usize,
    /// Weight learning rate (SGD momentum 0.9, cosine to 1e-3, weight decay 3e-4).
    pub lr: f64,
    /// α learning rate (Adam β = (0.5, 0.999), weight decay 1e-3).
    pub arch_lr: f64,
    /// If not empty, the α learning rates each single-stage method chooses from on the
    /// validation split ([`ArchLr::Tuned`]); `arch_lr` is then not used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arch_lr_candidates: Vec<f64>,
    /// Strength of the expected-parameter penalty (parameters in millions).
    pub penalty: f64,
    /// Candidates the second stage of SPOS evaluates.
    pub budget: usize,
    /// Training batches that re-estimate the batch-norm statistics of a single path before it
    /// is scored (SPOS's candidates, every method's final architecture).
    pub recalibration_batches: usize,
}

/// One run: a method with a seed, and what it found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    /// The method's name.
    pub method: String,
    /// Seed of the data order, initialization and sampling.
    pub seed: u64,
    /// The discovered architecture's decision indices.
    pub index: Vec<usize>,
    /// The discovered architecture.
    pub architecture: serde_json::Value,
    /// Its parameters.
    pub params: usize,
    /// Its rank in the table (1 = best mean test accuracy trained alone).
    pub rank: usize,
    /// Its mean score trained alone, from the table (test accuracy; held-out loss).
    #[serde(alias = "table_accuracy")]
    pub table_score: f32,
    /// The table's best minus `table_accuracy`.
    pub regret: f32,
    /// Whether it has at most half the largest network's parameters.
    pub feasible: bool,
    /// If feasible, the best feasible accuracy minus `table_accuracy`.
    pub constrained_regret: Option<f32>,
    /// The score on the test data of the supernet's single path at the architecture
    /// (inherited weights; images: accuracy, batch norm recalibrated; language: held-out loss);
    /// none for random architectures.
    #[serde(alias = "inherited_accuracy")]
    pub inherited_score: Option<f32>,
    /// Wall time from a fresh supernet to the architecture (training, α, second stage,
    /// recalibration), seconds.
    pub search_seconds: f64,
    /// Peak resident memory of the process during the search, MiB (Linux `VmHWM`, reset when
    /// the search starts). Only the first search of a process reads its own peak: memory the
    /// allocator kept from earlier runs counts too. Fresh-process figures are in
    /// docs/quality.md.
    pub peak_memory_mib: Option<f64>,
    /// The mixer's final probabilities (gradient methods).
    pub probabilities: Option<Vec<Vec<f32>>>,
    /// The α learning rate the run used (gradient methods; absent in files written before
    /// `--tune-arch-lr` existed, whose runs all used the settings' `arch_lr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch_lr: Option<f64>,
    /// The loss of the supernet's single path at the architecture (inherited weights; images:
    /// batch norm recalibrated) on the search's own validation split — the α split, never the
    /// test data. What `--tune-arch-lr` chooses by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_loss: Option<f32>,
}

/// The comparison file: its settings and runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison<S> {
    /// The shared settings.
    pub settings: S,
    /// The ground-truth table the runs are looked up in.
    pub table: PathBuf,
    /// The runs.
    pub runs: Vec<Run>,
    /// With `--tune-arch-lr`: the seed-0 runs at every candidate α learning rate that chose
    /// each method's α lr (lowest `valid_loss`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tuning: Vec<Run>,
}

/// Where the discovered architecture stands in the table.
struct Lookup {
    rank: usize,
    value: f32,
    regret: f32,
    feasible: bool,
    constrained_regret: Option<f32>,
    params: usize,
}

/// A ground-truth table, ready for look-ups.
pub struct Truth {
    means: Vec<Mean>,
    higher_better: bool,
    /// Half the largest network's parameters: the constraint.
    pub limit: usize,
    /// Architectures in the space.
    pub size: u128,
}

impl Truth {
    /// Indexes a table's mean scores (`higher_better`: accuracies, else losses) for a space of
    /// `spec` whose largest network has `largest` parameters; the table must be complete.
    pub fn new(
        means: Vec<Mean>,
        higher_better: bool,
        spec: &SearchSpec,
        largest: usize,
        build: &str,
    ) -> Result<Self> {
        if (means.len() as u128) < spec.size() {
            return Err(ExperimentError::usage(format!(
                "the table holds {} of {} architectures; finish it first ({build})",
                means.len(),
                spec.size()
            )));
        }
        Ok(Truth {
            means,
            higher_better,
            limit: largest / 2,
            size: spec.size(),
        })
    }

    /// The image table.
    pub fn images(table: &Table) -> Result<Self> {
        let spec = small_conv::spec();
        let largest = small_conv::small_conv_params(&spec.largest(), SmallConvConfig::default())?;
        Truth::new(
            table::means(&table.entries, true),
            true,
            &spec,
            largest,
            "cargo run --release --example study -- --table images",
        )
    }

    /// The mean rank and regret of a uniformly random architecture: the floor, exactly (the
    /// `random` method's few seeds only sample it).
    pub fn random_expectation(&self) -> (f64, f64) {
        let n = self.means.len() as f64;
        let best = self.means[0].value;
        let rank: f64 = self
            .means
            .iter()
            .map(|m| {
                1.0 + self
                    .means
                    .iter()
                    .filter(|o| self.gap(m.value, o.value) < 0.0)
                    .count() as f64
            })
            .sum();
        let regret: f64 = self
            .means
            .iter()
            .map(|m| self.gap(best, m.value) as f64)
            .sum();
        (rank / n, regret / n)
    }

    /// How much worse `value` is than `best` (≥ 0).
    fn gap(&self, best: f32, value: f32) -> f32 {
        if self.higher_better {
            best - value
        } else {
            value - best
        }
    }

    fn lookup(&self, index: &[usize]) -> Result<Lookup> {
        let m = self
            .means
            .iter()
            .find(|m| m.index == index)
            .ok_or_else(|| {
                ExperimentError::run(format!("architecture {index:?} is not in the table"))
            })?;
        // `means` is sorted best first.
        let best = self.means[0].value;
        let best_feasible = self.means.iter().find(|x| x.params <= self.limit);
        let feasible = m.params <= self.limit;
        Ok(Lookup {
            rank: 1 + self
                .means
                .iter()
                .filter(|o| self.gap(m.value, o.value) < 0.0)
                .count(),
            value: m.value,
            regret: self.gap(best, m.value),
            feasible,
            constrained_regret: best_feasible
                .filter(|_| feasible)
                .map(|b| self.gap(b.value, m.value)),
            params: m.params,
        })
    }
}

/// A uniformly random architecture's indices, from `seed`.
pub fn random_index(spec: &SearchSpec, seed: u64) -> Vec<usize> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    spec.decisions()
        .iter()
        .map(|d| rng.random_range(0..d.len()))
        .collect()
}

/// A run's record: the architecture looked up in `truth`, with what the search measured.
#[allow(clippy::too_many_arguments)]
pub fn record(
    truth: &Truth,
    method: Method,
    seed: u64,
    arch: &Architecture,
    index: Vec<usize>,
    inherited_score: Option<f32>,
    search_seconds: f64,
    peak_memory_mib: Option<f64>,
    probabilities: Option<Vec<Vec<f32>>>,
) -> Result<Run> {
    let l = truth.lookup(&index)?;
    Ok(Run {
        method: method.name().into(),
        seed,
        index,
        architecture: common::architecture_value(arch)?,
        params: l.params,
        rank: l.rank,
        table_score: l.value,
        regret: l.regret,
        feasible: l.feasible,
        constrained_regret: l.constrained_regret,
        inherited_score,
        search_seconds,
        peak_memory_mib,
        probabilities,
        arch_lr: None,
        valid_loss: None,
    })
}

/// What a finished search knows besides its result.
pub struct Searched<'a> {
    /// The ground truth.
    pub truth: &'a Truth,
    /// The method.
    pub method: Method,
    /// The seed.
    pub seed: u64,
    /// Where to draw the α trajectories, if anywhere.
    pub alphas_svg: Option<&'a Path>,
    /// Seconds from a fresh supernet to the architecture.
    pub search_seconds: f64,
    /// Peak resident memory, MiB.
    pub peak_memory_mib: Option<f64>,
    /// The architecture's inherited-weight loss on the validation (α) split.
    pub valid_loss: f32,
}

/// A search's record: the α trajectories drawn (single-stage searches: their epoch records and
/// final probabilities in `alphas`) and the architecture looked up with its inherited score.
pub fn searched(
    s: Searched<'_>,
    spec: &SearchSpec,
    arch: &Architecture,
    inherited: f32,
    alphas: Option<(&[EpochRecord], Vec<Vec<f32>>)>,
) -> Result<Run> {
    if let (Some(path), Some((records, _))) = (s.alphas_svg, &alphas) {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|x| ExperimentError::io(dir, x))?;
        }
        fs::write(path, probabilities_svg(records, spec, 4))
            .map_err(|x| ExperimentError::io(path, x))?;
    }
    let index = spec.indices(arch)?;
    let run = record(
        s.truth,
        s.method,
        s.seed,
        arch,
        index,
        Some(inherited),
        s.search_seconds,
        s.peak_memory_mib,
        alphas.map(|(_, p)| p),
    )?;
    Ok(Run {
        valid_loss: Some(s.valid_loss),
        ..run
    })
}

/// Resets the process's peak resident memory (Linux: `/proc/self/clear_refs`), so that the next
/// [`peak_memory_mib`] reads the peak of what follows.
pub fn reset_peak_memory() {
    let _ = fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident memory since the last reset, MiB (Linux `VmHWM`).
pub fn peak_memory_mib() -> Option<f64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// One method with one seed, run by [`common::dispatch`] with the method's mixer.
pub struct MethodJob<'a> {
    /// The command line (data location, device).
    pub args: RunArgs,
    /// The method.
    pub method: Method,
    /// The seed.
    pub seed: u64,
    /// Shared settings.
    pub settings: Settings,
    /// The ground truth.
    pub truth: &'a Truth,
    /// Where to draw the α trajectories, if anywhere.
    pub alphas_svg: Option<PathBuf>,
    /// The outcome.
    pub result: &'a mut Option<Run>,
}

impl MethodJob<'_> {
    /// The search config every gradient method and SPOS share (SPOS: every epoch a weight
    /// epoch). Every optimizer hyperparameter is set here, not left to a default.
    fn config(&self, method: SearchMethod, spec: &SearchSpec) -> SearchConfig {
        let s = &self.settings;
        let param_penalty = (self.method == Method::TangleNasPenalty).then(|| {
            ParamPenalty::from_counts(s.penalty, spec, |a| {
                small_conv::small_conv_params(a, SmallConvConfig::default())
            })
            .expect("the space's own parameter count")
        });
        SearchConfig {
            epochs: s.epochs,
            warmup_epochs: s.alpha_warmup,
            weight_optimizer: WeightOptimizer::Sgd {
                momentum: 0.9,
                nesterov: false,
                weight_decay: 3e-4,
            },
            lr: s.lr,
            lr_min: 1e-3,
            grad_clip: Some(5.0),
            adam_beta_2: 0.999,
            adam_epsilon: 1e-8,
            lr_warmup_steps: 0,
            arch_lr: s.arch_lr,
            arch_betas: (0.5, 0.999),
            arch_weight_decay: 1e-3,
            arch_step: method.arch_step().unwrap_or(ArchStep::FirstOrder),
            param_penalty,
        }
    }

    fn search<B, M>(
        &mut self,
        net: M,
        method: SearchMethod,
        strategy: Strategy,
        device: B::Device,
    ) -> Result<()>
    where
        B: AutodiffBackend,
        M: common::ImageSupernet<B>,
    {
        let s = self.settings.clone();
        let (train, test, transform) = images::load(&self.args, 1, 28)?;
        let train = images::first(train, s.train_samples);
        let data = ImageBatches::<B>::new(
            train.clone(),
            s.train_portion,
            s.batch,
            transform.clone(),
            self.seed,
            &device,
        )?;
        let spec = net.spec().clone();
        let config = self.config(method, &spec);
        reset_peak_memory();
        let start = Instant::now();
        let mut search = Search::with_method(net, method, config, self.seed, &device)?;
        for epoch in 0..s.epochs {
            search.run_until(&data, &Classification, epoch + 1)?;
            common::print_epoch(search.records.last().expect("a record per epoch"));
        }
        // Training batches that re-estimate a single path's batch-norm statistics: the
        // supernet's were gathered under the mixture or over many sampled paths.
        let recalibration = tangle_twostage::recalibration_batches(&data, s.recalibration_batches);
        // The validation (α) split without augmentation: SPOS scores its candidates on it, and
        // every method's final architecture gets its inherited-weight loss there.
        let v = ImageBatches::<B::InnerBackend>::new(
            train.clone(),
            s.train_portion,
            s.batch,
            transform.eval(),
            self.seed,
            &device,
        )?;
        let windows = v.split().valid.len() / s.batch;
        let batches: Vec<_> = (0..windows).map(|i| v.valid(0, i)).collect();
        let arch = match strategy {
            Strategy::Gradient => search.architecture()?,
            Strategy::Spos { es, budget } => {
                let model = &search.model;
                let score = |arch: &Architecture| {
                    tangle_twostage::recalibrate(model, arch, &recalibration)?;
                    tangle_twostage::score(
                        &model.valid(),
                        arch,
                        &batches,
                        &Classification,
                        Metric::Accuracy,
                    )
                };
                let window = (self.method == Method::SposEsWindow).then(|| Window {
                    min: 0,
                    max: self.truth.limit,
                    resource: Box::new(|a: &Architecture| {
                        small_conv::small_conv_params(a, SmallConvConfig::default())
                    }),
                });
                common::pick(&spec, es, budget, window.as_ref(), self.seed, score)?
                    .best()
                    .ok_or_else(|| ExperimentError::run("no candidate evaluated"))?
                    .architecture
                    .clone()
            }
        };
        tangle_twostage::recalibrate(&search.model, &arch, &recalibration)?;
        let search_seconds = start.elapsed().as_secs_f64();
        let peak_memory_mib = peak_memory_mib();
        let model = search.model.valid();
        let valid_loss =
            -tangle_twostage::score(&model, &arch, &batches, &Classification, Metric::NegLoss)?;
        let fixed = Mixtures::fixed(&spec, &arch)?;
        let inherited = common::accuracy::<B::InnerBackend, _>(&test, &transform, &device, |x| {
            model.forward_mixed(x, &fixed)
        })?;
        let gradient = matches!(strategy, Strategy::Gradient);
        *self.result = Some(searched(
            Searched {
                truth: self.truth,
                method: self.method,
                seed: self.seed,
                alphas_svg: self.alphas_svg.as_deref(),
                search_seconds,
                peak_memory_mib,
                valid_loss,
            },
            &spec,
            &arch,
            inherited,
            gradient.then_some((search.records.as_slice(), search.probabilities())),
        )?);
        Ok(())
    }

    /// The floor: a uniformly random architecture from the seed.
    pub fn random(self) -> Result<()> {
        let spec = small_conv::spec();
        let index = random_index(&spec, self.seed);
        let arch = spec.architecture(&index)?;
        *self.result = Some(record(
            self.truth,
            self.method,
            self.seed,
            &arch,
            index,
            None,
            0.0,
            None,
            None,
        )?);
        Ok(())
    }
}

impl Job for MethodJob<'_> {
    fn run<B: AutodiffBackend>(
        mut self,
        method: SearchMethod,
        strategy: Strategy,
        device: B::Device,
    ) -> Result<()> {
        let config = SmallConvConfig::default();
        if self.method == Method::DrnasWs {
            let net = config.init_ws::<B>(&device)?;
            self.search(net, method, strategy, device)
        } else {
            let net = config.init::<B>(&device)?;
            self.search(net, method, strategy, device)
        }
    }
}

/// One (method, seed, α learning rate) run of a comparison: where it draws its α
/// trajectories, and the run's record.
pub type RunOne<'a> = dyn FnMut(Method, u64, f64, Option<PathBuf>) -> Result<Run> + 'a;

/// The α learning rates a comparison runs with: one for every method, or chosen per method on
/// the validation split from candidates.
#[derive(Debug, Clone, PartialEq)]
pub enum ArchLr {
    /// Every gradient method with this α lr (the settings' rule).
    Fixed(f64),
    /// Per method (see [`Method::arch_lr_from`]), the candidate whose seed-0 search ends with
    /// the lowest validation loss of its architecture (inherited weights, the α split).
    Tuned(Vec<f64>),
}

impl ArchLr {
    /// `Fixed(lr)` without candidates, else `Tuned(candidates)`.
    pub fn of(lr: f64, candidates: &[f64]) -> Self {
        if candidates.is_empty() {
            ArchLr::Fixed(lr)
        } else {
            ArchLr::Tuned(candidates.to_vec())
        }
    }
}

/// The candidate α lr with the lowest seed-0 validation loss among `method`'s tuning runs
/// (`None` until every candidate has run).
pub fn chosen_arch_lr(tuning: &[Run], method: Method, candidates: &[f64]) -> Option<f64> {
    let mut best: Option<(f64, f32)> = None;
    for &lr in candidates {
        let run = tuning
            .iter()
            .find(|r| r.method == method.name() && r.arch_lr == Some(lr))?;
        let loss = run.valid_loss?;
        // Ties go to the earlier (smaller) candidate.
        if best.is_none_or(|(_, l)| loss < l) {
            best = Some((lr, loss));
        }
    }
    best.map(|(lr, _)| lr)
}

/// Runs `methods` × `seeds` that `path` does not hold yet with `one`, saving after every run,
/// then prints the report (`score`: what the scores are, for its header). With
/// [`ArchLr::Tuned`], each method's candidates run first (seed 0, kept in the file's `tuning`),
/// and seed 0 of the comparison is the tuning run at the chosen α lr, copied.
#[allow(clippy::too_many_arguments)]
pub fn run_all<S>(
    name: &str,
    methods: &[Method],
    seeds: u64,
    settings: S,
    arch_lr: &ArchLr,
    truth: &Truth,
    table_path: &Path,
    path: &Path,
    score: &str,
    one: &mut RunOne<'_>,
) -> Result<()>
where
    S: Serialize + serde::de::DeserializeOwned + PartialEq + Clone,
{
    let mut comparison = if path.exists() {
        let c: Comparison<S> = load(path)?;
        if c.settings != settings {
            return Err(ExperimentError::usage(format!(
                "{} was run with other settings ({}); use the same ones or another --results",
                path.display(),
                serde_json::to_string(&c.settings).unwrap_or_default()
            )));
        }
        c
    } else {
        Comparison {
            settings,
            table: table_path.to_path_buf(),
            runs: Vec::new(),
            tuning: Vec::new(),
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| ExperimentError::io(dir, e))?;
    }
    if matches!(arch_lr, ArchLr::Tuned(c) if c.is_empty()) {
        return Err(ExperimentError::usage(
            "no candidate α learning rates to choose from",
        ));
    }
    let alphas = path.with_file_name("alphas");
    // Tuned comparisons draw beside the fixed-α-lr ones without overwriting them.
    let prefix = match arch_lr {
        ArchLr::Fixed(_) => name.to_string(),
        ArchLr::Tuned(_) => format!("{name}-tuned"),
    };
    let tuning_svg = |m: Method, lr: f64| {
        alphas
            .join("tuning")
            .join(format!("{name}-{}-lr-{lr:.2e}.svg", m.name()))
    };
    for &method in methods {
        // This method's α lr, and the tuning run that is its seed 0, if tuned.
        let (lr, seed_0) = match (arch_lr, method.arch_lr_from()) {
            (ArchLr::Fixed(lr), _) => (*lr, None),
            // No α: the search config only checks that the rate is valid, never uses it.
            (ArchLr::Tuned(candidates), None) => (candidates[0], None),
            (ArchLr::Tuned(candidates), Some(from)) => {
                for &lr in candidates {
                    if comparison
                        .tuning
                        .iter()
                        .any(|r| r.method == from.name() && r.arch_lr == Some(lr))
                    {
                        continue;
                    }
                    println!("\n== tuning {} seed 0, α lr {lr:.2e}", from.name());
                    let mut run = one(from, 0, lr, Some(tuning_svg(from, lr)))?;
                    run.arch_lr = Some(lr);
                    println!(
                        "tuning {} α lr {lr:.2e}: {} — validation loss {:.4}",
                        from.name(),
                        run.architecture,
                        run.valid_loss.unwrap_or(f32::NAN)
                    );
                    comparison.tuning.push(run);
                    common::save_json(path, &comparison)?;
                }
                let lr = chosen_arch_lr(&comparison.tuning, from, candidates).ok_or_else(|| {
                    ExperimentError::run(format!(
                        "{}: a tuning run has no validation loss",
                        from.name()
                    ))
                })?;
                println!(
                    "{}: α lr {lr:.2e} (chosen for {})",
                    method.name(),
                    from.name()
                );
                let seed_0 = comparison
                    .tuning
                    .iter()
                    .find(|r| r.method == method.name() && r.arch_lr == Some(lr))
                    .cloned();
                (lr, seed_0)
            }
        };
        for seed in 0..seeds {
            if comparison
                .runs
                .iter()
                .any(|r| r.method == method.name() && r.seed == seed)
            {
                continue;
            }
            let svg = alphas.join(format!("{prefix}-{}.svg", method.name()));
            let run = match seed_0.clone().filter(|_| seed == 0) {
                // The same search as the tuning run (same seed, same α lr): not redone.
                Some(run) => {
                    let drawn = tuning_svg(method, lr);
                    if drawn.exists() {
                        fs::copy(&drawn, &svg).map_err(|e| ExperimentError::io(&svg, e))?;
                    }
                    run
                }
                None => {
                    println!("\n== {} seed {seed}", method.name());
                    let svg = (seed == 0).then_some(svg);
                    let mut run = one(method, seed, lr, svg)?;
                    run.arch_lr = method.arch_lr_from().map(|_| lr);
                    run
                }
            };
            println!(
                "{} seed {seed}: {} — rank {} of {}, regret {:.4}, inherited {}, {:.0} s",
                method.name(),
                run.architecture,
                run.rank,
                truth.size,
                run.regret,
                run.inherited_score
                    .map_or("-".into(), |a| format!("{a:.4}")),
                run.search_seconds
            );
            comparison.runs.push(run);
            common::save_json(path, &comparison)?;
        }
    }
    println!("\n{}", report(&comparison, truth, score));
    Ok(())
}

/// The image comparison: `methods` × `seeds` on the small conv space.
pub fn run_images(
    args: &RunArgs,
    methods: &[Method],
    seeds: u64,
    settings: Settings,
    table_path: &Path,
    path: &Path,
) -> Result<()> {
    let truth = Truth::images(&table::load(table_path)?)?;
    let arch_lr = ArchLr::of(settings.arch_lr, &settings.arch_lr_candidates);
    let mut one = |method: Method, seed: u64, arch_lr: f64, alphas_svg: Option<PathBuf>| {
        let mut result = None;
        let job = MethodJob {
            args: RunArgs {
                seed,
                optimizer: method.optimizer().unwrap_or("none").into(),
                ..args.clone()
            },
            method,
            seed,
            settings: Settings {
                arch_lr,
                ..settings.clone()
            },
            truth: &truth,
            alphas_svg,
            result: &mut result,
        };
        if method == Method::Random {
            job.random()?;
        } else {
            let a = job.args.clone();
            common::dispatch(&a, job, settings.budget)?;
        }
        result.ok_or_else(|| ExperimentError::run("the run ended without a result"))
    };
    run_all(
        "images",
        methods,
        seeds,
        settings.clone(),
        &arch_lr,
        &truth,
        table_path,
        path,
        "inherited test acc.",
        &mut one,
    )
}

/// `mean ± std` with `digits` decimals.
fn mean_std(xs: &[f64], digits: usize) -> String {
    match MeanStd::of(xs) {
        Ok(s) if s.n > 1 => format!("{:.digits$} ± {:.digits$}", s.mean, s.std),
        Ok(s) => format!("{:.digits$}", s.mean),
        Err(_) => "-".into(),
    }
}

/// The comparison as a Markdown table: per method, mean ± std over seeds, and the two-sided
/// tests of TangleNAS's regret against each baseline's (the constrained methods: constrained
/// regret against TangleNAS + penalty's).
pub fn report<S>(c: &Comparison<S>, truth: &Truth, score: &str) -> String {
    let of = |m: Method| -> Vec<&Run> { c.runs.iter().filter(|r| r.method == m.name()).collect() };
    let mut out = format!(
        "| method | runs | rank (of {}) | regret | feasible (≤ {} params) | constrained regret | \
         {score} | search s | p vs reference (Welch / Mann-Whitney) |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        truth.size, truth.limit
    );
    for m in Method::ALL {
        let runs = of(m);
        if runs.is_empty() {
            continue;
        }
        let col = |f: &dyn Fn(&Run) -> Option<f64>| -> Vec<f64> {
            runs.iter().filter_map(|r| f(r)).collect()
        };
        let reference = if m.constrained() {
            Method::TangleNasPenalty
        } else {
            Method::TangleNas
        };
        // Constrained methods are compared on the constrained regret, which an infeasible
        // architecture does not have.
        let key = |r: &Run| -> Option<f64> {
            if m.constrained() {
                r.constrained_regret.map(|x| x as f64)
            } else {
                Some(r.regret as f64)
            }
        };
        let test = if m == reference {
            "(reference)".to_string()
        } else if of(reference).is_empty() {
            format!("- (no {} runs)", reference.name())
        } else {
            let a: Vec<f64> = of(reference).iter().filter_map(|r| key(r)).collect();
            let b: Vec<f64> = runs.iter().filter_map(|r| key(r)).collect();
            let dropped = of(reference).len() + runs.len() - a.len() - b.len();
            match (welch_t_test(&a, &b), mann_whitney_u(&a, &b)) {
                _ if dropped > 0 => format!("- ({dropped} infeasible runs)"),
                (Ok(w), Ok(u)) => format!("{:.3} / {:.3}", w.p_value, u.p_value),
                (Err(e), _) | (_, Err(e)) => format!("- ({e})"),
            }
        };
        let feasible = runs.iter().filter(|r| r.feasible).count();
        let inherited = col(&|r| r.inherited_score.map(|x| x as f64));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {feasible} of {} | {} | {} | {} | {test} |\n",
            m.name(),
            runs.len(),
            mean_std(&col(&|r| Some(r.rank as f64)), 1),
            mean_std(&col(&|r| Some(r.regret as f64)), 4),
            runs.len(),
            mean_std(&col(&|r| r.constrained_regret.map(|x| x as f64)), 4),
            mean_std(&inherited, 4),
            mean_std(&col(&|r| Some(r.search_seconds)), 0),
        ));
    }
    if !c.tuning.is_empty() {
        out.push_str(
            "\nα learning rates chosen on the validation split (seed 0; the lowest validation \
             loss of the discovered architecture, inherited weights, is chosen, marked *):\n\n\
             | method | α lr | validation loss | architecture | rank | regret |\n\
             |---|---|---|---|---|---|\n",
        );
        for m in Method::ALL {
            let candidates: Vec<f64> = c
                .tuning
                .iter()
                .filter(|r| r.method == m.name())
                .filter_map(|r| r.arch_lr)
                .collect();
            let chosen = chosen_arch_lr(&c.tuning, m, &candidates);
            for r in c.tuning.iter().filter(|r| r.method == m.name()) {
                out.push_str(&format!(
                    "| {} | {:.2e}{} | {} | {} | {} | {:.4} |\n",
                    m.name(),
                    r.arch_lr.unwrap_or(f64::NAN),
                    if r.arch_lr.is_some() && r.arch_lr == chosen {
                        " *"
                    } else {
                        ""
                    },
                    r.valid_loss.map_or("-".into(), |l| format!("{l:.4}")),
                    r.architecture,
                    r.rank,
                    r.regret
                ));
            }
        }
    }
    let (rank, regret) = truth.random_expectation();
    out.push_str(&format!(
        "\nA uniformly random architecture, over the whole table: mean rank {rank:.1}, mean \
         regret {regret:.4}.\n"
    ));
    let names: Vec<String> = c
        .runs
        .first()
        .and_then(|r| r.architecture.as_object())
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    out.push_str(&format!(
        "\nDiscovered architectures per seed ({}):\n\n",
        names.join(" / ")
    ));
    for m in Method::ALL {
        let runs = of(m);
        if runs.is_empty() {
            continue;
        }
        let archs: Vec<String> = runs
            .iter()
            .map(|r| {
                let values: Vec<String> = r
                    .architecture
                    .as_object()
                    .map(|o| o.values().map(|v| v.to_string()).collect())
                    .unwrap_or_default();
                format!("{} (rank {})", values.join("/"), r.rank)
            })
            .collect();
        out.push_str(&format!("* {}: {}\n", m.name(), archs.join("; ")));
    }
    out
}

/// Reads a comparison file written by [`run_all`].
pub fn load<S: serde::de::DeserializeOwned>(path: &Path) -> Result<Comparison<S>> {
    common::read_json(path, "a comparison file")
}
