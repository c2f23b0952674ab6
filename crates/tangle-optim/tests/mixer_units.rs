//! Mixer building blocks: sparsemax, GDAS's straight-through sample and τ schedule, DrNAS's
//! concentration and samples.
use burn::backend::{Autodiff, Flex};
use burn::tensor::Tensor;
use tangle_core::{Decision, Mixture, SearchSpec};
use tangle_optim::drnas::concentration;
use tangle_optim::sparsemax::sparsemax;
use tangle_optim::{ArchParams, Drnas, Gdas, Mixer};

type AB = Autodiff<Flex>;

fn v<B: burn::tensor::backend::Backend, const D: usize>(t: &Tensor<B, D>) -> Vec<f32> {
    t.to_data().convert::<f32>().to_vec::<f32>().unwrap()
}

fn spec() -> SearchSpec {
    SearchSpec::new(vec![Decision::sizes("w", &[1, 2, 3], 3).unwrap()]).unwrap()
}

#[test]
fn sparsemax_values_and_jacobian() {
    let device = Default::default();
    let z = Tensor::<AB, 1>::from_floats([1.0, 0.5, -1.0], &device).require_grad();
    let p = sparsemax(z.clone());
    let pv = v(&p);
    for (a, b) in pv.iter().zip([0.75, 0.25, 0.0]) {
        assert!((a - b).abs() < 1e-6, "{pv:?}");
    }
    // On the support S, ∂p/∂z = I − 11ᵀ/|S|; off it, zero.
    let g = v(&z.grad(&p.slice([0..1]).sum().backward()).unwrap());
    for (a, b) in g.iter().zip([0.5, -0.5, 0.0]) {
        assert!((a - b).abs() < 1e-6, "{g:?}");
    }
    // A dominant entry takes everything.
    let q = v(&sparsemax(Tensor::<AB, 1>::from_floats(
        [3.0, 0.0, 0.1],
        &device,
    )));
    assert_eq!(q, vec![1.0, 0.0, 0.0]);
}

/// Superposed GDAS: the weights are the sample's one-hot in value, and every candidate's weight
/// carries the gradient of its Gumbel-softmax probability, so a loss that reads the weights of
/// candidates *not* drawn still moves α (on the single path only the drawn one is read).
#[test]
fn superposed_gdas_weights_are_one_hot_with_gradients_for_every_candidate() {
    let device = Default::default();
    let spec = spec();
    let alphas = ArchParams::<AB>::from_values(&spec, &[vec![0.1, 0.9, -0.4]], &device).unwrap();
    let gdas = Gdas::superposed(3);
    let single = Gdas::new(3);
    let mix = gdas.mixtures(&alphas, &spec, 5).unwrap();
    let Mixture::Weights(w) = mix.get("w").unwrap().clone() else {
        panic!("superposed GDAS gives weights")
    };
    // The same draw picks the same candidate in both forms.
    let Mixture::Single { index, .. } = single
        .mixtures(&alphas, &spec, 5)
        .unwrap()
        .get("w")
        .unwrap()
        .clone()
    else {
        panic!("single-path GDAS picks one candidate")
    };
    let value = v(&w);
    let mut hot = vec![0.0f32; 3];
    hot[index] = 1.0;
    for (a, b) in value.iter().zip(&hot) {
        assert!(
            (a - b).abs() < 1e-6,
            "value {value:?}, expected one-hot {hot:?}"
        );
    }
    // A loss reading only a candidate that was not drawn: L = w_j.
    let j = (index + 1) % 3;
    let g = v(&alphas.alpha[0]
        .val()
        .grad(&w.slice([j..j + 1]).sum().backward())
        .unwrap());
    assert!(g.iter().any(|x| x.abs() > 1e-6), "no gradient to α: {g:?}");
}

#[test]
fn gdas_samples_one_candidate_with_unit_straight_through_weight() {
    let device = Default::default();
    let spec = spec();
    let alphas = ArchParams::<AB>::from_values(&spec, &[vec![0.1, 0.9, -0.4]], &device).unwrap();
    let mut gdas = Gdas::new(3);
    Mixer::<AB>::start_epoch(&mut gdas, 0, 11);
    assert_eq!(gdas.tau(), 10.0);
    let mix = gdas.mixtures(&alphas, &spec, 5).unwrap();
    let (index, weight) = match mix.get("w").unwrap() {
        Mixture::Single { index, weight } => (*index, weight.clone().unwrap()),
        _ => panic!("GDAS must pick a single candidate"),
    };
    assert!(index < 3);
    assert_eq!(v(&weight), vec![1.0]);
    let g = v(&alphas.alpha[0]
        .val()
        .grad(&weight.sum().backward())
        .unwrap());
    assert!(g.iter().any(|x| x.abs() > 1e-4), "no gradient to α: {g:?}");
    // Same draw, same sample; the draws cover several candidates.
    let again = gdas.mixtures(&alphas, &spec, 5).unwrap();
    assert!(matches!(again.get("w").unwrap(), Mixture::Single { index: i, .. } if *i == index));
    let picked: std::collections::BTreeSet<usize> = (0..200)
        .map(
            |d| match gdas.mixtures(&alphas, &spec, d).unwrap().get("w").unwrap() {
                Mixture::Single { index, .. } => *index,
                _ => unreachable!(),
            },
        )
        .collect();
    assert_eq!(picked.len(), 3);
    Mixer::<AB>::start_epoch(&mut gdas, 10, 11);
    assert!((gdas.tau() - 0.1).abs() < 1e-12);
    Mixer::<AB>::start_epoch(&mut gdas, 5, 11);
    assert!((gdas.tau() - 5.05).abs() < 1e-12);
}

