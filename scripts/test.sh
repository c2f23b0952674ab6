#!/usr/bin/env bash
# The test suite: the README's test command, and what CI runs (.ci/run).
# Needs a wgpu device: a GPU, or on CPU-only machines Mesa's software Vulkan
# (Debian: apt-get install mesa-vulkan-drivers libvulkan1).
set -euo pipefail
cd "$(dirname "$0")/.."
# wgpu wants a runtime dir; without one it prints a harmless warning on every start.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

echo "== 1/3 workspace tests, with the wgpu backend compiled in (tests/wgpu.rs runs on it)"
cargo test --workspace --features wgpu

echo "== 2/3 a crate outside the workspace, using the public API (tests/downstream)"
# Shares the target directory: the dependencies built in step 1 are reused.
CARGO_TARGET_DIR="$PWD/target" cargo run --manifest-path tests/downstream/Cargo.toml

echo "== 3/3 API docs without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

echo "all tests passed"
