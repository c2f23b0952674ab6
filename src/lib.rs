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
//! [`backend`] names the backends the examples run on.

#![warn(missing_docs)]

pub use tangle_core;
pub use tangle_data;
pub use tangle_optim;
pub use tangle_spaces;
pub use tangle_twostage;

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

/// Keeps large tensor buffers in the process heap instead of mapping and unmapping them per
/// allocation (glibc on Linux; a no-op elsewhere). Returns whether the setting was applied.
///
/// glibc serves allocations above a threshold (128 KiB, adapting up to 32 MiB) with fresh
/// `mmap`s, so a CPU training step that allocates and frees hundreds of multi-megabyte tensors
/// spends much of its time in page faults (seen as high system time). Raising the threshold to
/// 32 MiB and the trim threshold to 1 GiB lets freed buffers be reused: measured on a
/// 2-core machine, a batched product's forward and backward took half the time and system time
/// fell from 2.8 s to 0.1 s (docs/benchmarks.md). Freed memory is then returned to the system
/// later; the peak resident size does not grow. The examples and benches call this first.
pub fn tune_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
