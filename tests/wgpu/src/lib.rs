//! The wgpu code path, checked on whatever Vulkan/Metal/DX12 adapter wgpu finds first: in CI,
//! Mesa's software Vulkan driver (lavapipe, Debian's `mesa-vulkan-drivers`), which `.ci/run`
//! installs. Run: `cargo test --manifest-path tests/wgpu/Cargo.toml`.
//!
//! - [`modules`]: superposed linear (combi), conv (kernel × channels), layer norm and GPT
//!   attention on wgpu against the CPU, gradients included.
//! - [`search`]: a short DrNAS search (mixer sampling, bi-level steps, argmax, subnet
//!   extraction) of `tests/downstream`'s space on the wgpu device.

#[cfg(test)]
mod modules;
#[cfg(test)]
mod search;
