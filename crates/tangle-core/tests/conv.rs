//! SuperConv2d against weighted sums of separately-run sliced convolutions.
mod common;
use common::*;

use burn::tensor::{module::conv2d, ops::ConvOptions, Tensor};
use tangle_core::{CoreError, Mixture, SuperConv2dConfig};

/// One sliced convolution run on its own: `ci` input channels, `co` outputs, centred `k × k`.
#[allow(clippy::too_many_arguments)]
fn sliced(
    weight: &Tensor<B, 4>,
    bias: &Tensor<B, 1>,
    x: &Tensor<B, 4>,
    ci: usize,
    co: usize,
    k: usize,
    stride: usize,
    dil: usize,
    depthwise: bool,
) -> Tensor<B, 4> {
    let [_, _, kmax, _] = weight.dims();
    let o = (kmax - k) / 2;
    let pi = if depthwise { 1 } else { ci };
    let w = weight.clone().slice([0..co, 0..pi, o..o + k, o..o + k]);
    let [n, _, h, wd] = x.dims();
    let xs = x.clone().slice([0..n, 0..ci, 0..h, 0..wd]);
    let groups = if depthwise { co } else { 1 };
    let pad = dil * (k - 1) / 2;
    conv2d(
        xs,
        w,
        Some(bias.clone().slice([0..co])),
        ConvOptions::new([stride; 2], [pad; 2], [dil; 2], groups),
    )
}

