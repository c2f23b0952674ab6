//! Runs the downstream check on the CPU (Flex); exits non-zero if anything does not behave.

use burn::backend::{Autodiff, Flex};

fn main() {
    tangle_downstream::check::<Autodiff<Flex>>(&Default::default());
}
