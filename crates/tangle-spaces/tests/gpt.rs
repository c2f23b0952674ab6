//! The language-model space: spec, modes, extraction, parameter counts, generation, training.
mod common;

use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use common::*;
use tangle_core::subnet::trainable_params;
use tangle_core::Extract;
use tangle_core::{CoreError, Mixtures, Supernet};
use tangle_optim::{Classification, Objective};
use tangle_spaces::gpt::{Gpt, GptConfig};

fn small() -> GptConfig {
    GptConfig {
        embeds: vec![8, 12, 16],
        heads: vec![2, 4],
        ratios: vec![2.0, 3.0],
        layers: vec![1, 2],
        vocab: 11,
        context: 6,
        dropout: 0.0,
        tied: false,
    }
}

fn ids<Bk: Backend>(v: Vec<i64>, shape: [usize; 2], device: &Bk::Device) -> Tensor<Bk, 2, Int> {
    Tensor::from_data(TensorData::new(v, shape), device)
}

fn flat<Bk: Backend>(t: Tensor<Bk, 3>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec::<f32>().unwrap()
}

#[test]
fn spec_sizes() {
    let s = GptConfig::table18(65, 224).spec().unwrap();
    assert_eq!(s.decisions().len(), 2 + 2 * 7);
    assert_eq!(s.size(), 9 * 9u128.pow(7));
    // Heads that do not divide an embedding dim are rejected.
    let bad = GptConfig {
        heads: vec![5],
        ..small()
    };
    assert!(bad.spec().is_err());
}

#[test]
fn one_hot_equals_single_path_equals_extracted_subnet() {
    let device = Default::default();
    let net = small().init::<AB>(&device).unwrap();
    let inner = net.valid();
    let s = net.spec().clone();
    let x = ids::<AB>((0..12).map(|i| (i * 7) % 11).collect(), [2, 6], &device);
    for idx in random_archs(&s, 6, 11) {
        let arch = s.architecture(&idx).unwrap();
        let single = flat(
            net.forward_mixed(x.clone(), &Mixtures::fixed(&s, &arch).unwrap())
                .unwrap(),
        );
        let hot = flat(
            net.forward_mixed(x.clone(), &one_hot(&s, &idx, &device))
                .unwrap(),
        );
        close(&hot, &single, 1e-4);
        close(
            &flat(net.extract(&arch).unwrap().forward(x.clone()).unwrap()),
            &single,
            1e-4,
        );
        let sub = inner.extract(&arch).unwrap();
        close(
            &flat(sub.forward(x.clone().inner()).unwrap()),
            &single,
            1e-4,
        );
    }
    // Longer than the context: a typed error.
    assert!(matches!(
        inner.forward_mixed(
            ids::<B>(vec![0; 7], [1, 7], &device),
            &Mixtures::fixed(&s, &s.largest()).unwrap()
        ),
        Err(CoreError::Shape { .. })
    ));
}

#[test]
fn analytic_parameter_count_equals_the_subnet_count() {
    let device = Default::default();
    let tied = GptConfig {
        tied: true,
        ..small()
    };
    for config in [small(), tied, GptConfig::table18(65, 224)] {
        let net = config.init::<AB>(&device).unwrap();
        for idx in random_archs(net.spec(), 3, 12) {
            let arch = net.spec().architecture(&idx).unwrap();
            assert_eq!(
                net.params(&arch).unwrap(),
                trainable_params(&net.extract(&arch).unwrap()),
                "{arch}"
            );
            assert_default_params(&net, &arch);
        }
    }
    // GPT-2 small, by hand: wte 50257·768, wpe 1024·768, 12 blocks of (2 LN 4·768,
    // c_attn 768·2304 + 2304, c_proj 768² + 768, fc 768·3072 + 3072, proj 3072·768 + 768),
    // ln_f 2·768; the head is the tied wte.
    let net = GptConfig::gpt2().init::<B>(&device).unwrap();
    let block =
        3072 + (768 * 2304 + 2304) + (768 * 768 + 768) + (768 * 3072 + 3072) + (3072 * 768 + 768);
    let by_hand = 50257 * 768 + 1024 * 768 + 12 * block + 1536;
    assert_eq!(by_hand, 124_439_808);
    assert_eq!(net.params(&net.spec().largest()).unwrap(), by_hand);
}

