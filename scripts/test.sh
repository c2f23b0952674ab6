#!/usr/bin/env bash
# The test suite: the README's test command, and what CI runs (.ci/run). About 20 minutes on
# 2 cores from a clean checkout, build included.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== 1/3 workspace tests (unit, integration, the custom-space example, doc-tests)"
cargo test --workspace

echo "== 2/3 a crate outside the workspace, using the public API (tests/downstream)"
# Shares the target directory: most dependencies built in step 1 are reused.
CARGO_TARGET_DIR="$PWD/target" cargo run --manifest-path tests/downstream/Cargo.toml

echo "== 3/3 API docs without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

echo "all tests passed"
