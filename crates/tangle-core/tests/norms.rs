//! SuperLayerNorm, SuperBatchNorm2d, SuperEmbedding and SuperPatchEmbed against references.
mod common;
use common::*;

use burn::module::{AutodiffModule, Param};
use burn::tensor::{module::embedding, Int, Tensor, TensorData};
use tangle_core::{
    CoreError, Mixture, SuperBatchNorm2dConfig, SuperEmbeddingConfig, SuperLayerNormConfig,
    SuperPatchEmbedConfig,
};

fn literal_vec_mix(v: &[f32], sizes: &[usize], ws: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; v.len()];
    for (&s, &wt) in sizes.iter().zip(ws) {
        for t in 0..s {
            out[t] += wt * v[t];
        }
    }
    out
}

#[test]
fn layer_norm_is_the_weighted_sum_of_the_candidates_layer_norms() {
    let d = dev();
    let dims = [4usize, 6, 8];
    let mut ln = SuperLayerNormConfig::new(dims.to_vec())
        .init::<B>(&d)
        .unwrap();
    ln.gamma = Param::from_tensor(randn::<B, 1>([8], &d));
    ln.beta = Param::from_tensor(randn::<B, 1>([8], &d));
    let ws = [0.2f32, 0.3, 0.5];
    let x = randn::<B, 3>([2, 3, 8], &d);
    let y = ln
        .forward(x.clone(), &Mixture::weights(w::<B>(&ws, &d)))
        .unwrap();
    // Reference: Σ_i w_i · pad(LN_i(x[..e_i])), each LN_i on its own prefix, by hand.
    let (g, b, xv) = (vec_of(&ln.gamma.val()), vec_of(&ln.beta.val()), vec_of(&x));
    let mut want = vec![0f32; xv.len()];
    for row in 0..6 {
        let r = &xv[row * 8..row * 8 + 8];
        for (i, &e) in dims.iter().enumerate() {
            let mean = r[..e].iter().sum::<f32>() / e as f32;
            let var = r[..e].iter().map(|v| (v - mean).powi(2)).sum::<f32>() / e as f32;
            for t in 0..e {
                want[row * 8 + t] += ws[i] * ((r[t] - mean) / (var + 1e-5).sqrt() * g[t] + b[t]);
            }
        }
    }
    assert_close(&y, &floats::<B, 3>(&want, [2, 3, 8], &d), 1e-5);
    // One-hot = the chosen layer norm, zero-padded.
    for i in 0..3 {
        let mut hot = [0f32; 3];
        hot[i] = 1.0;
        let y = ln
            .forward(x.clone(), &Mixture::weights(w::<B>(&hot, &d)))
            .unwrap();
        let e = dims[i];
        let single = ln
            .forward(x.clone().slice([0..2, 0..3, 0..e]), &Mixture::single(i))
            .unwrap();
        let padded = single.pad([(0, 8 - e)], burn::tensor::ops::PadMode::Constant(0.0));
        assert_close(&y, &padded, 1e-5);
    }
}

#[test]
fn layer_norm_mixture_stays_accurate_when_the_mean_dwarfs_the_spread() {
    // Rows around 1000 with unit spread: a one-pass variance E[x²] − μ² in f32 would lose
    // about two digits here; the superposed norm shifts rows first and must not.
    let d = dev();
    let dims = [24usize, 48, 72];
    let ln = SuperLayerNormConfig::new(dims.to_vec())
        .init::<B>(&d)
        .unwrap();
    let ws = [0.5f32, 0.25, 0.25];
    let x = randn::<B, 2>([4, 72], &d) + 1000.0;
    let y = ln
        .forward(x.clone(), &Mixture::weights(w::<B>(&ws, &d)))
        .unwrap();
    let xv = vec_of(&x);
    let mut want = vec![0f32; xv.len()];
    for row in 0..4 {
        let r: Vec<f64> = xv[row * 72..row * 72 + 72]
            .iter()
            .map(|&v| v as f64)
            .collect();
        for (i, &e) in dims.iter().enumerate() {
            let mean = r[..e].iter().sum::<f64>() / e as f64;
            let var = r[..e].iter().map(|v| (v - mean).powi(2)).sum::<f64>() / e as f64;
            for t in 0..e {
                want[row * 72 + t] += (ws[i] as f64 * (r[t] - mean) / (var + 1e-5).sqrt()) as f32;
            }
        }
    }
    assert_close(&y, &floats::<B, 2>(&want, [4, 72], &d), 1e-4);
}