/// The tied space is the untied one with every layer's heads and ratio set alike: same weights,
/// same outputs — at single architectures and under mixtures whose weights repeat
/// per layer.
#[test]
fn tied_choices_equal_the_untied_space_with_every_layer_alike() {
    let device = Default::default();
    let tied_config = GptConfig {
        tied: true,
        ..small()
    };
    let ts = tied_config.spec().unwrap();
    let names: Vec<&str> = ts.decisions().iter().map(|d| d.name()).collect();
    assert_eq!(names, ["embed", "layers", "heads", "mlp_ratio"]);
    assert_eq!(ts.size(), 3 * 2 * 2 * 2);
    // The same modules either way: both load one record. (Burn initializes a parameter when it
    // is first read, and a clone of an unread one draws values of its own: the record is taken
    // from a supernet no one read, then copied from the loaded one.)
    let tied = tied_config
        .init::<B>(&device)
        .unwrap()
        .load_record(small().init::<B>(&device).unwrap().into_record());
    let untied = small()
        .init::<B>(&device)
        .unwrap()
        .load_record(tied.clone().into_record());
    let us = untied.spec().clone();
    let x = ids::<B>((0..12).map(|i| (i * 5) % 11).collect(), [2, 6], &device);
    // Untied indices: embed, layers, then (heads, ratio) for each of the 2 layers.
    let spread = |t: &[usize]| vec![t[0], t[1], t[2], t[3], t[2], t[3]];
    for idx in random_archs(&ts, 6, 3) {
        let a = flat(
            tied.forward_mixed(x.clone(), &one_hot(&ts, &idx, &device))
                .unwrap(),
        );
        let b = flat(
            untied
                .forward_mixed(x.clone(), &one_hot(&us, &spread(&idx), &device))
                .unwrap(),
        );
        close(&a, &b, 1e-5);
        let arch = ts.architecture(&idx).unwrap();
        assert_eq!(
            tied.params(&arch).unwrap(),
            untied
                .params(&us.architecture(&spread(&idx)).unwrap())
                .unwrap()
        );
    }
    close(
        &flat(
            tied.forward_mixed(x.clone(), &uniform(&ts, &device))
                .unwrap(),
        ),
        &flat(untied.forward_mixed(x, &uniform(&us, &device)).unwrap()),
        1e-5,
    );
}

/// Every block reads its own decisions through its keys: mixtures of another space fail with
/// an error naming the block's decision and the one found in its place, instead of running
/// the wrong mixture. (Before keys, a swapped (heads, ratio) pair went unnoticed whenever the
/// two decisions had as many candidates.)
#[test]
fn a_block_given_another_spaces_mixtures_names_both_decisions() {
    let device = Default::default();
    let untied = small().init::<B>(&device).unwrap();
    let tied_spec = GptConfig {
        tied: true,
        ..small()
    }
    .spec()
    .unwrap();
    let x = ids::<B>(vec![1, 2, 3], [1, 3], &device);
    let e = untied
        .forward_mixed(x, &uniform(&tied_spec, &device))
        .unwrap_err();
    assert!(matches!(e, CoreError::WrongDecision { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("`layer0.heads`") && text.contains("`heads`"),
        "{text}"
    );
    // Keys name what each block reads; the tied blocks share one heads decision.
    let keys = untied.keys();
    assert_eq!(keys.blocks[1].ratio.name(), "layer1.mlp_ratio");
    let tied = (GptConfig {
        tied: true,
        ..small()
    })
    .init::<B>(&device)
    .unwrap();
    assert!(tied.keys().blocks.iter().all(|b| b.heads.name() == "heads"));
}

#[test]
fn generation_is_reproducible_and_checked() {
    let device = Default::default();
    let net = small().init::<B>(&device).unwrap();
    let sub = net.extract(&net.spec().largest()).unwrap();
    // A prompt longer than the context is cropped.
    let prompt = [1usize, 2, 3, 4, 5, 6, 7, 8];
    let greedy = sub.generate(&prompt, 5, None, 0, &device).unwrap();
    assert_eq!(greedy.len(), 13);
    assert_eq!(&greedy[..8], &prompt);
    assert_eq!(greedy, sub.generate(&prompt, 5, None, 9, &device).unwrap());
    let a = sub.generate(&prompt, 20, Some(1.0), 3, &device).unwrap();
    assert_eq!(a, sub.generate(&prompt, 20, Some(1.0), 3, &device).unwrap());
    assert!(a.iter().all(|&t| t < 11));
    // Greedy picks the argmax of the last position's logits.
    let logits = sub
        .forward(ids::<B>(vec![3, 4, 5, 6, 7, 8], [1, 6], &device))
        .unwrap();
    let last = flat(logits.slice([0..1, 5..6, 0..11]));
    let best = (0..11)
        .max_by(|&i, &j| last[i].total_cmp(&last[j]))
        .unwrap();
    assert_eq!(greedy[8], best);
    assert!(sub.generate(&[], 1, None, 0, &device).is_err());
    assert!(sub.generate(&[1], 1, Some(0.0), 0, &device).is_err());
    assert!(sub.generate(&[11], 1, None, 0, &device).is_err());
}

#[test]
fn superposed_training_lowers_the_loss_on_a_small_batch() {
    let device = Default::default();
    let mut net = small().init::<AB>(&device).unwrap();
    let s = net.spec().clone();
    let mix = uniform::<AB>(&s, &device);
    let x = ids::<AB>((0..12).map(|i| i % 11).collect(), [2, 6], &device);
    let y = ids::<AB>((1..13).map(|i| i % 11).collect(), [2, 6], &device);
    let loss = |net: &Gpt<AB>| Classification.loss(net.forward_mixed(x.clone(), &mix).unwrap(), &y);
    let first = loss(&net).into_scalar();
    let mut opt = AdamConfig::new().init::<AB, Gpt<AB>>();
    for _ in 0..10 {
        let grads = GradientsParams::from_grads(loss(&net).backward(), &net);
        net = opt.step(1e-2, net, grads);
    }
    let last = loss(&net).into_scalar();
    assert!(last < first - 0.1, "loss {first} → {last}");
}
