//! Superposition masks against their literal definitions.
mod common;
use common::*;

use tangle_core::mask::{kernel_mask, prefix_mask};

#[test]
fn prefix_mask_is_reverse_cumulative_sum() {
    let m = prefix_mask(w::<B>(&[0.2, 0.3, 0.5], &dev()), &[2, 4, 6], 6);
    assert_close(&m, &w::<B>(&[1.0, 1.0, 0.8, 0.8, 0.5, 0.5], &dev()), 1e-6);
}

#[test]
fn prefix_mask_handles_unsorted_and_repeated_sizes() {
    // m[t] = Σ_{i: t < s_i} w_i, written out by hand.
    let sizes = [5, 2, 5, 3];
    let ws = [0.1f32, 0.2, 0.3, 0.4];
    let m = prefix_mask(w::<B>(&ws, &dev()), &sizes, 7);
    let want: Vec<f32> = (0..7)
        .map(|t| {
            sizes
                .iter()
                .zip(&ws)
                .filter(|(s, _)| t < **s)
                .map(|(_, w)| *w)
                .sum()
        })
        .collect();
    assert_eq!(want[0], 1.0);
    assert_close(&m, &w::<B>(&want, &dev()), 1e-6);
}

#[test]
fn kernel_mask_is_sum_of_padded_centred_kernels() {
    let ks = [1, 3, 5];
    let ws = [0.5f32, 0.25, 0.25];
    let m = kernel_mask(w::<B>(&ws, &dev()), &ks, 5);
    let mut want = vec![0f32; 25];
    for (k, wk) in ks.iter().zip(&ws) {
        let o = (5 - k) / 2;
        for y in o..o + k {
            for x in o..o + k {
                want[y * 5 + x] += wk;
            }
        }
    }
    assert_eq!(want[12], 1.0);
    assert_eq!(want[0], 0.25);
    assert_close(&m, &floats::<B, 2>(&want, [5, 5], &dev()), 1e-6);
}

#[test]
fn row_valued_prefix_mask_sums_covering_rows() {
    use tangle_core::mask::prefix_mask_rows;
    // out[t] = Σ_{i: t < sizes[i]} rows[i], written out by hand.
    let sizes = [3, 1, 3];
    let rows = [[1.0f32, 2.0], [10.0, 20.0], [100.0, 200.0]];
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    let m = prefix_mask_rows(floats::<B, 2>(&flat, [3, 2], &dev()), &sizes, 4);
    let want = [111.0, 222.0, 101.0, 202.0, 101.0, 202.0, 0.0, 0.0];
    assert_close(&m, &floats::<B, 2>(&want, [4, 2], &dev()), 0.0);
}

#[test]
fn plan_vector_is_the_slice_scaled_or_masked() {
    use tangle_core::{combi::Combi, Mixture};
    // Two decisions on a [in, out] weight: out = 2·in_choice + 2·ratio_choice + 2.
    let combi = Combi::new(vec![2, 2], 2, |c| vec![4, 2 + 2 * c[0] + 2 * c[1]]).unwrap();
    let v = w::<B>(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &dev());
    // Superposed: v ⊙ m with m[t] = Σ_{a,b} α_a β_b 1[t < extent(a, b)], written out.
    let (a, b) = ([0.25f32, 0.75], [0.4f32, 0.6]);
    let (wa, wb) = (
        Mixture::weights(w::<B>(&a, &dev())),
        Mixture::weights(w::<B>(&b, &dev())),
    );
    let plan = combi.plan(&[&wa, &wb], "test").unwrap();
    let want: Vec<f32> = (0..6)
        .map(|t| {
            let mut m = 0.0;
            for (i, pa) in a.iter().enumerate() {
                for (j, pb) in b.iter().enumerate() {
                    if t < 2 + 2 * i + 2 * j {
                        m += pa * pb;
                    }
                }
            }
            (t + 1) as f32 * m
        })
        .collect();
    assert_close(&plan.vector(1, v.clone()), &w::<B>(&want, &dev()), 1e-6);
    // Single with a straight-through weight: the first extent(1, 0) = 4 entries times it.
    let st = Mixture::straight_through(1, w::<B>(&[0.5], &dev()));
    let plan = combi.plan(&[&st, &Mixture::single(0)], "test").unwrap();
    assert_close(
        &plan.vector(1, v.clone()),
        &w::<B>(&[0.5, 1.0, 1.5, 2.0], &dev()),
        1e-6,
    );
    // Plain single: the slice alone.
    let plan = combi
        .plan(&[&Mixture::single(0), &Mixture::single(0)], "test")
        .unwrap();
    assert_close(&plan.vector(1, v), &w::<B>(&[1.0, 2.0], &dev()), 1e-6);
}