#[test]
fn full_width_layer_norm_superposes_affine_over_full_width() {
    let d = dev();
    let dims = [4usize, 6, 8];
    let mut ln = SuperLayerNormConfig::new(dims.to_vec())
        .with_full_width(true)
        .init::<B>(&d)
        .unwrap();
    ln.gamma = Param::from_tensor(randn::<B, 1>([8], &d));
    ln.beta = Param::from_tensor(randn::<B, 1>([8], &d));
    let ws = [0.2f32, 0.3, 0.5];
    let x = randn::<B, 3>([2, 3, 8], &d);
    let y = ln
        .forward(x.clone(), &Mixture::weights(w::<B>(&ws, &d)))
        .unwrap();
    // Reference: normalize over the full width by hand, then the literal Σ w_i pad(γ[:e_i]).
    let g = literal_vec_mix(&vec_of(&ln.gamma.val()), &dims, &ws);
    let b = literal_vec_mix(&vec_of(&ln.beta.val()), &dims, &ws);
    let xv = vec_of(&x);
    let mut want = vec![0f32; xv.len()];
    for row in 0..6 {
        let r = &xv[row * 8..row * 8 + 8];
        let mean = r.iter().sum::<f32>() / 8.0;
        let var = r.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 8.0;
        for t in 0..8 {
            want[row * 8 + t] = (r[t] - mean) / (var + 1e-5).sqrt() * g[t] + b[t];
        }
    }
    assert_close(&y, &floats::<B, 3>(&want, [2, 3, 8], &d), 1e-5);

    // Single == extracted Burn LayerNorm.
    for i in 0..3 {
        let e = dims[i];
        let xs = randn::<B, 3>([2, 3, e], &d);
        let single = ln.forward(xs.clone(), &Mixture::single(i)).unwrap();
        let sub = ln.extract(i).unwrap().forward(xs);
        assert_close(&single, &sub, 1e-5);
    }
    assert!(matches!(
        ln.forward(x, &Mixture::single(0)),
        Err(CoreError::Shape { .. })
    ));
}

#[test]
fn batch_norm_equals_weighted_sum_of_sliced_batch_norms() {
    let d = dev();
    let chans = [2usize, 3, 5];
    let mut bn = SuperBatchNorm2dConfig::new(chans.to_vec())
        .init::<B>(&d)
        .unwrap();
    bn.gamma = Param::from_tensor(randn::<B, 1>([5], &d));
    bn.beta = Param::from_tensor(randn::<B, 1>([5], &d));
    bn.running_mean = burn::module::RunningState::new(randn::<B, 1>([5], &d));
    bn.running_var = burn::module::RunningState::new(randn::<B, 1>([5], &d).abs() + 0.5);
    let ws = [0.5f32, 0.25, 0.25];
    let x = randn::<B, 4>([2, 5, 3, 3], &d);
    // Inference mode (no autodiff): running statistics.
    let y = bn
        .forward(x.clone(), &Mixture::weights(w::<B>(&ws, &d)))
        .unwrap();
    let mut want = Vec::new();
    for (i, &c) in chans.iter().enumerate() {
        let sub = bn.extract(i).unwrap();
        let yi = pad_dim1(sub.forward(x.clone().slice([0..2, 0..c, 0..3, 0..3])), 5) * ws[i];
        want.push(yi);
    }
    assert_close(&y, &sum_all(want), 1e-5);
    for (i, &c) in chans.iter().enumerate() {
        let xs = x.clone().slice([0..2, 0..c, 0..3, 0..3]);
        assert_close(
            &bn.forward(xs.clone(), &Mixture::single(i)).unwrap(),
            &bn.extract(i).unwrap().forward(xs),
            1e-5,
        );
    }
}

