//! Data-parallel search on Burn's collective engine (`burn::collective`).
//!
//! A [`Search`](crate::Search) given [`Peers`] runs one replica of the supernet per peer, each on
//! its own thread and device: N threads on one CPU, N GPUs, or N wgpu devices. Every peer takes
//! its rows of every batch ([`Shard`]), computes its gradients, and the weight and α gradients
//! are summed across peers with one `burn::collective::all_reduce` per backward pass, each peer's
//! share weighted by its rows. Every peer then applies the same optimizer step, so weights, α
//! and optimizer states stay identical on every peer by construction, and the result equals the
//! one-peer search on the whole batch up to float rounding, whatever the batch's split.
//!
//! What stays per peer: batch-norm statistics are those of the peer's rows (as PyTorch's DDP
//! without SyncBatchNorm), so a space with batch norm trains like a smaller per-device batch;
//! the running statistics are averaged across the peers' threads by Burn's `RunningState`.
//! Mixture samples (DrNAS's Dirichlet, GDAS's Gumbel, SPOS's path) are functions of
//! (seed, step), the same on every peer.

use std::ops::Range;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use burn::collective::{self, CollectiveConfig, PeerId, ReduceOperation};
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{BasicOps, Tensor, TensorKind, TensorPrimitive};

use crate::error::{OptimError, Result};

/// A batch part that can be split by rows (its first dimension) across peers.
///
/// Implemented for every Burn tensor; a batch's input and target are each split by it, and must
/// have the same number of rows. A space whose input or target is not a tensor implements it for
/// that type to run on several peers.
pub trait Shard<B: Backend>: Sized {
    /// The number of rows (examples) in this part.
    fn rows(&self) -> usize;
    /// Rows `rows` of this part, on `device`.
    fn shard(&self, rows: Range<usize>, device: &B::Device) -> Self;
}

impl<B: Backend, const D: usize, K: TensorKind<B> + BasicOps<B>> Shard<B> for Tensor<B, D, K> {
    fn rows(&self) -> usize {
        self.dims()[0]
    }

    fn shard(&self, rows: Range<usize>, device: &B::Device) -> Self {
        self.clone()
            .narrow(0, rows.start, rows.len())
            .to_device(device)
    }
}

/// Where a search's peers run: the devices of this process, one peer (thread) each, and
/// optionally the other nodes (processes or machines) of a multi-node run.
///
/// ```
/// use burn::backend::flex::FlexDevice;
/// use tangle_optim::Peers;
///
/// // Two CPU threads on the Flex backend.
/// let peers = Peers::threads(FlexDevice, 2).unwrap();
/// assert_eq!(peers.world(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Peers<D> {
    devices: Vec<D>,
    node: u32,
    nodes: u32,
    collective: CollectiveConfig,
    timeout: Duration,
}

/// How long a multi-node exchange may take before the search stops with an error.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

