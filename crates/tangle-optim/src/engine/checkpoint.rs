//! Checkpoints: parameter ids, optimizer-state remapping, save and load.

use std::fs;
use std::path::{Path, PathBuf};

use hashbrown::HashMap;

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::Optimizer;
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use tangle_core::Supernet;

use crate::error::{OptimError, Result};
use crate::mixer::Mixer;

use super::*;

pub(super) fn io_err(path: &Path, e: impl std::fmt::Debug) -> OptimError {
    OptimError::Io {
        path: path.display().to_string(),
        reason: format!("{e:?}"),
    }
}

/// The ids of a module's float parameters (only the trainable ones: what optimizer state is
/// keyed by), in visit order.
pub(super) struct Ids {
    trainable_only: bool,
    ids: Vec<ParamId>,
}

impl<B: Backend> ModuleVisitor<B> for Ids {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if !self.trainable_only || param.is_require_grad() {
            self.ids.push(param.id);
        }
    }
}

pub(super) fn param_ids<B: Backend, M: burn::module::Module<B>>(
    m: &M,
    trainable_only: bool,
) -> Vec<ParamId> {
    let mut v = Ids {
        trainable_only,
        ids: Vec::new(),
    };
    m.visit(&mut v);
    v.ids
}

pub(super) fn ids<B: Backend, M: burn::module::Module<B>>(m: &M) -> Vec<u64> {
    param_ids(m, false).iter().map(|id| id.val()).collect()
}

/// Optimizer state is keyed by parameter id, and loading weights keeps the ids of the module
/// loaded into: map the saved ids onto the current ones by position in the module.
pub(super) fn remap<V>(
    record: HashMap<ParamId, V>,
    saved: &[u64],
    current: &[u64],
    path: &Path,
) -> Result<HashMap<ParamId, V>> {
    if saved.len() != current.len() {
        return Err(io_err(
            path,
            "checkpoint's parameters do not match this supernet",
        ));
    }
    let map: HashMap<u64, u64> = saved.iter().copied().zip(current.iter().copied()).collect();
    record
        .into_iter()
        .map(|(k, v)| {
            map.get(&k.val())
                .map(|&n| (ParamId::from(n), v))
                .ok_or_else(|| io_err(path, "optimizer state names an unknown parameter"))
        })
        .collect()
}

/// Loads an optimizer's state saved for parameters `saved` into one for parameters `current`.
pub(super) fn load_optimizer<B, M, O>(
    opt: OptimizerAdaptor<O, M, B>,
    path: &Path,
    device: &B::Device,
    saved: &[u64],
    current: &[u64],
) -> Result<OptimizerAdaptor<O, M, B>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    O: burn::optim::SimpleOptimizer<B::InnerBackend>,
{
    let rec = BinFileRecorder::<FullPrecisionSettings>::new();
    let record: HashMap<ParamId, burn::optim::record::AdaptorRecord<O, B>> =
        Recorder::<B>::load(&rec, path.to_path_buf(), device).map_err(|e| io_err(path, e))?;
    Ok(opt.load_record(remap(record, saved, current, path)?))
}

