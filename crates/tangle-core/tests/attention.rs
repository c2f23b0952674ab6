//! SuperAttention against references computed from sliced weights.
mod common;
use common::*;

use burn::tensor::{activation::softmax, module::linear, Tensor};
use tangle_core::{CoreError, HeadDim, Mixture, SuperAttention, SuperAttentionConfig};

/// Plain softmax attention on q, k, v of shape `[b, t, h, d]` → `[b, t, h·d]`.
fn mha(q: Tensor<B, 4>, k: Tensor<B, 4>, v: Tensor<B, 4>, causal: bool) -> Tensor<B, 3> {
    let [b, t, h, d] = q.dims();
    let (q, k, v) = (q.swap_dims(1, 2), k.swap_dims(1, 2), v.swap_dims(1, 2));
    let mut s = q.matmul(k.swap_dims(2, 3)) / (d as f64).sqrt();
    if causal {
        let mut m = vec![0f32; t * t];
        for i in 0..t {
            for j in i + 1..t {
                m[i * t + j] = -1e30;
            }
        }
        s = s + floats::<B, 4>(&m, [1, 1, t, t], &dev());
    }
    softmax(s, 3)
        .matmul(v)
        .swap_dims(1, 2)
        .reshape([b, t, h * d])
}

/// The reference of a superposed fixed-head-dim attention: qkv as the weighted sum of the
/// separately-run sliced input projections (a linear op) at the largest head count; each head
/// count's attention by `attend` on its first heads; its output projected by every embedding
/// candidate's slice, zero-padded and weighted `a_i · b_j`.
fn fixed_head_reference(
    att: &SuperAttention<B>,
    x: Tensor<B, 3>,
    (a, bw): (&[f32], &[f32]),
    embeds: &[usize],
    heads: &[usize],
    hd: usize,
    attend: impl Fn(Tensor<B, 4>, Tensor<B, 4>, Tensor<B, 4>) -> Tensor<B, 3>,
) -> Tensor<B, 3> {
    let [n, t, emax] = x.dims();
    let hmax = *heads.last().unwrap();
    let wq = att.qkv.weight.val();
    let bq = att.qkv.bias.as_ref().unwrap().val();
    let wp = att.proj.weight.val();
    let bp = att.proj.bias.as_ref().unwrap().val();
    let qkv = sum_all(
        embeds
            .iter()
            .enumerate()
            .map(|(i, &e)| {
                linear(
                    x.clone().slice([0..n, 0..t, 0..e]),
                    wq.clone().slice([0..e, 0..3 * hmax * hd]),
                    Some(bq.clone()),
                ) * a[i]
            })
            .collect(),
    )
    .reshape([n, t, hmax, 3, hd]);
    let mut want = Vec::new();
    for (j, &h) in heads.iter().enumerate() {
        let part = |p: usize| {
            qkv.clone()
                .slice([0..n, 0..t, 0..h, p..p + 1, 0..hd])
                .reshape([n, t, h, hd])
        };
        let o = attend(part(0), part(1), part(2));
        for (i, &e) in embeds.iter().enumerate() {
            let yi = linear(
                o.clone(),
                wp.clone().slice([0..h * hd, 0..e]),
                Some(bp.clone().slice([0..e])),
            );
            want.push(pad_last(yi, emax) * (a[i] * bw[j]));
        }
    }
    sum_all(want)
}

#[test]
fn fixed_head_dim_equals_weighted_sum_over_heads_and_embeds() {
    let d = dev();
    let (embeds, heads, hd) = ([6usize, 8], [1usize, 2, 3], 4usize);
    let att = SuperAttentionConfig::new(&embeds, &heads, HeadDim::Fixed(hd))
        .unwrap()
        .init::<B>(&d)
        .unwrap();
    let (a, bw) = ([0.4f32, 0.6], [0.2f32, 0.5, 0.3]);
    let x = randn::<B, 3>([2, 5, 8], &d);
    let y = att
        .forward(
            x.clone(),
            &Mixture::weights(w::<B>(&a, &d)),
            &Mixture::weights(w::<B>(&bw, &d)),
        )
        .unwrap();

    let want = fixed_head_reference(&att, x, (&a, &bw), &embeds, &heads, hd, |q, k, v| {
        mha(q, k, v, false)
    });
    assert_close(&y, &want, 1e-5);
}

fn one_hot_single_extracted(att: &SuperAttention<B>, embeds: &[usize], heads: &[usize]) {
    one_hot_single_extracted_at(att, embeds, heads, 4)
}

