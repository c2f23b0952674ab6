//! SuperConv1d against weighted sums of separately-run sliced 1-D convolutions (Burn's own
//! `conv1d` on slices of the weight: an independent reference for the shared weight mixing).
mod common;
use common::*;

use burn::config::Config;
use burn::tensor::{module::conv1d, ops::ConvOptions, Tensor};
use tangle_core::{CoreError, Mixture, SuperConv1dConfig};

/// Zero-pads dim 1 of a 3-D tensor to `n`.
fn pad_channels(x: Tensor<B, 3>, n: usize) -> Tensor<B, 3> {
    let [b, c, l] = x.dims();
    if c == n {
        return x;
    }
    Tensor::cat(vec![x, Tensor::zeros([b, n - c, l], &dev())], 1)
}

/// One sliced convolution run on its own: `ci` input channels, `co` outputs, centred `k` taps.
#[allow(clippy::too_many_arguments)]
fn sliced(
    weight: &Tensor<B, 3>,
    bias: &Tensor<B, 1>,
    x: &Tensor<B, 3>,
    ci: usize,
    co: usize,
    k: usize,
    stride: usize,
    dil: usize,
    depthwise: bool,
) -> Tensor<B, 3> {
    let kmax = weight.dims()[2];
    let o = (kmax - k) / 2;
    let pi = if depthwise { 1 } else { ci };
    let w = weight.clone().slice([0..co, 0..pi, o..o + k]);
    let [n, _, len] = x.dims();
    let xs = x.clone().slice([0..n, 0..ci, 0..len]);
    let groups = if depthwise { co } else { 1 };
    let pad = dil * (k - 1) / 2;
    conv1d(
        xs,
        w,
        Some(bias.clone().slice([0..co])),
        ConvOptions::new([stride], [pad], [dil], groups),
    )
}

fn check_superposed(stride: usize, dil: usize) {
    let d = dev();
    let (ins, outs, ks) = ([2usize, 4], [3usize, 5, 6], [1usize, 3, 5]);
    let conv = SuperConv1dConfig::new(&ins, &outs, &ks)
        .unwrap()
        .with_stride(stride)
        .with_dilation(dil)
        .init::<B>(&d)
        .unwrap();
    let (wi, wo, wk) = ([0.4f32, 0.6], [0.2f32, 0.3, 0.5], [0.3f32, 0.3, 0.4]);
    let x = randn::<B, 3>([2, 4, 17], &d);
    let y = conv
        .forward(
            x.clone(),
            &[
                &Mixture::weights(w::<B>(&wi, &d)),
                &Mixture::weights(w::<B>(&wo, &d)),
            ],
            Some(&Mixture::weights(w::<B>(&wk, &d))),
        )
        .unwrap();
    let weight = conv.weight.val();
    let bias = conv.bias.as_ref().unwrap().val();
    let mut want = Vec::new();
    for (i, &ci) in ins.iter().enumerate() {
        for (o, &co) in outs.iter().enumerate() {
            for (kk, &k) in ks.iter().enumerate() {
                let yi = sliced(&weight, &bias, &x, ci, co, k, stride, dil, false);
                want.push(pad_channels(yi, 6) * (wi[i] * wo[o] * wk[kk]));
            }
        }
    }
    assert_close(&y, &sum_all(want), 1e-5);
}

#[test]
fn superposed_kernel_and_channels_equal_weighted_sliced_convs() {
    check_superposed(1, 1);
}

#[test]
fn superposition_holds_with_stride_and_dilation() {
    check_superposed(2, 2);
}

#[test]
fn depthwise_superposition_equals_weighted_sliced_convs() {
    let d = dev();
    let (chans, ks) = ([3usize, 6], [3usize, 5, 7]);
    let conv = SuperConv1dConfig::depthwise(&chans, &ks)
        .unwrap()
        .init::<B>(&d)
        .unwrap();
    let (wc, wk) = ([0.25f32, 0.75], [0.5f32, 0.2, 0.3]);
    let x = randn::<B, 3>([2, 6, 12], &d);
    let y = conv
        .forward(
            x.clone(),
            &[&Mixture::weights(w::<B>(&wc, &d))],
            Some(&Mixture::weights(w::<B>(&wk, &d))),
        )
        .unwrap();
    let (weight, bias) = (conv.weight.val(), conv.bias.as_ref().unwrap().val());
    let mut want = Vec::new();
    for (i, &c) in chans.iter().enumerate() {
        for (kk, &k) in ks.iter().enumerate() {
            let yi = sliced(&weight, &bias, &x, c, c, k, 1, 1, true);
            want.push(pad_channels(yi, 6) * (wc[i] * wk[kk]));
        }
    }
    assert_close(&y, &sum_all(want), 1e-5);
}

#[test]
fn one_hot_equals_single_equals_extracted() {
    let d = dev();
    let (ins, outs, ks) = ([2usize, 4], [3usize, 5], [3usize, 5]);
    let conv = SuperConv1dConfig::new(&ins, &outs, &ks)
        .unwrap()
        .with_dilation(2)
        .init::<B>(&d)
        .unwrap();
    for (i, &ci) in ins.iter().enumerate() {
        for (o, &co) in outs.iter().enumerate() {
            for (kk, &k) in ks.iter().enumerate() {
                let x = randn::<B, 3>([2, ci, 11], &d);
                let hot = conv
                    .forward(
                        pad_channels(x.clone(), 4),
                        &[
                            &Mixture::one_hot(i, 2, &d).unwrap(),
                            &Mixture::one_hot(o, 2, &d).unwrap(),
                        ],
                        Some(&Mixture::one_hot(kk, 2, &d).unwrap()),
                    )
                    .unwrap();
                let single = conv
                    .forward(
                        x.clone(),
                        &[&Mixture::single(i), &Mixture::single(o)],
                        Some(&Mixture::single(kk)),
                    )
                    .unwrap();
                let sub = conv.extract(&[i, o], kk).unwrap();
                assert_eq!(single.dims(), [2, co, 11]);
                assert_close(&hot.clone().slice([0..2, 0..co, 0..11]), &single, 1e-5);
                if co < 5 {
                    assert_close(
                        &hot.slice([0..2, co..5, 0..11]),
                        &Tensor::zeros([2, 5 - co, 11], &d),
                        0.0,
                    );
                }
                assert_close(&sub.forward(x), &single, 1e-5);
                // The extracted module's own parameter count, against `params`.
                let counted = sub.weight.val().dims().iter().product::<usize>() + co;
                assert_eq!(conv.params(&[i, o], kk).unwrap(), counted);
                assert_eq!(counted, co * ci * k + co);
            }
        }
    }
}

