//! The DARTS space: spec, genotypes, modes, extraction, parameter counts, the evaluation network.
mod common;

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use common::*;
use tangle_core::subnet::trainable_params;
use tangle_core::Extract;
use tangle_core::Supernet;
use tangle_optim::{Classification, Objective};
use tangle_spaces::darts::{
    spec, DartsConfig, DartsNetwork, DartsNetworkConfig, Genotype, EDGES, PRIMITIVES,
};
use tangle_spaces::ops::Primitive;

const SMALL: DartsConfig = DartsConfig {
    channels: 4,
    layers: 3,
    classes: 10,
    partial: 1,
};

#[test]
fn spec_has_two_cells_of_14_edges() {
    let s = spec();
    assert_eq!(s.decisions().len(), 28);
    assert_eq!(s.size(), 8u128.pow(28));
    assert_eq!(s.decisions()[14].name(), "reduce.e0");
}

#[test]
fn genotype_keeps_the_two_strongest_non_none_edges_per_node() {
    // Every edge prefers `none`; node 0 (edges 0, 1): edge 1's sep_conv_5x5 (0.3) beats
    // edge 0's max_pool (0.2). Node 1 (edges 2–4): edges 4 (dil 5: 0.5) and 2 (skip: 0.25).
    let mut probs = vec![vec![0.9, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.04]; 28];
    probs[0] = vec![0.7, 0.2, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01];
    probs[1] = vec![0.6, 0.02, 0.02, 0.02, 0.02, 0.3, 0.01, 0.01];
    probs[2] = vec![0.6, 0.02, 0.02, 0.25, 0.02, 0.05, 0.02, 0.02];
    probs[4] = vec![0.4, 0.02, 0.02, 0.02, 0.02, 0.02, 0.0, 0.5];
    let g = Genotype::from_probabilities(&probs).unwrap();
    assert_eq!(
        g.normal[..4],
        [
            (Primitive::Sep(5), 1),
            (Primitive::MaxPool, 0),
            (Primitive::Dil(5), 4 - 2),
            (Primitive::Skip, 0),
        ]
    );
    // Ties (all other nodes) keep the earlier edges, as Python's stable sort.
    assert_eq!(
        g.normal[4..6],
        [(Primitive::Dil(5), 0), (Primitive::Dil(5), 1)]
    );
    assert_eq!(g.reduce.len(), 8);
    // Printed and parsed back.
    let text = g.to_string();
    assert!(text.starts_with("Genotype(normal=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), "));
    assert!(text.ends_with("reduce_concat=range(2, 6))"));
    assert_eq!(text.parse::<Genotype>().unwrap(), g);
    // Bad input: wrong count, an input that does not exist, `none` in a genotype.
    assert!(Genotype::from_probabilities(&probs[..27]).is_err());
    assert!("Genotype(normal=[('sep_conv_3x3', 2)], reduce=[])"
        .parse::<Genotype>()
        .is_err());
    let with_none = text.replacen("sep_conv_5x5", "none", 1);
    assert!(with_none.parse::<Genotype>().is_err());
}

