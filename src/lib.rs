//! # tanglenas
//!
//! Gradient-based neural architecture search over weight-entangled search spaces — the TangleNAS
//! method — on the [Burn](https://burn.dev) deep-learning framework.
//!
//! This facade re-exports the workspace crates, layered bottom-up:
//! * [`tangle_core`]: search-space vocabulary, superposition masks, entangled modules, subnets;
//! * [`tangle_optim`]: architecture parameters, mixers and the bi-level search engine;
//! * [`tangle_data`]: datasets, splits and the shipped default data;
//! * [`tangle_spaces`]: the search spaces;
//! * [`tangle_twostage`]: SPOS supernet training, random and evolutionary search.
//!
//! [`backend`] names the backends the examples run on, and [`experiment`] is the runner they
//! are built on: the shared command line, output folder, checkpoints and resume, peers and the
//! two-stage path.

#![warn(missing_docs)]

pub use tangle_core;
pub use tangle_data;
pub use tangle_optim;
pub use tangle_spaces;
pub use tangle_twostage;

pub mod experiment;

/// Backends used by the examples and benches.
pub mod backend {
    /// The CPU backend (Burn's Flex, multi-threaded, SIMD).
    pub type Cpu = burn::backend::Flex;
    /// The CPU backend with gradients.
    pub type CpuAutodiff = burn::backend::Autodiff<Cpu>;
    /// The wgpu backend (any Vulkan/Metal/DX12 GPU; Mesa's software Vulkan on CPU-only machines).
    #[cfg(feature = "wgpu")]
    pub type Wgpu = burn::backend::Wgpu;
    /// The wgpu backend with gradients.
    #[cfg(feature = "wgpu")]
    pub type WgpuAutodiff = burn::backend::Autodiff<Wgpu>;
    /// The CUDA backend.
    #[cfg(feature = "cuda")]
    pub type Cuda = burn::backend::Cuda;
    /// The CUDA backend with gradients.
    #[cfg(feature = "cuda")]
    pub type CudaAutodiff = burn::backend::Autodiff<Cuda>;
}
