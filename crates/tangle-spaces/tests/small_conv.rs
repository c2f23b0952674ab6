//! The quality study's small conv space: spec, modes, extraction, parameter counts, the WS
//! twin, and the superposed forward against the weighted sum of sliced convs.
mod common;

use burn::module::AutodiffModule;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use tangle_core::subnet::trainable_params;
use tangle_core::{CoreError, Extract, Mixtures, Supernet};
use tangle_spaces::small_conv::{spec, SmallConvConfig};

use common::*;

const DIGITS: SmallConvConfig = SmallConvConfig {
    in_channels: 1,
    classes: 10,
};

#[test]
fn spec_has_81_architectures() {
    let s = spec();
    assert_eq!(s.size(), 81);
    assert_eq!(s.decisions().len(), 4);
    assert_eq!(
        s.get("kernel").unwrap().int_values().unwrap(),
        vec![3, 5, 7]
    );
}

#[test]
fn one_hot_equals_single_path_equals_extracted_subnet() {
    let device = Default::default();
    let x = Tensor::<AB, 4>::random([4, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let mut archs = random_archs(&spec(), 3, 4);
    archs.push(vec![0; 4]);
    archs.push(vec![2; 4]);
    let we = warm(DIGITS.init::<AB>(&device).unwrap(), x.clone());
    let inner = we.valid();
    check_modes(
        &we,
        x.clone(),
        &archs,
        |arch, x| we.extract(arch).unwrap().forward(x),
        |arch, x| inner.extract(arch).unwrap().forward(x),
    );
    let ws = warm(DIGITS.init_ws::<AB>(&device).unwrap(), x.clone());
    let inner = ws.valid();
    check_modes(
        &ws,
        x,
        &archs,
        |arch, x| ws.extract(arch).unwrap().forward(x),
        |arch, x| inner.extract(arch).unwrap().forward(x),
    );
    // A 3-channel image is an error that names the expected shape.
    let err = we
        .forward_mixed(
            Tensor::zeros([1, 3, 28, 28], &device),
            &Mixtures::fixed(&spec(), &spec().largest()).unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err, CoreError::Shape { .. }), "{err}");
    assert!((SmallConvConfig {
        classes: 0,
        ..DIGITS
    })
    .init::<B>(&device)
    .is_err());
}

/// The analytic count equals the extracted network's trainable parameters, for both supernets,
/// and the largest network has exactly the count written out by hand.
#[test]
fn parameter_counts() {
    let device = Default::default();
    let we = DIGITS.init::<AB>(&device).unwrap();
    let ws = DIGITS.init_ws::<AB>(&device).unwrap();
    for idx in random_archs(&spec(), 6, 9) {
        let arch = spec().architecture(&idx).unwrap();
        let n = we.params(&arch).unwrap();
        assert_eq!(n, trainable_params(&we.extract(&arch).unwrap()), "{arch}");
        assert_default_params(&we, &arch);
        assert_eq!(n, ws.params(&arch).unwrap());
        assert_eq!(n, trainable_params(&ws.extract(&arch).unwrap()), "{arch}");
    }
    // conv 1→32 (7×7) + bias + BN, conv 32→32 twice, linear 32→10.
    let largest = (32 * 49 + 32 + 64) + 2 * (32 * 32 * 49 + 32 + 64) + (32 * 10 + 10);
    assert_eq!(we.params(&spec().largest()).unwrap(), largest);
}

/// A superposed pass equals the network whose conv weights are the weighted sums of the
/// candidates' zero-padded slices, written out with plain Burn convolutions (batch norms at
/// batch statistics, γ = 1 and β = 0 as initialized, so only the mask on the output channels
/// remains of them).
#[test]
fn superposed_forward_is_the_weighted_sum_of_padded_slices() {
    use burn::tensor::activation::relu;
    use burn::tensor::module::{conv2d, max_pool2d};
    use burn::tensor::ops::ConvOptions;
    let device = Default::default();
    let net = DIGITS.init::<AB>(&device).unwrap();
    let x = Tensor::<AB, 4>::random([3, 1, 12, 12], Distribution::Normal(0.0, 1.0), &device);
    let w = |v: [f32; 3]| Tensor::<AB, 1>::from_data(TensorData::new(v.to_vec(), [3]), &device);
    let (c1, c2, c3, k) = (
        [0.2f32, 0.3, 0.5],
        [0.6, 0.3, 0.1],
        [0.1, 0.1, 0.8],
        [0.5, 0.25, 0.25],
    );
    let mix = Mixtures::new(
        &spec(),
        vec![c1, c2, c3, k]
            .into_iter()
            .map(|v| tangle_core::Mixture::weights(w(v)))
            .collect(),
    )
    .unwrap();
    let got = vals(net.forward_mixed(x.clone(), &mix).unwrap());
    // Prefix masks: channel j of a width decision with weights p is Σ_{i: width_i > j} p_i.
    let mask = |p: [f32; 3]| -> Vec<f32> {
        (0..32)
            .map(|j| {
                [8, 16, 32]
                    .iter()
                    .zip(p)
                    .filter(|(wd, _)| j < **wd)
                    .map(|(_, q)| q)
                    .sum()
            })
            .collect()
    };
    let kernel_mask = |p: [f32; 3]| -> Vec<f32> {
        // Entry (u, v) of the 7×7 kernel: Σ over kernels k whose centred k×k window holds it.
        let mut m = vec![0.0; 49];
        for (ki, &kk) in [3usize, 5, 7].iter().enumerate() {
            let off = (7 - kk) / 2;
            for u in off..off + kk {
                for v in off..off + kk {
                    m[u * 7 + v] += p[ki];
                }
            }
        }
        m
    };
    let t1 =
        |v: Vec<f32>| Tensor::<AB, 1>::from_data(TensorData::new(v.clone(), [v.len()]), &device);
    let km = t1(kernel_mask(k)).reshape([1, 1, 7, 7]);
    let mut h = x;
    let masks = [mask(c1), mask(c2), mask(c3)];
    for i in 0..3 {
        let weight = net.convs[i].weight.val();
        let [co, ci, _, _] = weight.dims();
        let out_m = t1(masks[i].clone()).reshape([co, 1, 1, 1]);
        let in_m = if i == 0 {
            Tensor::ones([1, ci, 1, 1], &device)
        } else {
            t1(masks[i - 1].clone()).reshape([1, ci, 1, 1])
        };
        let wm = weight * out_m.clone() * in_m * km.clone();
        let b = net.convs[i].bias.as_ref().unwrap().val() * t1(masks[i].clone());
        h = conv2d(h, wm, Some(b), ConvOptions::new([1, 1], [3, 3], [1, 1], 1));
        // Batch norm at batch statistics, then the output-channel mask on γ and β.
        let [n, c, hh, ww] = h.dims();
        let flat = h.clone().swap_dims(0, 1).reshape([c, n * hh * ww]);
        let mean = flat.clone().mean_dim(1).reshape([1, c, 1, 1]);
        let var = (flat.clone() - flat.mean_dim(1))
            .powf_scalar(2.0)
            .mean_dim(1)
            .reshape([1, c, 1, 1]);
        h = (h - mean) / (var + 1e-5).sqrt() * t1(masks[i].clone()).reshape([1, c, 1, 1]);
        h = relu(h);
        if i < 2 {
            h = max_pool2d(h, [2, 2], [2, 2], [0, 0], [1, 1], false);
        }
    }
    let [n, c, hh, ww] = h.dims();
    let pooled = h.reshape([n, c, hh * ww]).mean_dim(2).reshape([n, c]);
    let head = net.head.weight.val() * t1(masks[2].clone()).reshape([c, 1]);
    let want = vals(pooled.matmul(head) + net.head.bias.as_ref().unwrap().val().reshape([1, 10]));
    close(&got, &want, 1e-4);
}

#[test]
fn superposed_training_lowers_the_loss_on_a_small_batch() {
    let device = Default::default();
    let x = Tensor::<AB, 4>::random([8, 1, 12, 12], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<AB, 1, Int>::from_data(TensorData::new((0..8i64).collect(), [8]), &device);
    superposed_training_lowers_the_loss(DIGITS.init::<AB>(&device).unwrap(), x, y);
}

/// GDAS's straight-through weight on the kernel decision must reach the loss. Every conv here
/// is followed by a batch norm, which divides out a scale put into the kernels: the weight
/// then had no gradient, and GDAS never learned the kernel (its α stayed near uniform).
#[test]
fn straight_through_kernel_weight_reaches_the_loss_past_the_batch_norms() {
    let device = Default::default();
    let net = DIGITS.init::<AB>(&device).unwrap();
    let x = Tensor::<AB, 4>::random([4, 1, 12, 12], Distribution::Normal(0.0, 1.0), &device);
    let arch = spec().largest();
    let kernel = straight_through_gradient(&net, x.clone(), &arch, "kernel");
    // The last width's weight scales the last batch norm's affine parameters and the head's
    // input: its gradient was never lost, and sets the scale.
    let width = straight_through_gradient(&net, x, &arch, "conv3.channels");
    assert!(width > 0.0, "no gradient for the last width");
    assert!(
        kernel > 1e-2 * width,
        "kernel straight-through gradient {kernel} against the width's {width}"
    );
}
