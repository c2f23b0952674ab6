//! NAS-Bench-201: spec, strings, modes, extraction, parameter counts, training.
mod common;

use burn::module::AutodiffModule;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use common::*;
use tangle_core::subnet::trainable_params;
use tangle_core::Extract;
use tangle_core::Supernet;
use tangle_spaces::nb201::{arch_string, parse_arch_string, spec, Nb201Config, PRIMITIVES};
use tangle_spaces::ops::Primitive;

const SMALL: Nb201Config = Nb201Config {
    channels: 8,
    cells: 1,
    classes: 10,
};

#[test]
fn spec_and_benchmark_strings() {
    let s = spec();
    assert_eq!(s.size(), 15625);
    // none, skip, conv1, conv3, pool on the six edges 1←0, 2←0, 2←1, 3←0, 3←1, 3←2.
    let arch = s.architecture(&[3, 3, 4, 1, 3, 1]).unwrap();
    let text = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    assert_eq!(arch_string(&arch).unwrap(), text);
    assert_eq!(parse_arch_string(text).unwrap(), arch);
    assert_eq!(
        arch_string(&s.architecture(&[0; 6]).unwrap()).unwrap(),
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    );
    assert!(parse_arch_string("|nor_conv_3x3~0|+|none~1|none~0|+|none~0|none~1|none~2|").is_err());
    assert!(parse_arch_string("|sep_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|").is_err());
    assert!(parse_arch_string("|none~0|").is_err());
}

#[test]
fn one_hot_equals_single_path_equals_extracted_subnet() {
    let device = Default::default();
    let x = Tensor::<AB, 4>::random([4, 3, 16, 16], Distribution::Normal(0.0, 1.0), &device);
    for net in [
        SMALL.init::<AB>(&device).unwrap(),
        SMALL.init_ws::<AB>(&device).unwrap(),
    ] {
        let net = warm(net, x.clone());
        let inner = net.valid();
        let mut archs = random_archs(net.spec(), 5, 3);
        // Edges into node 3 all `none`: the cell's output is zero.
        archs.push(vec![3, 2, 1, 0, 0, 0]);
        check_modes(
            &net,
            x.clone(),
            &archs,
            |arch, x| net.extract(arch).unwrap().forward(x).unwrap(),
            |arch, x| inner.extract(arch).unwrap().forward(x).unwrap(),
        );
    }
}

#[test]
fn analytic_parameter_count_equals_the_subnet_count() {
    let device = Default::default();
    for config in [SMALL, Nb201Config::default()] {
        let net = config.init::<AB>(&device).unwrap();
        for idx in random_archs(&spec(), 3, 4) {
            let arch = spec().architecture(&idx).unwrap();
            assert_eq!(
                net.params(&arch).unwrap(),
                trainable_params(&net.extract(&arch).unwrap()),
                "{arch}"
            );
            assert_default_params(&net, &arch);
        }
    }
    // NAS-Bench-201's published sizes (CIFAR-10, C = 16, N = 5): the largest network, every
    // edge nor_conv_3x3 with affine batch norms in its cells, and the smallest.
    let net = Nb201Config::default().init::<AB>(&device).unwrap();
    assert_eq!(PRIMITIVES[3], Primitive::Conv(3));
    let largest = spec().architecture(&[3; 6]).unwrap();
    assert_eq!(net.params(&largest).unwrap(), 1_531_546);
    assert_eq!(trainable_params(&net.extract(&largest).unwrap()), 1_531_546);
    assert_eq!(
        net.params(&spec().architecture(&[0; 6]).unwrap()).unwrap(),
        73_306
    );
    // The search supernet keeps the cells' batch norms affine-free.
    assert!(trainable_params(&net) < 1_531_546);
    // The benchmark's all-`none` network: stem, two residual blocks, final BN, classifier.
    let net = Nb201Config::default().init::<AB>(&device).unwrap();
    let none = spec().architecture(&[0; 6]).unwrap();
    let block = |i: usize, o: usize| 9 * i * o + 2 * o + 9 * o * o + 2 * o + i * o;
    assert_eq!(
        net.params(&none).unwrap(),
        432 + 32 + block(16, 32) + block(32, 64) + 128 + 650
    );
}

#[test]
fn superposed_training_lowers_the_loss_on_a_small_batch() {
    let device = Default::default();
    let x = Tensor::<AB, 4>::random([8, 3, 16, 16], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<AB, 1, Int>::from_data(TensorData::new((0..8i64).collect(), [8]), &device);
    superposed_training_lowers_the_loss(SMALL.init::<AB>(&device).unwrap(), x, y);
}

#[test]
fn ws_twin_has_more_weights_than_the_entangled_supernet() {
    let device = Default::default();
    let we = Nb201Config::default().init::<AB>(&device).unwrap();
    let ws = Nb201Config::default().init_ws::<AB>(&device).unwrap();
    // Every edge of every cell has a separate 1×1 convolution in WS: 6 · 5 · (16² + 32² + 64²).
    assert_eq!(
        trainable_params(&ws) - trainable_params(&we),
        6 * 5 * (16 * 16 + 32 * 32 + 64 * 64)
    );
}
