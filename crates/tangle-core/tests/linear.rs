//! SuperLinear against the literal superposition formula and separately-run sliced layers.
mod common;
use common::*;

use burn::tensor::{module::linear, Tensor};
use tangle_core::{scaled, CoreError, Mixture, SuperLinear, SuperLinearConfig};

/// Literal `Σ_c p_c · pad(slice_c(W))` over all combinations, computed element by element.
fn literal_mix(w: &[f32], shape: [usize; 2], combos: &[((usize, usize), f32)]) -> Vec<f32> {
    let [ni, no] = shape;
    let mut out = vec![0f32; ni * no];
    for &((ci, co), p) in combos {
        for i in 0..ci {
            for o in 0..co {
                out[i * no + o] += p * w[i * no + o];
            }
        }
    }
    out
}

/// Reference: weighted sum of the separately-run sliced layers, each output zero-padded.
fn weighted_sum_of_slices(
    layer: &SuperLinear<B>,
    x: &Tensor<B, 2>,
    combos: &[((usize, usize), f32)],
) -> Tensor<B, 2> {
    let [_, no] = layer.weight.dims();
    let mut acc = Vec::new();
    for &((ci, co), p) in combos {
        let [n, _] = x.dims();
        let wi = layer.weight.val().slice([0..ci, 0..co]);
        let bi = layer.bias.as_ref().map(|b| b.val().slice([0..co]));
        let y = linear(x.clone().slice([0..n, 0..ci]), wi, bi) * p;
        let y = pad_last(y, no);
        acc.push(y);
    }
    sum_all(acc)
}

fn combos2(ins: &[usize], outs: &[usize], a: &[f32], b: &[f32]) -> Vec<((usize, usize), f32)> {
    let mut v = vec![];
    for (i, &ci) in ins.iter().enumerate() {
        for (j, &co) in outs.iter().enumerate() {
            v.push(((ci, co), a[i] * b[j]));
        }
    }
    v
}

#[test]
fn independent_in_out_matches_literal_weight_and_sliced_outputs() {
    let d = dev();
    let (ins, outs) = ([3, 5, 8], [2, 6]);
    let layer = SuperLinearConfig::new(&ins, &outs)
        .unwrap()
        .init::<B>(&d)
        .unwrap();
    let (a, b) = ([0.2f32, 0.5, 0.3], [0.7f32, 0.3]);
    let (ma, mb) = (
        Mixture::weights(w::<B>(&a, &d)),
        Mixture::weights(w::<B>(&b, &d)),
    );
    let combos = combos2(&ins, &outs, &a, &b);

    let (wm, _, ext) = layer.mixed(&[&ma, &mb]).unwrap();
    assert_eq!(ext, [8, 6]);
    let want = literal_mix(&vec_of(&layer.weight.val()), [8, 6], &combos);
    assert_close(&wm, &floats::<B, 2>(&want, [8, 6], &d), 1e-6);

    let x = randn::<B, 2>([4, 8], &d);
    let y = layer.forward(x.clone(), &[&ma, &mb]).unwrap();
    assert_close(&y, &weighted_sum_of_slices(&layer, &x, &combos), 1e-5);
}

#[test]
fn expand_and_contract_are_combi_superpositions() {
    let d = dev();
    let (embeds, ratios) = ([4usize, 6, 8], [1.5f64, 2.0]);
    let (a, b) = ([0.1f32, 0.6, 0.3], [0.4f32, 0.6]);
    let (ma, mb) = (
        Mixture::weights(w::<B>(&a, &d)),
        Mixture::weights(w::<B>(&b, &d)),
    );
    let mut up = vec![];
    let mut down = vec![];
    for (i, &e) in embeds.iter().enumerate() {
        for (j, &r) in ratios.iter().enumerate() {
            up.push(((e, scaled(e, r)), a[i] * b[j]));
            down.push(((scaled(e, r), e), a[i] * b[j]));
        }
    }
    assert_eq!(scaled(6, 1.5), 9);

    let fc1 = SuperLinearConfig::expand(&embeds, &ratios)
        .unwrap()
        .init::<B>(&d)
        .unwrap();
    let (wm, _, ext) = fc1.mixed(&[&ma, &mb]).unwrap();
    assert_eq!(ext, [8, 16]);
    assert_close(
        &wm,
        &floats::<B, 2>(
            &literal_mix(&vec_of(&fc1.weight.val()), [8, 16], &up),
            [8, 16],
            &d,
        ),
        1e-6,
    );
    let x = randn::<B, 2>([3, 8], &d);
    let h = fc1.forward(x.clone(), &[&ma, &mb]).unwrap();
    assert_close(&h, &weighted_sum_of_slices(&fc1, &x, &up), 1e-5);

    let fc2 = SuperLinearConfig::contract(&embeds, &ratios)
        .unwrap()
        .init::<B>(&d)
        .unwrap();
    let (wm, _, _) = fc2.mixed(&[&ma, &mb]).unwrap();
    assert_close(
        &wm,
        &floats::<B, 2>(
            &literal_mix(&vec_of(&fc2.weight.val()), [16, 8], &down),
            [16, 8],
            &d,
        ),
        1e-6,
    );
    let z = randn::<B, 2>([3, 16], &d);
    assert_close(
        &fc2.forward(z.clone(), &[&ma, &mb]).unwrap(),
        &weighted_sum_of_slices(&fc2, &z, &down),
        1e-5,
    );
}