#[test]
fn straight_through_weight_scales_the_single_path() {
    let d = dev();
    let conv = SuperConv1dConfig::new(&[3], &[4], &[3, 5])
        .unwrap()
        .init::<AB>(&d)
        .unwrap();
    let x = randn::<AB, 3>([2, 3, 9], &d);
    let one = Mixture::single(0);
    let plain = conv
        .forward(x.clone(), &[&one, &one], Some(&Mixture::single(1)))
        .unwrap();
    let s = w::<AB>(&[0.7], &d).require_grad();
    let st = Mixture::Single {
        index: 1,
        weight: Some(s.clone()),
    };
    let y = conv.forward(x, &[&one, &one], Some(&st)).unwrap();
    assert_close(&y, &(plain.clone() * 0.7), 1e-5);
    // d(sum y)/ds = sum(plain): the weight reaches the loss through weight and bias.
    let grads = y.sum().backward();
    let g = vec_of(&s.grad(&grads).unwrap())[0];
    let want = vec_of(&plain.sum())[0];
    assert!(
        (g - want).abs() <= 1e-4 * want.abs().max(1.0),
        "{g} vs {want}"
    );
}

#[test]
fn kernel_gradient_matches_finite_differences() {
    let d = dev();
    let conv = SuperConv1dConfig::new(&[3], &[4], &[1, 3, 5])
        .unwrap()
        .init::<AB>(&d)
        .unwrap();
    let x = randn::<AB, 3>([2, 3, 10], &d);
    let r = randn::<AB, 3>([2, 4, 10], &d);
    let one = Mixture::single(0);
    let loss = |k: &[f32]| -> f32 {
        let y = conv
            .forward(
                x.clone(),
                &[&one, &one],
                Some(&Mixture::weights(w::<AB>(k, &d))),
            )
            .unwrap();
        (y * r.clone()).sum().into_scalar()
    };
    let k = [0.2f32, 0.5, 0.3];
    let wk = w::<AB>(&k, &d).require_grad();
    let y = conv
        .forward(
            x.clone(),
            &[&one, &one],
            Some(&Mixture::weights(wk.clone())),
        )
        .unwrap();
    let grads = (y * r.clone()).sum().backward();
    let g = vec_of(&wk.grad(&grads).unwrap());
    for i in 0..3 {
        let fd = central_difference(loss, &k, i, 1e-2);
        assert!(g[i].abs() > 1e-4);
        assert!(
            (fd - g[i]).abs() <= fd_tol(1e-2) * g[i].abs().max(1.0),
            "kernel {i}: {} vs {fd}",
            g[i]
        );
    }
}

#[test]
fn errors_name_the_1d_module() {
    let d = dev();
    let bad_kernel = SuperConv1dConfig::new(&[3], &[4], &[3, 4]).unwrap_err();
    assert!(matches!(bad_kernel, CoreError::InvalidCandidate { .. }));
    assert!(
        bad_kernel.to_string().contains("SuperConv1d.kernel"),
        "{bad_kernel}"
    );
    let bad_widths = SuperConv1dConfig::new(&[3], &[8, 4], &[3]).unwrap_err();
    assert!(
        bad_widths.to_string().contains("SuperConv1d.out"),
        "{bad_widths}"
    );
    assert!(matches!(
        SuperConv1dConfig::new(&[3], &[4], &[3, 5])
            .unwrap()
            .with_padding(1),
        Err(CoreError::Config(_))
    ));
    let conv = SuperConv1dConfig::new(&[3], &[4], &[3, 5])
        .unwrap()
        .init::<B>(&d)
        .unwrap();
    let one = Mixture::single(0);
    let no_kernel = conv
        .forward(randn::<B, 3>([1, 3, 5], &d), &[&one, &one], None)
        .unwrap_err();
    assert!(
        no_kernel.to_string().contains("SuperConv1d.kernel"),
        "{no_kernel}"
    );
    let shape = conv
        .forward(randn::<B, 3>([1, 2, 5], &d), &[&one, &one], Some(&one))
        .unwrap_err();
    assert!(shape.to_string().contains("SuperConv1d"), "{shape}");
    assert!(matches!(
        conv.extract(&[0, 0], 7),
        Err(CoreError::BadMixture { .. })
    ));
}

#[test]
fn config_saves_and_loads_as_json() {
    let c = SuperConv1dConfig::new(&[3], &[4, 8], &[3, 5])
        .unwrap()
        .with_stride(2)
        .with_bias(false);
    let json = burn::config::config_to_json(&c);
    let back = SuperConv1dConfig::load_binary(json.as_bytes()).unwrap();
    assert_eq!(back, c, "{json}");
    let conv = back.init::<B>(&dev()).unwrap();
    assert_eq!(conv.weight.dims(), [8, 3, 5]);
    assert!(conv.bias.is_none());
}