#[test]
fn batch_norm_training_updates_only_the_chosen_channels() {
    let d = dev();
    let bn = SuperBatchNorm2dConfig::new(vec![2, 4])
        .init::<AB>(&d)
        .unwrap();
    let x = randn::<AB, 4>([8, 2, 4, 4], &d) * 3.0 + 1.0;
    let y = bn.forward(x.clone(), &Mixture::single(0)).unwrap();
    // Training normalizes with batch statistics: per-channel mean ≈ 0.
    let m = vec_of(&y.swap_dims(0, 1).reshape([2, 128]).mean_dim(1));
    assert!(m.iter().all(|v| v.abs() < 1e-4), "{m:?}");
    let rm = vec_of(&bn.running_mean.value_sync());
    let xm = vec_of(&x.swap_dims(0, 1).reshape([2, 128]).mean_dim(1));
    for c in 0..2 {
        assert!((rm[c] - 0.1 * xm[c]).abs() < 1e-4, "{rm:?} {xm:?}");
    }
    assert_eq!(&rm[2..], &[0.0, 0.0]);
    assert_eq!(&vec_of(&bn.running_var.value_sync())[2..], &[1.0, 1.0]);
}

#[test]
fn embedding_superposition_one_hot_single_and_extracted() {
    let d = dev();
    let dims = [3usize, 5, 6];
    let emb = SuperEmbeddingConfig::new(10, dims.to_vec())
        .with_std(1.0)
        .init::<B>(&d)
        .unwrap();
    let ids =
        Tensor::<B, 2, Int>::from_data(TensorData::new(vec![1i64, 4, 9, 0, 0, 7], [2, 3]), &d);
    let ws = [0.1f32, 0.6, 0.3];
    let y = emb
        .forward(ids.clone(), &Mixture::weights(w::<B>(&ws, &d)))
        .unwrap();
    let mut want = Vec::new();
    for (i, &e) in dims.iter().enumerate() {
        let yi = pad_last(
            embedding(emb.weight.val().slice([0..10, 0..e]), ids.clone()),
            6,
        ) * ws[i];
        want.push(yi);
    }
    assert_close(&y, &sum_all(want), 1e-6);
    for (i, &e) in dims.iter().enumerate() {
        let hot = emb
            .forward(ids.clone(), &Mixture::one_hot(i, 3, &d).unwrap())
            .unwrap();
        let single = emb.forward(ids.clone(), &Mixture::single(i)).unwrap();
        let sub = emb.extract(i).unwrap().forward(ids.clone());
        assert_close(&hot.slice([0..2, 0..3, 0..e]), &single, 0.0);
        assert_close(&sub, &single, 0.0);
    }
    // Position rows.
    let pos = emb
        .first_rows(4, &Mixture::weights(w::<B>(&ws, &d)))
        .unwrap();
    let want_pos: Vec<f32> = {
        let t = vec_of(&emb.weight.val());
        (0..4)
            .flat_map(|r| {
                let row = t[r * 6..r * 6 + 6].to_vec();
                literal_vec_mix(&row, &dims, &ws)
            })
            .collect()
    };
    assert_close(&pos, &floats::<B, 2>(&want_pos, [4, 6], &d), 1e-6);
    assert!(matches!(
        emb.first_rows(11, &Mixture::single(0)),
        Err(CoreError::Shape { .. })
    ));
}

#[test]
fn patch_embedding_superposition_and_extraction() {
    let d = dev();
    let embeds = [4usize, 8];
    let pe = SuperPatchEmbedConfig::new(3, 4, embeds.to_vec())
        .init::<B>(&d)
        .unwrap();
    let x = randn::<B, 4>([2, 3, 8, 8], &d);
    let ws = [0.3f32, 0.7];
    let y = pe
        .forward(x.clone(), &Mixture::weights(w::<B>(&ws, &d)))
        .unwrap();
    assert_eq!(y.dims(), [2, 4, 8]);
    let mut want = Vec::new();
    for (i, &e) in embeds.iter().enumerate() {
        let yi = pad_last(pe.extract(i).unwrap().forward(x.clone()), 8) * ws[i];
        assert_eq!(yi.dims()[2], 8);
        let _ = e;
        want.push(yi);
    }
    assert_close(&y, &sum_all(want), 1e-5);
    let single = pe.forward(x.clone(), &Mixture::single(0)).unwrap();
    assert_close(&single, &pe.extract(0).unwrap().forward(x), 1e-6);
}