impl<D: Clone> Peers<D> {
    /// One peer per device of this process (a device may be listed more than once: CPU
    /// threads share one Flex device). Errors for an empty list.
    pub fn new(devices: Vec<D>) -> Result<Self> {
        if devices.is_empty() {
            return Err(OptimError::Config(
                "peers: the device list is empty; give at least one device".into(),
            ));
        }
        let collective = CollectiveConfig::default().with_num_devices(devices.len());
        Ok(Peers {
            devices,
            node: 0,
            nodes: 1,
            collective,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// `n` peers on one device (CPU threads). Errors for `n = 0`.
    pub fn threads(device: D, n: usize) -> Result<Self> {
        if n == 0 {
            return Err(OptimError::Config(
                "peers: 0 threads; give at least 1".into(),
            ));
        }
        Self::new(vec![device; n])
    }

    /// Makes this process node `node` of `nodes` in a multi-node run: one process per device,
    /// on one machine or many (run two processes on a two-GPU machine). `global` is the address
    /// of the global orchestrator ([`run_orchestrator`], e.g. `ws://10.0.0.1:3000`), `address`
    /// this node's own address as the others reach it (`ws://HOST:PORT`), and `data_port` the
    /// port its data service listens on (`PORT`).
    ///
    /// Burn 0.21's global all-reduce hangs on a session's second operation (measured:
    /// every strategy, ring, tree and centralized), so each all-reduce of a multi-node search
    /// registers, reduces and leaves: a round trip to the orchestrator per gradient
    /// exchange. With two local peers in a node those sessions race (`DoubleRegister`),
    /// hence one device per process. Errors for `node ≥ nodes`, an unparsable address, or
    /// more than one local device.
    pub fn across_nodes(
        mut self,
        node: u32,
        nodes: u32,
        global: &str,
        address: &str,
        data_port: u16,
    ) -> Result<Self> {
        if self.devices.len() > 1 {
            return Err(OptimError::Config(format!(
                "peers: a multi-node run takes one device per process, this one has {}: start \
                 one process (node) per device",
                self.devices.len()
            )));
        }
        if nodes == 0 || node >= nodes {
            return Err(OptimError::Config(format!(
                "peers: node index {node} is not below the node count {nodes}"
            )));
        }
        let parse = |what: &str, s: &str| {
            s.parse().map_err(|e| {
                OptimError::Config(format!("peers: the {what} address `{s}` is invalid: {e}"))
            })
        };
        self.collective = self
            .collective
            .with_num_nodes(nodes)
            .with_global_address(parse("global orchestrator", global)?)
            .with_node_address(parse("node", address)?)
            .with_data_service_port(data_port);

        self.node = node;
        self.nodes = nodes;
        Ok(self)
    }

    /// How long one exchange of a multi-node search (register, all-reduce, leave) may take
    /// before the search stops with [`OptimError::Collective`] instead of waiting forever for
    /// a node that stopped or a stalled Burn collective; 300 s unless set. After a timeout the
    /// process's collective state is unusable: exit, and resume every node from the last
    /// checkpoint. Peers of one process need no timeout: a failing or panicking peer stops the
    /// others at once. Errors for a zero duration.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self> {
        if timeout.is_zero() {
            return Err(OptimError::Config(
                "peers: the exchange timeout is zero; give a positive duration".into(),
            ));
        }
        self.timeout = timeout;
        Ok(self)
    }

    /// The devices of this process, one per local peer.
    pub fn devices(&self) -> &[D] {
        &self.devices
    }

    /// The number of peers across all nodes.
    pub fn world(&self) -> usize {
        self.devices.len() * self.nodes as usize
    }

    /// The collective configuration every local peer registers with.
    pub fn collective(&self) -> &CollectiveConfig {
        &self.collective
    }

    /// Local peer `i`: its global rank, id and device.
    pub(crate) fn peer(&self, i: usize) -> Peer<D> {
        let rank = self.node as usize * self.devices.len() + i;
        Peer {
            id: PeerId(rank as u32),
            rank,
            world: self.world(),
            device: self.devices[i].clone(),
            config: self.collective.clone(),
            session_per_op: self.nodes > 1,
            timeout: self.timeout,
        }
    }
}

/// Runs the global orchestrator of a multi-node search on `port` until the process is stopped
/// (SIGINT or SIGTERM). Start it once, on one machine, before the nodes; every node's
/// [`Peers::across_nodes`] names its address (`ws://HOST:PORT`).
pub fn run_orchestrator(port: u16) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| OptimError::Config(format!("cannot start the orchestrator's runtime: {e}")))?;
    runtime.block_on(burn_collective::start_global_orchestrator(port));
    Ok(())
}

/// One peer of a running data-parallel search.
#[derive(Debug, Clone)]
pub(crate) struct Peer<D> {
    pub id: PeerId,
    pub rank: usize,
    pub world: usize,
    pub device: D,
    /// The configuration it registers with.
    pub config: CollectiveConfig,
    /// Multi-node: it registers for each all-reduce and leaves after it, not once per run
    /// (Burn 0.21's global all-reduce hangs on a session's second operation; see
    /// [`Peers::across_nodes`]).
    pub session_per_op: bool,
    /// How long a multi-node exchange may take ([`Peers::with_timeout`]).
    pub timeout: Duration,
}

