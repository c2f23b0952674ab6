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

fn finds_best<X: Mixer<AB>>(make: impl Fn(u64) -> X, step: ArchStep) {
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
            vec![BEST],
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