fn one_hot_single_extracted_at(
    att: &SuperAttention<B>,
    embeds: &[usize],
    heads: &[usize],
    t: usize,
) {
    let d = dev();
    let emax = *embeds.last().unwrap();
    for (i, &e) in embeds.iter().enumerate() {
        for j in 0..heads.len() {
            let x = randn::<B, 3>([2, t, e], &d);
            let hot = att
                .forward(
                    pad_last(x.clone(), emax),
                    &Mixture::one_hot(i, embeds.len(), &d).unwrap(),
                    &Mixture::one_hot(j, heads.len(), &d).unwrap(),
                )
                .unwrap();
            let single = att
                .forward(x.clone(), &Mixture::single(i), &Mixture::single(j))
                .unwrap();
            let sub = att.extract(i, j).unwrap().forward(x);
            assert_eq!(single.dims(), [2, t, e]);
            assert_close(&hot.clone().slice([0..2, 0..t, 0..e]), &single, 1e-5);
            if e < emax {
                assert_close(
                    &hot.slice([0..2, 0..t, e..emax]),
                    &Tensor::zeros([2, t, emax - e], &d),
                    0.0,
                );
            }
            assert_close(&sub, &single, 1e-5);
        }
    }
}

#[test]
fn one_hot_equals_single_equals_extracted_fixed_head_dim() {
    let (embeds, heads) = ([6usize, 8], [1usize, 2, 3]);
    let att = SuperAttentionConfig::new(&embeds, &heads, HeadDim::Fixed(4))
        .unwrap()
        .init::<B>(&dev())
        .unwrap();
    one_hot_single_extracted(&att, &embeds, &heads);
}

#[test]
fn one_hot_equals_single_equals_extracted_gpt_heads() {
    let (embeds, heads) = ([6usize, 12], [2usize, 3, 6]);
    let att = SuperAttentionConfig::new(&embeds, &heads, HeadDim::EmbedOverHeads)
        .unwrap()
        .with_causal(true)
        .init::<B>(&dev())
        .unwrap();
    one_hot_single_extracted(&att, &embeds, &heads);
}

#[test]
fn gpt_head_mixture_is_weighted_sum_of_head_counts() {
    let d = dev();
    let (embeds, heads) = ([6usize, 12], [2usize, 3, 6]);
    let att = SuperAttentionConfig::new(&embeds, &heads, HeadDim::EmbedOverHeads)
        .unwrap()
        .with_causal(true)
        .init::<B>(&d)
        .unwrap();
    let bw = [0.2f32, 0.3, 0.5];
    for i in 0..2 {
        let x = randn::<B, 3>([2, 5, embeds[i]], &d);
        let y = att
            .forward(
                x.clone(),
                &Mixture::single(i),
                &Mixture::weights(w::<B>(&bw, &d)),
            )
            .unwrap();
        let mut want = Vec::new();
        for j in 0..3 {
            let yj = att
                .forward(x.clone(), &Mixture::single(i), &Mixture::single(j))
                .unwrap()
                * bw[j];
            want.push(yj);
        }
        assert_close(&y, &sum_all(want), 1e-5);
    }
}

