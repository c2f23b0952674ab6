//! Language-model search (paper Table 18) with TangleNAS on the shipped Shakespeare; the
//! discovered model writes a sample.
//!
//! ```text
//! cargo run --release --example nanogpt                 # scaled-down run, prints a sample
//! cargo run --release --example nanogpt -- --help       # options (sizes, token files, devices)
//! ```
//!
//! Writes `metrics.jsonl`, `architecture.json`, `alphas.svg`, `summary.json`, `sample.txt` and
//! the discovered model's weights `subnet.bpk` to `--out` (default `runs/nanogpt`, never
//! overwritten).

mod common;

fn main() {
    common::lm::main();
}
