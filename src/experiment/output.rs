//! A run's output folder and its files: never overwriting an earlier run, and resuming one.

use std::fs;
use std::path::{Path, PathBuf};

use super::{ExperimentError, Result, RunArgs};

/// `dir` if it is absent or empty, else the first free `dir-1`, `dir-2`, …: a run never
/// overwrites an earlier one.
pub fn fresh_dir(dir: &Path) -> Result<PathBuf> {
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
    fs::create_dir_all(&candidate).map_err(|e| ExperimentError::io(&candidate, e))?;
    Ok(candidate)
}

/// The run's output directory: with `--resume DIR`, `DIR` itself, which must hold a
/// checkpoint (a finished run's results move into `DIR/before-resume`, so resuming it with
/// more `--epochs` loses nothing); otherwise a fresh directory ([`fresh_dir`]).
pub fn run_dir(a: &RunArgs) -> Result<PathBuf> {
    let Some(dir) = &a.resume else {
        return fresh_dir(&a.out);
    };
    let checkpoint = dir.join("checkpoint");
    if !tangle_optim::checkpoint_exists(&checkpoint) {
        return Err(ExperimentError::usage(format!(
            "--resume {}: no checkpoint there (none in {}); a run writes one after every epoch",
            dir.display(),
            checkpoint.display()
        )));
    }
    // A finished run resumed (to run more epochs) would overwrite its results: move them into
    // a fresh `before-resume` folder first (the log is copied: the resumed run continues it).
    if dir.join("summary.json").exists() {
        let keep = fresh_dir(&dir.join("before-resume"))?;
        let entries = fs::read_dir(dir).map_err(|e| ExperimentError::io(dir, e))?;
        for entry in entries {
            let path = entry.map_err(|e| ExperimentError::io(dir, e))?.path();
            if !path.is_file() {
                continue;
            }
            let to = keep.join(path.file_name().expect("a file has a name"));
            let moved = if path.file_name() == Some("metrics.jsonl".as_ref()) {
                fs::copy(&path, &to).map(|_| ())
            } else {
                fs::rename(&path, &to)
            };
            moved.map_err(|e| ExperimentError::io(&to, e))?;
        }
        println!(
            "the run in {} had finished: its results are now in {}",
            dir.display(),
            keep.display()
        );
    }
    Ok(dir.clone())
}

/// Writes `name` into `dir`.
pub fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let p = dir.join(name);
    fs::write(&p, text).map_err(|e| ExperimentError::io(&p, e))?;
    Ok(p)
}

/// Writes a run's configuration `config` as `dir/name` (JSON); it loads back with
/// `XConfig::load(path)` (Burn's `Config`).
pub fn write_config(dir: &Path, name: &str, config: &impl burn::config::Config) -> Result<PathBuf> {
    write(dir, name, &burn::config::config_to_json(config))
}

/// Writes `value` as pretty-printed JSON into `dir/name` ([`save_json`]); returns the path.
pub fn write_json(dir: &Path, name: &str, value: &impl serde::Serialize) -> Result<PathBuf> {
    let path = dir.join(name);
    save_json(&path, value)?;
    Ok(path)
}

/// Writes `value` to `path` as pretty-printed JSON, atomically (a partial file renamed into
/// place), so that an interrupted run never leaves a truncated file behind.
pub fn save_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| ExperimentError::json(path.display().to_string(), e))?;
    let partial = path.with_extension("json.partial");
    fs::write(&partial, text).map_err(|e| ExperimentError::io(&partial, e))?;
    fs::rename(&partial, path).map_err(|e| ExperimentError::io(path, e))
}

/// Reads `path` as JSON; `what` names the document an error reports it is not ("a study
/// table": `PATH: not a study table: …`).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text = fs::read_to_string(path).map_err(|e| ExperimentError::io(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| ExperimentError::json(format!("{}: not {what}", path.display()), e))
}

/// `arch` as a JSON value (`{"embed": 240, "layer0.heads": 4, …}`), to put into a summary.
pub fn architecture_value(arch: &tangle_core::Architecture) -> Result<serde_json::Value> {
    serde_json::from_str(&arch.to_json()).map_err(|e| ExperimentError::json("an architecture", e))
}
