#!/usr/bin/env bash
# Rust vs our PyTorch rendering, W1–W4, in turns: each round runs the Rust bench
# (benches/workloads.rs, interleaved mode) and then benches/torch/workloads.py on the same
# workload, so both see the same machine; the table gives, per workload and variant, the median
# over rounds of each side's median step and the Rust / PyTorch ratio with its spread over rounds.
#
#   benches/torch/compare.sh [ROUNDS (3)] [STEPS PER RUN (10)] [WORKLOADS (w1 w2 w3 w4)]
#
# Needs python3 with torch (pip install torch). Build the bench first (cargo bench --bench
# workloads --no-run): nothing else should run on the machine meanwhile.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
steps=${2:-10}
shift $(( $# < 2 ? $# : 2 ))
workloads=${*:-w1 w2 w3 w4}
out=$(mktemp)
for r in $(seq 1 "$rounds"); do
    for w in $workloads; do
        echo "round $r/$rounds, $w" >&2
        TANGLE_WORKLOAD=$w TANGLE_INTERLEAVE=$steps cargo bench -q --bench workloads 2>/dev/null \
            | grep '^{"impl"' | sed "s/}\$/, \"round\": $r}/" >> "$out"
        python3 benches/torch/workloads.py --workload "$w" --rounds "$steps" \
            | sed "s/}\$/, \"round\": $r}/" >> "$out"
    done
done
python3 - "$out" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
torch = next((r for r in rows if r["impl"] == "pytorch"), {})
print(f"PyTorch {torch.get('torch')} with {torch.get('threads')} threads")
print("| workload | variant | Rust median step | PyTorch median step | Rust / PyTorch (median, min–max over rounds) |")
print("|---|---|---|---|---|")
pairs = {
    ("w1", "largest"): "largest", ("w1", "superposed"): "superposed",
    ("w2", "largest"): "largest", ("w2", "superposed"): "superposed",
    ("w3", "largest"): "largest", ("w3", "superposed"): "superposed",
    ("w4", "bilevel_1peer"): "bilevel", ("w4", "bilevel_peers"): "bilevel",
}
for (w, rv), tv in pairs.items():
    rs = {r["round"]: r["median_ms"] for r in rows if r["impl"] == "rust" and r["workload"] == w and r["variant"] == rv}
    ts = {r["round"]: r["median_ms"] for r in rows if r["impl"] == "pytorch" and r["workload"] == w and r["variant"] == tv}
    common = sorted(set(rs) & set(ts))
    if not common:
        continue
    ratios = [rs[k] / ts[k] for k in common]
    print(f"| {w} | {rv} | {st.median(rs.values()):.0f} ms | {st.median(ts.values()):.0f} ms | "
          f"{st.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}) |")
PY
echo "raw: $out" >&2
