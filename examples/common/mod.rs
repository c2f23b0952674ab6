//! The space examples' jobs, on the library's experiment runner (`tanglenas::experiment`:
//! the shared command line, backend and method dispatch, output folder, checkpoints and
//! resume, peers and the two-stage path).
#![allow(dead_code)]

pub use tanglenas::experiment::*;

/// mimalloc instead of the system allocator. Burn's CPU backend allocates and frees a tensor
/// per op; glibc's malloc hands every block over 128 KiB back to the kernel, so each large
/// tensor comes back as fresh, page-faulted, zeroed memory (a third of the main job's time went
/// to page faults, zeroing and copies). See docs/benchmarks.md for the measured difference.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod cnn;
