//! The conv-macro space: its spec, its three modes, its extracted subnet, and a search step.
mod common;

use burn::tensor::{Distribution, Int, Tensor, TensorData};
use tangle_core::Extract;
use tangle_core::{CoreError, Mixture, Mixtures, Supernet};
use tangle_optim::{Classification, Drnas, Search, SearchConfig};
use tangle_spaces::conv_macro::{spec, ConvMacro, ConvMacroConfig};

use common::{close, one_hot, vals, Halves, AB, B};

/// Parameters of the classifier every conv-macro network ends with, counted by hand: `inputs`
/// → 256 → 128 → 64 → 10, each layer with a bias.
fn classifier_params(inputs: usize) -> usize {
    (inputs * 256 + 256) + (256 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10)
}

#[test]
fn spec_has_6561_architectures() {
    let s = spec();
    assert_eq!(s.size(), 6561);
    assert_eq!(s.decisions().len(), 8);
    assert_eq!(
        s.get("conv4.channels").unwrap().int_values().unwrap(),
        vec![64, 128, 256]
    );
}

#[test]
fn one_hot_equals_single_path_equals_extracted_subnet() {
    let device = Default::default();
    let net = ConvMacroConfig::new().init::<B>(&device).unwrap();
    let s = spec();
    let x = Tensor::<B, 4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    // A few architectures, including the smallest and the largest.
    for idx in [
        [0usize; 8],
        [2; 8],
        [1, 0, 2, 1, 0, 2, 1, 1],
        [2, 2, 0, 1, 1, 0, 0, 2],
    ] {
        let arch = s.architecture(&idx).unwrap();
        let hot = one_hot(&s, &idx, &device);
        let y_hot = vals(net.forward_mixed(x.clone(), &hot).unwrap());
        let y_single = vals(
            net.forward_mixed(x.clone(), &Mixtures::fixed(&s, &arch).unwrap())
                .unwrap(),
        );
        let y_sub = vals(net.extract(&arch).unwrap().forward(x.clone()));
        assert_eq!(y_single.len(), 20);
        close(&y_hot, &y_single, 1e-4);
        close(&y_sub, &y_single, 1e-5);
    }
    assert!(matches!(
        net.forward_mixed(
            Tensor::zeros([1, 3, 28, 28], &device),
            &Mixtures::fixed(&s, &s.largest()).unwrap()
        ),
        Err(CoreError::Shape { .. })
    ));
}

