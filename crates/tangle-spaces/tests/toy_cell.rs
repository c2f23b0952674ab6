//! The toy cell space: spec, modes, extraction, parameter counts, genotype, training.
mod common;

use burn::module::{AutodiffModule, Module};
use burn::nn::DropoutConfig;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use common::*;
use tangle_core::subnet::trainable_params;
use tangle_core::Extract;
use tangle_core::{CoreError, Mixtures, Supernet};
use tangle_spaces::ops::Primitive;
use tangle_spaces::toy_cell::{spec, ToyCellConfig, ToyCellNet, ToyGenotype};

#[test]
fn spec_has_4096_architectures() {
    let s = spec();
    assert_eq!(s.size(), 4096);
    assert_eq!(s.decisions()[0].name(), "normal.e0");
    assert_eq!(s.decisions()[5].name(), "reduce.e2");
}

#[test]
fn one_hot_equals_single_path_equals_extracted_subnet() {
    let device = Default::default();
    let x = Tensor::<AB, 4>::random([4, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    for net in [
        ToyCellConfig::new().init::<AB>(&device).unwrap(),
        ToyCellConfig::new().init_ws::<AB>(&device).unwrap(),
    ] {
        let mut net = warm(net, x.clone());
        net.dropout = DropoutConfig::new(0.0).init();
        let archs = random_archs(net.spec(), 4, 1);
        let inner = net.valid();
        check_modes(
            &net,
            x.clone(),
            &archs,
            |arch, x| net.extract(arch).unwrap().forward(x).unwrap(),
            |arch, x| inner.extract(arch).unwrap().forward(x).unwrap(),
        );
    }
    let net = ToyCellConfig::new().init::<B>(&device).unwrap();
    let s = spec();
    assert!(matches!(
        net.forward_mixed(
            Tensor::zeros([1, 3, 32, 32], &device),
            &Mixtures::fixed(&s, &s.largest()).unwrap()
        ),
        Err(CoreError::Shape { .. })
    ));
}

#[test]
fn entangled_edge_superposes_kernels_and_ws_edge_mixes_outputs() {
    use tangle_core::Mixture;
    use tangle_spaces::cell::{EdgeConfig, MixedEdge};
    let device = Default::default();
    let cfg = |entangle| EdgeConfig::new(&tangle_spaces::toy_cell::PRIMITIVES, 4, 1, entangle);
    let we = MixedEdge::<B>::new(&cfg(true), &device).unwrap();
    let ws = MixedEdge::<B>::new(&cfg(false), &device).unwrap();
    // Two shared chains against four.
    assert_eq!(we.convs.len(), 2);
    assert_eq!(ws.convs.len(), 4);
    let x = Tensor::<B, 4>::random([2, 4, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<B, 1>::from_floats([0.1, 0.2, 0.3, 0.4], &device);
    // WE: the sep group convolves once with (0.1·pad(W3) + 0.2·W5) / 0.3 (both depthwise
    // convs) and its output is scaled by its mass 0.3; the dil group's kernels are
    // (0.3·pad(W3) + 0.4·W5) / 0.7, its output scaled by 0.7.
    let y = we
        .forward(x.clone(), &Mixture::weights(w.clone()))
        .unwrap()
        .unwrap();
    let mut reference = None::<Tensor<B, 4>>;
    for (g, (a, b)) in [(0usize, (0.1f32, 0.2f32)), (1, (0.3, 0.4))] {
        let mass = a + b;
        let mut op = we.convs[g].extract(1).unwrap();
        for unit in op.units.iter_mut() {
            let w5 = unit.conv.weight.val();
            let [c, one, _, _] = w5.dims();
            let centre = w5.clone().slice([0..c, 0..one, 1..4, 1..4]);
            let pad = centre.pad([(1, 1), (1, 1)], burn::tensor::ops::PadMode::Constant(0.0));
            unit.conv.weight = burn::module::Param::from_tensor((pad * a + w5 * b) / mass);
        }
        let out = op.forward(x.clone()) * mass;
        reference = Some(match reference {
            Some(r) => r + out,
            None => out,
        });
    }
    let flat = |t: Tensor<B, 4>| t.into_data().convert::<f32>().to_vec::<f32>().unwrap();
    close(&flat(y), &flat(reference.unwrap()), 1e-4);
    // WS: Σ_i w_i · op_i(x) with four separate chains.
    let y = ws
        .forward(x.clone(), &Mixture::weights(w))
        .unwrap()
        .unwrap();
    let reference = (0..4)
        .map(|i| ws.extract(i).unwrap().forward(x.clone()).unwrap() * (0.1 * (i + 1) as f64))
        .reduce(|a, b| a + b)
        .unwrap();
    close(&flat(y), &flat(reference), 1e-4);
}

/// In training mode every chain ends in a batch norm, which divides out any scale put into its
/// kernels. The share of the decision that a family (sep or dil) holds must still change the
/// edge's output, or α would get no gradient for choosing between families.
#[test]
fn entangled_family_share_reaches_the_output_through_the_batch_norm() {
    use tangle_core::Mixture;
    use tangle_spaces::cell::{EdgeConfig, MixedEdge};
    let device = Default::default();
    let cfg = EdgeConfig::new(&tangle_spaces::toy_cell::PRIMITIVES, 4, 1, true);
    let edge = MixedEdge::<AB>::new(&cfg, &device).unwrap();
    let x = Tensor::<AB, 4>::random([4, 4, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    let r = Tensor::<AB, 4>::random([4, 4, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<AB, 1>::from_floats([0.1, 0.2, 0.3, 0.4], &device).require_grad();
    let y = edge
        .forward(x, &Mixture::weights(w.clone()))
        .unwrap()
        .unwrap();
    let grads = (y * r).sum().backward();
    let g = w.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
    // Scaling the sep family's two weights together (direction (0.1, 0.2, 0, 0)) changes the
    // loss at rate g·(0.1, 0.2, 0, 0); with the mass put into the kernels it was exactly 0.
    let along_sep_share = 0.1 * g[0] + 0.2 * g[1];
    let scale = g.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "no gradient at all: {g:?}");
    assert!(
        along_sep_share.abs() > 1e-2 * scale,
        "the sep family's share has no effect: gradient {g:?}"
    );
}

#[test]
fn analytic_parameter_count_equals_the_subnet_count() {
    let device = Default::default();
    let net = ToyCellConfig::new().init::<AB>(&device).unwrap();
    for idx in random_archs(&spec(), 5, 2) {
        let arch = spec().architecture(&idx).unwrap();
        let sub = net.extract(&arch).unwrap();
        assert_eq!(net.params(&arch).unwrap(), trainable_params(&sub), "{arch}");
        // A freshly built network of the same genotype has the same count.
        let g = ToyGenotype::from_architecture(&arch).unwrap();
        assert_eq!(
            trainable_params(&ToyCellNet::<AB>::new(&g, &device).unwrap()),
            trainable_params(&sub)
        );
    }
    // All sep 3×3: per cell 1×1 preprocessing + 3 · 2 · (C·9 + C²) …
    let arch = spec().architecture(&[0; 6]).unwrap();
    let cell = |c_in: usize, c: usize| c_in * c + 2 * c + 3 * 2 * (c * 9 + c * c);
    let expected = cell(1, 32) + cell(64, 32) + cell(64, 64) + 1152 * 128 + 128 + 1290;
    assert_eq!(net.params(&arch).unwrap(), expected);
    // Module::num_params also counts running statistics and frozen affine tensors.
    assert!(net.extract(&arch).unwrap().num_params() > expected);
}

#[test]
fn genotype_prints_like_the_official_code() {
    let s = spec();
    let arch = s.architecture(&[2, 2, 0, 0, 1, 2]).unwrap();
    let g = ToyGenotype::from_architecture(&arch).unwrap();
    assert_eq!(
        g.normal,
        vec![Primitive::Dil(3), Primitive::Dil(3), Primitive::Sep(3)]
    );
    assert_eq!(
        g.to_string(),
        "Genotype(normal=[('dil_conv_3x3', 0), ('dil_conv_3x3', 0), ('sep_conv_3x3', 1)], \
         normal_concat=range(1, 3), reduce=[('sep_conv_3x3', 0), ('sep_conv_5x5', 0), \
         ('dil_conv_3x3', 1)], reduce_concat=range(1, 3))"
    );
}

#[test]
fn superposed_training_lowers_the_loss_on_a_small_batch() {
    let device = Default::default();
    let x = Tensor::<AB, 4>::random([8, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<AB, 1, Int>::from_data(TensorData::new((0..8i64).collect(), [8]), &device);
    superposed_training_lowers_the_loss(ToyCellConfig::new().init::<AB>(&device).unwrap(), x, y);
}
