//! SPOS training, mutation / crossover validity on every space, windows, reproducibility.
use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Module};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use rand::SeedableRng;
use tangle_core::{Architecture, Extract, SearchSpec, Supernet};
use tangle_optim::{Classification, Method, Search, SearchConfig, SearchData};
use tangle_twostage::{
    evolution, random_search, score, EvolutionConfig, Genome, Metric, TrainedSupernet, Window,
};

type AB = Autodiff<Flex>;

/// Every space's spec.
fn specs() -> Vec<(&'static str, SearchSpec)> {
    use tangle_spaces::*;
    vec![
        ("conv_macro", conv_macro::spec()),
        ("toy_cell", toy_cell::spec()),
        ("nb201", nb201::spec()),
        ("darts", darts::spec()),
        ("mobilenet", mobilenet::spec()),
        (
            "autoformer",
            autoformer::AutoFormerConfig::tiny(32, 4, 10)
                .spec()
                .unwrap(),
        ),
        ("gpt", gpt::GptConfig::table18(65, 224).spec().unwrap()),
    ]
}

#[test]
fn mutation_and_crossover_keep_architectures_valid_on_every_space() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    for (name, spec) in specs() {
        let g = Genome::new(&spec);
        for _ in 0..50 {
            let a = g.random(&mut rng);
            let b = g.mutate(&a, 0.4, 0.2, &mut rng);
            assert!(spec.architecture(&b).is_ok(), "{name}");
            let c = g.mutate(&b, 1.0, 1.0, &mut rng);
            spec.architecture(&c).unwrap();
            if let Some(x) = g.crossover(&a, &b, &mut rng) {
                let arch = spec.architecture(&x).unwrap();
                arch.validate(&spec).unwrap();
                // Each gene comes from a parent.
                assert!(x
                    .iter()
                    .zip(a.iter().zip(&b))
                    .all(|(v, (p, q))| v == p || v == q));
            }
        }
    }
}

#[test]
fn genome_reads_depth_structure_from_names() {
    let spec = tangle_spaces::autoformer::AutoFormerConfig::tiny(32, 4, 10)
        .spec()
        .unwrap();
    let g = Genome::new(&spec);
    let mut genes = vec![0; spec.decisions().len()];
    // depth 12 (index 0): layer 12 and 13 genes are inactive.
    let l13 = spec.position("layer13.heads").unwrap();
    let l11 = spec.position("layer11.heads").unwrap();
    assert!(!g.active(&genes, l13));
    assert!(g.active(&genes, l11));
    genes[1] = 2; // depth 14
    assert!(g.active(&genes, l13));
    // Canonical keys ignore inactive genes.
    let mut other = vec![0; genes.len()];
    other[l13] = 1;
    assert_eq!(g.canonical(&other), g.canonical(&vec![0; genes.len()]));
    // Crossover needs equal depths.
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    assert!(g.crossover(&genes, &other, &mut rng).is_none());
    // MobileNet: stage2.block4.kernel belongs to stage2.depth (block 4 needs depth 4).
    let spec = tangle_spaces::mobilenet::spec();
    let g = Genome::new(&spec);
    let genes = vec![0; spec.decisions().len()];
    let b4 = spec.position("stage2.block4.kernel").unwrap();
    let b2 = spec.position("stage2.block2.kernel").unwrap();
    assert!(!g.active(&genes, b4));
    assert!(g.active(&genes, b2));
}

/// A stand-in task with a known best: the score is minus the number of genes that differ from
/// a hidden target.
fn target_score(
    spec: &SearchSpec,
    target: Vec<usize>,
) -> impl FnMut(&Architecture) -> tangle_twostage::Result<f32> + '_ {
    move |a| {
        let idx = spec.indices(a)?;
        Ok(-(idx.iter().zip(&target).filter(|(x, y)| x != y).count() as f32))
    }
}

