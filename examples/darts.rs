//! TangleNAS on the DARTS space (prints the DARTS genotype; --retrain trains its evaluation network).
//!
//! ```text
//! cargo run --release --example darts                 # scaled-down search on shipped MNIST
//! cargo run --release --example darts -- --help        # options
//! ```
//!
//! Writes `metrics.jsonl`, `architecture.json`, `alphas.svg`, `summary.json` and the
//! discovered network's weights `subnet.bpk` to `--out` (default `runs/darts`, never
//! overwritten).

mod common;

fn main() {
    common::cnn::main(common::cnn::Space::Darts);
}
