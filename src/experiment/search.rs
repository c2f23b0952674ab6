//! Starting a run's search, finding its architecture, and writing what every search writes.

use std::path::Path;

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};
use tangle_core::{Architecture, Supernet};
use tangle_optim::{Classification, Method, MethodMixer, Mixer, Objective, Search, SearchConfig};

use super::{on_peers, second_stage, write, write_config, Result, RunArgs, Strategy};

/// The search of a run, ready for [`super::search_epochs`]: `net` searched by `method` (its
/// mixer and α step) with `config`, seeded by `--seed`, logging each epoch to
/// `out/metrics.jsonl` with a progress bar, on `--devices`' peers.
pub fn start_search<B, M>(
    a: &RunArgs,
    net: M,
    method: Method,
    config: SearchConfig,
    out: &Path,
    device: &B::Device,
) -> Result<Search<B, M, MethodMixer>>
where
    B: AutodiffBackend,
    M: Supernet<B> + AutodiffModule<B>,
{
    let search = Search::with_method(net, method, config, a.seed, device)?
        .with_log(out.join("metrics.jsonl"))
        .with_progress(true);
    on_peers(a, device, search)
}

/// The architecture a run discovered: for a single-stage search the method's own (argmax per
/// decision); for SPOS the best candidate of its second stage, random or evolutionary search
/// (`--optimizer spos-rs` / `spos-es`, seeded by `--seed`) over `model` (the trained supernet's
/// inference copy), each candidate scored by `metric` under the classification objective on
/// the batches `batches()` builds (called only then), each evaluation written to
/// `out/history.jsonl`.
pub fn discover<B, M, X, N, T>(
    a: &RunArgs,
    search: &Search<B, M, X>,
    model: &N,
    strategy: Strategy,
    batches: impl FnOnce() -> Result<Vec<(N::Input, T)>>,
    metric: tangle_twostage::Metric,
    out: &Path,
) -> Result<Architecture>
where
    B: AutodiffBackend,
    M: Supernet<B> + AutodiffModule<B>,
    X: Mixer<B>,
    N: Supernet<B::InnerBackend>,
    N::Input: Clone,
    Classification: Objective<B::InnerBackend, N::Output, T>,
{
    match strategy {
        Strategy::Gradient => Ok(search.architecture()?),
        Strategy::Spos { es, budget } => {
            let batches = batches()?;
            second_stage(
                model,
                &batches,
                &Classification,
                metric,
                es,
                budget,
                a.seed,
                out,
            )
        }
    }
}

/// How many batches of the α split a two-stage search's second stage scores each candidate on.
pub const SECOND_STAGE_BATCHES: usize = 4;

/// The batches a two-stage search scores its candidates on ([`discover`]), for data held as
/// tensors: the first [`SECOND_STAGE_BATCHES`] batches of `batch` rows of `(x, y)`'s α split, as
/// `--train-portion` and `--seed` divide it (the split the search's `InMemory` of the same
/// tensors makes). `x` and `y` are on the inference backend the candidates are scored on.
pub fn in_memory_valid_batches<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    y: Tensor<B, 1, Int>,
    a: &RunArgs,
    batch: usize,
) -> Result<Vec<super::images::LabelledBatch<B, D>>> {
    use tangle_optim::SearchData;
    let valid = tangle_data::InMemory::new(x, y, a.train_portion, batch, a.seed)?;
    Ok((0..SECOND_STAGE_BATCHES)
        .map(|s| valid.valid(0, s))
        .collect())
}

/// Writes what every search writes into `out`: `architecture.json` (`arch`), `alphas.svg`
/// (each decision's candidate probabilities over the epochs, `columns` plots a row) and
/// `search_config.json`.
pub fn write_search<B, M, X>(
    out: &Path,
    search: &Search<B, M, X>,
    arch: &Architecture,
    columns: usize,
) -> Result<()>
where
    B: AutodiffBackend,
    M: Supernet<B> + AutodiffModule<B>,
    X: Mixer<B>,
{
    write(out, "architecture.json", &arch.to_json())?;
    let svg = tangle_optim::plot::probabilities_svg(&search.records, search.model.spec(), columns);
    write(out, "alphas.svg", &svg)?;
    write_config(out, "search_config.json", &search.config)?;
    Ok(())
}
