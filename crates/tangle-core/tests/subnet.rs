//! Extracted subnets: save / load round trips and error handling.
mod common;
use common::*;

use burn::nn::{Linear, LinearConfig};
use tangle_core::{subnet, CoreError, Mixture, SuperLinearConfig};

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tangle-core-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn extracted_subnet_saves_and_loads() {
    let d = dev();
    let layer = SuperLinearConfig::expand(&[4, 8], &[2.0, 3.0])
        .unwrap()
        .init::<B>(&d)
        .unwrap();
    let sub = layer.extract(&[0, 1]).unwrap();
    let x = randn::<B, 2>([3, 4], &d);
    let y = sub.forward(x.clone());
    let want = layer
        .forward(x.clone(), &[&Mixture::single(0), &Mixture::single(1)])
        .unwrap();
    assert_close(&y, &want, 1e-6);

    let path = tmp("fc1.bpk");
    subnet::save(&sub, &path).unwrap();
    // Never overwrite what a user saved.
    assert!(matches!(
        subnet::save(&sub, &path),
        Err(CoreError::Store { .. })
    ));
    let fresh: Linear<B> = LinearConfig::new(4, 12).init(&d);
    let loaded = subnet::load(fresh, &path).unwrap();
    assert_close(&loaded.forward(x), &y, 0.0);
}

#[test]
fn loading_missing_mismatched_or_corrupt_files_is_an_error() {
    let d = dev();
    let fresh = || LinearConfig::new(4, 12).init::<B>(&d);
    assert!(matches!(
        subnet::load(fresh(), tmp("missing.bpk")),
        Err(CoreError::Store { .. })
    ));
    let corrupt = tmp("corrupt.bpk");
    std::fs::write(&corrupt, b"this is not a burnpack file").unwrap();
    assert!(matches!(
        subnet::load(fresh(), &corrupt),
        Err(CoreError::Store { .. })
    ));
    let other = tmp("other.bpk");
    subnet::save(
        &LinearConfig::new(2, 2).with_bias(false).init::<B>(&d),
        &other,
    )
    .unwrap();
    assert!(matches!(
        subnet::load(fresh(), &other),
        Err(CoreError::Store { .. })
    ));
}

/// A small network with batch norms (running statistics are state, not parameters) and a
/// linear layer without a bias.
#[derive(burn::module::Module, Debug)]
struct Small<B: burn::tensor::backend::Backend> {
    conv: burn::nn::conv::Conv2d<B>,
    norms: Vec<burn::nn::BatchNorm<B>>,
    head: Option<Linear<B>>,
}

fn small<Bk: burn::tensor::backend::Backend>(device: &Bk::Device) -> Small<Bk> {
    Small {
        conv: burn::nn::conv::Conv2dConfig::new([3, 5], [3, 3]).init(device),
        norms: vec![
            burn::nn::BatchNormConfig::new(5).init(device),
            burn::nn::BatchNormConfig::new(7).init(device),
        ],
        head: Some(LinearConfig::new(5, 4).with_bias(false).init(device)),
    }
}

#[test]
fn count_params_leaves_out_batch_norm_running_statistics() {
    let d = dev();
    let net = small::<B>(&d);
    // By hand: conv 3·5·3·3 + 5, the batch norms' γ and β (2·5 + 2·7), head 5·4.
    let by_hand = 3 * 5 * 9 + 5 + 2 * 5 + 2 * 7 + 5 * 4;
    assert_eq!(tangle_core::count_params(&net), by_hand);
    // Burn's own count includes the running means and variances.
    assert_eq!(
        burn::module::Module::num_params(&net),
        by_hand + 2 * 5 + 2 * 7
    );
    // On an autodiff backend the gradient flags tell them apart too: both counts agree.
    let ad = small::<AB>(&d);
    assert_eq!(tangle_core::count_params(&ad), by_hand);
    assert_eq!(tangle_core::subnet::trainable_params(&ad), by_hand);
}
