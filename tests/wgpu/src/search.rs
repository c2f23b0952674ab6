//! The bi-level search engine on the wgpu device: DrNAS's Dirichlet sampling, the α and weight
//! steps, argmax and subnet extraction, on `tests/downstream`'s residual-MLP space.

use burn::backend::{Autodiff, Wgpu};

#[test]
fn drnas_search_runs_on_wgpu() {
    tangle_downstream::check::<Autodiff<Wgpu>>(&Default::default());
}
