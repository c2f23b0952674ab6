//! A search job and how the command line picks its backend and method.

use burn::tensor::backend::AutodiffBackend;
use tangle_optim::Method;

use super::{plan, ExperimentError, Result, RunArgs, Strategy};

/// A search job, run on a device by one method (`strategy` says how the architecture is
/// found: the method's own argmax, or a second stage on its SPOS supernet).
pub trait Job {
    /// Runs the job.
    fn run<B: AutodiffBackend>(
        self,
        method: Method,
        strategy: Strategy,
        device: B::Device,
    ) -> Result<()>;
}

fn with_optimizer<B: AutodiffBackend, J: Job>(a: &RunArgs, job: J, budget: usize) -> Result<()> {
    let device = B::Device::default();
    B::seed(&device, a.seed);
    let (method, strategy) = plan(&a.optimizer, budget)?;
    job.run::<B>(method, strategy, device)
}

/// Runs `job` on `--device` with `--optimizer` (`budget`: candidates of a two-stage search).
pub fn dispatch<J: Job>(a: &RunArgs, job: J, budget: usize) -> Result<()> {
    match a.device.as_str() {
        "cpu" => with_optimizer::<crate::backend::CpuAutodiff, J>(a, job, budget),
        #[cfg(feature = "wgpu")]
        "wgpu" => with_optimizer::<crate::backend::WgpuAutodiff, J>(a, job, budget),
        #[cfg(feature = "cuda")]
        "cuda" => with_optimizer::<crate::backend::CudaAutodiff, J>(a, job, budget),
        // Reached only for a backend this build left out.
        #[allow(unreachable_patterns)]
        "wgpu" | "cuda" => Err(ExperimentError::usage(format!(
            "--device {} needs the example built with `--features {}`",
            a.device, a.device
        ))),
        other => Err(ExperimentError::usage(format!(
            "unknown device `{other}` (cpu, wgpu, cuda)"
        ))),
    }
}
