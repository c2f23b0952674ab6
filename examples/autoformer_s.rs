//! AutoFormer-S search with TangleNAS (embed {320, 384, 448}, ratio {3, 3.5, 4}, heads
//! {5, 6, 7}); the same options and outputs as `autoformer_t`, whose file holds the job.
//!
//! ```text
//! cargo run --release --example autoformer_s -- --help
//! ```

#[allow(dead_code)]
#[path = "autoformer_t.rs"]
mod autoformer_t;

fn main() {
    autoformer_t::search(true);
}
