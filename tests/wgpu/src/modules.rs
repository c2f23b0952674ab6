//! Superposed modules on the wgpu device against the CPU (Flex) with the same weights,
//! gradients into α and into the weights included. Kept small: on software Vulkan every new
//! kernel shape costs a shader compilation.

use burn::backend::{Autodiff, Flex, Wgpu};
use burn::module::Param;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use tangle_core::{
    HeadDim, Mixture, SuperAttentionConfig, SuperConv2dConfig, SuperLayerNormConfig, SuperLinear,
    SuperLinearConfig, SuperPatchEmbedConfig,
};

type C = Autodiff<Flex>;
type G = Autodiff<Wgpu>;

fn gpu_dev() -> <Wgpu as burn::tensor::backend::BackendTypes>::Device {
    Default::default()
}

/// The same values on the wgpu device (a new leaf that tracks gradients).
fn on_gpu<const D: usize>(t: &Tensor<C, D>) -> Tensor<G, D> {
    Tensor::from_data(t.to_data(), &gpu_dev()).require_grad()
}

fn max_diff<B1: Backend, B2: Backend, const D: usize>(a: &Tensor<B1, D>, b: &Tensor<B2, D>) -> f32 {
    let (a, b) = (
        a.to_data().to_vec::<f32>().unwrap(),
        b.to_data().to_vec::<f32>().unwrap(),
    );
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1f32, |m, x| m.max(x.abs()));
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
        / scale
}

fn weights(n: usize) -> Tensor<C, 1> {
    Tensor::<C, 1>::random([n], Distribution::Normal(0.0, 1.0), &Default::default()).require_grad()
}

fn copy_linear(l: &SuperLinear<C>, g: &mut SuperLinear<G>) {
    g.weight = Param::from_tensor(on_gpu(&l.weight.val()));
    g.bias = l
        .bias
        .as_ref()
        .map(|b| Param::from_tensor(on_gpu(&b.val())));
}

#[test]
fn superposed_linear_conv_and_norm_match_the_cpu_with_gradients() {
    let cdev = Default::default();
    // fc1-style combi superposition: embed {4, 8} × ratio {2, 4}.
    let cfg = SuperLinearConfig::expand(&[4, 8], &[2.0, 4.0]).unwrap();
    let fc = cfg.init::<C>(&cdev).unwrap();
    let mut fg = cfg.init::<G>(&gpu_dev()).unwrap();
    copy_linear(&fc, &mut fg);
    let (a, r) = (weights(2), weights(2));
    let x = Tensor::<C, 2>::random([5, 8], Distribution::Normal(0.0, 1.0), &cdev);
    let (ag, rg, xg) = (on_gpu(&a), on_gpu(&r), on_gpu(&x));
    let yc = fc
        .forward(
            x,
            &[
                &Mixture::weights(softmax(a.clone(), 0)),
                &Mixture::weights(softmax(r.clone(), 0)),
            ],
        )
        .unwrap();
    let yg = fg
        .forward(
            xg,
            &[
                &Mixture::weights(softmax(ag.clone(), 0)),
                &Mixture::weights(softmax(rg.clone(), 0)),
            ],
        )
        .unwrap();
    assert!(
        max_diff(&yc, &yg) < 1e-4,
        "linear forward {}",
        max_diff(&yc, &yg)
    );
    let (gc, gg) = (
        (yc.clone() * yc).sum().backward(),
        (yg.clone() * yg).sum().backward(),
    );
    let d = max_diff(&a.grad(&gc).unwrap(), &ag.grad(&gg).unwrap());
    assert!(d < 1e-3, "α gradient differs by {d}");
    let d = max_diff(
        &fc.weight.val().grad(&gc).unwrap(),
        &fg.weight.val().grad(&gg).unwrap(),
    );
    assert!(d < 1e-3, "weight gradient differs by {d}");

    // Kernel × channel superposition of a convolution.
    let cfg = SuperConv2dConfig::new(&[3], &[4, 8], &[3, 5]).unwrap();
    let cc = cfg.init::<C>(&cdev).unwrap();
    let mut cg = cfg.init::<G>(&gpu_dev()).unwrap();
    cg.weight = Param::from_tensor(on_gpu(&cc.weight.val()));
    cg.bias = cc
        .bias
        .as_ref()
        .map(|b| Param::from_tensor(on_gpu(&b.val())));
    let (w, k) = (weights(2), weights(2));
    let x = Tensor::<C, 4>::random([2, 3, 9, 9], Distribution::Normal(0.0, 1.0), &cdev);
    let xg = on_gpu(&x);
    let one = Mixture::<C>::single(0);
    let yc = cc
        .forward(
            x,
            &[&one, &Mixture::weights(softmax(w.clone(), 0))],
            Some(&Mixture::weights(softmax(k.clone(), 0))),
        )
        .unwrap();
    let yg = cg
        .forward(
            xg,
            &[
                &Mixture::single(0),
                &Mixture::weights(softmax(on_gpu(&w), 0)),
            ],
            Some(&Mixture::weights(softmax(on_gpu(&k), 0))),
        )
        .unwrap();
    assert!(
        max_diff(&yc, &yg) < 1e-4,
        "conv forward {}",
        max_diff(&yc, &yg)
    );

    // The exact superposed layer norm (block statistics).
    let lc = SuperLayerNormConfig::new(vec![8, 12, 16])
        .init::<C>(&cdev)
        .unwrap();
    let lg = SuperLayerNormConfig::new(vec![8, 12, 16])
        .init::<G>(&gpu_dev())
        .unwrap();
    let w = weights(3);
    let x = Tensor::<C, 3>::random([2, 3, 16], Distribution::Normal(3.0, 2.0), &cdev);
    let yc = lc
        .forward(x.clone(), &Mixture::weights(softmax(w.clone(), 0)))
        .unwrap();
    let yg = lg
        .forward(on_gpu(&x), &Mixture::weights(softmax(on_gpu(&w), 0)))
        .unwrap();
    assert!(
        max_diff(&yc, &yg) < 1e-4,
        "layer norm {}",
        max_diff(&yc, &yg)
    );
}

