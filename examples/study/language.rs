//! The language table: the nanoGPT space reduced to global choices (embed × layers × heads ×
//! MLP ratio, one heads and one ratio shared by every layer) on the shipped Shakespeare, every
//! architecture trained alone for a fixed number of steps and scored on held-out text.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};
use tangle_core::{Architecture, Extract, SearchSpec, Supernet};
use tangle_data::{shipped, CharVocab, TextBatches};
use tangle_optim::{
    Classification, FixedPath, Method as SearchMethod, ParamPenalty, Search, SearchConfig,
    SearchData as _,
};
use tangle_spaces::gpt::{Gpt, GptConfig};
use tangle_twostage::Window;

use crate::common::{self, ExperimentError, Job, Result, RunArgs, Strategy};
use crate::methods::{
    peak_memory_mib, random_index, record, reset_peak_memory, run_all, searched, ArchLr, Method,
    Run, Searched, Truth,
};
use crate::table::{self, Row};

/// Share of the shipped text that trains (the table's networks, and a search's weights and α);
/// the rest is held out for scoring.
pub const TRAIN_SHARE: f64 = 0.9;
/// Seed of the held-out windows: every network is scored on the same ones.
const HELDOUT_SEED: u64 = 20261202;

/// One architecture trained alone with one seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LmEntry {
    /// Decision indices in spec order.
    pub index: Vec<usize>,
    /// The architecture.
    pub architecture: serde_json::Value,
    /// Seed of the initialization and the training windows.
    pub seed: u64,
    /// Parameters (the tied head counted once).
    pub params: usize,
    /// Mean next-character loss on the held-out windows, nats.
    pub heldout_loss: f32,
    /// Training loss over the last epoch, nats.
    pub train_loss: f32,
    /// Seconds of training and scoring.
    pub seconds: f64,
}

impl Row for LmEntry {
    fn index(&self) -> &[usize] {
        &self.index
    }
    fn params(&self) -> usize {
        self.params
    }
    fn value(&self) -> f32 {
        self.heldout_loss
    }
}

/// The recipe every network of the table is trained with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmRecipe {
    /// Embedding dims.
    pub embeds: Vec<usize>,
    /// Layer counts.
    pub layers: Vec<usize>,
    /// Head counts (all layers alike).
    pub heads: Vec<usize>,
    /// MLP ratios (all layers alike).
    pub ratios: Vec<f64>,
    /// Context length.
    pub context: usize,
    /// Windows per batch.
    pub batch: usize,
    /// Training steps per epoch.
    pub steps: usize,
    /// Epochs (the learning rate is cosine per epoch).
    pub epochs: usize,
    /// Peak AdamW learning rate.
    pub lr: f64,
    /// Held-out batches scored.
    pub eval_batches: usize,
}

impl LmRecipe {
    /// The space's configuration.
    pub fn config(&self, vocab: usize) -> GptConfig {
        GptConfig {
            embeds: self.embeds.clone(),
            heads: self.heads.clone(),
            ratios: self.ratios.clone(),
            layers: self.layers.clone(),
            vocab,
            context: self.context,
            dropout: 0.0,
            tied: true,
        }
    }

    /// The training configuration: Table 23's AdamW (β₂ 0.99, weight decay 0.1, clipping 1)
    /// at the nanogpt example's learning rate, cosine to a tenth, linear warm-up over a sixtieth
    /// of the steps; weights only.
    pub fn search_config(&self) -> SearchConfig {
        SearchConfig {
            lr: self.lr,
            lr_min: self.lr / 10.0,
            lr_warmup_steps: (self.epochs * self.steps / 60).clamp(1, 100),
            warmup_epochs: self.epochs,
            ..SearchConfig::language_model(self.epochs)
        }
    }
}

/// The language table: how it was made, and its runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LmTable {
    /// `language`.
    pub table: String,
    /// The space, in words.
    pub space: String,
    /// The recipe.
    pub recipe: LmRecipe,
    /// Training characters.
    pub train_tokens: usize,
    /// Held-out characters.
    pub heldout_tokens: usize,
    /// Seeds per architecture.
    pub seeds: u64,
    /// The command that builds the table.
    pub command: String,
    /// The runs.
    pub entries: Vec<LmEntry>,
}

