//! Random and evolutionary search over a space's architectures, scored by any function (the
//! trained supernet's inherited weights on the validation split, in the two-stage method).

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tangle_core::{Architecture, DecisionKind, SearchSpec};

use crate::error::{Result, TwoStageError};

/// How the decisions of a space relate: which ones are global (depth, embedding dim …) and
/// which belong to a layer position under a depth decision.
///
/// Read from the decision names: a decision with a `layer{i}` segment is position `i`, one with
/// a `block{b}` segment position `b − 1`, of the depth decision (kind `Depth`) that shares its
/// prefix (`layer3.heads` → `depth` or `layers`; `stage2.block3.kernel` → `stage2.depth`).
/// Depth decisions and names without a `.` are global; everything else is a per-layer gene.
#[derive(Debug, Clone, PartialEq)]
pub struct Genome {
    global: Vec<bool>,
    position: Vec<Option<(usize, usize)>>,
    sizes: Vec<usize>,
    depths: Vec<Option<Vec<usize>>>,
}

fn layer_position(segment: &str) -> Option<usize> {
    if let Some(i) = segment.strip_prefix("layer") {
        return i.parse().ok();
    }
    segment
        .strip_prefix("block")
        .and_then(|b| b.parse::<usize>().ok())
        .and_then(|b| b.checked_sub(1))
}

impl Genome {
    /// The layout of `spec`.
    pub fn new(spec: &SearchSpec) -> Self {
        let ds = spec.decisions();
        let prefix = |name: &str| name.rsplit_once('.').map_or("", |(p, _)| p).to_string();
        let position = ds
            .iter()
            .map(|d| {
                let segs: Vec<&str> = d.name().split('.').collect();
                let (k, pos) = segs
                    .iter()
                    .enumerate()
                    .find_map(|(k, s)| layer_position(s).map(|p| (k, p)))?;
                let pre = segs[..k].join(".");
                let depth = ds
                    .iter()
                    .position(|e| e.kind() == DecisionKind::Depth && prefix(e.name()) == pre)?;
                Some((depth, pos))
            })
            .collect();
        Genome {
            global: ds
                .iter()
                .map(|d| d.kind() == DecisionKind::Depth || !d.name().contains('.'))
                .collect(),
            position,
            sizes: ds.iter().map(|d| d.len()).collect(),
            depths: ds
                .iter()
                .map(|d| d.int_values().filter(|_| d.kind() == DecisionKind::Depth))
                .collect(),
        }
    }

    /// Whether gene `d` matters in `genes` (a per-layer gene beyond its depth does not).
    pub fn active(&self, genes: &[usize], d: usize) -> bool {
        match self.position[d] {
            Some((depth, pos)) => match &self.depths[depth] {
                Some(values) => pos < values[genes[depth]],
                None => true,
            },
            None => true,
        }
    }

    /// `genes` with every inactive gene set to 0: equal keys are the same network.
    pub fn canonical(&self, genes: &[usize]) -> Vec<usize> {
        (0..genes.len())
            .map(|d| if self.active(genes, d) { genes[d] } else { 0 })
            .collect()
    }

    fn depth_values(&self, genes: &[usize]) -> Vec<usize> {
        (0..genes.len())
            .filter(|&d| self.depths[d].is_some())
            .map(|d| genes[d])
            .collect()
    }

    /// Uniformly random genes.
    pub fn random(&self, rng: &mut StdRng) -> Vec<usize> {
        self.sizes.iter().map(|&n| rng.random_range(0..n)).collect()
    }

    /// AutoFormer's mutation: each global gene (depth, embedding) is resampled with
    /// probability `global_prob`, each per-layer gene with `layer_prob`; layers a depth mutation
    /// adds get random choices.
    pub fn mutate(
        &self,
        genes: &[usize],
        global_prob: f64,
        layer_prob: f64,
        rng: &mut StdRng,
    ) -> Vec<usize> {
        let mut out = genes.to_vec();
        for d in 0..out.len() {
            let p = if self.global[d] {
                global_prob
            } else {
                layer_prob
            };
            if rng.random_bool(p.clamp(0.0, 1.0)) {
                out[d] = rng.random_range(0..self.sizes[d]);
            }
        }
        for d in 0..out.len() {
            if !self.active(genes, d) && self.active(&out, d) {
                out[d] = rng.random_range(0..self.sizes[d]);
            }
        }
        out
    }