#[test]
fn evolution_is_reproducible_deduplicated_and_honours_windows() {
    let spec = tangle_spaces::conv_macro::spec();
    let target = vec![2, 1, 2, 0, 1, 2, 0, 1];
    let cfg = EvolutionConfig {
        population: 10,
        top_k: 4,
        mutations: 5,
        crossovers: 5,
        generations: 4,
        ..Default::default()
    };
    let a = evolution(&spec, &cfg, None, 3, target_score(&spec, target.clone())).unwrap();
    let b = evolution(&spec, &cfg, None, 3, target_score(&spec, target.clone())).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.evaluated.len(), cfg.budget());
    let mut keys: Vec<String> = a
        .evaluated
        .iter()
        .map(|c| c.architecture.to_json())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), a.evaluated.len());
    assert_ne!(
        a,
        evolution(&spec, &cfg, None, 4, target_score(&spec, target.clone())).unwrap()
    );
    // A parameter window on the real parameter count: every candidate inside it.
    let net = tangle_spaces::conv_macro::ConvMacroConfig::new()
        .init::<Flex>(&Default::default())
        .unwrap();
    let window = Window {
        min: 3_300_000,
        max: 3_600_000,
        resource: Box::new(|a| net.params(a)),
    };
    for h in [
        evolution(
            &spec,
            &cfg,
            Some(&window),
            0,
            target_score(&spec, target.clone()),
        )
        .unwrap(),
        random_search(
            &spec,
            30,
            Some(&window),
            0,
            target_score(&spec, target.clone()),
        )
        .unwrap(),
    ] {
        assert!(!h.evaluated.is_empty());
        for c in &h.evaluated {
            let p = c.resource.unwrap();
            assert!((3_300_000..=3_600_000).contains(&p), "{p}");
            assert_eq!(p, net.params(&c.architecture).unwrap());
        }
    }
    let empty = Window {
        min: 1,
        max: 2,
        resource: Box::new(|a| net.params(a)),
    };
    assert!(random_search(&spec, 5, Some(&empty), 0, target_score(&spec, target)).is_err());
}

struct Tiny(Tensor<AB, 4>, Tensor<AB, 1, Int>);
impl SearchData<Tensor<AB, 4>, Tensor<AB, 1, Int>> for Tiny {
    fn steps_per_epoch(&self) -> usize {
        2
    }
    fn train(&self, _: usize, s: usize) -> (Tensor<AB, 4>, Tensor<AB, 1, Int>) {
        let r = 4 * s..4 * s + 4;
        (self.0.clone().slice([r.clone()]), self.1.clone().slice([r]))
    }
    fn valid(&self, _: usize, _: usize) -> (Tensor<AB, 4>, Tensor<AB, 1, Int>) {
        // SPOS has no α step, so nothing may read the validation split while training.
        panic!("SPOS supernet training read a validation batch")
    }
}