impl<D: Clone> Peer<D> {
    /// Runs `f` with this peer registered in the collective (backend `B`), and leaves it
    /// afterwards, also when `f` fails.
    fn joined<B: Backend<Device = D>, R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        collective::register::<B>(self.id, self.device.clone(), self.config.clone())
            .map_err(|e| collective_err("register", e))?;
        let result = f();
        let finished =
            collective::finish_collective::<B>(self.id).map_err(|e| collective_err("finish", e));
        result.and_then(|r| finished.map(|()| r))
    }

    /// [`joined`](Self::joined), on a helper thread, waiting at most the peer's timeout: a
    /// multi-node exchange can wait forever inside Burn (a node that stopped; Burn 0.21's global
    /// collective stalling), and an error is the better end. On a timeout the helper stays
    /// blocked, so the process's collective state is unusable afterwards.
    fn joined_within<B, R>(&self, f: impl FnOnce() -> Result<R> + Send + 'static) -> Result<R>
    where
        B: Backend<Device = D>,
        D: Send + 'static,
        R: Send + 'static,
    {
        let (sent, received) = mpsc::channel();
        let me = self.clone();
        std::thread::Builder::new()
            .name(format!("tangle-exchange-{}", self.rank))
            .spawn(move || {
                let _ = sent.send(me.joined::<B, R>(f));
            })
            .map_err(|e| OptimError::Collective(format!("cannot start an exchange thread: {e}")))?;
        match received.recv_timeout(self.timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(OptimError::Collective(format!(
                "peer {}'s multi-node all-reduce did not complete within {:?}: a node stopped or \
                 is unreachable, or Burn 0.21's global collective stalled (docs/optim.md). Stop \
                 every node and the orchestrator, then resume from the last checkpoint",
                self.rank, self.timeout
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(OptimError::Collective(format!(
                "peer {}'s multi-node all-reduce panicked inside Burn's collective (see the \
                 message above)",
                self.rank
            ))),
        }
    }

    /// Runs a search's epochs `f` as this peer: inside one collective session, or, for a
    /// multi-node peer, with a session per all-reduce ([`all_reduce`] joins those).
    pub fn run<B: Backend<Device = D>>(&self, f: impl FnOnce() -> Result<()>) -> Result<()> {
        if self.session_per_op {
            f()
        } else {
            self.joined::<B, _>(f)
        }
    }

    /// This peer's rows of a batch of `rows`: contiguous, balanced, none empty.
    pub fn rows(&self, rows: usize) -> Range<usize> {
        rows * self.rank / self.world..rows * (self.rank + 1) / self.world
    }
}

/// One collective session at a time per process: Burn's collective server is a process-wide
/// singleton, and two searches (parallel tests) registering peer 0 at once would collide.
pub(crate) static SESSION: Mutex<()> = Mutex::new(());

pub(crate) fn collective_err(what: &str, e: collective::CollectiveError) -> OptimError {
    OptimError::Collective(format!("collective {what} failed: {e:?}"))
}

/// The text of a panic's payload (`panic!` with a literal or with a format).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// This peer's rows of `batch` and their share of the batch. Errors (on every peer alike,
/// since all see the same batch) when the batch has fewer rows than there are peers.
pub(crate) fn take_shard<B: Backend, I: Shard<B>, T: Shard<B>>(
    batch: (I, T),
    peer: Option<&Peer<B::Device>>,
    what: &str,
) -> Result<((I, T), f32)> {
    let Some(peer) = peer else {
        return Ok((batch, 1.0));
    };
    let rows = batch.0.rows();
    if batch.1.rows() != rows {
        return Err(OptimError::Config(format!(
            "a {what} batch's input has {rows} rows and its target {}: they cannot be split \
             across peers",
            batch.1.rows()
        )));
    }
    if rows < peer.world {
        return Err(OptimError::Config(format!(
            "a {what} batch of {rows} rows cannot be split across {} peers: use a batch of at \
             least one row per peer",
            peer.world
        )));
    }
    let r = peer.rows(rows);
    let share = r.len() as f32 / rows as f32;
    Ok((
        (
            batch.0.shard(r.clone(), &peer.device),
            batch.1.shard(r, &peer.device),
        ),
        share,
    ))
}

/// Sums `grads` (those of `module`'s parameters) and `scalars` over all peers, each peer's
/// weighted by its `share` of the batch: one flat all-reduce per call. Without a peer, returns
/// both unchanged.
pub(crate) fn all_reduce<B: AutodiffBackend, M: Module<B>>(
    peer: Option<&Peer<B::Device>>,
    module: &M,
    grads: GradientsParams,
    scalars: &[f32],
    share: f32,
) -> Result<(GradientsParams, Vec<f32>)> {
    let Some(peer) = peer else {
        return Ok((grads, scalars.to_vec()));
    };
    // Flatten in the module's visit order, the same on every peer (Burn's own
    // `GradientsParams::all_reduce` reduces parameter by parameter: one round trip per tensor).
    let mut take = Take::<B> {
        grads,
        parts: Vec::new(),
        layout: Vec::new(),
    };
    module.visit(&mut take);
    let mut parts = take.parts;
    if !scalars.is_empty() {
        parts.push(Tensor::from_floats(scalars, &peer.device));
    }
    let flat = Tensor::cat(parts, 0) * share;
    let total = flat.dims()[0];
    let id = peer.id;
    let primitive = flat.into_primitive().tensor();
    let reduce = move || {
        collective::all_reduce::<B::InnerBackend>(id, primitive, ReduceOperation::Sum)
            .map_err(|e| collective_err("all-reduce", e))
    };
    let reduced = if peer.session_per_op {
        peer.joined_within::<B::InnerBackend, _>(reduce)?
    } else {
        reduce()?
    };
    let reduced = Tensor::<B::InnerBackend, 1>::from_primitive(TensorPrimitive::Float(reduced));
    let tail = if scalars.is_empty() {
        Vec::new()
    } else {
        reduced
            .clone()
            .narrow(0, total - scalars.len(), scalars.len())
            .into_data()
            .to_vec::<f32>()
            .map_err(|e| OptimError::Collective(format!("all-reduce result: {e:?}")))?
    };
    let mut put = Put::<B> {
        flat: reduced,
        layout: take.layout,
        next: 0,
        offset: 0,
        grads: take.grads,
    };
    module.visit(&mut put);
    Ok((put.grads, tail))
}

/// Takes each parameter's gradient out of `grads`, flattened, recording where it came from.
struct Take<B: AutodiffBackend> {
    grads: GradientsParams,
    parts: Vec<Tensor<B::InnerBackend, 1>>,
    layout: Vec<(ParamId, Vec<usize>)>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Take<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            let dims = g.dims();
            let n: usize = dims.iter().product();
            self.parts.push(g.reshape([n]));
            self.layout.push((param.id, dims.to_vec()));
        }
    }
}

/// Puts the reduced gradients back, in the order [`Take`] took them.
struct Put<B: AutodiffBackend> {
    flat: Tensor<B::InnerBackend, 1>,
    layout: Vec<(ParamId, Vec<usize>)>,
    next: usize,
    offset: usize,
    grads: GradientsParams,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Put<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let Some((id, dims)) = self.layout.get(self.next) else {
            return;
        };
        if *id != param.id {
            return;
        }
        let n: usize = dims.iter().product();
        let dims: [usize; D] = dims
            .as_slice()
            .try_into()
            .expect("a parameter keeps its rank");
        let g = self.flat.clone().narrow(0, self.offset, n).reshape(dims);
        self.grads.register::<B::InnerBackend, D>(param.id, g);
        self.offset += n;
        self.next += 1;
    }
}
