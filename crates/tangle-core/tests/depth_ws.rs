//! DepthMixer and the weight-sharing mixed op.
mod common;
use common::*;

use std::cell::Cell;

use burn::nn::{Linear, LinearConfig};
use burn::tensor::Tensor;
use tangle_core::{CoreError, DepthMixer, Mixture, WsMixedOp};

#[test]
fn depth_mixture_is_weighted_sum_of_block_outputs() {
    let d = dev();
    let mixer = DepthMixer::new(&[2, 3, 5]).unwrap();
    let blocks: Vec<Linear<B>> = (0..5).map(|_| LinearConfig::new(4, 4).init(&d)).collect();
    let x = randn::<B, 2>([3, 4], &d);
    let ws = [0.2f32, 0.3, 0.5];
    let calls = Cell::new(0);
    let run = |i: usize, h: Tensor<B, 2>| {
        calls.set(calls.get() + 1);
        Ok(blocks[i].forward(h).tanh())
    };
    let y = mixer
        .forward(x.clone(), &Mixture::weights(w::<B>(&ws, &d)), run)
        .unwrap();
    assert_eq!(calls.get(), 5);
    let mut outs = vec![];
    let mut h = x.clone();
    for b in &blocks {
        h = b.forward(h).tanh();
        outs.push(h.clone());
    }
    let want = outs[1].clone() * 0.2 + outs[2].clone() * 0.3 + outs[4].clone() * 0.5;
    assert_close(&y, &want, 1e-6);

    // Single: stops after the chosen depth.
    calls.set(0);
    let y = mixer.forward(x.clone(), &Mixture::single(1), run).unwrap();
    assert_eq!(calls.get(), 3);
    assert_close(&y, &outs[2], 1e-6);
    assert!(matches!(
        DepthMixer::new(&[3, 2]),
        Err(CoreError::NotIncreasing { .. })
    ));
    assert!(matches!(
        mixer.forward(x, &Mixture::single(3), run),
        Err(CoreError::BadMixture { .. })
    ));
}

#[test]
fn ws_mixed_op_mixes_outputs_of_independent_ops() {
    let d = dev();
    let op =
        WsMixedOp::<B, Linear<B>>::new((0..3).map(|_| LinearConfig::new(4, 2).init(&d)).collect())
            .unwrap();
    let x = randn::<B, 2>([5, 4], &d);
    let ws = [0.1f32, 0.7, 0.2];
    let y = op
        .forward(x.clone(), &Mixture::weights(w::<B>(&ws, &d)), |m, x| {
            Ok(m.forward(x))
        })
        .unwrap();
    let want = op.ops[0].forward(x.clone()) * 0.1
        + op.ops[1].forward(x.clone()) * 0.7
        + op.ops[2].forward(x.clone()) * 0.2;
    assert_close(&y, &want, 1e-6);
    let y = op
        .forward(x.clone(), &Mixture::single(2), |m, x| Ok(m.forward(x)))
        .unwrap();
    assert_close(&y, &op.ops[2].forward(x), 0.0);
    assert!(WsMixedOp::<B, Linear<B>>::new(vec![]).is_err());
}
