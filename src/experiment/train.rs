//! Running a search epoch by epoch with checkpoints, and training an architecture alone.

use std::fs;
use std::path::Path;

use burn::tensor::backend::AutodiffBackend;
use tangle_optim::EpochRecord;

use super::{on_peers, ExperimentError, Result, RunArgs};

/// Runs `search`'s epochs up to `--epochs`, printing each and checkpointing after each into
/// `out/checkpoint` (a complete folder per save, named by `LATEST` only once written, so a
/// kill leaves the last good one). With `--resume`, first restores that checkpoint and the epoch records
/// before it, and drops any later line a killed run left in `metrics.jsonl`: the resumed run
/// ends where an uninterrupted one ends (the schedules and mixture samples are functions of
/// the seed, epoch and step).
pub fn search_epochs<B, M, X, T, D>(
    a: &RunArgs,
    mut search: tangle_optim::Search<B, M, X>,
    data: &D,
    out: &Path,
    device: &B::Device,
) -> Result<tangle_optim::Search<B, M, X>>
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
            .map_err(|e| ExperimentError::usage(format!("--resume {}: {e}", out.display())))?;
        let log = out.join("metrics.jsonl");
        let text = fs::read_to_string(&log).unwrap_or_default();
        let mut kept = Vec::new();
        for line in text.lines() {
            let r: EpochRecord = serde_json::from_str(line).map_err(|e| {
                ExperimentError::json(
                    format!("{}: a line that is not an epoch record", log.display()),
                    e,
                )
            })?;
            if r.epoch < search.epoch {
                kept.push((line.to_string(), r));
            }
        }
        let lines: String = kept.iter().map(|(l, _)| format!("{l}\n")).collect();
        fs::write(&log, lines).map_err(|e| ExperimentError::io(&log, e))?;
        search.records = kept.into_iter().map(|(_, r)| r).collect();
        println!(
            "resuming {} at epoch {} of {}",
            out.display(),
            search.epoch,
            a.epochs
        );
    }
    for epoch in search.epoch..a.epochs {
        search.run_until(data, &tangle_optim::Classification, epoch + 1)?;
        print_epoch(search.records.last().expect("a record per epoch"));
        search.save_checkpoint(&checkpoint)?;
    }
    Ok(search)
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

/// The reference a search's inherited weights are compared with, if `wanted`: the same
/// architecture `arch` trained alone from `fresh()` (any error that converts into
/// [`ExperimentError`], such as a space's `init`) with the search's `config`, data, seed and
/// peers ([`train_alone`]), logged to `out/reference.jsonl`.
pub fn reference<B, M, T, D, E>(
    a: &RunArgs,
    wanted: bool,
    fresh: impl FnOnce() -> std::result::Result<M, E>,
    arch: &tangle_core::Architecture,
    config: &tangle_optim::SearchConfig,
    data: &D,
    out: &Path,
) -> Result<Option<M::InnerModule>>
where
    B: AutodiffBackend,
    M: tangle_core::Supernet<B> + burn::module::AutodiffModule<B> + Send,
    M::Input: Clone + tangle_optim::Shard<B>,
    T: tangle_optim::Shard<B>,
    D: tangle_optim::SearchData<M::Input, T> + Sync,
    tangle_optim::Classification: tangle_optim::Objective<B, M::Output, T>,
    ExperimentError: From<E>,
{
    if !wanted {
        return Ok(None);
    }
    let what = "the discovered architecture alone (reference)";
    let log = out.join("reference.jsonl");
    train_alone(a, what, fresh, arch, config, data, &log).map(Some)
}

/// Trains `fresh()` (a newly built supernet, on the device it trains on) on the single path
/// `arch` for `config.epochs` weight epochs on `data`, with `a`'s seed and peers (every epoch a
/// weight epoch, whatever `config.warmup_epochs` says); announces it as `what`, logs each epoch
/// to `log` and the console, and returns the trained supernet on the inference backend.
///
/// With the search's own `config` and data this is the reference a search's inherited weights
/// are compared with (the same architecture, data, optimizer, schedule and weight steps); with
/// more epochs or all the training data, retraining from scratch.
pub fn train_alone<B, M, T, D, E>(
    a: &RunArgs,
    what: &str,
    fresh: impl FnOnce() -> std::result::Result<M, E>,
    arch: &tangle_core::Architecture,
    config: &tangle_optim::SearchConfig,
    data: &D,
    log: &Path,
) -> Result<M::InnerModule>
where
    B: AutodiffBackend,
    M: tangle_core::Supernet<B> + burn::module::AutodiffModule<B> + Send,
    M::Input: Clone + tangle_optim::Shard<B>,
    T: tangle_optim::Shard<B>,
    D: tangle_optim::SearchData<M::Input, T> + Sync,
    tangle_optim::Classification: tangle_optim::Objective<B, M::Output, T>,
    ExperimentError: From<E>,
{
    println!("\ntraining {what}");
    let fresh = fresh()?;
    let device = &fresh
        .devices()
        .into_iter()
        .next()
        .ok_or_else(|| ExperimentError::run("the network trained alone has no parameters"))?;
    let spec = fresh.spec().clone();
    let cfg = tangle_optim::SearchConfig {
        warmup_epochs: config.epochs,
        ..config.clone()
    };
    let path = tangle_optim::FixedPath::new(&spec, arch)?;
    let alone = tangle_optim::Search::new(fresh, path, cfg, a.seed, device)?
        .with_log(log)
        .with_progress(true);
    let mut alone = on_peers(a, device, alone)?;
    for epoch in 0..config.epochs {
        alone.run_until(data, &tangle_optim::Classification, epoch + 1)?;
        print_epoch(alone.records.last().expect("a record per epoch"));
    }
    Ok(alone.model.valid())
}
