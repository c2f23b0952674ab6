//! TangleNAS on MobileNetV3 as in Once-for-All (paper Table 19).
//!
//! ```text
//! cargo run --release --example mobilenetv3                 # scaled-down search on shipped MNIST
//! cargo run --release --example mobilenetv3 -- --help        # options
//! ```
//!
//! Writes `metrics.jsonl`, `architecture.json`, `alphas.svg`, `summary.json` and the
//! discovered network's weights `subnet.bpk` to `--out` (default `runs/mobilenetv3`, never
//! overwritten).

mod common;

fn main() {
    common::cnn::main(common::cnn::Space::MobileNet);
}