fn check_superposed(stride: usize, dil: usize) {
    let d = dev();
    let (ins, outs, ks) = ([2usize, 4], [3usize, 5, 6], [1usize, 3, 5]);
    let conv = SuperConv2dConfig::new(&ins, &outs, &ks)
        .unwrap()
        .with_stride(stride)
        .with_dilation(dil)
        .init::<B>(&d)
        .unwrap();
    let (wi, wo, wk) = ([0.4f32, 0.6], [0.2f32, 0.3, 0.5], [0.3f32, 0.3, 0.4]);
    let x = randn::<B, 4>([2, 4, 9, 9], &d);
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
                let yi = pad_dim1(sliced(&weight, &bias, &x, ci, co, k, stride, dil, false), 6)
                    * (wi[i] * wo[o] * wk[kk]);
                want.push(yi);
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
fn depthwise_superposition_and_single_path() {
    let d = dev();
    let (chans, ks) = ([3usize, 6], [3usize, 5, 7]);
    let conv = SuperConv2dConfig::depthwise(&chans, &ks)
        .unwrap()
        .with_stride(2)
        .init::<B>(&d)
        .unwrap();
    let (wc, wk) = ([0.25f32, 0.75], [0.5f32, 0.2, 0.3]);
    let x = randn::<B, 4>([2, 6, 8, 8], &d);
    let y = conv
        .forward(
            x.clone(),
            &[&Mixture::weights(w::<B>(&wc, &d))],
            Some(&Mixture::weights(w::<B>(&wk, &d))),
        )
        .unwrap();
    let weight = conv.weight.val();
    let bias = conv.bias.as_ref().unwrap().val();
    // A depthwise conv on c channels reads exactly those channels: for the weighted sum, the
    // smaller candidate sees the first c channels of x.
    let mut want = Vec::new();
    for (i, &c) in chans.iter().enumerate() {
        for (kk, &k) in ks.iter().enumerate() {
            let yi =
                pad_dim1(sliced(&weight, &bias, &x, c, c, k, 2, 1, true), 6) * (wc[i] * wk[kk]);
            want.push(yi);
        }
    }
    assert_close(&y, &sum_all(want), 1e-5);

    // One-hot == single == extracted.
    for (i, &c) in chans.iter().enumerate() {
        for (kk, _) in ks.iter().enumerate() {
            let xs = x.clone().slice([0..2, 0..c, 0..8, 0..8]);
            let hot = conv
                .forward(
                    pad_dim1(xs.clone(), 6),
                    &[&Mixture::one_hot(i, 2, &d).unwrap()],
                    Some(&Mixture::one_hot(kk, 3, &d).unwrap()),
                )
                .unwrap();
            let single = conv
                .forward(
                    xs.clone(),
                    &[&Mixture::single(i)],
                    Some(&Mixture::single(kk)),
                )
                .unwrap();
            let sub = conv.extract(&[i], kk).unwrap().forward(xs);
            assert_eq!(single.dims()[1], c);
            assert_close(&hot.slice([0..2, 0..c, 0..4, 0..4]), &single, 1e-5);
            assert_close(&sub, &single, 1e-5);
        }
    }
}

#[test]
fn one_hot_equals_single_equals_extracted() {
    let d = dev();
    let (ins, outs, ks) = ([2usize, 4], [3usize, 5], [3usize, 5]);
    let conv = SuperConv2dConfig::new(&ins, &outs, &ks)
        .unwrap()
        .with_dilation(2)
        .init::<B>(&d)
        .unwrap();
    for (i, &ci) in ins.iter().enumerate() {
        for (o, &co) in outs.iter().enumerate() {
            for kk in 0..2 {
                let x = randn::<B, 4>([1, ci, 7, 7], &d);
                let hot = conv
                    .forward(
                        pad_dim1(x.clone(), 4),
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
                let sub = conv.extract(&[i, o], kk).unwrap().forward(x);
                assert_eq!(single.dims(), [1, co, 7, 7]);
                assert_close(&hot.clone().slice([0..1, 0..co, 0..7, 0..7]), &single, 1e-5);
                if co < 5 {
                    assert_close(
                        &hot.slice([0..1, co..5, 0..7, 0..7]),
                        &Tensor::zeros([1, 5 - co, 7, 7], &d),
                        0.0,
                    );
                }
                assert_close(&sub, &single, 1e-5);
            }
        }
    }
    assert_eq!(conv.params(&[1, 0], 0).unwrap(), 3 * 4 * 9 + 3);
}

#[test]
fn kernel_gradient_matches_finite_differences() {
    let d = dev();
    let conv = SuperConv2dConfig::new(&[3], &[4], &[1, 3, 5])
        .unwrap()
        .init::<AB>(&d)
        .unwrap();
    let x = randn::<AB, 4>([2, 3, 6, 6], &d);
    let r = randn::<AB, 4>([2, 4, 6, 6], &d);
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
    assert!(vec_of(&conv.weight.val().grad(&grads).unwrap())
        .iter()
        .any(|v| v.abs() > 1e-4));
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
fn conv_errors_are_typed() {
    let d = dev();
    assert!(matches!(
        SuperConv2dConfig::new(&[3], &[4], &[3, 4]),
        Err(CoreError::InvalidCandidate { .. })
    ));
    assert!(matches!(
        SuperConv2dConfig::new(&[3], &[4], &[5, 3]),
        Err(CoreError::NotIncreasing { .. })
    ));
    assert!(matches!(
        SuperConv2dConfig::new(&[3], &[4], &[3, 5])
            .unwrap()
            .with_padding(1),
        Err(CoreError::Config(_))
    ));
    let conv = SuperConv2dConfig::new(&[3], &[4], &[3, 5])
        .unwrap()
        .init::<B>(&d)
        .unwrap();
    let one = Mixture::single(0);
    let x = randn::<B, 4>([1, 3, 5, 5], &d);
    assert!(matches!(
        conv.forward(x.clone(), &[&one, &one], None),
        Err(CoreError::BadMixture { .. })
    ));
    assert!(matches!(
        conv.forward(randn::<B, 4>([1, 2, 5, 5], &d), &[&one, &one], Some(&one)),
        Err(CoreError::Shape { .. })
    ));
    assert!(matches!(
        conv.extract(&[0, 0], 7),
        Err(CoreError::BadMixture { .. })
    ));
}

/// Mean and standard deviation of a tensor's entries.
fn moments(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[test]
fn initializer_is_configurable_and_uses_the_largest_fans() {
    use burn::nn::Initializer;
    let d = dev();
    // Default: Burn's Conv2d default, uniform with bound 1/√fan-in (fan-in 32·5·5 = 800).
    let conv = SuperConv2dConfig::new(&[16, 32], &[64, 128], &[3, 5])
        .unwrap()
        .init::<B>(&d)
        .unwrap();
    let w = vec_of(&conv.weight.val());
    let bound = 1.0 / 800f32.sqrt();
    assert!(w.iter().all(|x| x.abs() <= bound));
    let (_, std) = moments(&w);
    assert!(
        (std - bound as f64 / 3f64.sqrt()).abs() < 0.03 * std,
        "std {std}"
    );
    // He: normal with std √(2 / fan-in), over the largest candidate.
    let he = Initializer::KaimingNormal {
        gain: 2f64.sqrt(),
        fan_out_only: false,
    };
    let conv = SuperConv2dConfig::new(&[16, 32], &[64, 128], &[3, 5])
        .unwrap()
        .with_initializer(he)
        .init::<B>(&d)
        .unwrap();
    let (mean, std) = moments(&vec_of(&conv.weight.val()));
    let want = (2.0f64 / 800.0).sqrt();
    assert!(
        mean.abs() < 0.03 * want && (std - want).abs() < 0.03 * want,
        "{mean} {std}"
    );
    // The bias follows the same initializer (as Burn's Conv2d).
    let conv = SuperConv2dConfig::new(&[2], &[3], &[3])
        .unwrap()
        .with_initializer(Initializer::Constant { value: 0.25 })
        .init::<B>(&d)
        .unwrap();
    assert!(vec_of(&conv.weight.val()).iter().all(|&x| x == 0.25));
    assert_eq!(vec_of(&conv.bias.unwrap().val()), vec![0.25; 3]);
}