/// The superposed attention `ac` (CPU) and `ag` (wgpu, same weights) on `x` under embed and
/// head mixtures `softmax(e)`, `softmax(h)`: asserts the outputs and the embed-mixture gradients
/// agree and returns both gradient sets.
fn superposed_attention_agrees(
    ac: &tangle_core::SuperAttention<C>,
    ag: &tangle_core::SuperAttention<G>,
    x: Tensor<C, 3>,
    (e, h): (Tensor<C, 1>, Tensor<C, 1>),
) -> (
    <C as burn::tensor::backend::AutodiffBackend>::Gradients,
    <G as burn::tensor::backend::AutodiffBackend>::Gradients,
) {
    let yc = ac
        .forward(
            x.clone(),
            &Mixture::weights(softmax(e.clone(), 0)),
            &Mixture::weights(softmax(h.clone(), 0)),
        )
        .unwrap();
    let (eg, hg) = (on_gpu(&e), on_gpu(&h));
    let yg = ag
        .forward(
            on_gpu(&x),
            &Mixture::weights(softmax(eg.clone(), 0)),
            &Mixture::weights(softmax(hg.clone(), 0)),
        )
        .unwrap();
    let d = max_diff(&yc, &yg);
    assert!(d < 1e-4, "attention forward {d}");
    let (gc, gg) = (yc.sum().backward(), yg.sum().backward());
    let d = max_diff(&e.grad(&gc).unwrap(), &eg.grad(&gg).unwrap());
    assert!(d < 1e-3, "embed-mixture gradient differs by {d}");
    (gc, gg)
}