#[test]
fn three_decision_combi_matches_literal_formula() {
    // in = a_i, out = b_j · c_k (e.g. heads × head width): three decisions on one weight.
    let d = dev();
    let (sa, sb, sc) = ([2usize, 4], [1usize, 2, 3], [2usize, 3]);
    let layer = SuperLinearConfig::combi(vec![2, 3, 2], move |c| (sa[c[0]], sb[c[1]] * sc[c[2]]))
        .unwrap()
        .init::<B>(&d)
        .unwrap();
    let (wa, wb, wc) = ([0.3f32, 0.7], [0.2f32, 0.3, 0.5], [0.6f32, 0.4]);
    let mix = [
        Mixture::weights(w::<B>(&wa, &d)),
        Mixture::weights(w::<B>(&wb, &d)),
        Mixture::weights(w::<B>(&wc, &d)),
    ];
    let mut combos = vec![];
    for i in 0..2 {
        for j in 0..3 {
            for k in 0..2 {
                combos.push(((sa[i], sb[j] * sc[k]), wa[i] * wb[j] * wc[k]));
            }
        }
    }
    let (wm, bm, ext) = layer.mixed(&[&mix[0], &mix[1], &mix[2]]).unwrap();
    assert_eq!(ext, [4, 9]);
    let want = literal_mix(&vec_of(&layer.weight.val()), [4, 9], &combos);
    assert_close(&wm, &floats::<B, 2>(&want, [4, 9], &d), 1e-6);
    // Bias: Σ_c p_c · pad(b[:out_c]).
    let bias = vec_of(&layer.bias.as_ref().unwrap().val());
    let mut bw = vec![0f32; 9];
    for &((_, co), p) in &combos {
        for o in 0..co {
            bw[o] += p * bias[o];
        }
    }
    assert_close(&bm.unwrap(), &w::<B>(&bw, &d), 1e-6);
    let x = randn::<B, 2>([5, 4], &d);
    let y = layer
        .forward(x.clone(), &[&mix[0], &mix[1], &mix[2]])
        .unwrap();
    assert_close(&y, &weighted_sum_of_slices(&layer, &x, &combos), 1e-5);
}

#[test]
fn one_hot_equals_single_equals_extracted() {
    let d = dev();
    let (embeds, ratios) = ([4usize, 6, 8], [1.5f64, 2.0]);
    let fc1 = SuperLinearConfig::expand(&embeds, &ratios)
        .unwrap()
        .init::<B>(&d)
        .unwrap();
    for i in 0..3 {
        for j in 0..2 {
            let (e, h) = (embeds[i], scaled(embeds[i], ratios[j]));
            let x = randn::<B, 2>([3, e], &d);
            let xfull = pad_last(x.clone(), 8);
            let hot = fc1
                .forward(
                    xfull,
                    &[
                        &Mixture::one_hot(i, 3, &d).unwrap(),
                        &Mixture::one_hot(j, 2, &d).unwrap(),
                    ],
                )
                .unwrap();
            let single = fc1
                .forward(x.clone(), &[&Mixture::single(i), &Mixture::single(j)])
                .unwrap();
            let sub = fc1.extract(&[i, j]).unwrap().forward(x);
            assert_eq!(single.dims(), [3, h]);
            assert_close(&hot.clone().slice([0..3, 0..h]), &single, 1e-6);
            if h < 16 {
                assert_close(
                    &hot.slice([0..3, h..16]),
                    &Tensor::zeros([3, 16 - h], &d),
                    0.0,
                );
            }
            assert_close(&sub, &single, 1e-6);
        }
    }
    assert_eq!(fc1.params(&[1, 0]).unwrap(), 6 * 9 + 9);
}

#[test]
fn straight_through_weight_scales_the_slice() {
    let d = dev();
    let layer = SuperLinearConfig::output(4, &[2, 3])
        .unwrap()
        .init::<B>(&d)
        .unwrap();
    let x = randn::<B, 2>([2, 4], &d);
    let plain = layer.forward(x.clone(), &[&Mixture::single(1)]).unwrap();
    let st = layer
        .forward(x, &[&Mixture::straight_through(1, w::<B>(&[0.5], &d))])
        .unwrap();
    assert_close(&st, &(plain * 0.5), 1e-6);
}

