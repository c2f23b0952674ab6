//! AutoFormer-S search with TangleNAS (embed {320, 384, 448}, ratio {3, 3.5, 4}, heads
//! {5, 6, 7}); the same options and outputs as `autoformer_t`.
//!
//! ```text
//! cargo run --release --example autoformer_s -- --help
//! ```

mod common;

fn main() {
    common::vit::main(true);
}