/// AutoFormer attention (fixed head dim) with 2-D relative positions, both decisions
/// superposed, against the CPU — forward, and gradients into the embed mixture and the tables.
#[test]
fn autoformer_attention_with_relative_positions_matches_the_cpu() {
    let cfg = SuperAttentionConfig::new(&[6, 8], &[1, 2], HeadDim::Fixed(4))
        .unwrap()
        .with_relative_position(Some(1));
    let ac = cfg.init::<C>(&Default::default()).unwrap();
    let mut ag = cfg.init::<G>(&gpu_dev()).unwrap();
    copy_linear(&ac.qkv, &mut ag.qkv);
    copy_linear(&ac.proj, &mut ag.proj);
    for (c, g) in [(&ac.rel_k, &mut ag.rel_k), (&ac.rel_v, &mut ag.rel_v)] {
        let (c, g) = (c.as_ref().unwrap(), g.as_mut().unwrap());
        g.table_v = Param::from_tensor(on_gpu(&c.table_v.val()));
        g.table_h = Param::from_tensor(on_gpu(&c.table_h.val()));
    }
    // A cls token and a 3 × 3 grid: distances up to 2, clipped to 1.
    let x = Tensor::<C, 3>::random(
        [2, 10, 8],
        Distribution::Normal(0.0, 1.0),
        &Default::default(),
    );
    let (gc, gg) = superposed_attention_agrees(&ac, &ag, x, (weights(2), weights(2)));
    let (tc, tg) = (
        &ac.rel_v.as_ref().unwrap().table_h,
        &ag.rel_v.as_ref().unwrap().table_h,
    );
    let d = max_diff(&tc.val().grad(&gc).unwrap(), &tg.val().grad(&gg).unwrap());
    assert!(d < 1e-3, "relative-position table gradient differs by {d}");
}

#[test]
fn gpt_attention_with_both_decisions_superposed_matches_the_cpu() {
    let cfg = SuperAttentionConfig::new(&[6, 12, 18], &[2, 3, 6], HeadDim::EmbedOverHeads)
        .unwrap()
        .with_causal(true);
    let ac = cfg.init::<C>(&Default::default()).unwrap();
    let mut ag = cfg.init::<G>(&gpu_dev()).unwrap();
    copy_linear(&ac.qkv, &mut ag.qkv);
    copy_linear(&ac.proj, &mut ag.proj);
    let x = Tensor::<C, 3>::random(
        [2, 5, 18],
        Distribution::Normal(0.0, 1.0),
        &Default::default(),
    );
    superposed_attention_agrees(&ac, &ag, x, (weights(3), weights(3)));
}

/// The patch embedding (an even kernel equal to its stride, no padding) superposed over its
/// embedding dim, against the CPU and against the weighted sum of the extracted embeddings,
/// zero-padded two ways: `pad` of the transposed view and `cat` with zeros. (On CUDA this
/// comparison failed once; this tells a cubecl backend's fault from ours.)
#[test]
fn patch_embedding_on_wgpu_matches_the_cpu_and_its_extracted_candidates() {
    let embeds = [4usize, 8];
    let pc = SuperPatchEmbedConfig::new(3, 4, embeds.to_vec())
        .init::<C>(&Default::default())
        .unwrap();
    let mut pg = SuperPatchEmbedConfig::new(3, 4, embeds.to_vec())
        .init::<G>(&gpu_dev())
        .unwrap();
    pg.proj.weight = Param::from_tensor(on_gpu(&pc.proj.weight.val()));
    pg.proj.bias = pc
        .proj
        .bias
        .as_ref()
        .map(|b| Param::from_tensor(on_gpu(&b.val())));
    let x = Tensor::<C, 4>::random(
        [2, 3, 8, 8],
        Distribution::Normal(0.0, 1.0),
        &Default::default(),
    );
    let ws = [0.3f32, 0.7];
    let mix = |d: &<G as burn::tensor::backend::BackendTypes>::Device| {
        Mixture::weights(Tensor::<G, 1>::from_floats(ws, d))
    };
    let yc = pc
        .forward(
            x.clone(),
            &Mixture::weights(Tensor::<C, 1>::from_floats(ws, &Default::default())),
        )
        .unwrap();
    let xg = on_gpu(&x);
    let yg = pg.forward(xg.clone(), &mix(&gpu_dev())).unwrap();
    let d = max_diff(&yc, &yg);
    assert!(d < 1e-4, "patch embedding vs CPU {d}");

    let [b, p, e] = yg.dims();
    let (mut by_pad, mut by_cat) = (
        Tensor::<G, 3>::zeros([b, p, e], &gpu_dev()),
        Tensor::<G, 3>::zeros([b, p, e], &gpu_dev()),
    );
    for (i, &ei) in embeds.iter().enumerate() {
        let yi = pg.extract(i).unwrap().forward(xg.clone());
        let padded = if ei == e {
            yi.clone()
        } else {
            yi.clone()
                .pad([(0, e - ei)], burn::tensor::ops::PadMode::Constant(0.0))
        };
        by_pad = by_pad + padded * ws[i];
        let catted = if ei == e {
            yi
        } else {
            Tensor::cat(vec![yi, Tensor::zeros([b, p, e - ei], &gpu_dev())], 2)
        };
        by_cat = by_cat + catted * ws[i];
    }
    let (dp, dc) = (max_diff(&yg, &by_pad), max_diff(&yg, &by_cat));
    println!("patch embedding on wgpu: vs pad reference {dp}, vs cat reference {dc}");
    assert!(
        dc < 1e-4,
        "patch embedding vs cat-padded extracted candidates {dc}"
    );
    assert!(
        dp < 1e-4,
        "patch embedding vs pad-padded extracted candidates {dp}"
    );
}