/// `Mixture::joint`: the outer product written out by hand (pair (i, j) at i·nb + j), a single
/// choice as its one-hot, two single choices as one pair, and wrong sizes as errors.
#[test]
fn joint_mixture_is_the_outer_product() {
    use tangle_core::Mixture;
    let d = dev();
    let (a, b) = ([0.2f32, 0.8], [0.5f32, 0.3, 0.2]);
    let ma = Mixture::weights(w::<B>(&a, &d));
    let mb = Mixture::weights(w::<B>(&b, &d));
    let Mixture::Weights(j) = Mixture::joint(&ma, 2, &mb, 3, &d).unwrap() else {
        panic!("weights × weights gives weights")
    };
    let want: Vec<f32> = a
        .iter()
        .flat_map(|x| b.iter().map(move |y| x * y))
        .collect();
    assert_close(&j, &w::<B>(&want, &d), 1e-7);
    let Mixture::Weights(j) = Mixture::joint(&Mixture::single(1), 2, &mb, 3, &d).unwrap() else {
        panic!("single × weights gives weights")
    };
    assert_close(&j, &w::<B>(&[0.0, 0.0, 0.0, 0.5, 0.3, 0.2], &d), 1e-7);
    match Mixture::<B>::joint(&Mixture::single(1), 2, &Mixture::single(2), 3, &d).unwrap() {
        Mixture::Single { index, weight } => assert_eq!((index, weight.is_none()), (5, true)),
        Mixture::Weights(_) => panic!("single × single gives one pair"),
    }
    assert!(Mixture::joint(&ma, 3, &mb, 3, &d).is_err());
}

#[test]
fn split_mass_gives_the_convex_shape_and_the_total_weight() {
    use tangle_core::Mixture;
    let mix = Mixture::weights(w::<B>(&[0.1, 0.3], &dev()));
    let (shape, mass) = mix.split_mass();
    let Mixture::Weights(shape) = shape else {
        panic!("weights stay weights")
    };
    assert_close(&shape, &w::<B>(&[0.25, 0.75], &dev()), 1e-6);
    assert_close(&mass.unwrap(), &w::<B>(&[0.4], &dev()), 1e-6);
    // Every member masked out: a zero shape and a zero mass, no NaN.
    let (shape, mass) = Mixture::weights(w::<B>(&[0.0, 0.0], &dev())).split_mass();
    let Mixture::Weights(shape) = shape else {
        panic!("weights stay weights")
    };
    assert_close(&shape, &w::<B>(&[0.0, 0.0], &dev()), 0.0);
    assert_close(&mass.unwrap(), &w::<B>(&[0.0], &dev()), 0.0);
    // A straight-through choice: the plain choice, its weight as the mass.
    let st = Mixture::straight_through(1, w::<B>(&[1.0], &dev()));
    let (shape, mass) = st.split_mass();
    assert!(matches!(
        shape,
        Mixture::Single {
            index: 1,
            weight: None
        }
    ));
    assert_close(&mass.unwrap(), &w::<B>(&[1.0], &dev()), 0.0);
    let (_, mass) = Mixture::<B>::single(0).split_mass();
    assert!(mass.is_none());
}

/// `Mixtures::dropout`: identity in inference mode; in training mode a mask of kept entries
/// scaled by 1 / (1 − p), the same for the same seed and draw order, different for the next
/// draw and for another seed; channel dropout keeps or drops whole channels.
#[test]
fn seeded_dropout_masks_are_reproducible_and_scaled() {
    use burn::backend::Autodiff;
    use tangle_core::{Decision, Mixture, Mixtures, SearchSpec};
    type AB = Autodiff<B>;
    let spec = SearchSpec::new(vec![Decision::sizes("w", &[1, 2], 2).unwrap()]).unwrap();
    let mix = |seed| {
        Mixtures::<AB>::new(&spec, vec![Mixture::single(0)])
            .unwrap()
            .with_seed(seed)
    };
    let ones = || burn::tensor::Tensor::<AB, 2>::ones([64, 64], &dev());
    let draw = |m: &Mixtures<AB>| vec_of(&m.dropout(ones(), 0.25));
    let (a, b) = (mix(7), mix(7));
    let (a1, a2) = (draw(&a), draw(&a));
    assert_eq!(a1, draw(&b), "same seed, same first mask");
    assert_eq!(a2, draw(&b), "same seed, same second mask");
    assert_ne!(a1, a2, "the next draw is a new mask");
    assert_ne!(a1, draw(&mix(8)), "another seed, another mask");
    // Kept entries are 1 / 0.75; about three quarters are kept.
    assert!(a1
        .iter()
        .all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
    let kept = a1.iter().filter(|&&v| v > 0.0).count() as f32 / a1.len() as f32;
    assert!((kept - 0.75).abs() < 0.03, "kept {kept}");
    // Channel dropout: one decision per (sample, channel), constant over the map.
    let x = burn::tensor::Tensor::<AB, 4>::ones([4, 16, 3, 3], &dev());
    let y = vec_of(&mix(1).dropout_channels(x, 0.5));
    for map in y.chunks(9) {
        assert!(
            map.iter().all(|&v| v == map[0]),
            "a channel is kept or dropped whole"
        );
    }
    // Everything dropped at p = 1 (no division by zero).
    assert_eq!(vec_of(&mix(3).dropout(ones(), 1.0)), vec![0.0; 64 * 64]);
    // Inference mode (no autodiff): the identity.
    let m = Mixtures::<B>::new(&spec, vec![Mixture::single(0)])
        .unwrap()
        .with_seed(7);
    let x = burn::tensor::Tensor::<B, 2>::ones([8, 8], &dev());
    assert_eq!(vec_of(&m.dropout(x, 0.5)), vec![1.0; 64]);
}
