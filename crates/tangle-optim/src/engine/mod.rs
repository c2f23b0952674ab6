//! The bi-level search engine: an α step on a validation batch, then a weight step on a
//! training batch, every step; per-epoch records; checkpoint and resume.

use std::path::PathBuf;
use std::time::Instant;

use hashbrown::HashMap;

use burn::module::{AutodiffModule, Module, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, GradientsParams, Optimizer, Sgd};
use burn::tensor::backend::AutodiffBackend;
use tangle_core::{Architecture, Supernet, Widening};

use crate::error::{OptimError, Result};
use crate::method::{Method, MethodMixer};
use crate::mixer::{argmax, Mixer};
use crate::parallel::{self, Peer, Peers, Shard};
use crate::params::ArchParams;
use crate::prune::CandidateMask;

mod arch_step;
mod checkpoint;
mod config;
mod gradients;
mod observer;
mod penalty;
mod record;
mod schedule;
mod weight_opt;

pub use checkpoint::checkpoint_exists;
pub use config::{ArchStep, SearchConfig, WeightOptimizer};
pub use observer::{JsonLinesLog, Observer, ProgressBar};
pub use penalty::ParamPenalty;
pub use record::EpochRecord;
// The task traits live in tangle-core (data crates implement them without this crate).
pub use tangle_core::task::{Classification, Objective, Regression, SearchData};

use arch_step::*;
use checkpoint::*;
pub use gradients::clip_global_norm;
use gradients::*;
use weight_opt::*;

/// The momentum state of the SGD weight optimizer, per parameter.
type SgdRecords<B> = HashMap<
    ParamId,
    burn::optim::record::AdaptorRecord<Sgd<<B as AutodiffBackend>::InnerBackend>, B>,
>;

/// A single-stage search: a supernet, its architecture parameters and a mixer, trained
/// bi-level (Algorithm 1 of the paper).
pub struct Search<B, M, X>
where
    B: AutodiffBackend,
    M: Supernet<B> + AutodiffModule<B>,
    X: Mixer<B>,
{
    /// The supernet.
    pub model: M,
    /// The architecture parameters.
    pub alphas: ArchParams<B>,
    /// The mixer.
    pub mixer: X,
    /// The hyperparameters.
    pub config: SearchConfig,
    /// The next epoch to run.
    pub epoch: usize,
    /// Records of the epochs run so far by this object.
    pub records: Vec<EpochRecord>,
    w_opt: WeightOpt<B, M>,
    a_opt: OptimizerAdaptor<Adam, ArchParams<B>, B>,
    mask: Option<CandidateMask>,
    observers: Vec<Box<dyn Observer>>,
    started: Option<Instant>,
    peers: Option<Peers<B::Device>>,
    /// Seeds every pass's dropout masks, with the draw and the peer ([`Self::pass_seed`]).
    seed: u64,
    /// This search's peer: 0 alone, the peer's rank while it runs on peers.
    rank: usize,
}