/// α before and after one DrNAS epoch of `model` on four random images.
fn alphas_around_one_drnas_epoch<M>(model: M, labels: Vec<i64>) -> (Vec<Vec<f32>>, Vec<Vec<f32>>)
where
    M: Supernet<AB, Input = Tensor<AB, 4>, Output = Tensor<AB, 2>>
        + burn::module::AutodiffModule<AB>,
{
    let device = Default::default();
    let data = Halves {
        x: Tensor::random([4, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device),
        y: Tensor::from_data(TensorData::new(labels, [4]), &device),
    };
    let config = SearchConfig {
        epochs: 1,
        arch_lr: 0.01,
        ..SearchConfig::toy_conv_macro()
    };
    let mut search = Search::new(model, Drnas::new(0), config, 0, &device).unwrap();
    let before = search.alphas.values();
    search.run(&data, &Classification).unwrap();
    assert!(search.records[0].train_loss.is_finite());
    (before, search.alphas.values())
}

#[test]
fn a_drnas_step_updates_every_decision() {
    let (before, after) = alphas_around_one_drnas_epoch(
        ConvMacroConfig::new()
            .init::<AB>(&Default::default())
            .unwrap(),
        vec![1, 3, 5, 7],
    );
    for (d, (a, b)) in before.iter().zip(&after).enumerate() {
        assert!(
            a.iter().zip(b).any(|(x, y)| x != y),
            "decision {d} did not move"
        );
    }
}

#[test]
fn analytic_parameter_count_equals_the_subnet_count() {
    use burn::module::Module;
    let device = Default::default();
    let net = ConvMacroConfig::new().init::<B>(&device).unwrap();
    let s = spec();
    for idx in [
        [0usize; 8],
        [2; 8],
        [1, 2, 0, 1, 2, 0, 1, 2],
        [2, 0, 1, 2, 0, 1, 2, 0],
    ] {
        let arch = s.architecture(&idx).unwrap();
        assert_eq!(
            net.params(&arch).unwrap(),
            net.extract(&arch).unwrap().num_params(),
            "{arch}"
        );
    }
    // Smallest: conv 3·8·9+8, 8·16·9+16, 16·32·9+32, 32·64·9+64, 64·256·49+256, then the MLP
    // from conv5's 256 × 6 × 6 = 9216 outputs.
    let smallest = 224 + 1168 + 4640 + 18496 + 803_072 + classifier_params(9216);
    assert_eq!(
        net.params(&s.architecture(&[0; 8]).unwrap()).unwrap(),
        smallest
    );
}

#[test]
fn superposed_training_lowers_the_loss_on_a_small_batch() {
    use burn::module::AutodiffModule;
    use burn::optim::{AdamConfig, GradientsParams, Optimizer};
    use tangle_optim::Objective;
    let device = Default::default();
    let mut net = ConvMacroConfig::new().init::<AB>(&device).unwrap();
    let s = spec();
    let x = Tensor::<AB, 4>::random([8, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<AB, 1, Int>::from_data(TensorData::new((0..8i64).collect(), [8]), &device);
    // Uniform superposition over every decision.
    let uniform = |n: usize| Tensor::<AB, 1>::ones([n], &device) / n as f64;
    let mixtures = Mixtures::new(
        &s,
        s.decisions()
            .iter()
            .map(|d| Mixture::weights(uniform(d.len())))
            .collect(),
    )
    .unwrap();
    // The loss without dropout (inference backend), before and after training.
    let eval = |net: &ConvMacro<AB>| -> f32 {
        let inner = net.valid();
        let mix = Mixtures::new(
            &s,
            s.decisions()
                .iter()
                .map(|d| Mixture::weights(uniform(d.len()).inner()))
                .collect(),
        )
        .unwrap();
        let out = inner.forward_mixed(x.clone().inner(), &mix).unwrap();
        Classification.loss(out, &y.clone().inner()).into_scalar()
    };
    let before = eval(&net);
    let mut opt = AdamConfig::new().init::<AB, ConvMacro<AB>>();
    for _ in 0..10 {
        let loss = Classification.loss(net.forward_mixed(x.clone(), &mixtures).unwrap(), &y);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = opt.step(1e-3, net, grads);
    }
    let after = eval(&net);
    assert!(after < before - 0.05, "loss {before} → {after}");
}

#[test]
fn ws_twin_single_path_equals_its_extracted_subnet_and_mixes_outputs() {
    let device = Default::default();
    let net = ConvMacroConfig::new().init_ws::<B>(&device).unwrap();
    let s = spec();
    let x = Tensor::<B, 4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    for idx in [[0usize; 8], [2; 8], [1, 2, 0, 1, 2, 0, 1, 2]] {
        let arch = s.architecture(&idx).unwrap();
        let single = vals(
            net.forward_mixed(x.clone(), &Mixtures::fixed(&s, &arch).unwrap())
                .unwrap(),
        );
        let hot = one_hot(&s, &idx, &device);
        close(
            &vals(net.forward_mixed(x.clone(), &hot).unwrap()),
            &single,
            1e-4,
        );
        close(
            &vals(net.extract(&arch).unwrap().forward(x.clone())),
            &single,
            1e-4,
        );
    }
    // Same decisions as the entangled space, more weights: nine convolutions per layer.
    use burn::module::Module;
    let we = ConvMacroConfig::new().init::<B>(&device).unwrap();
    assert_eq!(net.spec(), we.spec());
    assert!(net.num_params() > we.num_params());
}

#[test]
fn drnas_runs_on_the_ws_twin() {
    let (before, after) = alphas_around_one_drnas_epoch(
        ConvMacroConfig::new()
            .init_ws::<AB>(&Default::default())
            .unwrap(),
        vec![0, 2, 4, 6],
    );
    assert_ne!(before, after);
}

/// The space has nine ReLU layers and no normalization; its He initialization keeps the
/// activations' scale through the convolutions (Burn's default would shrink their mean square
/// ~6× per layer, to ~10⁻⁴ at conv5, and a short search would not move). The fans are the
/// largest candidate's, so that is where the scale is kept: a smaller candidate is a slice with
/// a smaller fan-in and starts with smaller activations (as in the paper's code).
#[test]
fn activations_keep_their_scale_at_initialization() {
    use burn::tensor::activation::relu;
    use burn::tensor::module::max_pool2d;
    let device = Default::default();
    let s = spec();
    let pool = |x: Tensor<B, 4>| max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], false);
    let x = Tensor::<B, 4>::random([8, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    for (idx, range) in [([2usize; 8], 0.2..20.0), ([0; 8], 1e-6..0.2)] {
        let net = ConvMacroConfig::new()
            .init::<B>(&device)
            .unwrap()
            .extract(&s.architecture(&idx).unwrap())
            .unwrap();
        let c = &net.convs;
        let h = relu(c[0].forward(x.clone()));
        let h = pool(relu(c[1].forward(h)));
        let h = pool(relu(c[2].forward(h)));
        let h = relu(c[3].forward(h));
        let h = relu(c[4].forward(h));
        let ms = h.powi_scalar(2).mean().into_scalar();
        assert!(range.contains(&ms), "{idx:?}: mean square {ms}");
    }
}

/// `width_divisor` 2: the same decisions at half the widths; one-hot == single path ==
/// extracted, and the analytic parameter count is the narrow subnet's, written out by hand for
/// the smallest architecture.
#[test]
fn a_width_divisor_halves_every_width_and_keeps_extraction_exact() {
    use burn::module::Module;
    let device = Default::default();
    let config = ConvMacroConfig::new().with_width_divisor(2);
    let net = config.init::<B>(&device).unwrap();
    let s = net.spec().clone();
    assert_eq!(s.size(), 6561);
    let names: Vec<_> = s.decisions().iter().map(|d| d.name().to_string()).collect();
    let paper: Vec<_> = spec()
        .decisions()
        .iter()
        .map(|d| d.name().to_string())
        .collect();
    assert_eq!(names, paper);
    assert_eq!(
        s.get("conv1.channels").unwrap().int_values().unwrap(),
        vec![4, 8, 16]
    );
    assert_eq!(
        s.get("conv4.channels").unwrap().int_values().unwrap(),
        vec![32, 64, 128]
    );
    let x = Tensor::<B, 4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    for idx in [[0usize; 8], [2; 8], [1, 0, 2, 1, 0, 2, 1, 1]] {
        let arch = s.architecture(&idx).unwrap();
        let y_hot = vals(
            net.forward_mixed(x.clone(), &one_hot(&s, &idx, &device))
                .unwrap(),
        );
        let y_single = vals(
            net.forward_mixed(x.clone(), &Mixtures::fixed(&s, &arch).unwrap())
                .unwrap(),
        );
        let sub = net.extract(&arch).unwrap();
        close(&y_hot, &y_single, 1e-4);
        close(&vals(sub.forward(x.clone())), &y_single, 1e-5);
        assert_eq!(net.params(&arch).unwrap(), sub.num_params(), "{arch}");
    }
    // Smallest: conv 3·4·9+4, 4·8·9+8, 8·16·9+16, 16·32·9+32, 32·128·49+128, then the MLP
    // from conv5's 128 × 6 × 6 = 4608 outputs.
    let smallest = 112 + 296 + 1168 + 4640 + 200_832 + classifier_params(4608);
    assert_eq!(
        net.params(&s.architecture(&[0; 8]).unwrap()).unwrap(),
        smallest
    );
    // The WS twin takes the same divisor.
    let ws = config.init_ws::<B>(&device).unwrap();
    assert_eq!(ws.conv5.weight.dims(), [128, 128, 7, 7]);
}

#[test]
fn a_width_divisor_that_does_not_divide_every_width_is_an_error_naming_it() {
    for d in [0, 3, 16] {
        let err = ConvMacroConfig::new()
            .with_width_divisor(d)
            .init::<B>(&Default::default())
            .err()
            .unwrap_or_else(|| panic!("divisor {d} accepted"));
        let msg = err.to_string();
        assert!(
            msg.contains("width_divisor") && msg.contains(&d.to_string()),
            "{msg}"
        );
    }
}
