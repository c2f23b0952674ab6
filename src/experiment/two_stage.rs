//! The second stage of a two-stage search: random or evolutionary search over a trained SPOS
//! supernet.

use std::path::Path;

use super::{write, ExperimentError, Result};

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
) -> Result<tangle_core::Architecture>
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
        .ok_or_else(|| ExperimentError::run("no candidate evaluated"))?
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
) -> Result<tangle_twostage::History> {
    let history = if es {
        tangle_twostage::evolution(spec, &evolution_config(budget), window, seed, score)
    } else {
        tangle_twostage::random_search(spec, budget, window, seed, score)
    }?;
    let best = history
        .best()
        .ok_or_else(|| ExperimentError::run("no candidate evaluated"))?;
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