#[test]
fn spos_trains_single_paths_and_leaves_alpha_alone_then_rs_scores_candidates() {
    let device = Default::default();
    let data = Tiny(
        Tensor::random([12, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device),
        Tensor::from_data(
            TensorData::new((0..12i64).map(|i| i % 10).collect(), [12]),
            &device,
        ),
    );
    let net = tangle_spaces::toy_cell::ToyCellConfig::new()
        .init::<AB>(&device)
        .unwrap();
    // Warm-up 0: SPOS needs no warm-up setting to skip α; it has none.
    let config = SearchConfig {
        epochs: 2,
        warmup_epochs: 0,
        ..SearchConfig::toy_cell()
    };
    let mut search = Search::with_method(net, Method::Spos, config, 0, &device).unwrap();
    assert!(search.alphas.alpha.is_empty(), "SPOS has no α");
    let before = search.model.clone().valid();
    search.run(&data, &Classification).unwrap();
    assert_eq!(search.records.len(), 2);
    for r in &search.records {
        assert!(r.architecture.is_none() && r.valid_loss.is_none() && r.alpha.is_empty());
    }
    let e = search.architecture().unwrap_err().to_string();
    assert!(e.contains("`spos`") && e.contains("second-stage"), "{e}");
    // The weights moved.
    let x = data.0.clone().inner().slice([0..2]);
    let spec = search.model.spec().clone();
    let arch = spec.architecture(&[0; 6]).unwrap();
    let fixed = tangle_core::Mixtures::fixed(&spec, &arch).unwrap();
    let after = search.model.valid();
    let y0 = before.forward_mixed(x.clone(), &fixed).unwrap();
    let y1 = after.forward_mixed(x, &fixed).unwrap();
    assert!(y0.sub(y1).abs().max().into_scalar() > 1e-6);
    // Random search scored by the trained supernet's inherited weights.
    let valid = vec![(
        data.0.clone().inner().slice([8..12]),
        data.1.clone().inner().slice([8..12]),
    )];
    let h = random_search(&spec, 6, None, 0, |a| {
        score(&after, a, &valid, &Classification, Metric::Accuracy)
    })
    .unwrap();
    assert_eq!(h.evaluated.len(), 6);
    assert!(h.evaluated.iter().all(|c| (0.0..=1.0).contains(&c.score)));
    assert!(h.to_json_lines().lines().count() == 6);

    // The same search through `TrainedSupernet`: the same candidates, the same scores.
    let trained = TrainedSupernet::new(&search.model, &valid, &Classification, Metric::NegLoss);
    let by_hand = random_search(&spec, 6, None, 0, |a| {
        score(&after, a, &valid, &Classification, Metric::NegLoss)
    })
    .unwrap();
    let through = trained.random_search(6, None, 0).unwrap();
    let pairs = |h: &tangle_twostage::History| -> Vec<(String, f32)> {
        h.evaluated
            .iter()
            .map(|c| (c.architecture.to_json(), c.score))
            .collect()
    };
    assert_eq!(pairs(&through), pairs(&by_hand));
    // With recalibration, each candidate's batch norms are re-estimated first: the score is
    // the one recalibrate-then-score gives by hand, from the same starting statistics.
    let inputs = vec![data.0.clone().slice([0..4]), data.0.clone().slice([4..8])];
    let arch = spec.architecture(&[3, 2, 1, 0, 1, 2]).unwrap();
    // Two independent copies (fresh modules: clones would share the running statistics),
    // without dropout, whose draws would differ between the two recalibrations.
    let fresh = || {
        let mut net = tangle_spaces::toy_cell::ToyCellConfig::new()
            .init::<AB>(&device)
            .unwrap()
            .load_record(search.model.clone().into_record());
        net.dropout = burn::nn::DropoutConfig::new(0.0).init();
        net
    };
    let a = fresh();
    let recal = TrainedSupernet::new(&a, &valid, &Classification, Metric::NegLoss)
        .with_recalibration(&inputs)
        .score(&arch)
        .unwrap();
    let b = fresh();
    tangle_twostage::recalibrate(&b, &arch, &inputs).unwrap();
    let manual = score(&b.valid(), &arch, &valid, &Classification, Metric::NegLoss).unwrap();
    assert_eq!(recal, manual);
    let plain = trained.score(&arch).unwrap();
    assert_ne!(recal, plain, "recalibration changed nothing");
}

#[test]
fn recalibration_brings_inference_to_the_candidates_batch_statistics() {
    use tangle_twostage::recalibrate;
    let device = Default::default();
    let mut net = tangle_spaces::toy_cell::ToyCellConfig::new()
        .init::<AB>(&device)
        .unwrap();
    net.dropout = burn::nn::DropoutConfig::new(0.0).init();
    let spec = net.spec().clone();
    let arch = spec.architecture(&[1, 2, 3, 0, 1, 2]).unwrap();
    // A fixed (not random) batch, so the test is deterministic.
    let v: Vec<f32> = (0..2 * 28 * 28)
        .map(|i| ((i * 37 % 101) as f32 / 25.0) - 1.5)
        .collect();
    let x = Tensor::<AB, 4>::from_data(TensorData::new(v, [2, 1, 28, 28]), &device);
    let fixed = tangle_core::Mixtures::fixed(&spec, &arch).unwrap();
    let flat = |t: Tensor<Flex, 2>| t.into_data().to_vec::<f32>().unwrap();
    let gap = |a: &[f32], b: &[f32]| {
        let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
        a.iter()
            .zip(b)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max)
            / scale
    };
    let infer = |net: &tangle_spaces::toy_cell::ToyCell<AB>| {
        let f = tangle_core::Mixtures::fixed(&spec, &arch).unwrap();
        flat(net.valid().forward_mixed(x.clone().inner(), &f).unwrap())
    };
    // Training mode normalizes with the batch's own statistics.
    let train_mode = flat(net.forward_mixed(x.clone(), &fixed).unwrap().inner());
    let before = gap(&infer(&net), &train_mode);
    recalibrate(&net, &arch, &vec![x.clone(); 200]).unwrap();
    let after = gap(&infer(&net), &train_mode);
    assert!(
        after < 2e-2 && before > 10.0 * after,
        "before {before}, after {after}"
    );
}

/// Data whose batch is its own `(epoch, step)`, 3 steps an epoch.
struct Positions;

impl SearchData<(usize, usize), ()> for Positions {
    fn steps_per_epoch(&self) -> usize {
        3
    }
    fn train(&self, epoch: usize, step: usize) -> ((usize, usize), ()) {
        ((epoch, step), ())
    }
    fn valid(&self, _epoch: usize, _step: usize) -> ((usize, usize), ()) {
        unreachable!("recalibration uses training batches only")
    }
}

#[test]
fn recalibration_batches_take_the_training_batches_in_order_across_epochs() {
    let got = tangle_twostage::recalibration_batches(&Positions, 7);
    let want = vec![(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0)];
    assert_eq!(got, want);
    assert!(tangle_twostage::recalibration_batches(&Positions, 0).is_empty());
}