/// The batch norm every conv space runs (`batch_norm_forward`) and the superposed one, training
/// mode, on the wgpu device against the CPU: outputs, gradients into the input and γ, running
/// statistics.
#[test]
fn batch_norms_match_the_cpu_with_gradients() {
    use burn::nn::BatchNormConfig;
    use tangle_core::{batch_norm_forward, SuperBatchNorm2dConfig};
    let cdev = Default::default();
    let x = Tensor::<C, 4>::random([4, 6, 5, 5], Distribution::Normal(1.0, 2.0), &cdev);
    let gamma = Tensor::<C, 1>::random([6], Distribution::Normal(1.0, 0.3), &cdev);
    // Burn's module through batch_norm_forward.
    let mut bc = BatchNormConfig::new(6).init::<C>(&cdev);
    let mut bg = BatchNormConfig::new(6).init::<G>(&gpu_dev());
    bc.gamma = Param::from_tensor(gamma.clone().require_grad());
    bg.gamma = Param::from_tensor(on_gpu(&gamma));
    let (xc, xg) = (x.clone().require_grad(), on_gpu(&x));
    let (yc, yg) = (
        batch_norm_forward(&bc, xc.clone()),
        batch_norm_forward(&bg, xg.clone()),
    );
    assert!(max_diff(&yg, &yc) < 1e-4, "output {}", max_diff(&yg, &yc));
    let probe = Tensor::<C, 4>::random([4, 6, 5, 5], Distribution::Normal(0.0, 1.0), &cdev);
    let gc = (yc * probe.clone()).sum().backward();
    let gg = (yg * on_gpu(&probe)).sum().backward();
    assert!(max_diff(&xg.grad(&gg).unwrap(), &xc.grad(&gc).unwrap()) < 1e-3);
    assert!(max_diff(&bg.gamma.grad(&gg).unwrap(), &bc.gamma.grad(&gc).unwrap()) < 1e-3);
    assert!(max_diff(&bg.running_var.value_sync(), &bc.running_var.value_sync()) < 1e-4);
    // The superposed batch norm over {3, 6} channels.
    let sc = SuperBatchNorm2dConfig::new(vec![3, 6])
        .init::<C>(&cdev)
        .unwrap();
    let sg = SuperBatchNorm2dConfig::new(vec![3, 6])
        .init::<G>(&gpu_dev())
        .unwrap();
    let w = weights(2);
    let (mc, mg) = (
        Mixture::weights(softmax(w.clone(), 0)),
        Mixture::weights(softmax(on_gpu(&w), 0)),
    );
    let (yc, yg) = (
        sc.forward(x.clone(), &mc).unwrap(),
        sg.forward(on_gpu(&x), &mg).unwrap(),
    );
    assert!(
        max_diff(&yg, &yc) < 1e-4,
        "superposed {}",
        max_diff(&yg, &yc)
    );
    assert!(max_diff(&sg.running_mean.value_sync(), &sc.running_mean.value_sync()) < 1e-4);
}