    /// Uniform crossover per gene; `None` unless both parents have the same depths.
    pub fn crossover(&self, a: &[usize], b: &[usize], rng: &mut StdRng) -> Option<Vec<usize>> {
        if self.depth_values(a) != self.depth_values(b) {
            return None;
        }
        Some(
            a.iter()
                .zip(b)
                .map(|(&x, &y)| if rng.random_bool(0.5) { x } else { y })
                .collect(),
        )
    }
}

/// A resource of an architecture: parameters, FLOPs …
pub type Resource<'a> = Box<dyn Fn(&Architecture) -> tangle_core::Result<usize> + 'a>;

/// A resource window: candidates whose resource (parameters, FLOPs …) falls outside
/// `[min, max]` are rejected and resampled, never kept.
pub struct Window<'a> {
    /// Smallest allowed value.
    pub min: usize,
    /// Largest allowed value.
    pub max: usize,
    /// The resource of an architecture (e.g. a space's `params`).
    pub resource: Resource<'a>,
}

impl Window<'_> {
    fn admits(&self, arch: &Architecture) -> Result<(bool, usize)> {
        let v = (self.resource)(arch)?;
        Ok((v >= self.min && v <= self.max, v))
    }
}

/// One evaluated architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The architecture.
    pub architecture: Architecture,
    /// Its score (higher is better).
    pub score: f32,
    /// Its resource, when a window was given.
    pub resource: Option<usize>,
    /// Generation (0 = initial population / random search).
    pub generation: usize,
}

/// Every architecture a search evaluated, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The evaluated candidates.
    pub evaluated: Vec<Candidate>,
}

impl History {
    /// The best candidate (the first of equals).
    pub fn best(&self) -> Option<&Candidate> {
        self.evaluated
            .iter()
            .fold(None, |b: Option<&Candidate>, c| match b {
                Some(b) if b.score >= c.score => Some(b),
                _ => Some(c),
            })
    }

    /// JSON lines, one candidate per line.
    pub fn to_json_lines(&self) -> String {
        self.evaluated
            .iter()
            .map(|c| serde_json::to_string(c).expect("serializable") + "\n")
            .collect()
    }
}

/// The state shared by both searches: spec, genome, window, dedup set, RNG, scorer.
struct Runner<'a, F> {
    spec: &'a SearchSpec,
    genome: Genome,
    window: Option<&'a Window<'a>>,
    seen: HashSet<Vec<usize>>,
    rng: StdRng,
    score: F,
    history: History,
}

/// Attempts per wanted candidate before a window (or a small space) is declared infeasible.
const TRIES: usize = 1000;

impl<'a, F: FnMut(&Architecture) -> Result<f32>> Runner<'a, F> {
    fn new(spec: &'a SearchSpec, window: Option<&'a Window<'a>>, seed: u64, score: F) -> Self {
        Runner {
            spec,
            genome: Genome::new(spec),
            window,
            seen: HashSet::new(),
            rng: StdRng::seed_from_u64(seed),
            score,
            history: History::default(),
        }
    }

    /// Evaluates `genes` if new and admitted; `Ok(false)` if rejected.
    fn try_eval(&mut self, genes: &[usize], generation: usize) -> Result<bool> {
        let key = self.genome.canonical(genes);
        if self.seen.contains(&key) {
            return Ok(false);
        }
        let arch = self.spec.architecture(&key)?;
        let resource = match self.window {
            Some(w) => match w.admits(&arch)? {
                (true, v) => Some(v),
                (false, _) => return Ok(false),
            },
            None => None,
        };
        self.seen.insert(key);
        let score = (self.score)(&arch)?;
        if !score.is_finite() {
            return Err(TwoStageError::NonFinite(arch.to_string()));
        }
        self.history.evaluated.push(Candidate {
            architecture: arch,
            score,
            resource,
            generation,
        });
        Ok(true)
    }

