//! AutoFormer: spec, AutoFormer's architecture form, modes, extraction, parameter counts,
//! training.
mod common;

use burn::module::AutodiffModule;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use common::*;
use tangle_core::subnet::trainable_params;
use tangle_core::Extract;
use tangle_core::{CoreError, Mixtures, Supernet};
use tangle_spaces::autoformer::{AutoFormerArch, AutoFormerConfig};

fn small() -> AutoFormerConfig {
    AutoFormerConfig {
        embeds: vec![8, 12, 16],
        depths: vec![1, 2, 3],
        ratios: vec![2.0, 3.5],
        heads: vec![1, 2],
        head_dim: 4,
        image_size: 8,
        patch: 4,
        channels: 3,
        classes: 5,
        relative_position: Some(1),
    }
}

#[test]
fn spec_and_autoformer_form() {
    let c = AutoFormerConfig::tiny(32, 4, 10);
    assert_eq!(c.tokens(), 65);
    let s = c.spec().unwrap();
    assert_eq!(s.decisions().len(), 2 + 2 * 14);
    assert_eq!(s.size(), 3 * 3 * 4u128.pow(14));
    let net = c.init::<B>(&Default::default()).unwrap();
    let a = AutoFormerArch {
        embed_dim: 216,
        depth: 13,
        mlp_ratio: vec![3.5; 13],
        num_heads: vec![4; 13],
    };
    let arch = net.architecture(&a).unwrap();
    assert_eq!(net.describe(&arch).unwrap(), a);
    // 3.5 stays 3.5 in JSON (the official code's int cast would make it 3).
    let json = serde_json::to_string(&a).unwrap();
    assert!(json.contains("3.5"), "{json}");
    assert!(net
        .architecture(&AutoFormerArch {
            depth: 12,
            ..a.clone()
        })
        .is_err());
    assert!(net
        .architecture(&AutoFormerArch {
            embed_dim: 200,
            ..a
        })
        .is_err());
}

#[test]
fn one_hot_equals_single_path_equals_extracted_subnet() {
    let device = Default::default();
    let x = Tensor::<AB, 4>::random([3, 3, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let net = small().init::<AB>(&device).unwrap();
    let inner = net.valid();
    check_modes(
        &net,
        x,
        &random_archs(net.spec(), 6, 9),
        |arch, x| net.extract(arch).unwrap().forward(x),
        |arch, x| inner.extract(arch).unwrap().forward(x),
    );
    assert!(matches!(
        inner.forward_mixed(
            Tensor::zeros([1, 3, 16, 16], &device),
            &Mixtures::fixed(inner.spec(), &inner.spec().largest()).unwrap()
        ),
        Err(CoreError::Shape { .. })
    ));
}

#[test]
fn analytic_parameter_count_equals_the_subnet_count() {
    let device = Default::default();
    for config in [small(), AutoFormerConfig::tiny(32, 4, 10)] {
        let net = config.init::<AB>(&device).unwrap();
        for idx in random_archs(net.spec(), 3, 10) {
            let arch = net.spec().architecture(&idx).unwrap();
            assert_eq!(
                net.params(&arch).unwrap(),
                trainable_params(&net.extract(&arch).unwrap()),
                "{arch}"
            );
            assert_default_params(&net, &arch);
        }
    }
    // The largest AutoFormer-T at 224/16 with 1000 classes, by hand: patch 3·16²·240 + 240,
    // cls 240, positions 197·240, 14 blocks of (LN 4·240, qkv 240·768 + 768, proj 256·240 + 240,
    // fc1 240·960 + 960, fc2 960·240 + 240), final LN 480, head 240·1000 + 1000 = 10,409,752.
    let net = AutoFormerConfig::tiny(224, 16, 1000)
        .init::<B>(&device)
        .unwrap();
    let largest = net.spec().largest();
    let block = 960 + (240 * 768 + 768) + (256 * 240 + 240) + (240 * 960 + 960) + (960 * 240 + 240);
    let by_hand = (3 * 256 * 240 + 240) + 240 + 197 * 240 + 14 * block + 480 + 241_000;
    assert_eq!(by_hand, 10_409_752);
    // Plus AutoFormer's relative positions: per block, key and value tables of 2·14 + 2 rows
    // for each direction, head width 64.
    assert_eq!(
        net.params(&largest).unwrap(),
        by_hand + 14 * 2 * 2 * 30 * 64
    );
    let without = AutoFormerConfig {
        relative_position: None,
        ..AutoFormerConfig::tiny(224, 16, 1000)
    };
    let net = without.init::<B>(&device).unwrap();
    assert_eq!(net.params(&largest).unwrap(), by_hand);
}

#[test]
fn superposed_training_lowers_the_loss_on_a_small_batch() {
    let device = Default::default();
    let x = Tensor::<AB, 4>::random([8, 3, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<AB, 1, Int>::from_data(
        TensorData::new((0..8i64).map(|i| i % 5).collect(), [8]),
        &device,
    );
    superposed_training_lowers_the_loss(small().init::<AB>(&device).unwrap(), x, y);
}
