//! TangleNAS on the toy cell space (Fashion-MNIST-sized inputs).
//!
//! ```text
//! cargo run --release --example toy_cell                 # scaled-down search on shipped MNIST
//! cargo run --release --example toy_cell -- --help        # options
//! ```
//!
//! Writes `metrics.jsonl`, `architecture.json`, `alphas.svg`, `summary.json` and the
//! discovered network's weights `subnet.bpk` to `--out` (default `runs/toy_cell`, never
//! overwritten).

mod common;

fn main() {
    common::cnn::main(common::cnn::Space::ToyCell);
}