/// The shipped Shakespeare as characters: training and held-out ids, and the vocabulary size.
pub fn load_text() -> Result<(Vec<usize>, Vec<usize>, usize)> {
    let text = shipped::shakespeare()?;
    let vocab = CharVocab::from_text(&text);
    let mut ids = vocab.encode(&text)?;
    let cut = tangle_data::train_valid_split(ids.len(), TRAIN_SHARE)?
        .train
        .len();
    let heldout = ids.split_off(cut);
    Ok((ids, heldout, vocab.len()))
}

/// Mean next-token loss of the network at `arch` in `model` over the held-out windows.
pub fn heldout_loss<B: Backend>(
    model: &Gpt<B>,
    arch: &Architecture,
    heldout: &TextBatches<B>,
    batches: usize,
) -> Result<f32> {
    let net = model.extract(arch)?;
    common::text::window_loss(heldout, batches, |x| net.forward(x))
}

/// Builds (or extends) the language table.
pub struct LmBuild {
    /// The recipe.
    pub recipe: LmRecipe,
    /// Seeds per architecture.
    pub seeds: u64,
    /// Stop after this many new runs.
    pub limit: usize,
    /// The table file.
    pub path: PathBuf,
}

/// Reads a language table written by [`LmBuild`].
pub fn load_table(path: &Path) -> Result<LmTable> {
    common::read_json(path, "a language table")
}

impl Job for LmBuild {
    fn run<B: AutodiffBackend>(
        self,
        _method: SearchMethod,
        _strategy: Strategy,
        device: B::Device,
    ) -> Result<()> {
        let r = &self.recipe;
        let (train, heldout, vocab) = load_text()?;
        let config = r.config(vocab);
        let spec: SearchSpec = config.spec()?;
        let list = |v: &[usize]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let command = format!(
            "cargo run --release --example study -- --table language --embeds {} --layers {} \
             --steps {} --epochs {} --seeds {}",
            list(&r.embeds),
            list(&r.layers),
            r.steps,
            r.epochs,
            self.seeds
        );
        let path = &self.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| ExperimentError::io(dir, e))?;
        }
        let mut t = if path.exists() {
            let t = load_table(path)?;
            if &t.recipe != r {
                return Err(ExperimentError::usage(format!(
                    "{} was built with another recipe ({}); extend it with the same settings or \
                     choose another --out",
                    path.display(),
                    serde_json::to_string(&t.recipe).unwrap_or_default()
                )));
            }
            t
        } else {
            LmTable {
                table: "language".into(),
                space: format!(
                    "tangle_spaces::gpt, tied (one heads and one MLP ratio for every layer): \
                     {} architectures",
                    spec.size()
                ),
                recipe: r.clone(),
                train_tokens: train.len(),
                heldout_tokens: heldout.len(),
                seeds: self.seeds,
                command: command.clone(),
                entries: Vec::new(),
            }
        };
        t.seeds = t.seeds.max(self.seeds);
        t.command = command;
        let scorer = TextBatches::<B::InnerBackend>::new(
            train.clone(),
            heldout.clone(),
            r.context,
            r.batch,
            1,
            HELDOUT_SEED,
            &device,
        )?;
        let todo = table::missing(&spec, self.seeds, self.limit, |idx, seed| {
            t.entries.iter().any(|e| e.index == idx && e.seed == seed)
        });
        for (idx, seed) in todo {
            let arch = spec.architecture(&idx)?;
            let start = Instant::now();
            B::seed(&device, table::run_seed(&idx, seed));
            let fresh = config.clone().init::<B>(&device)?;
            let params = fresh.params(&arch)?;
            let data = TextBatches::<B>::new(
                train.clone(),
                heldout.clone(),
                r.context,
                r.batch,
                r.steps,
                seed,
                &device,
            )?;
            let path_mixer = FixedPath::new(&spec, &arch)?;
            let mut alone = Search::new(fresh, path_mixer, r.search_config(), seed, &device)?;
            alone.run(&data, &Classification)?;
            let train_loss = alone.records.last().map_or(f32::NAN, |x| x.train_loss);
            let loss = heldout_loss(&alone.model.valid(), &arch, &scorer, r.eval_batches)?;
            let seconds = start.elapsed().as_secs_f64();
            println!(
                "{} seed {seed}: held-out {loss:.4} nats/char (train {train_loss:.4}), \
                 {params} parameters, {seconds:.1} s",
                arch.to_json().replace(['\n', ' '], ""),
            );
            t.entries.push(LmEntry {
                index: idx.clone(),
                architecture: common::architecture_value(&arch)?,
                seed,
                params,
                heldout_loss: loss,
                train_loss,
                seconds,
            });
            common::save_json(path, &t)?;
        }
        let largest = config
            .init::<B::InnerBackend>(&device)?
            .params(&spec.largest())?;
        table::summarize(&t.entries, false, "held-out loss", &spec, largest)?;
        table::report_progress(t.entries.len(), &spec, self.seeds, path);
        Ok(())
    }
}