#[test]
fn gpt_embed_and_head_mixture_equals_the_padded_head_layouts() {
    // Reference for head dim = embed/heads with both decisions mixed, built by hand: per head
    // count, each candidate's q/k/v heads (its own column partition) zero-padded to the widest
    // head and weighted, one attention with the weighted scale, and the output split back per
    // candidate; the head counts' outputs weighted and summed; the projection's output masked.
    let d = dev();
    let (embeds, heads) = ([6usize, 12, 18], [2usize, 3, 6]);
    let att = SuperAttentionConfig::new(&embeds, &heads, HeadDim::EmbedOverHeads)
        .unwrap()
        .with_causal(true)
        .init::<B>(&d)
        .unwrap();
    let (ew, hw) = ([0.2f32, 0.3, 0.5], [0.5f32, 0.3, 0.2]);
    let (b, t, e) = (2usize, 5usize, 18usize);
    let x = randn::<B, 3>([b, t, e], &d);
    let y = att
        .forward(
            x.clone(),
            &Mixture::weights(w::<B>(&ew, &d)),
            &Mixture::weights(w::<B>(&hw, &d)),
        )
        .unwrap();

    let (wq, bq) = (att.qkv.weight.val(), att.qkv.bias.as_ref().unwrap().val());
    let (wp, bp) = (att.proj.weight.val(), att.proj.bias.as_ref().unwrap().val());
    // qkv rows are the embedding: Σ_i w_i · (x[..e_i] W[..e_i]) + b, in [column][q|k|v] layout.
    let qkv = sum_all(
        embeds
            .iter()
            .zip(ew)
            .map(|(&ei, wi)| {
                linear(
                    x.clone().slice([0..b, 0..t, 0..ei]),
                    wq.clone().slice([0..ei, 0..3 * e]),
                    Some(bq.clone()),
                ) * wi
            })
            .collect(),
    )
    .reshape([b, t, e, 3]);
    let part = |p: usize| {
        qkv.clone()
            .slice([0..b, 0..t, 0..e, p..p + 1])
            .reshape([b, t, e])
    };
    let (q, k, v) = (part(0), part(1), part(2));
    let mut outs = Vec::new();
    for (&h, hwj) in heads.iter().zip(hw) {
        let dmax = e / h;
        let layout = |z: &Tensor<B, 3>| {
            sum_all(
                embeds
                    .iter()
                    .zip(ew)
                    .map(|(&ei, wi)| {
                        let zi = z
                            .clone()
                            .slice([0..b, 0..t, 0..ei])
                            .reshape([b, t, h, ei / h]);
                        pad_last(zi, dmax) * wi
                    })
                    .collect(),
            )
            .swap_dims(1, 2)
        };
        let scale: f32 = embeds
            .iter()
            .zip(ew)
            .map(|(&ei, wi)| wi / ((ei / h) as f32).sqrt())
            .sum();
        let mut s = layout(&q).matmul(layout(&k).swap_dims(2, 3)) * scale;
        let mut m = vec![0f32; t * t];
        for i in 0..t {
            for j in i + 1..t {
                m[i * t + j] = -1e30;
            }
        }
        s = s + floats::<B, 4>(&m, [1, 1, t, t], &d);
        let o = softmax(s, 3).matmul(layout(&v)).swap_dims(1, 2); // [b, t, h, dmax]
        for (&ei, wi) in embeds.iter().zip(ew) {
            let oi = o
                .clone()
                .slice([0..b, 0..t, 0..h, 0..ei / h])
                .reshape([b, t, ei]);
            outs.push(pad_last(oi, e) * (wi * hwj));
        }
    }
    let o = sum_all(outs);
    let mut mask = vec![0f32; e];
    for (&ei, wi) in embeds.iter().zip(ew) {
        for c in 0..ei {
            mask[c] += wi;
        }
    }
    let want = linear(o, wp, Some(bp)) * floats::<B, 3>(&mask, [1, 1, e], &d);
    assert_close(&y, &want, 1e-5);
}

#[test]
fn causal_attention_ignores_the_future() {
    let d = dev();
    for mode in [HeadDim::Fixed(4), HeadDim::EmbedOverHeads] {
        let att = SuperAttentionConfig::new(&[6, 12], &[2, 3], mode)
            .unwrap()
            .with_causal(true)
            .init::<B>(&d)
            .unwrap();
        let mix_e = Mixture::weights(w::<B>(&[0.5, 0.5], &d));
        let mix_h = Mixture::weights(w::<B>(&[0.3, 0.7], &d));
        let x = randn::<B, 3>([1, 6, 12], &d);
        let x2 = Tensor::cat(
            vec![
                x.clone().slice([0..1, 0..5, 0..12]),
                randn::<B, 3>([1, 1, 12], &d),
            ],
            1,
        );
        let y1 = att.forward(x, &mix_e, &mix_h).unwrap();
        let y2 = att.forward(x2, &mix_e, &mix_h).unwrap();
        assert_close(
            &y1.clone().slice([0..1, 0..5, 0..12]),
            &y2.clone().slice([0..1, 0..5, 0..12]),
            1e-6,
        );
        let last = vec_of(
            &(y1.slice([0..1, 5..6, 0..12]) - y2.slice([0..1, 5..6, 0..12]))
                .abs()
                .sum(),
        );
        assert!(
            last[0] > 1e-4,
            "the last position must see its own (changed) input"
        );
    }
}

