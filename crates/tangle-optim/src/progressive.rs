//! Progressive search: stages that prune the candidates and widen the partial channels.
//!
//! DrNAS on the DARTS space (its `train_search.py`, which TangleNAS's DARTS-space search runs;
//! paper Table 24's partial-channel factor 6) searches in two stages: 25 epochs with partial
//! channels K = 6 and all 7 operations, then every edge is pruned to its 4 strongest
//! operations, every edge operation is widened to K = 4 (C/6 → C/4 channels, by copies of
//! trained channels; [`tangle_core::widen_module`]) and the optimizer state with it, and 25
//! epochs more. α is updated from epoch 10 ([`SearchConfig::warmup_epochs`]); the weight
//! learning rate follows one cosine over both stages.
//!
//! [`SearchConfig::warmup_epochs`]: crate::SearchConfig::warmup_epochs

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use tangle_core::{Supernet, Widening};

use crate::engine::{EpochRecord, Objective, Search, SearchData};
use crate::error::{OptimError, Result};
use crate::mixer::Mixer;
use crate::parallel::Shard;

/// One stage of a progressive search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// Epochs of the stage.
    pub epochs: usize,
    /// Partial-channel factor K of the stage's supernet: edge operations see C/K channels.
    pub partial: usize,
    /// Candidates each decision keeps during the stage.
    pub keep: usize,
}

/// The stages of a progressive search, run by [`Progressive::run`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progressive {
    /// The stages, in order.
    pub stages: Vec<Stage>,
}

impl Progressive {
    /// DrNAS's DARTS-space recipe: 25 epochs at K = 6 with 7 operations, then 25 at K = 4 with
    /// the 4 strongest. Pair it with `warmup_epochs = 10`, a supernet built with partial factor
    /// 6, and a mask without `none` (DrNAS's DARTS space has no `none` operation).
    pub fn drnas_darts() -> Self {
        Self::drnas_darts_epochs(25, 25)
    }

    /// DrNAS's two stages with other epoch counts (e.g. scaled down to a CPU budget).
    pub fn drnas_darts_epochs(first: usize, second: usize) -> Self {
        Progressive {
            stages: vec![
                Stage {
                    epochs: first,
                    partial: 6,
                    keep: 7,
                },
                Stage {
                    epochs: second,
                    partial: 4,
                    keep: 4,
                },
            ],
        }
    }

    /// Epochs of all stages.
    pub fn epochs(&self) -> usize {
        self.stages.iter().map(|s| s.epochs).sum()
    }

    /// The stage that epoch `epoch` belongs to.
    pub fn stage_of(&self, epoch: usize) -> Option<usize> {
        let mut end = 0;
        for (i, s) in self.stages.iter().enumerate() {
            end += s.epochs;
            if epoch < end {
                return Some(i);
            }
        }
        None
    }

    /// Errors, naming the stage, unless every stage has epochs and later stages keep no more
    /// candidates and no smaller channel share (K does not grow) than earlier ones.
    pub fn check(&self) -> Result<()> {
        if self.stages.is_empty() {
            return Err(OptimError::Config(
                "a progressive search needs a stage".into(),
            ));
        }
        for (i, s) in self.stages.iter().enumerate() {
            if s.epochs == 0 || s.keep == 0 || s.partial == 0 {
                return Err(OptimError::Config(format!(
                    "progressive stage {i}: epochs, keep and partial must be positive, got {s:?}"
                )));
            }
            if let Some(p) = i.checked_sub(1).map(|j| self.stages[j]) {
                if s.keep > p.keep || s.partial > p.partial {
                    return Err(OptimError::Config(format!(
                        "progressive stage {i} keeps {} candidates at K = {} after {} at K = {}: \
                         stages prune (keep does not grow) and widen (K does not grow)",
                        s.keep, s.partial, p.keep, p.partial
                    )));
                }
            }
        }
        Ok(())
    }

    /// Runs `search` from its current epoch through the stages: each stage's epochs; between
    /// stages, pruning to the next stage's `keep` ([`Search::prune`]) and widening with
    /// `widen(supernet, next K)` ([`Search::widen`]). `on_epoch` sees each epoch's record.
    ///
    /// The search must be configured for [`Progressive::epochs`] epochs (its learning-rate
    /// cosine spans the stages), its supernet built at the stage its epoch falls in, and each
    /// decision must consider that stage's `keep` candidates (set a mask with
    /// [`Search::set_mask`] when a space has more).
    pub fn run<B, M, X, I, T, D, Obj>(
        &self,
        search: &mut Search<B, M, X>,
        data: &D,
        objective: &Obj,
        mut widen: impl FnMut(M, usize) -> tangle_core::Result<(M, Widening)>,
        mut on_epoch: impl FnMut(&EpochRecord),
    ) -> Result<()>
    where
        B: AutodiffBackend,
        M: Supernet<B, Input = I> + AutodiffModule<B> + Send,
        X: Mixer<B> + Clone + Send,
        I: Clone + Shard<B>,
        T: Shard<B>,
        D: SearchData<I, T> + Sync,
        Obj: Objective<B, M::Output, T> + Sync,
    {
        self.check()?;
        if search.config.epochs != self.epochs() {
            return Err(OptimError::Config(format!(
                "the progressive stages span {} epochs, the search is configured for {}",
                self.epochs(),
                search.config.epochs
            )));
        }
        let Some(first) = self.stage_of(search.epoch) else {
            return Ok(());
        };
        let keep = self.stages[first].keep;
        let spec = search.model.spec().clone();
        for (d, dec) in spec.decisions().iter().enumerate() {
            let kept = search.mask().map_or(dec.len(), |m| m.kept(d));
            if kept != keep {
                return Err(OptimError::Config(format!(
                    "progressive stage {first} keeps {keep} candidates per decision, but decision \
                     {} considers {kept} (set a mask with Search::set_mask)",
                    dec.name()
                )));
            }
        }
        let mut end: usize = self.stages[..=first].iter().map(|s| s.epochs).sum();
        for i in first..self.stages.len() {
            while search.epoch < end {
                let stop = search.epoch + 1;
                search.run_until(data, objective, stop)?;
                if let Some(r) = search.records.last() {
                    on_epoch(r);
                }
            }
            if let Some(next) = self.stages.get(i + 1) {
                search.prune(next.keep)?;
                if next.partial != self.stages[i].partial {
                    let k = next.partial;
                    search.widen(|m| widen(m, k))?;
                }
                end += next.epochs;
            }
        }
        Ok(())
    }
}