/// Everything that is the same for every run of the language comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmSettings {
    /// The table's recipe: the space, context, batch and learning rate the supernet shares.
    pub recipe: LmRecipe,
    /// Supernet epochs of `steps` weight steps each, the same for every method.
    pub epochs: usize,
    /// Weight steps per epoch (each gradient method's α steps as many).
    pub steps: usize,
    /// Epochs of weights only before α steps start.
    pub alpha_warmup: usize,
    /// α learning rate (Adam β = (0.5, 0.999), weight decay 1e-3).
    pub arch_lr: f64,
    /// If not empty, the α learning rates each single-stage method chooses from on the
    /// validation split ([`crate::methods::ArchLr::Tuned`]); `arch_lr` is then not used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arch_lr_candidates: Vec<f64>,
    /// Strength of the expected-parameter penalty (parameters in millions).
    pub penalty: f64,
    /// Candidates the second stage of SPOS evaluates.
    pub budget: usize,
    /// α-split batches that score SPOS's candidates.
    pub score_batches: usize,
}

/// The share of the training text that trains the supernet's weights; the rest trains α or
/// scores SPOS's candidates (80 % and 10 % of the shipped text).
const WEIGHT_SHARE: f64 = 8.0 / 9.0;

/// One method with one seed on the language space.
struct LmMethodJob<'a> {
    method: Method,
    seed: u64,
    settings: LmSettings,
    truth: &'a Truth,
    alphas_svg: Option<PathBuf>,
    result: &'a mut Option<Run>,
}

impl Job for LmMethodJob<'_> {
    fn run<B: AutodiffBackend>(
        self,
        method: SearchMethod,
        strategy: Strategy,
        device: B::Device,
    ) -> Result<()> {
        let s = &self.settings;
        let (train, heldout, vocab) = load_text()?;
        let config = s.recipe.config(vocab);
        let net = config.init::<B>(&device)?;
        let spec = net.spec().clone();
        let param_penalty = if self.method == Method::TangleNasPenalty {
            Some(ParamPenalty::from_counts(s.penalty, &spec, |a| {
                net.params(a)
            })?)
        } else {
            None
        };
        let base = s.recipe.search_config();
        let config = SearchConfig {
            epochs: s.epochs,
            warmup_epochs: s.alpha_warmup,
            lr_warmup_steps: (s.epochs * s.steps / 60).clamp(1, 100),
            arch_lr: s.arch_lr,
            arch_betas: (0.5, 0.999),
            arch_weight_decay: 1e-3,
            param_penalty,
            ..base
        };
        let (context, batch) = (s.recipe.context, s.recipe.batch);
        let data = TextBatches::<B>::split(
            train.clone(),
            WEIGHT_SHARE,
            context,
            batch,
            s.steps,
            self.seed,
            &device,
        )?;
        reset_peak_memory();
        let start = Instant::now();
        let mut search = Search::with_method(net, method, config, self.seed, &device)?;
        for epoch in 0..s.epochs {
            search.run_until(&data, &Classification, epoch + 1)?;
            crate::common::print_epoch(search.records.last().expect("a record per epoch"));
        }
        let model = search.model.valid();
        // The validation (α) split: SPOS scores its candidates on it, and every method's final
        // architecture gets its inherited-weight loss there.
        let v = TextBatches::<B::InnerBackend>::split(
            train.clone(),
            WEIGHT_SHARE,
            context,
            batch,
            1,
            self.seed,
            &device,
        )?;
        let arch = match strategy {
            Strategy::Gradient => search.architecture()?,
            Strategy::Spos { es, budget } => {
                let batches: Vec<_> = (0..s.score_batches).map(|i| v.valid(0, i)).collect();
                let score = |arch: &Architecture| {
                    tangle_twostage::score(
                        &model,
                        arch,
                        &batches,
                        &Classification,
                        tangle_twostage::Metric::NegLoss,
                    )
                };
                let window = (self.method == Method::SposEsWindow).then(|| Window {
                    min: 0,
                    max: self.truth.limit,
                    resource: Box::new(|a: &Architecture| model.params(a)),
                });
                common::pick(&spec, es, budget, window.as_ref(), self.seed, score)?
                    .best()
                    .ok_or_else(|| ExperimentError::run("no candidate evaluated"))?
                    .architecture
                    .clone()
            }
        };
        let search_seconds = start.elapsed().as_secs_f64();
        let peak_memory_mib = peak_memory_mib();
        let scorer = TextBatches::<B::InnerBackend>::new(
            train,
            heldout,
            context,
            batch,
            1,
            HELDOUT_SEED,
            &device,
        )?;
        let inherited = heldout_loss(&model, &arch, &scorer, s.recipe.eval_batches)?;
        let valid_loss = heldout_loss(&model, &arch, &v, s.recipe.eval_batches)?;
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
}

