//! MobileNetV3 (OFA): spec, modes, extraction, parameter counts, training.
mod common;

use burn::module::AutodiffModule;
use burn::nn::DropoutConfig;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use common::*;
use tangle_core::subnet::trainable_params;
use tangle_core::Extract;
use tangle_core::{CoreError, Mixtures, Supernet};
use tangle_spaces::mobilenet::{make_divisible, spec, MobileNetConfig};

const SMALL: MobileNetConfig = MobileNetConfig {
    image_size: 32,
    classes: 10,
    dropout: 0.1,
};

#[test]
fn spec_and_make_divisible() {
    let s = spec();
    assert_eq!(s.decisions().len(), 5 * 9);
    assert_eq!(s.decisions()[0].name(), "stage1.depth");
    assert_eq!(s.decisions()[2].name(), "stage1.block1.expand");
    assert_eq!(make_divisible(72.0, 8), 72);
    assert_eq!(make_divisible(30.0, 8), 32);
    assert_eq!(make_divisible(18.0, 8), 24); // 16 < 0.9 · 18
    assert_eq!(make_divisible(3.0, 8), 8);
}

#[test]
fn one_hot_equals_single_path_equals_extracted_subnet() {
    let device = Default::default();
    let x = Tensor::<AB, 4>::random([4, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let mut net = warm(SMALL.init::<AB>(&device).unwrap(), x.clone());
    net.frame.dropout = DropoutConfig::new(0.0).init();
    let inner = net.valid();
    check_modes(
        &net,
        x.clone(),
        &random_archs(net.spec(), 3, 7),
        |arch, x| net.extract(arch).unwrap().forward(x).unwrap(),
        |arch, x| inner.extract(arch).unwrap().forward(x).unwrap(),
    );
    assert!(matches!(
        inner.forward_mixed(
            Tensor::zeros([1, 3, 224, 224], &device),
            &Mixtures::fixed(&spec(), &spec().largest()).unwrap()
        ),
        Err(CoreError::Shape { .. })
    ));
}

#[test]
fn analytic_parameter_count_equals_the_subnet_count() {
    let device = Default::default();
    let net = MobileNetConfig::default().init::<AB>(&device).unwrap();
    for idx in random_archs(&spec(), 3, 8) {
        let arch = spec().architecture(&idx).unwrap();
        assert_eq!(
            net.params(&arch).unwrap(),
            trainable_params(&net.extract(&arch).unwrap()),
            "{}",
            net.describe(&arch).unwrap()
        );
        assert_default_params(&net, &arch);
    }
    // OFA's largest MobileNetV3 (width 1.0) has 7.7M parameters.
    let largest = net.params(&spec().largest()).unwrap();
    assert!((7_600_000..7_800_000).contains(&largest), "{largest}");
}

#[test]
fn superposed_training_lowers_the_loss_on_a_small_batch() {
    let device = Default::default();
    let x = Tensor::<AB, 4>::random([8, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<AB, 1, Int>::from_data(TensorData::new((0..8i64).collect(), [8]), &device);
    superposed_training_lowers_the_loss(SMALL.init::<AB>(&device).unwrap(), x, y);
}

/// GDAS's straight-through weight `s` on a block's kernel decision scales the output of the
/// depthwise convolution's batch norm — the same network as that batch norm's γ and β times
/// `s`. Put into the kernel, as before, the batch norm divided it back out and GDAS got no
/// gradient for kernels.
#[test]
fn straight_through_kernel_weight_scales_the_batch_norm_output() {
    use burn::module::Param;
    use tangle_core::Mixture;
    let device = Default::default();
    let mut net = SMALL.init::<AB>(&device).unwrap();
    net.frame.dropout = DropoutConfig::new(0.0).init();
    let x = Tensor::<AB, 4>::random([4, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let sp = spec();
    let arch = sp.largest();
    let at = sp.position("stage1.block1.kernel").unwrap();
    let s = 0.5f32;
    let mixtures = sp
        .indices(&arch)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(d, i)| {
            if d == at {
                Mixture::straight_through(i, Tensor::from_floats([s], &device))
            } else {
                Mixture::single(i)
            }
        })
        .collect();
    let got = vals(
        net.forward_mixed(x.clone(), &Mixtures::new(&sp, mixtures).unwrap())
            .unwrap(),
    );
    let mut scaled = net.clone();
    let bn = &mut scaled.stages[0][0].depthwise_bn;
    bn.gamma = Param::from_tensor((bn.gamma.val() * s).detach());
    bn.beta = Param::from_tensor((bn.beta.val() * s).detach());
    let fixed = Mixtures::fixed(&sp, &arch).unwrap();
    let want = vals(scaled.forward_mixed(x.clone(), &fixed).unwrap());
    close(&got, &want, 1e-5);
    // And the scale matters: the plain path differs from it.
    let plain = vals(net.forward_mixed(x, &fixed).unwrap());
    let diff = plain
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        diff > 1e-4,
        "scaling the batch norm changed nothing ({diff})"
    );
}

/// The superposed supernet's gradients (the weights' and the superposition weights') with
/// `tangle_core::conv2d`'s backward pass equal those with Burn's: the same network, seeded
/// alike, on `Autodiff<Flex>` (this crate's backward) and on `Autodiff<Flex,
/// BalancedCheckpointing>` (Burn's, which `conv2d` leaves alone).
#[test]
fn supernet_gradients_match_burns_convolution() {
    use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
    use burn::backend::{Autodiff, Flex};
    use tangle_core::Mixture;
    type Burns = Autodiff<Flex, BalancedCheckpointing>;
    assert!(tangle_core::has_fast_backward::<AB>());
    assert!(!tangle_core::has_fast_backward::<Burns>());

    fn grads<Bk: burn::tensor::backend::AutodiffBackend>() -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let device = Default::default();
        Bk::seed(&device, 11);
        let mut net = SMALL.init::<Bk>(&device).unwrap();
        net.frame.dropout = DropoutConfig::new(0.0).init();
        let x = Tensor::<Bk, 4>::random([4, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
        let sp = spec();
        let weights: Vec<Tensor<Bk, 1>> = sp
            .decisions()
            .iter()
            .map(|d| {
                Tensor::<Bk, 1>::random([d.len()], Distribution::Uniform(0.1, 1.0), &device)
                    .require_grad()
            })
            .collect();
        let mix = weights
            .iter()
            .map(|w| Mixture::weights(w.clone()))
            .collect();
        let y = net
            .forward_mixed(x, &Mixtures::new(&sp, mix).unwrap())
            .unwrap();
        let r = Tensor::<Bk, 2>::random(y.dims(), Distribution::Normal(0.0, 1.0), &device);
        let g = (y * r).sum().backward();
        let flat = |t: Tensor<Bk::InnerBackend, 4>| t.into_data().to_vec::<f32>().unwrap();
        let block = &net.stages[1][0];
        let alpha: Vec<f32> = weights
            .iter()
            .flat_map(|w| w.grad(&g).unwrap().into_data().to_vec::<f32>().unwrap())
            .collect();
        let dw = flat(block.depthwise.weight.grad(&g).unwrap());
        let mut first = flat(net.frame.first_conv.weight.grad(&g).unwrap());
        first.extend(flat(block.expand.weight.grad(&g).unwrap()));
        first.extend(flat(block.project.weight.grad(&g).unwrap()));
        (alpha, dw, first)
    }
    let (fast, burn) = (grads::<AB>(), grads::<Burns>());
    close(&fast.0, &burn.0, 1e-4);
    close(&fast.1, &burn.1, 1e-4);
    close(&fast.2, &burn.2, 1e-4);
}
