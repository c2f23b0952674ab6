//! TangleNAS on the toy conv-macro space (paper Table 17).
//!
//! ```text
//! cargo run --release --example toy_conv_macro                 # scaled-down search on shipped MNIST
//! cargo run --release --example toy_conv_macro -- --help        # options
//! ```
//!
//! Writes `metrics.jsonl`, `architecture.json`, `alphas.svg`, `summary.json` and the
//! discovered network's weights `subnet.bpk` to `--out` (default `runs/toy_conv_macro`, never
//! overwritten).

mod common;

fn main() {
    common::cnn::main(common::cnn::Space::ConvMacro);
}
