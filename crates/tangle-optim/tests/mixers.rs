//! Each mixer finds the known best width of the probe space, for 4 seeds.
mod common;
use common::*;

use tangle_optim::{
    ArchStep, Darts, Drnas, Gdas, Mixer, Regression, Search, SearchConfig, WeightOptimizer,
};

fn config(step: ArchStep) -> SearchConfig {
    SearchConfig {
        epochs: 8,
        weight_optimizer: WeightOptimizer::Sgd {
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
        },
        lr: 0.05,
        lr_min: 0.005,
        arch_lr: 0.05,
        arch_step: step,
        ..SearchConfig::default()
    }
}

fn finds_best<X: Mixer<AB> + Clone + Send>(make: impl Fn(u64) -> X, step: ArchStep) {
    let device = Default::default();
    for seed in 0..4u64 {
        let data = ProbeData::<AB>::new(100 + seed, 16, 32, &device);
        let mut search = Search::new(
            Probe::<AB>::new(true, &device),
            make(seed),
            config(step),
            seed,
            &device,
        )
        .unwrap();
        search.run(&data, &Regression).unwrap();
        let arch = search.mixer.argmax(&search.alphas);
        let probs = search.mixer.probabilities(&search.alphas);
        assert_eq!(
            arch,
            Some(vec![BEST]),
            "{} seed {seed}: probabilities {probs:?}",
            search.mixer.name()
        );
        // The search moved: the best width clearly leads.
        let p = &probs[0];
        assert!(p[BEST] > 0.3, "{} seed {seed}: {p:?}", search.mixer.name());
        let first = &search.records[0].probabilities[0];
        assert!(
            p[BEST] > first[BEST],
            "{} seed {seed}: no progress {first:?} → {p:?}",
            search.mixer.name()
        );
    }
}

#[test]
fn darts_v1_finds_the_best_width() {
    finds_best(|_| Darts::softmax(), ArchStep::FirstOrder);
}

#[test]
fn darts_v2_finds_the_best_width() {
    finds_best(|_| Darts::softmax(), ArchStep::SecondOrder);
}

#[test]
fn darts_sparsemax_finds_the_best_width() {
    finds_best(|_| Darts::sparsemax(), ArchStep::FirstOrder);
}

#[test]
fn gdas_finds_the_best_width() {
    finds_best(Gdas::new, ArchStep::FirstOrder);
}

#[test]
fn drnas_finds_the_best_width() {
    finds_best(Drnas::new, ArchStep::FirstOrder);
}

#[test]
fn drnas_with_kl_finds_the_best_width() {
    finds_best(|s| Drnas::new(s).with_kl(1e-3), ArchStep::FirstOrder);
}

#[test]
fn drnas_on_the_weight_sharing_baseline_finds_the_best_width() {
    let device = Default::default();
    for seed in 0..4u64 {
        let data = ProbeData::<AB>::new(100 + seed, 16, 32, &device);
        let mut search = Search::new(
            WsProbe::<AB>::new(&device),
            Drnas::new(seed),
            config(ArchStep::FirstOrder),
            seed,
            &device,
        )
        .unwrap();
        search.run(&data, &Regression).unwrap();
        assert_eq!(
            search.mixer.argmax(&search.alphas),
            Some(vec![BEST]),
            "seed {seed}: {:?}",
            search.mixer.probabilities(&search.alphas)
        );
    }
}

#[test]
fn records_are_written_as_json_lines() {
    let device = Default::default();
    let data = ProbeData::<AB>::new(1, 4, 16, &device);
    let path = std::env::temp_dir().join(format!("tangle-optim-log-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut search = Search::new(
        Probe::<AB>::new(true, &device),
        Darts::softmax(),
        config(ArchStep::FirstOrder),
        0,
        &device,
    )
    .unwrap()
    .with_log(&path);
    search.run_until(&data, &Regression, 3).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<tangle_optim::EpochRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2].epoch, 2);
    assert_eq!(lines[2].alpha, search.alphas.values());
    assert_eq!(lines[2].probabilities[0].len(), 4);
    assert!(lines[2].train_loss.is_finite() && lines[2].seconds >= 0.0);
    assert!(lines[2]
        .architecture
        .as_ref()
        .unwrap()
        .get("width")
        .is_some());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn weights_train_alongside_alpha() {
    let device = Default::default();
    let data = ProbeData::<AB>::new(5, 4, 16, &device);
    let mut search = Search::new(
        Probe::<AB>::new(false, &device),
        Darts::softmax(),
        config(ArchStep::FirstOrder),
        0,
        &device,
    )
    .unwrap();
    let weights = |s: &Search<AB, Probe<AB>, Darts>| {
        s.model.fc.weight.val().into_data().to_vec::<f32>().unwrap()
    };
    let w0 = weights(&search);
    search.run_until(&data, &Regression, 1).unwrap();
    let w1 = weights(&search);
    assert_ne!(w0, w1, "the weight step did not change the weights");
    assert!(search.model.fc.weight.is_require_grad());
}

#[test]
fn expected_parameter_penalty_steers_drnas_to_a_cheaper_width() {
    use tangle_core::{Mixture, Mixtures, Supernet};
    use tangle_optim::ParamPenalty;
    let device = Default::default();
    // The penalty of a mixture is coeff · Σ w_i · cost_i, and its gradient reaches the weights.
    let probe = Probe::<AB>::new(true, &device);
    let spec = probe.spec().clone();
    let penalty =
        ParamPenalty::from_counts(2.0, &spec, |a| Ok(spec.indices(a)?[0] * 1_000_000 + 5)).unwrap();
    assert_eq!(penalty.costs, vec![vec![0.0, 1.0, 2.0, 3.0]]);
    let w =
        burn::tensor::Tensor::<AB, 1>::from_floats([0.1, 0.2, 0.3, 0.4], &device).require_grad();
    let mix = Mixtures::new(&spec, vec![Mixture::weights(w.clone())]).unwrap();
    let p = penalty.of(&mix).unwrap();
    assert!((p.clone().into_scalar() - 2.0 * (0.2 + 0.6 + 1.2)).abs() < 1e-5);
    let g = w
        .grad(&p.backward())
        .unwrap()
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(g, vec![0.0, 2.0, 4.0, 6.0]);
    assert!(penalty
        .of(&Mixtures::<AB>::fixed(&spec, &spec.largest()).unwrap())
        .is_none());
    // A search that would pick width 4 (index 1) picks width 2 under a strong penalty.
    for seed in 0..2u64 {
        let data = ProbeData::<AB>::new(100 + seed, 16, 32, &device);
        let mut cfg = config(ArchStep::FirstOrder);
        cfg.param_penalty = Some(ParamPenalty {
            coeff: 5.0,
            costs: vec![vec![0.0, 1.0, 2.0, 3.0]],
        });
        let mut search = Search::new(
            Probe::<AB>::new(true, &device),
            Drnas::new(seed),
            cfg,
            seed,
            &device,
        )
        .unwrap();
        search.run(&data, &Regression).unwrap();
        assert_eq!(
            search.mixer.argmax(&search.alphas),
            Some(vec![0]),
            "{:?}",
            search.mixer.probabilities(&search.alphas)
        );
    }
}