#[test]
fn drnas_concentration_and_samples() {
    let device = Default::default();
    let c = v(&concentration(Tensor::<AB, 1>::from_floats(
        [-1.0, 0.0, 2.0],
        &device,
    )));
    assert!(
        (c[0] - (-1f32).exp()).abs() < 1e-6
            && (c[1] - 1.0).abs() < 1e-6
            && (c[2] - 3.0).abs() < 1e-6
    );
    let spec = spec();
    let alphas = ArchParams::<AB>::from_values(&spec, &[vec![-1.0, 0.0, 2.0]], &device).unwrap();
    let drnas = Drnas::new(1);
    let probs = drnas.probabilities(&alphas);
    let s: f32 = c.iter().sum();
    assert!((probs[0][2] - 3.0 / s).abs() < 1e-6);
    assert_eq!(drnas.argmax(&alphas), Some(vec![2]));
    let mut mean = [0f32; 3];
    for d in 0..400 {
        let Mixture::Weights(w) = drnas
            .mixtures(&alphas, &spec, d)
            .unwrap()
            .get("w")
            .unwrap()
            .clone()
        else {
            panic!("DrNAS superposes");
        };
        let w = v(&w);
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-5 && w.iter().all(|x| *x >= 0.0));
        for j in 0..3 {
            mean[j] += w[j] / 400.0;
        }
    }
    // Dirichlet mean a/Σa, within Monte-Carlo error.
    for j in 0..3 {
        assert!((mean[j] - c[j] / s).abs() < 0.05, "{mean:?}");
    }
    assert!(drnas.regularizer(&alphas).is_none());
    let kl = Drnas::new(1).with_kl(1e-3).regularizer(&alphas).unwrap();
    assert!(v(&kl)[0] > 0.0);
}

#[test]
fn learning_rate_schedule_is_cosine_with_linear_warmup() {
    use tangle_optim::SearchConfig;
    let c = SearchConfig {
        epochs: 10,
        lr: 0.1,
        lr_min: 0.0,
        lr_warmup_steps: 4,
        ..SearchConfig::default()
    };
    assert!((c.lr_at(0) - 0.1).abs() < 1e-12);
    assert!((c.lr_at(5) - 0.05).abs() < 1e-12);
    assert!((c.lr_at_step(0, 0) - 0.025).abs() < 1e-12);
    assert!((c.lr_at_step(0, 3) - 0.1).abs() < 1e-12);
    assert!((c.lr_at_step(5, 50) - 0.05).abs() < 1e-12);
    let lm = SearchConfig::language_model(3);
    assert_eq!((lm.lr_warmup_steps, lm.adam_beta_2), (100, 0.99));
}

#[test]
fn probability_plot_has_a_panel_per_decision_and_a_line_per_candidate() {
    use tangle_core::{Architecture, Decision, SearchSpec};
    use tangle_optim::EpochRecord;
    let spec = SearchSpec::new(vec![
        Decision::kernels("a<b", &[3, 5]).unwrap(),
        Decision::sizes("w", &[1, 2, 3], 3).unwrap(),
    ])
    .unwrap();
    let rec = |p: f32| EpochRecord {
        epoch: 0,
        train_loss: 1.0,
        train_acc: None,
        valid_loss: Some(1.0),
        valid_acc: None,
        lr: 0.1,
        alpha: vec![],
        probabilities: vec![vec![p, 1.0 - p], vec![0.2, 0.3, 0.5]],
        architecture: Some(Architecture::new()),
        seconds: 0.0,
    };
    let svg = tangle_optim::plot::probabilities_svg(&[rec(0.5), rec(0.9)], &spec, 2);
    assert!(svg.starts_with("<svg"));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<polyline").count(), 5);
    // Names are escaped.
    assert!(svg.contains("a&lt;b"));
}

#[test]
fn fixed_path_runs_one_architecture_on_every_draw() {
    use tangle_optim::FixedPath;
    let spec = SearchSpec::new(vec![
        Decision::sizes("a", &[1, 2], 2).unwrap(),
        Decision::sizes("b", &[1, 2, 3], 3).unwrap(),
    ])
    .unwrap();
    let arch = spec.architecture(&[1, 0]).unwrap();
    let fixed = FixedPath::new(&spec, &arch).unwrap();
    let alphas = ArchParams::<AB>::new(&spec, 0, &Default::default());
    for draw in [0, 1, 77] {
        let mix = Mixer::<AB>::mixtures(&fixed, &alphas, &spec, draw).unwrap();
        let picks: Vec<usize> = mix
            .as_slice()
            .iter()
            .map(|m| match m {
                tangle_core::Mixture::Single {
                    index,
                    weight: None,
                } => *index,
                _ => panic!("a fixed path is a plain single choice"),
            })
            .collect();
        assert_eq!(picks, vec![1, 0]);
    }
    assert_eq!(
        Mixer::<AB>::probabilities(&fixed, &alphas),
        vec![vec![0.0, 1.0], vec![1.0, 0.0, 0.0]]
    );
    assert_eq!(Mixer::<AB>::argmax(&fixed, &alphas), Some(vec![1, 0]));
    let mut wrong = tangle_core::Architecture::new();
    wrong.set("a", 5);
    assert!(FixedPath::new(&spec, &wrong).is_err());
}
