#!/usr/bin/env bash
# The GPU checks in one go, for a machine with an NVIDIA GPU (driver with libcuda / libnvrtc):
# tangle-core's tests on the CUDA backend, then the benchmarks, with the GPU's name recorded.
# Usage: scripts/gpu-check.sh [OUT_DIR]   (default: gpu-check-<date>)
# Record the printed tables in docs/benchmarks.md with the GPU's name.
set -euo pipefail
out="${1:-gpu-check-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
{
  echo "date: $(date -u)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi not found"
  rustc --version
} | tee "$out/machine.txt"

status=0
echo "== tangle-core tests on CUDA"
cargo test --release -p tangle-core --features test-cuda 2>&1 | tee "$out/tests-cuda.txt" || status=1

echo "== W1-W4 workloads on CUDA (superposed vs largest fixed vs WS; W4 the main job's bi-level step)"
cargo bench --features cuda --bench workloads 2>&1 | tee "$out/bench-workloads-cuda.txt" || status=1

echo "results in $out (exit $status)"
exit $status