#[test]
fn gradients_reach_both_mixtures_and_match_finite_differences() {
    let d = dev();
    for mode in [HeadDim::Fixed(4), HeadDim::EmbedOverHeads] {
        let att = SuperAttentionConfig::new(&[6, 12], &[2, 3], mode)
            .unwrap()
            .init::<AB>(&d)
            .unwrap();
        let x = randn::<AB, 3>([2, 4, 12], &d);
        let r = randn::<AB, 3>([2, 4, 12], &d);
        let loss = |a: &[f32], b: &[f32]| -> f32 {
            let y = att
                .forward(
                    x.clone(),
                    &Mixture::weights(w::<AB>(a, &d)),
                    &Mixture::weights(w::<AB>(b, &d)),
                )
                .unwrap();
            (y * r.clone()).sum().into_scalar()
        };
        let (a, b) = ([0.4f32, 0.6], [0.3f32, 0.7]);
        let wa = w::<AB>(&a, &d).require_grad();
        let wb = w::<AB>(&b, &d).require_grad();
        let y = att
            .forward(
                x.clone(),
                &Mixture::weights(wa.clone()),
                &Mixture::weights(wb.clone()),
            )
            .unwrap();
        let grads = (y * r.clone()).sum().backward();
        let (ga, gb) = (
            vec_of(&wa.grad(&grads).unwrap()),
            vec_of(&wb.grad(&grads).unwrap()),
        );
        assert!(vec_of(&att.qkv.weight.val().grad(&grads).unwrap())
            .iter()
            .any(|v| v.abs() > 1e-5));
        let h = 1e-2f32;
        for i in 0..2 {
            let fd = central_difference(|p| loss(p, &b), &a, i, h);
            assert!(ga[i].abs() > 1e-4);
            assert!(
                (fd - ga[i]).abs() <= fd_tol(2e-2) * ga[i].abs().max(1.0),
                "{mode:?} embed {i}: {} vs {fd}",
                ga[i]
            );
            let fd = central_difference(|p| loss(&a, p), &b, i, h);
            assert!(
                (fd - gb[i]).abs() <= fd_tol(2e-2) * gb[i].abs().max(1.0),
                "{mode:?} heads {i}: {} vs {fd}",
                gb[i]
            );
        }
    }
}

#[test]
fn heads_must_divide_embeds_for_gpt_attention() {
    assert!(matches!(
        SuperAttentionConfig::new(&[384, 576], &[5, 6], HeadDim::EmbedOverHeads),
        Err(CoreError::HeadsDoNotDivide {
            heads: 5,
            embed: 384
        })
    ));
    assert!(SuperAttentionConfig::new(&[192, 216, 240], &[3, 4], HeadDim::Fixed(64)).is_ok());
    assert!(matches!(
        SuperAttentionConfig::new(&[8], &[2, 2], HeadDim::Fixed(4)),
        Err(CoreError::Duplicate { .. })
    ));
}

/// AutoFormer's relative-position encodings written out on the host: `[t, t, d]` from the two
/// tables, the cls token (token 0) at row 0, patch distances on a `side × side` grid clipped to
/// `±m` at rows `1 ..= 2m + 1`.
fn host_relative(rel: &tangle_core::RelativePosition2d<B>, t: usize) -> Tensor<B, 3> {
    let (tv, th) = (vec_of(&rel.table_v.val()), vec_of(&rel.table_h.val()));
    let d = rel.table_v.dims()[1];
    let m = rel.max_distance() as i64;
    let side = ((t - 1) as f64).sqrt() as i64;
    let mut out = vec![0f32; t * t * d];
    for i in 0..t {
        for j in 0..t {
            let (rv, rh) = if i == 0 || j == 0 {
                (0, 0)
            } else {
                let (p, q) = (i as i64 - 1, j as i64 - 1);
                let row = |x: i64| (x.clamp(-m, m) + m + 1) as usize;
                (row(q / side - p / side), row(q % side - p % side))
            };
            for c in 0..d {
                out[(i * t + j) * d + c] = tv[rv * d + c] + th[rh * d + c];
            }
        }
    }
    floats::<B, 3>(&out, [t, t, d], &dev())
}

/// Attention with relative positions on q, k, v of shape `[b, t, h, d]`, by broadcasting
/// (not the library's grouped products): `s_ij = (q_i·k_j + q_i·r_k[i,j]) / √d`,
/// `o_i = Σ_j p_ij (v_j + r_v[i,j])`.
fn mha_relative(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    rk: Tensor<B, 3>,
    rv: Tensor<B, 3>,
) -> Tensor<B, 3> {
    let [b, t, h, d] = q.dims();
    let (q, k, v) = (q.swap_dims(1, 2), k.swap_dims(1, 2), v.swap_dims(1, 2));
    let rel = (q.clone().reshape([b, h, t, 1, d]) * rk.reshape([1, 1, t, t, d]))
        .sum_dim(4)
        .reshape([b, h, t, t]);
    let p = softmax((q.matmul(k.swap_dims(2, 3)) + rel) / (d as f64).sqrt(), 3);
    let o_rel = (p.clone().reshape([b, h, t, t, 1]) * rv.reshape([1, 1, t, t, d]))
        .sum_dim(3)
        .reshape([b, h, t, d]);
    (p.matmul(v) + o_rel).swap_dims(1, 2).reshape([b, t, h * d])
}