    /// Evaluates `n` new candidates from `propose`.
    fn fill(
        &mut self,
        n: usize,
        generation: usize,
        mut propose: impl FnMut(&mut Self) -> Option<Vec<usize>>,
    ) -> Result<usize> {
        let (mut done, mut tries) = (0, 0);
        while done < n && tries < TRIES * n.max(1) {
            tries += 1;
            if let Some(g) = propose(self) {
                if self.try_eval(&g, generation)? {
                    done += 1;
                }
            }
        }
        Ok(done)
    }
}

/// Random search: `budget` distinct architectures sampled uniformly (inside `window`), each
/// scored once. Reproducible from `seed`.
pub fn random_search(
    spec: &SearchSpec,
    budget: usize,
    window: Option<&Window>,
    seed: u64,
    score: impl FnMut(&Architecture) -> Result<f32>,
) -> Result<History> {
    let mut r = Runner::new(spec, window, seed, score);
    let got = r.fill(budget, 0, |r| Some(r.genome.random(&mut r.rng)))?;
    if got == 0 && budget > 0 {
        return Err(TwoStageError::Infeasible(
            "no architecture inside the window".into(),
        ));
    }
    Ok(r.history)
}

/// Evolutionary search settings (AutoFormer's defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvolutionConfig {
    /// Initial population (50).
    pub population: usize,
    /// Parents: the best this many so far (10).
    pub top_k: usize,
    /// Mutations per generation (25).
    pub mutations: usize,
    /// Crossovers per generation (25).
    pub crossovers: usize,
    /// Generations after the initial population (20).
    pub generations: usize,
    /// Per-layer gene mutation probability (0.2).
    pub layer_prob: f64,
    /// Depth / embedding (global gene) mutation probability (0.4).
    pub global_prob: f64,
}

impl Default for EvolutionConfig {
    fn default() -> Self {
        EvolutionConfig {
            population: 50,
            top_k: 10,
            mutations: 25,
            crossovers: 25,
            generations: 20,
            layer_prob: 0.2,
            global_prob: 0.4,
        }
    }
}

impl EvolutionConfig {
    /// Evaluations of a full run: the population plus every generation's offspring.
    pub fn budget(&self) -> usize {
        self.population + self.generations * (self.mutations + self.crossovers)
    }
}

/// Evolutionary search: a random initial population, then per generation mutations and
/// crossovers of the best `top_k` evaluated so far. Candidates are de-duplicated (inactive
/// layers ignored), kept inside `window`, and every evaluation is recorded. Reproducible from
/// `seed`.
pub fn evolution(
    spec: &SearchSpec,
    cfg: &EvolutionConfig,
    window: Option<&Window>,
    seed: u64,
    score: impl FnMut(&Architecture) -> Result<f32>,
) -> Result<History> {
    if cfg.top_k == 0 || cfg.population == 0 {
        return Err(TwoStageError::Config(
            "evolution needs a population and parents".into(),
        ));
    }
    let mut r = Runner::new(spec, window, seed, score);
    if r.fill(cfg.population, 0, |r| Some(r.genome.random(&mut r.rng)))? == 0 {
        return Err(TwoStageError::Infeasible(
            "no architecture inside the window".into(),
        ));
    }
    for generation in 1..=cfg.generations {
        let mut ranked: Vec<Vec<usize>> = {
            let mut c: Vec<&Candidate> = r.history.evaluated.iter().collect();
            c.sort_by(|a, b| b.score.total_cmp(&a.score));
            c.iter()
                .take(cfg.top_k)
                .map(|c| spec.indices(&c.architecture))
                .collect::<tangle_core::Result<_>>()?
        };
        ranked.shrink_to_fit();
        let (gp, lp) = (cfg.global_prob, cfg.layer_prob);
        r.fill(cfg.mutations, generation, |r| {
            let parent = ranked.choose(&mut r.rng)?.clone();
            Some(r.genome.mutate(&parent, gp, lp, &mut r.rng))
        })?;
        r.fill(cfg.crossovers, generation, |r| {
            let a = ranked.choose(&mut r.rng)?.clone();
            let b = ranked.choose(&mut r.rng)?.clone();
            r.genome.crossover(&a, &b, &mut r.rng)
        })?;
    }
    Ok(r.history)
}
