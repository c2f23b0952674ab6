#!/usr/bin/env bash
# The test suite: the README's test command, and what CI runs (.ci/run). About 25–30 minutes on
# 2 cores from a clean checkout, build included (19–23 min measured before 2026-12-02; that day
# the wgpu step's tests alone ran 8 min 43 s and the whole script 19 min with a warm build).
# Step 3 needs a Vulkan driver on Linux; on a machine without a GPU that is Mesa's software one
# (Debian: mesa-vulkan-drivers libvulkan1), which .ci/run installs. Without one, step 3 is
# skipped with a message saying so.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== 1/4 workspace tests (unit, integration, the custom-space example, doc-tests)"
cargo test --workspace

echo "== 2/4 a crate outside the workspace, using the public API (tests/downstream)"
# Shares the target directory: every dependency built in step 1 is reused.
CARGO_TARGET_DIR="$PWD/target" cargo run --manifest-path tests/downstream/Cargo.toml

echo "== 3/4 the wgpu backend: superposed modules against the CPU, a DrNAS search (tests/wgpu)"
if [ "$(uname)" != Linux ] || compgen -G '/usr/share/vulkan/icd.d/*.json' >/dev/null \
        || compgen -G '/etc/vulkan/icd.d/*.json' >/dev/null; then
    CARGO_TARGET_DIR="$PWD/target" cargo test --manifest-path tests/wgpu/Cargo.toml
else
    echo "SKIPPED: no Vulkan driver found (Debian: apt-get install mesa-vulkan-drivers libvulkan1)"
fi

echo "== 4/4 API docs without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

echo "all tests passed"