impl<B, M, X> Search<B, M, X>
where
    B: AutodiffBackend,
    M: Supernet<B> + AutodiffModule<B>,
    X: Mixer<B>,
{
    /// Writes a checkpoint to `dir`: weights, α, both optimizers' states and the epoch. The
    /// mixers' randomness and the schedules are functions of (seed, epoch, step), so these
    /// suffice to resume bit-identically. Each save is a complete folder `dir/epoch-K`, written
    /// under a scratch name and renamed whole; `dir/LATEST` then names it (an atomic rename),
    /// and older folders are removed. A save killed at any moment leaves `LATEST` naming a
    /// complete checkpoint: the new one or the last good one.
    pub fn save_checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        // Each checkpoint is a folder of its own, written under a scratch name and renamed
        // whole; then `LATEST` is pointed at it by an atomic rename. A kill at any moment
        // leaves `LATEST` naming a complete checkpoint (the new one or the last good one).
        let name = format!("epoch-{}", self.epoch);
        let tmp = dir.join(format!(".{name}.partial"));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
        tangle_core::subnet::save(&self.model, tmp.join("model.bpk"))?;
        tangle_core::subnet::save(&self.alphas, tmp.join("alphas.bpk"))?;
        self.w_opt.save(&tmp.join("weight_optimizer"))?;
        let rec = BinFileRecorder::<FullPrecisionSettings>::new();
        rec.record(self.a_opt.to_record(), tmp.join("arch_optimizer"))
            .map_err(|e| io_err(&tmp, e))?;
        let state = serde_json::json!({
            "epoch": self.epoch,
            "mixer": self.mixer.name(),
            "config": self.config,
            "model_ids": ids(&self.model),
            "alpha_ids": ids(&self.alphas),
            "mask": self.mask,
        });
        fs::write(tmp.join("state.json"), state.to_string()).map_err(|e| io_err(&tmp, e))?;
        // A fresh folder name, so that the folder LATEST names is never touched.
        let mut target = dir.join(&name);
        let mut n = 1;
        while target.exists() {
            target = dir.join(format!("{name}-{n}"));
            n += 1;
        }
        fs::rename(&tmp, &target).map_err(|e| io_err(&target, e))?;
        point_latest(dir, &target)?;
        // Older checkpoints go once LATEST names the new one (best effort: a leftover folder
        // costs disk, not correctness).
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() && path != target {
                    let _ = fs::remove_dir_all(&path);
                }
            }
        }
        Ok(())
    }

    /// Restores a checkpoint written by [`Search::save_checkpoint`] into this search (built the
    /// same way: same space, mixer and configuration).
    pub fn load_checkpoint(mut self, dir: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        // The folder `LATEST` names; a checkpoint written before there was one holds its files
        // in `dir` itself.
        let latest = latest(dir.as_ref());
        let dir = latest.as_deref().unwrap_or(dir.as_ref());
        let state_path = dir.join("state.json");
        let text = fs::read_to_string(&state_path).map_err(|e| io_err(&state_path, e))?;
        let state: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| io_err(&state_path, e))?;
        let epoch = state["epoch"]
            .as_u64()
            .ok_or_else(|| io_err(&state_path, "no epoch"))? as usize;
        if state["mixer"].as_str() != Some(self.mixer.name()) {
            return Err(OptimError::Config(format!(
                "checkpoint was written by mixer {}, this search uses {}",
                state["mixer"],
                self.mixer.name()
            )));
        }
        let saved_ids = |key: &str| -> Result<Vec<u64>> {
            serde_json::from_value(state[key].clone()).map_err(|e| io_err(&state_path, e))
        };
        let (model_ids, alpha_ids) = (saved_ids("model_ids")?, saved_ids("alpha_ids")?);
        self.model = tangle_core::subnet::load(self.model, dir.join("model.bpk"))?;
        self.alphas = tangle_core::subnet::load(self.alphas, dir.join("alphas.bpk"))?;
        let current = ids(&self.model);
        self.w_opt =
            self.w_opt
                .load(&dir.join("weight_optimizer"), device, &model_ids, &current)?;
        let a_path = dir.join("arch_optimizer");
        let current = ids(&self.alphas);
        self.a_opt = load_optimizer(self.a_opt, &a_path, device, &alpha_ids, &current)?;
        self.mask = match state.get("mask") {
            None | Some(serde_json::Value::Null) => None,
            Some(m) => Some(serde_json::from_value(m.clone()).map_err(|e| io_err(&state_path, e))?),
        };
        self.epoch = epoch;
        Ok(self)
    }
}

/// Whether `dir` holds a checkpoint [`Search::load_checkpoint`] can read: a `LATEST` naming a
/// folder, or a checkpoint in the flat layout written before `LATEST` existed.
pub fn checkpoint_exists(dir: impl AsRef<Path>) -> bool {
    let dir = dir.as_ref();
    latest(dir).is_some_and(|d| d.join("state.json").exists()) || dir.join("state.json").exists()
}

/// The checkpoint folder `dir/LATEST` names, if there is one.
pub(super) fn latest(dir: &Path) -> Option<PathBuf> {
    let name = fs::read_to_string(dir.join("LATEST")).ok()?;
    Some(dir.join(name.trim()))
}

/// Points `dir/LATEST` at `target` (a folder in `dir`): written beside, renamed over.
fn point_latest(dir: &Path, target: &Path) -> Result<()> {
    let name = target
        .file_name()
        .expect("a checkpoint folder has a name")
        .to_string_lossy()
        .to_string();
    let tmp = dir.join(".LATEST.partial");
    fs::write(&tmp, name).map_err(|e| io_err(&tmp, e))?;
    fs::rename(&tmp, dir.join("LATEST")).map_err(|e| io_err(dir, e))
}
