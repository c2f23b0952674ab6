//! Module configurations follow Burn's conventions: JSON save / load round trips, the loaded
//! configuration builds the same module, and a malformed one is an error naming what is wrong.
mod common;
use common::*;

use burn::config::Config;
use tangle_core::{
    HeadDim, SuperAttentionConfig, SuperBatchNorm2dConfig, SuperConv2dConfig, SuperEmbeddingConfig,
    SuperLayerNormConfig, SuperLinearConfig, SuperPatchEmbedConfig,
};

fn round_trip<C: Config + PartialEq + std::fmt::Debug>(c: &C) -> C {
    let json = burn::config::config_to_json(c);
    let back = C::load_binary(json.as_bytes()).unwrap();
    assert_eq!(&back, c, "{json}");
    back
}

#[test]
fn every_module_config_saves_and_loads_as_json() {
    let d = Default::default();
    let linear = round_trip(&SuperLinearConfig::expand(&[4, 8], &[2.0, 4.0]).unwrap());
    let l = linear.init::<B>(&d).unwrap();
    assert_eq!(l.weight.dims(), [8, 32]);
    let conv = round_trip(
        &SuperConv2dConfig::new(&[3], &[4, 8], &[3, 5])
            .unwrap()
            .with_stride(2),
    );
    assert_eq!(conv.init::<B>(&d).unwrap().weight.dims(), [8, 3, 5, 5]);
    let attn = round_trip(
        &SuperAttentionConfig::new(&[8, 16], &[1, 2], HeadDim::Fixed(4))
            .unwrap()
            .with_causal(true),
    );
    assert!(attn.init::<B>(&d).unwrap().causal());
    let ln = round_trip(&SuperLayerNormConfig::new(vec![4, 8]).with_full_width(true));
    assert_eq!(ln.init::<B>(&d).unwrap().gamma.dims(), [8]);
    let bn = round_trip(&SuperBatchNorm2dConfig::new(vec![2, 4]).with_affine(false));
    assert!(!bn.affine);
    round_trip(&SuperEmbeddingConfig::new(10, vec![4, 8]).with_std(0.5));
    round_trip(&SuperPatchEmbedConfig::new(3, 4, vec![8, 16]));
}

#[test]
fn a_saved_config_reloads_from_a_file() {
    let dir = std::env::temp_dir().join(format!("tangle-configs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fc1.json");
    let cfg = SuperLinearConfig::new(&[4, 8], &[2, 6]).unwrap();
    cfg.save(&path).unwrap();
    assert_eq!(SuperLinearConfig::load(&path).unwrap(), cfg);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_malformed_extents_table_is_an_error_on_load() {
    let json = burn::config::config_to_json(&SuperLinearConfig::new(&[4, 8], &[2, 6]).unwrap());
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = value.clone();
        edit(&mut v["combi"]["table"]);
        serde_json::to_string(&v).unwrap()
    };
    // Four combinations (2 × 2 candidates) need four rows.
    let short = edited(&|t| {
        t.as_array_mut().unwrap().pop();
    });
    let err = SuperLinearConfig::load_binary(short.as_bytes()).unwrap_err();
    assert!(format!("{err:?}").contains("expected 4"), "{err:?}");
    // A zero extent is rejected by the checks a config built in code goes through.
    let zero = edited(&|t| t[0][1] = 0.into());
    let err = SuperLinearConfig::load_binary(zero.as_bytes()).unwrap_err();
    assert!(format!("{err:?}").contains("all ≥ 1"), "{err:?}");
    // Unchanged, it loads.
    assert!(SuperLinearConfig::load_binary(edited(&|_| {}).as_bytes()).is_ok());
}

#[test]
fn invalid_sizes_are_errors_at_init_naming_the_module() {
    let d = Default::default();
    let err = SuperLayerNormConfig::new(vec![8, 4])
        .init::<B>(&d)
        .unwrap_err();
    assert!(err.to_string().contains("SuperLayerNorm"), "{err}");
    let err = SuperBatchNorm2dConfig::new(vec![])
        .init::<B>(&d)
        .unwrap_err();
    assert!(err.to_string().contains("SuperBatchNorm2d"), "{err}");
    let err = SuperEmbeddingConfig::new(0, vec![4])
        .init::<B>(&d)
        .unwrap_err();
    assert!(err.to_string().contains("at least one row"), "{err}");
    let err = tangle_core::RelativePosition2dConfig::new(0, 14)
        .init::<B>(&d)
        .unwrap_err();
    assert!(err.to_string().contains("head_dim 0"), "{err}");
}