#[test]
fn bad_mixtures_and_inputs_are_typed_errors() {
    let d = dev();
    let layer = SuperLinearConfig::new(&[2, 4], &[3, 5])
        .unwrap()
        .init::<B>(&d)
        .unwrap();
    let x = randn::<B, 2>([2, 4], &d);
    let m2 = Mixture::weights(w::<B>(&[0.5, 0.5], &d));
    let m3 = Mixture::weights(w::<B>(&[0.3, 0.3, 0.4], &d));
    assert!(matches!(
        layer.forward(x.clone(), &[&m2, &m3]),
        Err(CoreError::BadMixture { .. })
    ));
    assert!(matches!(
        layer.forward(x.clone(), &[&m2]),
        Err(CoreError::BadMixture { .. })
    ));
    assert!(matches!(
        layer.forward(x.clone(), &[&Mixture::single(2), &m2]),
        Err(CoreError::BadMixture { .. })
    ));
    // Single input width 2, but the tensor is 4 wide.
    assert!(matches!(
        layer.forward(x, &[&Mixture::single(0), &m2]),
        Err(CoreError::Shape { .. })
    ));
    assert!(matches!(
        layer.extract(&[0, 2]),
        Err(CoreError::BadMixture { .. })
    ));
    assert!(matches!(
        SuperLinearConfig::new(&[4, 2], &[3]),
        Err(CoreError::NotIncreasing { .. })
    ));
    assert!(matches!(
        SuperLinearConfig::new(&[], &[3]),
        Err(CoreError::Empty { .. })
    ));
    assert!(matches!(
        SuperLinearConfig::expand(&[4], &[2.0, -1.0]),
        Err(CoreError::InvalidCandidate { .. })
    ));
}

#[test]
fn gradients_reach_weights_and_mixture_and_match_finite_differences() {
    let d = dev();
    let (embeds, ratios) = ([2usize, 3, 4], [1.0f64, 2.0]);
    let fc1 = SuperLinearConfig::expand(&embeds, &ratios)
        .unwrap()
        .init::<AB>(&d)
        .unwrap();
    let x = randn::<AB, 2>([3, 4], &d);
    let r = randn::<AB, 2>([3, 8], &d);
    let loss_at = |a: &[f32], b: &[f32]| -> f32 {
        let ma = Mixture::weights(w::<AB>(a, &d));
        let mb = Mixture::weights(w::<AB>(b, &d));
        let y = fc1.forward(x.clone(), &[&ma, &mb]).unwrap();
        (y * r.clone()).sum().into_scalar()
    };
    let (a, b) = ([0.2f32, 0.3, 0.5], [0.6f32, 0.4]);
    let wa = w::<AB>(&a, &d).require_grad();
    let wb = w::<AB>(&b, &d).require_grad();
    let y = fc1
        .forward(
            x.clone(),
            &[&Mixture::weights(wa.clone()), &Mixture::weights(wb.clone())],
        )
        .unwrap();
    let grads = (y * r.clone()).sum().backward();
    let ga = vec_of(&wa.grad(&grads).unwrap());
    let gb = vec_of(&wb.grad(&grads).unwrap());
    let gw = fc1.weight.val().grad(&grads).unwrap();
    assert!(
        vec_of(&gw).iter().any(|v| v.abs() > 1e-4),
        "no gradient reached the weight"
    );
    let h = 1e-2f32;
    for i in 0..3 {
        let fd = central_difference(|p| loss_at(p, &b), &a, i, h);
        assert!(ga[i].abs() > 1e-4, "zero gradient on α_{i}");
        assert!(
            (fd - ga[i]).abs() <= fd_tol(1e-2) * ga[i].abs().max(1.0),
            "α_{i}: autodiff {} vs fd {fd}",
            ga[i]
        );
    }
    for j in 0..2 {
        let fd = central_difference(|p| loss_at(&a, p), &b, j, h);
        assert!(
            (fd - gb[j]).abs() <= fd_tol(1e-2) * gb[j].abs().max(1.0),
            "β_{j}: autodiff {} vs fd {fd}",
            gb[j]
        );
    }
}

#[test]
fn initializer_is_configurable() {
    use burn::nn::Initializer;
    let d = dev();
    let lin = SuperLinearConfig::new(&[8, 16], &[4, 6])
        .unwrap()
        .with_initializer(Initializer::Constant { value: -0.5 })
        .init::<B>(&d)
        .unwrap();
    assert_eq!(vec_of(&lin.weight.val()), vec![-0.5; 16 * 6]);
    assert_eq!(vec_of(&lin.bias.unwrap().val()), vec![-0.5; 6]);
    // Default: uniform with bound 1/√(largest fan-in).
    let lin = SuperLinearConfig::new(&[8, 16], &[4, 6])
        .unwrap()
        .init::<B>(&d)
        .unwrap();
    assert!(vec_of(&lin.weight.val()).iter().all(|x| x.abs() <= 0.25));
}