/// The language table, ready for look-ups.
pub fn truth(path: &Path, recipe: &LmRecipe) -> Result<Truth> {
    let t = load_table(path)?;
    if &t.recipe != recipe {
        return Err(ExperimentError::usage(format!(
            "{} was built with another recipe ({}) than this comparison's",
            path.display(),
            serde_json::to_string(&t.recipe).unwrap_or_default()
        )));
    }
    let (_, _, vocab) = load_text()?;
    let config = recipe.config(vocab);
    let spec = config.spec()?;
    let largest = config
        .init::<tanglenas::backend::Cpu>(&Default::default())?
        .params(&spec.largest())?;
    Truth::new(
        table::means(&t.entries, false),
        false,
        &spec,
        largest,
        &t.command,
    )
}

/// The language comparison: `methods` × `seeds` on the tied nanoGPT space.
pub fn run_language(
    args: &RunArgs,
    methods: &[Method],
    seeds: u64,
    settings: LmSettings,
    table_path: &Path,
    path: &Path,
) -> Result<()> {
    if methods.contains(&Method::DrnasWs) {
        return Err(ExperimentError::usage(
            "--method drnas-ws is compared on the image table only: the language space has no WS twin",
        ));
    }
    let truth = truth(table_path, &settings.recipe)?;
    // The random floor's space, built once (the vocabulary comes from the text).
    let (_, _, vocab) = load_text()?;
    let spec = settings.recipe.config(vocab).spec()?;
    let arch_lr = ArchLr::of(settings.arch_lr, &settings.arch_lr_candidates);
    let mut one = |method: Method, seed: u64, arch_lr: f64, alphas_svg: Option<PathBuf>| {
        let mut result = None;
        if method == Method::Random {
            let index = random_index(&spec, seed);
            let arch = spec.architecture(&index)?;
            return record(&truth, method, seed, &arch, index, None, 0.0, None, None);
        }
        let a = RunArgs {
            seed,
            optimizer: method.optimizer().unwrap_or("none").into(),
            ..args.clone()
        };
        let job = LmMethodJob {
            method,
            seed,
            settings: LmSettings {
                arch_lr,
                ..settings.clone()
            },
            truth: &truth,
            alphas_svg,
            result: &mut result,
        };
        crate::common::dispatch(&a, job, settings.budget)?;
        result.ok_or_else(|| ExperimentError::run("the run ended without a result"))
    };
    run_all(
        "language",
        methods,
        seeds,
        settings.clone(),
        &arch_lr,
        &truth,
        table_path,
        path,
        "inherited held-out loss",
        &mut one,
    )
}
