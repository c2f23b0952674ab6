//! TangleNAS on NAS-Bench-201 (prints the benchmark's architecture string).
//!
//! ```text
//! cargo run --release --example nb201                 # scaled-down search on shipped MNIST
//! cargo run --release --example nb201 -- --help        # options
//! ```
//!
//! Writes `metrics.jsonl`, `architecture.json`, `alphas.svg`, `summary.json` and the
//! discovered network's weights `subnet.bpk` to `--out` (default `runs/nb201`, never
//! overwritten).

mod common;

fn main() {
    common::cnn::main(common::cnn::Space::Nb201);
}