/// `tangle_core::batch_norm` against Burn's own `BatchNorm::forward`: values, gradients into the
/// input and the affine parameters, running statistics (training), and inference.
#[test]
fn fast_batch_norm_equals_burns_batch_norm() {
    use burn::nn::{BatchNorm, BatchNormConfig};
    use tangle_core::batch_norm_forward;
    let d = dev();
    let make = || {
        let mut bn: BatchNorm<AB> = BatchNormConfig::new(3).with_momentum(0.3).init(&d);
        bn.gamma = Param::from_tensor(floats::<AB, 1>(&[1.5, -0.5, 2.0], [3], &d));
        bn.beta = Param::from_tensor(floats::<AB, 1>(&[0.1, 0.2, -0.3], [3], &d));
        bn
    };
    let (ours, theirs) = (make(), make());
    for step in 0..2 {
        // Two leaves with the same values: one backward pass consumes its graph.
        let data = (randn::<B, 4>([4, 3, 5, 6], &d) * 2.0 + 1.0 + step as f64).into_data();
        let leaf = || Tensor::<AB, 4>::from_data(data.clone(), &d).require_grad();
        let (x, x_theirs) = (leaf(), leaf());
        let y_ours = batch_norm_forward(&ours, x.clone());
        let y_theirs = theirs.forward(x_theirs.clone());
        assert_close(&y_ours, &y_theirs, 1e-5);
        // A non-uniform loss, so that the gradient through the statistics is not zero.
        let probe = randn::<AB, 4>([4, 3, 5, 6], &d);
        let g_ours = (y_ours * probe.clone()).sum().backward();
        let g_theirs = (y_theirs * probe).sum().backward();
        assert_close(
            &x.grad(&g_ours).unwrap(),
            &x_theirs.grad(&g_theirs).unwrap(),
            1e-4,
        );
        for (a, b) in [(&ours.gamma, &theirs.gamma), (&ours.beta, &theirs.beta)] {
            assert_close(&a.grad(&g_ours).unwrap(), &b.grad(&g_theirs).unwrap(), 1e-4);
        }
        assert_close(
            &ours.running_mean.value_sync(),
            &theirs.running_mean.value_sync(),
            1e-5,
        );
        assert_close(
            &ours.running_var.value_sync(),
            &theirs.running_var.value_sync(),
            1e-5,
        );
    }
    // The running statistics moved away from their initial 0 / 1.
    let rm = vec_of(&ours.running_mean.value_sync());
    assert!(rm.iter().all(|m| *m > 0.2), "{rm:?}");
    // Inference: running statistics.
    let (ours, theirs) = (ours.valid(), theirs.valid());
    let x = randn::<B, 4>([2, 3, 4, 4], &d);
    assert_close(
        &batch_norm_forward(&ours, x.clone()),
        &theirs.forward(x),
        1e-5,
    );
}

/// The superposed batch norm's training pass at a single candidate equals Burn's `BatchNorm`
/// on the sliced channels, with the same running-statistic update.
#[test]
fn super_batch_norm_training_equals_burns_batch_norm() {
    let d = dev();
    let mut bn = SuperBatchNorm2dConfig::new(vec![2, 4])
        .init::<AB>(&d)
        .unwrap();
    bn.gamma = Param::from_tensor(floats::<AB, 1>(&[1.5, -0.5, 2.0, 0.7], [4], &d));
    bn.beta = Param::from_tensor(floats::<AB, 1>(&[0.1, 0.2, -0.3, 0.4], [4], &d));
    let burn_bn = bn.extract(1).unwrap();
    let x = randn::<AB, 4>([3, 4, 5, 5], &d) * 3.0 - 1.0;
    assert_close(
        &bn.forward(x.clone(), &Mixture::single(1)).unwrap(),
        &burn_bn.forward(x),
        1e-5,
    );
    assert_close(
        &bn.running_var.value_sync(),
        &burn_bn.running_var.value_sync(),
        1e-5,
    );
}
