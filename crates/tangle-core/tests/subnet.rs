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
        .init::<B>(&d);
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