#[test]
fn one_hot_equals_single_path_equals_extracted_subnet() {
    let device = Default::default();
    let x = Tensor::<AB, 4>::random([4, 3, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let pc = DartsConfig {
        channels: 8,
        partial: 4,
        ..SMALL
    };
    for net in [
        SMALL.init::<AB>(&device).unwrap(),
        SMALL.init_ws::<AB>(&device).unwrap(),
        pc.init::<AB>(&device).unwrap(),
    ] {
        let net = warm(net, x.clone());
        let inner = net.valid();
        let mut archs = random_archs(net.spec(), 3, 5);
        // Only `none` on every edge, and only skip connections (factorized reductions).
        archs.push(vec![0; 28]);
        archs.push(vec![3; 28]);
        check_modes(
            &net,
            x.clone(),
            &archs,
            |arch, x| net.extract(arch).unwrap().forward(x).unwrap(),
            |arch, x| inner.extract(arch).unwrap().forward(x).unwrap(),
        );
    }
    assert!((DartsConfig {
        partial: 3,
        ..SMALL
    })
    .init::<B>(&device)
    .is_err());
}

#[test]
fn analytic_parameter_count_equals_the_subnet_count() {
    let device = Default::default();
    let pc = DartsConfig {
        channels: 8,
        partial: 4,
        ..SMALL
    };
    for config in [SMALL, pc, DartsConfig::default()] {
        let net = config.init::<AB>(&device).unwrap();
        for idx in random_archs(&spec(), 2, 6) {
            let arch = spec().architecture(&idx).unwrap();
            assert_eq!(
                net.params(&arch).unwrap(),
                trainable_params(&net.extract(&arch).unwrap()),
                "{config:?} {arch}"
            );
        }
    }
}

#[test]
fn darts_v2_evaluation_network_has_3_3m_parameters() {
    // DARTS reports 3.3M for its V2 cell at C = 36, 20 cells (auxiliary head excluded).
    let net = DartsNetwork::<AB>::new(
        &Genotype::darts_v2(),
        &DartsNetworkConfig {
            auxiliary: false,
            ..Default::default()
        },
        &Default::default(),
    )
    .unwrap();
    // DARTS's log: "param size = 3.349342MB".
    assert_eq!(trainable_params(&net), 3_349_342);
}

#[test]
fn evaluation_network_trains_with_auxiliary_head_and_drop_path() {
    let device = Default::default();
    let config = DartsNetworkConfig {
        channels: 8,
        layers: 5,
        ..Default::default()
    };
    let mut net = DartsNetwork::<AB>::new(&Genotype::darts_v2(), &config, &device).unwrap();
    let x = Tensor::<AB, 4>::random([8, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<AB, 1, Int>::from_data(TensorData::new((0..8i64).collect(), [8]), &device);
    // The training-mode loss (batch statistics) without drop-path: deterministic.
    let eval = |net: &mut DartsNetwork<AB>| {
        net.set_drop_path(0.0).unwrap();
        let (logits, aux) = net.forward(x.clone()).unwrap();
        assert!(aux.is_some());
        net.set_drop_path(0.2).unwrap();
        Classification.loss(logits, &y).into_scalar()
    };
    let before = eval(&mut net);
    let mut opt = burn::optim::AdamConfig::new().init::<AB, DartsNetwork<AB>>();
    for _ in 0..10 {
        let (logits, aux) = net.forward(x.clone()).unwrap();
        let loss = Classification.loss(logits, &y) + Classification.loss(aux.unwrap(), &y) * 0.4;
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = opt.step(1e-3, net, grads);
    }
    let after = eval(&mut net);
    assert!(after < before - 0.05, "loss {before} → {after}");
    assert!(net.set_drop_path(1.0).is_err());
    // Inference: no auxiliary output.
    assert!(net.valid().forward(x.inner()).unwrap().1.is_none());
}

#[test]
fn superposed_training_lowers_the_loss_on_a_small_batch() {
    let device = Default::default();
    let x = Tensor::<AB, 4>::random([8, 3, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<AB, 1, Int>::from_data(TensorData::new((0..8i64).collect(), [8]), &device);
    superposed_training_lowers_the_loss(SMALL.init::<AB>(&device).unwrap(), x, y);
}

#[test]
fn primitives_are_darts_order() {
    let names: Vec<String> = PRIMITIVES.iter().map(Primitive::name).collect();
    assert_eq!(
        names,
        [
            "none",
            "max_pool_3x3",
            "avg_pool_3x3",
            "skip_connect",
            "sep_conv_3x3",
            "sep_conv_5x5",
            "dil_conv_3x3",
            "dil_conv_5x5"
        ]
    );
    assert_eq!(EDGES, 14);
}

#[test]
fn a_drnas_epoch_then_genotype_and_subnet() {
    use tangle_optim::{Drnas, Mixer, Search, SearchConfig};
    let device = Default::default();
    let data = Halves {
        x: Tensor::random([8, 3, 8, 8], Distribution::Normal(0.0, 1.0), &device),
        y: Tensor::from_data(TensorData::new((0..8i64).collect(), [8]), &device),
    };
    let net = SMALL.init::<AB>(&device).unwrap();
    let config = SearchConfig {
        epochs: 1,
        ..SearchConfig::darts()
    };
    let mut search = Search::new(net, Drnas::new(0), config, 0, &device).unwrap();
    let before = search.alphas.values();
    search.run(&data, &Classification).unwrap();
    assert_ne!(before, search.alphas.values());
    // argmax per decision → the search network's subnet; DARTS's rule → a genotype.
    let arch = search.architecture().unwrap();
    let sub = search.model.valid().extract(&arch).unwrap();
    assert_eq!(sub.forward(data.x.clone().inner()).unwrap().dims(), [8, 10]);
    let genotype =
        Genotype::from_probabilities(&search.mixer.probabilities(&search.alphas)).unwrap();
    let net = DartsNetwork::<B>::new(
        &genotype,
        &DartsNetworkConfig {
            channels: 4,
            layers: 3,
            ..Default::default()
        },
        &device,
    )
    .unwrap();
    assert_eq!(net.forward(data.x.inner()).unwrap().0.dims(), [8, 10]);
}

/// The discretization the examples call: from probabilities whose argmax is `none` on some
/// edges and whose strongest edges are not the first inputs, the genotype follows the
/// probabilities — the argmax architecture (the examples' former path) would give inputs 0 and
/// 1 everywhere and `max_pool_3x3` for `none`.
#[test]
fn discretize_follows_the_probabilities_not_the_argmax() {
    let spec = spec();
    let n_ops = PRIMITIVES.len();
    let mut probs = vec![vec![1.0 / n_ops as f32; n_ops]; 2 * EDGES];
    // Node 1 of the normal cell (edges 2, 3, 4 from inputs 0, 1, 2): `none` wins every edge,
    // but the non-none runners-up are strongest on inputs 1 and 2.
    for (e, strength) in [(2usize, 0.05f32), (3, 0.2), (4, 0.3)] {
        probs[e] = vec![0.0; n_ops];
        probs[e][0] = 0.6;
        probs[e][3] = strength; // skip_connect
        probs[e][4] = strength / 2.0; // sep_conv_3x3
    }
    let argmax: Vec<usize> = probs.iter().map(|p| tangle_optim::argmax(p)).collect();
    let arch = spec.architecture(&argmax).unwrap();
    let g = Genotype::discretize(&arch, Some(&probs)).unwrap();
    // Node 1 keeps edges 4 and 3 (inputs 2 and 1), strongest first, each with skip_connect.
    assert_eq!(&g.normal[2..4], &[(PRIMITIVES[3], 2), (PRIMITIVES[3], 1)]);
    assert!(g.normal.iter().all(|&(p, _)| p != Primitive::Zero));
    // Without probabilities (a two-stage result), the architecture's own edges.
    let mut idx = vec![1usize; 2 * EDGES];
    idx[2] = 0; // node 1 of the normal cell: input 0 is `none`
    idx[3] = 5;
    idx[4] = 6;
    let arch = spec.architecture(&idx).unwrap();
    let g = Genotype::discretize(&arch, None).unwrap();
    assert_eq!(&g.normal[2..4], &[(PRIMITIVES[5], 1), (PRIMITIVES[6], 2)]);
    // Node 3 (edges 9..14 from inputs 0..4) keeps its two latest inputs.
    assert_eq!(&g.normal[6..8], &[(PRIMITIVES[1], 3), (PRIMITIVES[1], 4)]);
    // A node left with one input is an error that names it.
    idx[3] = 0;
    let err = Genotype::discretize(&spec.architecture(&idx).unwrap(), None).unwrap_err();
    assert!(err.to_string().contains("normal cell, node 1"), "{err}");
}

/// DrNAS's progressive step K = 6 → 4 (`Darts::with_partial`): the widened supernet has the
/// shapes of one built at K = 4, every tensor is the trained one widened as the returned
/// `Widening` says (old values in front, new channels copies), parameter ids are kept, and its
/// superposed, single-path and extracted modes agree.
#[test]
fn widening_the_partial_channels_keeps_the_trained_values() {
    use burn::module::{Module, ModuleVisitor, Param, ParamId};
    struct Flat(Vec<(ParamId, Vec<usize>, Tensor<AB, 1>)>);
    impl ModuleVisitor<AB> for Flat {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<AB, D>>) {
            let t = p.val();
            let shape = t.dims().to_vec();
            let n = shape.iter().product::<usize>();
            self.0.push((p.id, shape, t.reshape([n])));
        }
    }
    struct Compare<'a> {
        old: std::vec::IntoIter<(ParamId, Vec<usize>, Tensor<AB, 1>)>,
        fresh: std::vec::IntoIter<(ParamId, Vec<usize>, Tensor<AB, 1>)>,
        widening: &'a tangle_core::Widening,
        grown: usize,
    }
    impl ModuleVisitor<AB> for Compare<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<AB, D>>) {
            let (id, shape, flat) = self.old.next().expect("as many parameters");
            let (_, fresh_shape, _) = self.fresh.next().expect("as many parameters");
            if p.is_require_grad() {
                assert_eq!(p.id, id, "ids kept (what optimizer state is keyed by)");
            }
            assert_eq!(
                p.val().dims().to_vec(),
                fresh_shape,
                "shape of the K = 4 supernet"
            );
            if shape != fresh_shape {
                self.grown += 1;
                assert!(self.widening.contains(id));
            }
            let old: Tensor<AB, D> = flat.reshape(<[usize; D]>::try_from(shape).unwrap());
            let expected = self.widening.apply(id, old);
            assert_eq!(
                p.val().into_data().to_vec::<f32>().unwrap(),
                expected.into_data().to_vec::<f32>().unwrap()
            );
        }
    }
    let device = Default::default();
    let x = Tensor::<AB, 4>::random([4, 3, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let k6 = DartsConfig {
        channels: 12,
        partial: 6,
        ..SMALL
    };
    let net = warm(k6.init::<AB>(&device).unwrap(), x.clone());
    let (wide, widening) = net.with_partial(4, 3).unwrap();
    assert_eq!(wide.config().partial, 4);
    let fresh = (DartsConfig { partial: 4, ..k6 })
        .init::<AB>(&device)
        .unwrap();
    let (mut old, mut fr) = (Flat(vec![]), Flat(vec![]));
    net.visit(&mut old);
    fresh.visit(&mut fr);
    let mut cmp = Compare {
        old: old.0.into_iter(),
        fresh: fr.0.into_iter(),
        widening: &widening,
        grown: 0,
    };
    wide.visit(&mut cmp);
    assert!(
        cmp.grown > 0 && cmp.grown == widening.len(),
        "{} grown",
        cmp.grown
    );
    let wide = warm(wide, x.clone());
    let inner = wide.valid();
    check_modes(
        &wide,
        x,
        &random_archs(wide.spec(), 3, 8),
        |arch, x| wide.extract(arch).unwrap().forward(x).unwrap(),
        |arch, x| inner.extract(arch).unwrap().forward(x).unwrap(),
    );
    // Narrowing, and a factor that does not divide the channels, are errors.
    assert!(net.with_partial(12, 0).is_err());
    assert!(net.with_partial(5, 0).is_err());
}

/// DrNAS's progressive DARTS recipe end to end on a tiny supernet, as the `darts` example runs
/// it: `none` masked out, K = 6 with 7 operations, then the 4 strongest at K = 4. The supernet
/// ends at K = 4, every decision keeps 4 operations (never `none`), the probabilities are zero
/// off them, and the genotype uses only kept operations.
#[test]
fn the_drnas_progressive_recipe_prunes_widens_and_discretizes() {
    use tangle_optim::{CandidateMask, Drnas, Progressive, Search, SearchConfig};
    let device = Default::default();
    let data = Halves {
        x: Tensor::random([8, 3, 8, 8], Distribution::Normal(0.0, 1.0), &device),
        y: Tensor::from_data(TensorData::new((0..8i64).collect(), [8]), &device),
    };
    let config = DartsConfig {
        channels: 12,
        partial: 6,
        ..SMALL
    };
    let net = config.init::<AB>(&device).unwrap();
    let recipe = Progressive::drnas_darts_epochs(2, 2);
    let search_config = SearchConfig {
        epochs: recipe.epochs(),
        warmup_epochs: 1,
        ..SearchConfig::darts()
    };
    let mut search = Search::new(net, Drnas::new(0), search_config, 0, &device).unwrap();
    search
        .set_mask(CandidateMask::from_fn(&spec(), |_, i| PRIMITIVES[i] != Primitive::Zero).unwrap())
        .unwrap();
    recipe
        .run(
            &mut search,
            &data,
            &Classification,
            |m, k| m.with_partial(k, 5),
            |_| {},
        )
        .unwrap();
    assert_eq!(search.model.config().partial, 4);
    assert_eq!(search.records.len(), 4);
    let mask = search.mask().unwrap().clone();
    for keep in mask.keep() {
        assert_eq!(keep.iter().filter(|&&k| k).count(), 4);
        assert!(!keep[0], "`none` stays out");
    }
    let probs = search.probabilities();
    for (p, keep) in probs.iter().zip(mask.keep()) {
        for (x, &k) in p.iter().zip(keep) {
            assert!(k || *x == 0.0);
        }
    }
    let arch = search.architecture().unwrap();
    let g = Genotype::discretize(&arch, Some(&probs)).unwrap();
    for (cell, genes) in [(0, &g.normal), (EDGES, &g.reduce)] {
        let mut edge = 0;
        for node in 0..4 {
            for &(op, input) in genes[2 * node..2 * node + 2].iter() {
                let i = PRIMITIVES.iter().position(|p| *p == op).unwrap();
                assert!(mask.keep()[cell + edge + input][i], "{op:?} was pruned");
            }
            edge += node + 2;
        }
    }
    // The widened supernet still computes, and its subnet too.
    let sub = search.model.valid().extract(&arch).unwrap();
    assert_eq!(sub.forward(data.x.inner()).unwrap().dims(), [8, 10]);
}
