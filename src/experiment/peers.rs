//! The data-parallel peers of a run: `--devices N` threads or GPUs, or one process of a
//! multi-node run.

use burn::tensor::backend::AutodiffBackend;

use super::{ExperimentError, Result, RunArgs};

/// The search's data-parallel peers for `--devices N` (none for 1): N threads sharing the CPU
/// device, or GPUs 0..N of `device`'s kind.
pub fn peers<B: burn::tensor::backend::Backend>(
    a: &RunArgs,
    device: &B::Device,
) -> Result<Option<tangle_optim::Peers<B::Device>>> {
    use burn::tensor::backend::Device;
    let c = &a.cluster;
    if c.nodes > 1 {
        let need = |v: &Option<String>, flag: &str| {
            v.clone()
                .ok_or_else(|| ExperimentError::usage(format!("--nodes {} needs {flag}", c.nodes)))
        };
        let global = need(&c.global_address, "--global-address ws://HOST:PORT")?;
        let address = need(&c.node_address, "--node-address ws://HOST:PORT")?;
        let port = c.data_port.ok_or_else(|| {
            ExperimentError::usage(format!("--nodes {} needs --data-port PORT", c.nodes))
        })?;
        return tangle_optim::Peers::new(vec![device.clone()])
            .and_then(|p| p.across_nodes(c.node, c.nodes, &global, &address, port))
            .map(Some)
            .map_err(ExperimentError::from);
    }
    let n = match (a.devices, a.device.as_str()) {
        (None, "cpu") => std::thread::available_parallelism().map_or(1, |n| n.get()),
        (None, _) => 1,
        (Some(n), _) => n,
    };
    if n <= 1 {
        return Ok(None);
    }
    let peers = if a.device == "cpu" {
        tangle_optim::Peers::threads(device.clone(), n)
    } else {
        let devices = (0..n)
            .map(|i| {
                let mut id = device.to_id();
                id.index_id = i as u16;
                B::Device::from_id(id)
            })
            .collect();
        tangle_optim::Peers::new(devices)
    };
    Ok(Some(peers?))
}

/// Adds `--devices`'s peers, if any, to `search`.
pub fn on_peers<B, M, X>(
    a: &RunArgs,
    device: &B::Device,
    search: tangle_optim::Search<B, M, X>,
) -> Result<tangle_optim::Search<B, M, X>>
where
    B: AutodiffBackend,
    M: tangle_core::Supernet<B> + burn::module::AutodiffModule<B>,
    X: tangle_optim::Mixer<B>,
{
    Ok(match peers::<B>(a, device)? {
        Some(p) => {
            println!("data-parallel on {} peers", p.world());
            search.with_peers(p)
        }
        None => search,
    })
}