#[test]
fn relative_position_rows_clip_and_reserve_row_zero_for_cls() {
    use tangle_core::relative_position::distance_rows;
    // 1 + 3×3 tokens, m = 1: rows 1, 2, 3 for distances −1, 0, +1.
    let (v, h) = distance_rows(10, 1).unwrap();
    let at = |i: usize, j: usize| (v[i * 10 + j], h[i * 10 + j]);
    assert_eq!(at(0, 5), (0, 0));
    assert_eq!(at(5, 0), (0, 0));
    assert_eq!(at(1, 1), (2, 2)); // same patch
    assert_eq!(at(1, 9), (3, 3)); // (0,0) → (2,2): +2 clipped to +1
    assert_eq!(at(9, 1), (1, 1)); // (2,2) → (0,0)
    assert_eq!(at(2, 4), (3, 1)); // (0,1) → (1,0): one down, one left
    let err = distance_rows(9, 1).unwrap_err().to_string();
    assert!(err.contains("9 tokens"), "{err}");
    let att = SuperAttentionConfig::new(&[8], &[2], HeadDim::EmbedOverHeads)
        .unwrap()
        .with_relative_position(Some(2))
        .init::<B>(&dev());
    assert!(matches!(att, Err(CoreError::Config(_))));
}

fn relative_attention(embeds: &[usize], heads: &[usize], hd: usize) -> SuperAttention<B> {
    SuperAttentionConfig::new(embeds, heads, HeadDim::Fixed(hd))
        .unwrap()
        .with_relative_position(Some(1))
        .init::<B>(&dev())
        .unwrap()
}

#[test]
fn extracted_relative_attention_equals_the_written_out_formula() {
    let d = dev();
    let (embeds, heads, hd, t) = ([6usize, 8], [1usize, 2], 4usize, 10usize);
    let att = relative_attention(&embeds, &heads, hd);
    let sub = att.extract(1, 1).unwrap();
    let x = randn::<B, 3>([2, t, 8], &d);
    let qkv = linear(
        x.clone(),
        sub.qkv.weight.val(),
        sub.qkv.bias.as_ref().map(|b| b.val()),
    )
    .reshape([2, t, 2, 3, hd]);
    let part = |p: usize| {
        qkv.clone()
            .slice([0..2, 0..t, 0..2, p..p + 1, 0..hd])
            .reshape([2, t, 2, hd])
    };
    let rk = host_relative(att.rel_k.as_ref().unwrap(), t);
    let rv = host_relative(att.rel_v.as_ref().unwrap(), t);
    let o = mha_relative(part(0), part(1), part(2), rk, rv);
    let want = linear(
        o,
        sub.proj.weight.val(),
        sub.proj.bias.as_ref().map(|b| b.val()),
    );
    assert_close(&sub.forward(x.clone()), &want, 1e-5);
    // The encodings matter: without them the output differs.
    let plain = mha(part(0), part(1), part(2), false);
    let plain = linear(
        plain,
        sub.proj.weight.val(),
        sub.proj.bias.as_ref().map(|b| b.val()),
    );
    assert!(
        (vec_of(&(plain - want))
            .iter()
            .map(|v| v.abs())
            .fold(0.0, f32::max))
            > 1e-3,
        "relative positions should change the output"
    );
}

#[test]
fn relative_attention_superposed_equals_weighted_sum_and_one_hot_equals_extracted() {
    let d = dev();
    let (embeds, heads, hd, t) = ([6usize, 8], [1usize, 2], 4usize, 5usize);
    let att = relative_attention(&embeds, &heads, hd);
    let (a, bw) = ([0.3f32, 0.7], [0.6f32, 0.4]);
    let x = randn::<B, 3>([2, t, 8], &d);
    let y = att
        .forward(
            x.clone(),
            &Mixture::weights(w::<B>(&a, &d)),
            &Mixture::weights(w::<B>(&bw, &d)),
        )
        .unwrap();
    let rk = host_relative(att.rel_k.as_ref().unwrap(), t);
    let rv = host_relative(att.rel_v.as_ref().unwrap(), t);
    let want = fixed_head_reference(&att, x, (&a, &bw), &embeds, &heads, hd, |q, k, v| {
        mha_relative(q, k, v, rk.clone(), rv.clone())
    });
    assert_close(&y, &want, 1e-5);
    one_hot_single_extracted_at(&att, &embeds, &heads, t);
}