impl<B, M> Search<B, M, MethodMixer>
where
    B: AutodiffBackend,
    M: Supernet<B> + AutodiffModule<B>,
{
    /// A search by `method` from a freshly built supernet: the method's mixer (its draws and α
    /// seeded by `seed`) and α step; `config.arch_step` is set from the method, and for SPOS
    /// there is no α, so every epoch is a weight epoch whatever `config.warmup_epochs` says.
    pub fn with_method(
        model: M,
        method: Method,
        config: SearchConfig,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self> {
        let config = SearchConfig {
            arch_step: method.arch_step().unwrap_or(ArchStep::FirstOrder),
            ..config
        };
        Self::new(model, method.mixer(seed), config, seed, device)
    }
}

impl<B, M, X> Search<B, M, X>
where
    B: AutodiffBackend,
    M: Supernet<B> + AutodiffModule<B>,
    X: Mixer<B>,
{
    /// A search from a freshly built supernet; α is drawn from `seed`.
    pub fn new(
        model: M,
        mixer: X,
        config: SearchConfig,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self> {
        config.check()?;
        model.visit(&mut Realize);
        // A mixer without α (SPOS, a fixed path) gets none: nothing to step, save or plot.
        let alphas = if mixer.has_alpha() {
            ArchParams::new(model.spec(), seed, device)
        } else {
            ArchParams { alpha: Vec::new() }
        };
        let a_opt = arch_optimizer(&config);
        Ok(Search {
            w_opt: WeightOpt::new(
                &config.weight_optimizer,
                config.adam_beta_2,
                config.adam_epsilon,
            ),
            a_opt,
            model,
            alphas,
            mixer,
            config,
            epoch: 0,
            records: Vec::new(),
            mask: None,
            observers: Vec::new(),
            started: None,
            peers: None,
            seed,
            rank: 0,
        })
    }

    /// Appends each epoch's record as a JSON line to `path` (adds a [`JsonLinesLog`]).
    pub fn with_log(self, path: impl Into<PathBuf>) -> Self {
        self.with_observer(JsonLinesLog::new(path))
    }

    /// Shows a progress bar on stderr, hidden when stderr is not a terminal (adds a
    /// [`ProgressBar`] when `on`).
    pub fn with_progress(self, on: bool) -> Self {
        if on {
            self.with_observer(ProgressBar::new())
        } else {
            self
        }
    }

    /// Adds `observer`: the run loop calls it at the start of every `run` / `run_until`, after
    /// every step and epoch, and at the end, in the order observers were added.
    pub fn with_observer(mut self, observer: impl Observer + 'static) -> Self {
        self.observers.push(Box::new(observer));
        self
    }

    /// The observers, in the order they are called; remove or replace them here.
    pub fn observers_mut(&mut self) -> &mut Vec<Box<dyn Observer>> {
        &mut self.observers
    }

    /// Runs data-parallel on `peers`: one replica per device, each on a thread of its own and
    /// on its rows of every batch, gradients summed with Burn's collective all-reduce (see
    /// [`crate::parallel`]). The result equals this search on one peer up to float rounding
    /// (for spaces without batch norm, whose statistics are per peer). After a run this
    /// `Search` holds the first peer's state, moved to its device; checkpoints save and load it
    /// as usual, and the next run starts every peer from it.
    pub fn with_peers(mut self, peers: Peers<B::Device>) -> Self {
        self.peers = Some(peers);
        self
    }

    /// The current argmax architecture (over the kept candidates, once pruned). Errors for a
    /// method without one (SPOS: a second-stage search picks it from the trained supernet).
    pub fn architecture(&self) -> Result<Architecture> {
        self.current_architecture()?.ok_or_else(|| {
            OptimError::Config(format!(
                "a `{}` search trains a supernet and has no architecture of its own: pick one \
                 with a second-stage search (tangle_twostage::random_search or evolution)",
                self.mixer.name()
            ))
        })
    }

    fn current_architecture(&self) -> Result<Option<Architecture>> {
        let idx = match &self.mask {
            None => self.mixer.argmax(&self.alphas),
            Some(_) => Some(self.probabilities().iter().map(|p| argmax(p)).collect()),
        };
        Ok(match idx {
            Some(idx) => Some(self.model.spec().architecture(&idx)?),
            None => None,
        })
    }

    /// The mixer's probabilities per decision, pruned candidates at zero (see [`CandidateMask`]).
    pub fn probabilities(&self) -> Vec<Vec<f32>> {
        let p = self.mixer.probabilities(&self.alphas);
        match &self.mask {
            None => p,
            Some(m) => m.probabilities(p),
        }
    }

    /// The candidates still considered; `None`: all.
    pub fn mask(&self) -> Option<&CandidateMask> {
        self.mask.as_ref()
    }

    /// Restricts the search to the candidates `mask` keeps (e.g. a space without its `none`
    /// operation, as DrNAS's DARTS space). Errors when `mask` does not fit the space.
    pub fn set_mask(&mut self, mask: CandidateMask) -> Result<()> {
        let spec = self.model.spec();
        if mask.keep().len() != spec.decisions().len()
            || mask
                .keep()
                .iter()
                .zip(spec.decisions())
                .any(|(k, d)| k.len() != d.len())
        {
            return Err(OptimError::Config(
                "the candidate mask does not fit the space's decisions".into(),
            ));
        }
        self.mask = Some(mask);
        Ok(())
    }

    /// Keeps, of every decision, the `n` kept candidates with the largest α (DrNAS's
    /// progressive pruning).
    pub fn prune(&mut self, n: usize) -> Result<()> {
        let spec = self.model.spec().clone();
        let mut mask = self
            .mask
            .take()
            .unwrap_or_else(|| CandidateMask::all(&spec));
        let result = mask.prune(&self.alphas.values(), n, &spec);
        self.mask = Some(mask);
        result
    }

    /// Replaces the supernet by a wider one (`widen` gets the trained supernet and returns the
    /// wider one with its [`Widening`], e.g. from [`tangle_core::widen_module`]) and widens the
    /// weight optimizer's per-parameter state the same way (SGD momentum; Adam's moments), as
    /// DrNAS's `configure_optimizer`. The schedules continue.
    pub fn widen(
        &mut self,
        widen: impl FnOnce(M) -> tangle_core::Result<(M, Widening)>,
    ) -> Result<()> {
        let (model, widening) = widen(self.model.clone())?;
        if param_ids(&self.model, true) != param_ids(&model, true) {
            return Err(OptimError::Config(
                "widening must keep the supernet's parameter ids (see tangle_core::widen_module)"
                    .into(),
            ));
        }
        let w_opt = std::mem::replace(
            &mut self.w_opt,
            WeightOpt::new(
                &self.config.weight_optimizer,
                self.config.adam_beta_2,
                self.config.adam_epsilon,
            ),
        );
        self.w_opt = w_opt.widen(&self.model, &widening)?;
        self.model = model;
        Ok(())
    }

    /// Runs the remaining epochs (from `self.epoch` to `config.epochs`).
    pub fn run<I, T, D, Obj>(&mut self, data: &D, objective: &Obj) -> Result<&[EpochRecord]>
    where
        M: Supernet<B, Input = I> + Send,
        X: Clone + Send,
        I: Clone + Shard<B>,
        T: Shard<B>,
        D: SearchData<I, T> + Sync,
        Obj: Objective<B, M::Output, T> + Sync,
    {
        self.run_until(data, objective, self.config.epochs)
    }

    /// Runs epochs up to (not including) `stop`, e.g. to checkpoint midway. With
    /// [`Search::with_peers`], every peer runs them, each on its rows of every batch.
    pub fn run_until<I, T, D, Obj>(
        &mut self,
        data: &D,
        objective: &Obj,
        stop: usize,
    ) -> Result<&[EpochRecord]>
    where
        M: Supernet<B, Input = I> + Send,
        X: Clone + Send,
        I: Clone + Shard<B>,
        T: Shard<B>,
        D: SearchData<I, T> + Sync,
        Obj: Objective<B, M::Output, T> + Sync,
    {
        match self.peers.clone() {
            Some(peers) if peers.world() > 1 => self.run_on_peers(&peers, data, objective, stop)?,
            _ => self.run_epochs(data, objective, stop, None)?,
        }
        Ok(&self.records)
    }

    /// A copy of this search for another peer: the same weights, α, optimizer states, mixer
    /// and epoch, on `device`, writing no log and showing no progress.
    fn replica(&self, device: &B::Device) -> Self
    where
        X: Clone,
    {
        Search {
            model: self.model.clone().fork(device),
            alphas: self.alphas.clone().fork(device),
            mixer: self.mixer.clone(),
            config: self.config.clone(),
            epoch: self.epoch,
            records: Vec::new(),
            w_opt: self.w_opt.clone(),
            a_opt: self.a_opt.clone(),
            mask: self.mask.clone(),
            // Only the first peer observes.
            observers: Vec::new(),
            started: self.started,
            peers: None,
            seed: self.seed,
            rank: 0,
        }
    }

    /// Runs the epochs on every local peer: this search is the first, the others are replicas
    /// on threads of their own; all end in the same state, and this one is kept.
    fn run_on_peers<I, T, D, Obj>(
        &mut self,
        peers: &Peers<B::Device>,
        data: &D,
        objective: &Obj,
        stop: usize,
    ) -> Result<()>
    where
        M: Supernet<B, Input = I> + Send,
        X: Clone + Send,
        I: Clone + Shard<B>,
        T: Shard<B>,
        D: SearchData<I, T> + Sync,
        Obj: Objective<B, M::Output, T> + Sync,
    {
        // A poisoned lock only means an earlier session panicked. Holding the lock, no other
        // session of this process is live: clear what a panicked one may have left registered.
        let _session = parallel::SESSION
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        burn::collective::reset_collective::<B::InnerBackend>();
        let first = peers.devices()[0].clone();
        self.model = self.model.clone().fork(&first);
        self.alphas = self.alphas.clone().fork(&first);
        let replicas: Vec<Self> = peers.devices()[1..]
            .iter()
            .map(|d| self.replica(d))
            .collect();
        // Every peer is a worker of one rayon pool. Burn's CPU backend runs its parallel
        // kernels on the current pool: from a worker they split across the pool's threads,
        // where from threads outside it they would queue behind each other's jobs and leave
        // the peers' own threads idle. One worker per peer at least, or a peer waiting in an
        // all-reduce would hold the only thread another peer needs.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cores.max(peers.devices().len()))
            .thread_name(|i| format!("tangle-peer-{i}"))
            .build()
            .map_err(|e| OptimError::Config(format!("cannot start the peers' threads: {e}")))?;
        let mut results: Vec<Result<()>> = Vec::new();
        results.resize_with(peers.devices().len(), || Ok(()));
        let run_as = move |search: &mut Self, peer: Peer<B::Device>| {
            let rank = peer.rank;
            search.rank = rank;
            let run = || {
                peer.run::<B::InnerBackend>(|| {
                    search.run_epochs(data, objective, stop, Some(&peer))
                })
            };
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|panic| {
                // The other peers wait for this one in their next all-reduce. Resetting the
                // collective fails their pending call, and any later one, with an error.
                burn::collective::reset_collective::<B::InnerBackend>();
                Err(OptimError::PeerPanicked {
                    rank,
                    message: parallel::panic_message(panic.as_ref()),
                })
            })
        };
        pool.scope(|scope| {
            let mut slots = results.iter_mut();
            let first = slots.next().expect("at least one peer");
            let me = &mut *self;
            scope.spawn(move |_| *first = run_as(me, peers.peer(0)));
            for (i, (mut replica, slot)) in replicas.into_iter().zip(slots).enumerate() {
                scope.spawn(move |_| *slot = run_as(&mut replica, peers.peer(i + 1)));
            }
        });
        // A panic is the cause of the other peers' collective errors: report it first.
        let panicked = results
            .iter()
            .position(|r| matches!(r, Err(OptimError::PeerPanicked { .. })));
        match panicked {
            Some(i) => results.swap_remove(i),
            None => results.into_iter().collect(),
        }
    }

    /// The epoch loop, on one peer of `peer`'s collective or alone.
    fn run_epochs<I, T, D, Obj>(
        &mut self,
        data: &D,
        objective: &Obj,
        stop: usize,
        peer: Option<&Peer<B::Device>>,
    ) -> Result<()>
    where
        M: Supernet<B, Input = I>,
        I: Clone + Shard<B>,
        T: Shard<B>,
        D: SearchData<I, T>,
        Obj: Objective<B, M::Output, T>,
    {
        let start = *self.started.get_or_insert_with(Instant::now);
        let steps = data.steps_per_epoch();
        if steps == 0 {
            return Err(OptimError::Config(
                "the data have no steps per epoch".into(),
            ));
        }
        let stop = stop.min(self.config.epochs);
        for o in &mut self.observers {
            o.on_start(self.epoch, stop, steps)?;
        }
        while self.epoch < stop {
            let epoch = self.epoch;
            self.mixer.start_epoch(epoch, self.config.epochs);
            let lr = self.config.lr_at(epoch);
            let update_alpha = self.mixer.has_alpha() && epoch >= self.config.warmup_epochs;
            let (mut tl, mut ta, mut vl, mut va) = (0.0, 0.0, 0.0, 0.0);
            let (mut n_ta, mut n_vl, mut n_va) = (0, 0, 0);
            for step in 0..steps {
                let lr = self.config.lr_at_step(epoch, epoch * steps + step);
                // Three draws per step: α step (and its unrolled pass), weight step.
                let draw = ((epoch * steps + step) as u64) * 4;
                let (train, train_share) =
                    parallel::take_shard(data.train(epoch, step), peer, "training")?;
                // Without an α update (warm-up, SPOS) the validation batch is not touched: a
                // forward pass there would cost a step's worth of compute, and in training mode
                // it would fold validation data into batch-norm running statistics that later
                // score candidates.
                if update_alpha {
                    let (valid, valid_share) =
                        parallel::take_shard(data.valid(epoch, step), peer, "validation")?;
                    let (grads, v, acc) = self.arch_grads(
                        objective,
                        (&train, train_share),
                        (&valid, valid_share),
                        lr,
                        draw,
                        epoch,
                        step,
                        peer,
                    )?;
                    vl += v;
                    n_vl += 1;
                    if let Some(a) = acc {
                        va += a;
                        n_va += 1;
                    }
                    let alphas = std::mem::replace(&mut self.alphas, ArchParams { alpha: vec![] });
                    self.alphas = self.a_opt.step(self.config.arch_lr, alphas, grads);
                    self.alphas.check_finite(epoch, step)?;
                }
                let (loss, acc) = self.loss_at(&self.model, objective, &train, draw + 2)?;
                let local = Self::local(&loss);
                let grads = GradientsParams::from_grads(loss.backward(), &self.model);
                let (mut grads, s) = parallel::all_reduce(
                    peer,
                    &self.model,
                    grads,
                    &[local, acc.unwrap_or(0.0)],
                    train_share,
                )?;
                tl += Self::checked(s[0], "training loss", epoch, step)?;
                if acc.is_some() {
                    ta += s[1];
                    n_ta += 1;
                }
                if let Some(max) = self.config.grad_clip {
                    grads = clip_global_norm(&self.model, grads, max);
                }
                let model = self.model.clone();
                self.model = self.w_opt.step(lr, model, grads);
                for o in &mut self.observers {
                    o.on_step(epoch, step)?;
                }
            }
            let record = EpochRecord {
                epoch,
                train_loss: tl / steps as f32,
                train_acc: (n_ta > 0).then(|| ta / n_ta as f32),
                valid_loss: (n_vl > 0).then(|| vl / n_vl as f32),
                valid_acc: (n_va > 0).then(|| va / n_va as f32),
                lr,
                alpha: self.alphas.values(),
                probabilities: self.probabilities(),
                architecture: self.current_architecture()?,
                seconds: start.elapsed().as_secs_f64(),
            };
            self.records.push(record);
            self.epoch += 1;
            let record = self.records.last().expect("just pushed");
            for o in &mut self.observers {
                o.on_epoch(record)?;
            }
        }
        for o in &mut self.observers {
            o.on_end(&self.records)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Each optimizer the engine builds, pinned by two steps against PyTorch's update rules
    //! written out by hand (in f64).
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::module::Param;
    use burn::tensor::Tensor;

    type AB = Autodiff<Flex>;

    const W0: [f64; 3] = [0.5, -1.0, 2.0];
    // Gradients as small as α's often are (1e-5) next to ordinary ones.
    const GRADS: [[f64; 3]; 2] = [[1e-5, -2e-3, 0.3], [-3e-5, 1e-3, 0.1]];
    const LR: f64 = 0.05;

    fn params(w: &[f64]) -> ArchParams<AB> {
        ArchParams {
            alpha: vec![Param::from_tensor(Tensor::from_floats(
                w.iter().map(|&v| v as f32).collect::<Vec<_>>().as_slice(),
                &Default::default(),
            ))],
        }
    }

    /// Gradients equal to `g` exactly: the backward of `Σ g·w`.
    fn grads_of(p: &ArchParams<AB>, g: &[f64]) -> GradientsParams {
        let c = Tensor::<AB, 1>::from_floats(
            g.iter().map(|&v| v as f32).collect::<Vec<_>>().as_slice(),
            &Default::default(),
        );
        GradientsParams::from_grads((p.alpha[0].val() * c).sum().backward(), p)
    }

    fn run(mut step: impl FnMut(ArchParams<AB>, GradientsParams) -> ArchParams<AB>) -> Vec<f64> {
        let mut p = params(&W0);
        for g in GRADS {
            let gp = grads_of(&p, &g);
            p = step(p, gp);
        }
        p.values()[0].iter().map(|&v| v as f64).collect()
    }

    fn assert_close(got: &[f64], want: &[f64], what: &str) {
        for i in 0..want.len() {
            // Relative to the distance travelled, so that a halved step fails.
            let moved = (want[i] - W0[i]).abs();
            assert!(
                (got[i] - want[i]).abs() <= 1e-3 * moved + 1e-7,
                "{what}, entry {i}: got {} want {} (moved {moved})",
                got[i],
                want[i]
            );
        }
    }

    /// torch.optim.SGD (dampening 0): d = g + λw; b = d, then μb + d; Nesterov d + μb.
    fn sgd_ref(mu: f64, nesterov: bool, wd: f64) -> Vec<f64> {
        let mut w = W0.to_vec();
        let mut buf: Option<Vec<f64>> = None;
        for g in GRADS {
            let d: Vec<f64> = (0..3).map(|i| g[i] + wd * w[i]).collect();
            let b: Vec<f64> = match &buf {
                None => d.clone(),
                Some(b) => (0..3).map(|i| mu * b[i] + d[i]).collect(),
            };
            for i in 0..3 {
                w[i] -= LR * if nesterov { d[i] + mu * b[i] } else { b[i] };
            }
            buf = Some(b);
        }
        w
    }

    /// torch.optim.Adam (L2 decay in the gradient) or AdamW (decoupled decay), ε = 1e-8.
    fn adam_ref(b1: f64, b2: f64, wd: f64, decoupled: bool) -> Vec<f64> {
        let mut w = W0.to_vec();
        let (mut m, mut v) = (vec![0.0; 3], vec![0.0; 3]);
        for (t, g) in GRADS.iter().enumerate() {
            let t = t as i32 + 1;
            for i in 0..3 {
                let d = if decoupled {
                    w[i] *= 1.0 - LR * wd;
                    g[i]
                } else {
                    g[i] + wd * w[i]
                };
                m[i] = b1 * m[i] + (1.0 - b1) * d;
                v[i] = b2 * v[i] + (1.0 - b2) * d * d;
                let mh = m[i] / (1.0 - b1.powi(t));
                let vh = v[i] / (1.0 - b2.powi(t));
                w[i] -= LR * mh / (vh.sqrt() + 1e-8);
            }
        }
        w
    }

    fn weight_run(cfg: WeightOptimizer, beta_2: f64) -> Vec<f64> {
        let mut opt = WeightOpt::<AB, ArchParams<AB>>::new(&cfg, beta_2, 1e-8);
        run(|p, g| opt.step(LR, p, g))
    }

    #[test]
    fn sgd_momentum_matches_pytorch() {
        let got = weight_run(
            WeightOptimizer::Sgd {
                momentum: 0.9,
                nesterov: false,
                weight_decay: 3e-4,
            },
            0.999,
        );
        assert_close(&got, &sgd_ref(0.9, false, 3e-4), "SGD momentum");
    }

    #[test]
    fn sgd_nesterov_matches_pytorch() {
        let got = weight_run(
            WeightOptimizer::Sgd {
                momentum: 0.9,
                nesterov: true,
                weight_decay: 5e-4,
            },
            0.999,
        );
        assert_close(&got, &sgd_ref(0.9, true, 5e-4), "SGD Nesterov");
    }

    #[test]
    fn adam_matches_pytorch() {
        let got = weight_run(WeightOptimizer::Adam { weight_decay: 5e-4 }, 0.999);
        assert_close(&got, &adam_ref(0.9, 0.999, 5e-4, false), "Adam");
    }

    #[test]
    fn adamw_matches_pytorch() {
        let got = weight_run(WeightOptimizer::AdamW { weight_decay: 0.1 }, 0.99);
        assert_close(&got, &adam_ref(0.9, 0.99, 0.1, true), "AdamW");
    }

    #[test]
    fn arch_adam_matches_pytorch() {
        let config = SearchConfig::default();
        assert_eq!(config.adam_epsilon, 1e-8);
        let mut opt = arch_optimizer::<AB>(&config);
        let got = run(|p, g| opt.step(LR, p, g));
        let (b1, b2) = config.arch_betas;
        assert_close(
            &got,
            &adam_ref(b1, b2, config.arch_weight_decay, false),
            "α Adam",
        );
    }

    #[test]
    fn the_config_saves_and_loads_as_json() {
        use burn::config::Config;
        let config = SearchConfig {
            arch_step: ArchStep::SecondOrder,
            ..SearchConfig::autoformer(14)
        };
        let json = burn::config::config_to_json(&config);
        assert_eq!(
            SearchConfig::load_binary(json.as_bytes()).unwrap(),
            config,
            "{json}"
        );
    }

    #[test]
    fn config_errors_name_the_field() {
        let cfg = SearchConfig {
            arch_lr: -1.0,
            ..SearchConfig::default()
        };
        let msg = cfg.check().unwrap_err().to_string();
        assert!(msg.contains("arch_lr = -1"), "{msg}");
        assert!(!msg.contains("weight_optimizer"), "{msg}");
    }
}
