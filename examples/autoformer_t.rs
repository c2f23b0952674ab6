//! AutoFormer-T search (paper Table 20) with TangleNAS: every choice superposed, one forward pass.
//!
//! ```text
//! cargo run --release --example autoformer_t                 # scaled-down run on shipped MNIST
//! cargo run --release --example autoformer_t -- --help       # options (CIFAR, devices, sizes)
//! ```
//!
//! Writes `metrics.jsonl`, `architecture.json`, `autoformer.json` (AutoFormer's form),
//! `alphas.svg` (probabilities per decision over the epochs), `summary.json` and the discovered
//! ViT's weights `subnet.bpk` to `--out` (default `runs/autoformer_t`, never overwritten).

mod common;

fn main() {
    common::vit::main(false);
}
