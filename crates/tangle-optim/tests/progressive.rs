//! Progressive search: candidate masks, pruning, and widening the supernet with its optimizer
//! state (DrNAS's DARTS-space recipe), each against a hand-computed reference.

use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use tangle_core::{widen_module, Decision, Mixture, Mixtures, SearchSpec, Supernet, Widening};
use tangle_optim::{
    CandidateMask, Darts, Drnas, Mixer, Objective, Progressive, Regression, Search, SearchConfig,
    SearchData, Stage, WeightOptimizer,
};

type AB = Autodiff<Flex>;
type IB = Flex;

const SCALES: [f32; 4] = [1.0, 2.0, 3.0, 4.0];

/// `y = s · Σ_j (x · w_jᵀ)` with `w` of shape `[rows, 2]` and the scale `s = Σ_i m_i · SCALES[i]`
/// under the mixture of one 4-candidate decision. `rows` is what widening grows.
#[derive(Module, Debug)]
struct Rows<B: Backend> {
    w: Param<Tensor<B, 2>>,
    #[module(skip)]
    spec: SearchSpec,
}

impl<B: Backend> Rows<B> {
    fn new(values: &[f32], rows: usize, device: &B::Device) -> Self {
        let w = Tensor::from_data(TensorData::new(values.to_vec(), [rows, 2]), device);
        Rows {
            w: Param::from_tensor(w),
            spec: spec(),
        }
    }
}

fn spec() -> SearchSpec {
    SearchSpec::new(vec![Decision::ops("op", &["a", "b", "c", "d"]).unwrap()]).unwrap()
}

impl<B: Backend> Supernet<B> for Rows<B> {
    type Input = Tensor<B, 2>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(
        &self,
        x: Tensor<B, 2>,
        mix: &Mixtures<B>,
    ) -> tangle_core::Result<Tensor<B, 2>> {
        let y = x.matmul(self.w.val().transpose()).sum_dim(1);
        let device = y.device();
        let scales = Tensor::<B, 1>::from_data(TensorData::new(SCALES.to_vec(), [4]), &device);
        let s = match mix.get("op")? {
            Mixture::Weights(w) => (w.clone() * scales).sum(),
            Mixture::Single { index, .. } => scales.slice([*index..*index + 1]),
        };
        Ok(y * s.reshape([1, 1]))
    }
}

/// One fixed batch: inputs `[[1, 2], [−1, 0.5]]`, targets `[[1], [−2]]`.
struct Batch;

fn batch<B: Backend>() -> (Tensor<B, 2>, Tensor<B, 2>) {
    let d = Default::default();
    (
        Tensor::from_data(TensorData::new(vec![1.0f32, 2.0, -1.0, 0.5], [2, 2]), &d),
        Tensor::from_data(TensorData::new(vec![1.0f32, -2.0], [2, 1]), &d),
    )
}

impl SearchData<Tensor<AB, 2>, Tensor<AB, 2>> for Batch {
    fn steps_per_epoch(&self) -> usize {
        1
    }
    fn train(&self, _: usize, _: usize) -> (Tensor<AB, 2>, Tensor<AB, 2>) {
        batch()
    }
    fn valid(&self, _: usize, _: usize) -> (Tensor<AB, 2>, Tensor<AB, 2>) {
        batch()
    }
}

fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() < 1e-5, "{what}[{i}]: {x} vs {y}");
    }
}

/// The weight gradient of the training loss at `model` under the search's (softmax) mixture.
fn weight_grad(model: &Rows<AB>, search: &Search<AB, Rows<AB>, Darts>) -> Vec<f32> {
    let (x, y) = batch::<AB>();
    let mix = search
        .mixer
        .mixtures(&search.alphas, model.spec(), 0)
        .unwrap();
    let loss = Regression.loss(model.forward_mixed(x, &mix).unwrap(), &y);
    let g = GradientsParams::from_grads(loss.backward(), model);
    host(g.get::<IB, 2>(model.w.id).unwrap())
}

fn config(optimizer: WeightOptimizer) -> SearchConfig {
    SearchConfig {
        epochs: 2,
        weight_optimizer: optimizer,
        lr: 0.1,
        lr_min: 0.1,
        lr_warmup_steps: 0,
        grad_clip: None,
        // α stays fixed: the weight steps alone are under test.
        warmup_epochs: 2,
        ..SearchConfig::default()
    }
}

const W0: [f32; 4] = [0.5, -0.25, 0.75, 1.0];

/// What the hand-computed second step needs.
struct TwoSteps {
    search: Search<AB, Rows<AB>, Darts>,
    /// The first step's gradient.
    g1: Vec<f32>,
    /// The weights right after widening.
    widened: Vec<f32>,
    /// The old row the new row copies.
    row: usize,
    /// The second step's gradient.
    g2: Vec<f32>,
}

/// One weight step on 2 rows, widening to 3 rows, and a second step.
fn step_widen_step(optimizer: WeightOptimizer) -> TwoSteps {
    let device = Default::default();
    let model = Rows::<AB>::new(&W0, 2, &device);
    let mut search = Search::new(model, Darts::softmax(), config(optimizer), 0, &device).unwrap();
    let g1 = weight_grad(&search.model, &search);
    search.run_until(&Batch, &Regression, 1).unwrap();
    let mut copied = None;
    search
        .widen(|m| {
            let wider = Rows::<AB>::new(&[0.0; 6], 3, &device);
            let (w, widening) = widen_module(&m, wider, 7)?;
            let copies = widening.copies(m.w.id).expect("w grew").to_vec();
            assert_eq!(copies.len(), 1, "one grown dimension");
            assert_eq!(copies[0].0, 0, "rows grew");
            copied = Some(copies[0].1[0]);
            Ok((w, widening))
        })
        .unwrap();
    let widened = host(search.model.w.val());
    let g2 = weight_grad(&search.model, &search);
    search.run_until(&Batch, &Regression, 2).unwrap();
    TwoSteps {
        search,
        g1,
        widened,
        row: copied.unwrap(),
        g2,
    }
}

/// The widened SGD momentum: the second step is `w − lr (μ b + g)` with `b` the first gradient,
/// its copied row repeated for the new row (PyTorch's momentum, dampening 0: b₁ = g₁).
#[test]
fn widening_carries_the_sgd_momentum_of_the_copied_channel() {
    let sgd = WeightOptimizer::Sgd {
        momentum: 0.9,
        nesterov: false,
        weight_decay: 0.0,
    };
    let TwoSteps {
        search,
        g1,
        widened,
        row,
        g2,
    } = step_widen_step(sgd);
    let w1: Vec<f32> = W0.iter().zip(&g1).map(|(w, g)| w - 0.1 * g).collect();
    assert_eq!(&widened[..4], &w1[..], "old rows kept");
    assert_eq!(
        &widened[4..],
        &w1[2 * row..2 * row + 2],
        "new row copies row {row}"
    );
    let mut b = g1.clone();
    b.extend_from_slice(&g1[2 * row..2 * row + 2]);
    let expected: Vec<f32> = (0..6)
        .map(|i| widened[i] - 0.1 * (0.9 * b[i] + g2[i]))
        .collect();
    close(&host(search.model.w.val()), &expected, "second SGD step");
}

/// The widened Adam moments: the second step is Adam's with m₁ = (1−β₁) g₁ and
/// v₁ = (1−β₂) g₁², rows copied, at t = 2.
#[test]
fn widening_carries_the_adam_moments_of_the_copied_channel() {
    let TwoSteps {
        search,
        g1,
        widened,
        row,
        g2,
    } = step_widen_step(WeightOptimizer::Adam { weight_decay: 0.0 });
    let (b1, b2, eps) = (0.9f32, search.config.adam_beta_2 as f32, 1e-8f32);
    let mut g1w = g1.clone();
    g1w.extend_from_slice(&g1[2 * row..2 * row + 2]);
    let expected: Vec<f32> = (0..6)
        .map(|i| {
            let m = b1 * (1.0 - b1) * g1w[i] + (1.0 - b1) * g2[i];
            let v = b2 * (1.0 - b2) * g1w[i] * g1w[i] + (1.0 - b2) * g2[i] * g2[i];
            let (mh, vh) = (m / (1.0 - b1 * b1), v / (1.0 - b2 * b2));
            widened[i] - 0.1 * mh / (vh.sqrt() + eps)
        })
        .collect();
    close(&host(search.model.w.val()), &expected, "second Adam step");
}

#[test]
fn widening_errors_name_the_mismatch() {
    let device = Default::default();
    let trained = Rows::<IB>::new(&W0, 2, &device);
    let narrower = Rows::<IB>::new(&[0.0; 2], 1, &device);
    let err = widen_module(&trained, narrower, 0).unwrap_err().to_string();
    assert!(err.contains("[2, 2]") && err.contains("[1, 2]"), "{err}");
}

/// A mask zeroes pruned candidates and renormalizes the kept ones; pruning keeps the top α
/// among the kept; a single path on a pruned candidate is an error naming the decision.
#[test]
fn masks_renormalize_and_prune_by_alpha() {
    let spec = spec();
    let device = Default::default();
    let mut mask = CandidateMask::from_fn(&spec, |_, i| i != 0).unwrap();
    let w = Tensor::<IB, 1>::from_data(TensorData::new(vec![0.1f32, 0.2, 0.3, 0.4], [4]), &device);
    let mix = Mixtures::new(&spec, vec![Mixture::Weights(w)]).unwrap();
    let masked = mask.mixtures(&spec, mix).unwrap();
    let Mixture::Weights(m) = &masked.as_slice()[0] else {
        panic!("weights stay weights")
    };
    close(
        &host(m.clone()),
        &[0.0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9],
        "masked weights",
    );
    close(
        &mask.probabilities(vec![vec![0.5, 0.25, 0.125, 0.125]])[0],
        &[0.0, 0.5, 0.25, 0.25],
        "masked probabilities",
    );
    // α is largest on the excluded candidate 0: pruning must choose among the kept.
    mask.prune(&[vec![9.0, 1.0, 3.0, 2.0]], 2, &spec).unwrap();
    assert_eq!(mask.keep(), &[vec![false, false, true, true]]);
    let single = Mixtures::<IB>::new(&spec, vec![Mixture::single(1)]).unwrap();
    let err = mask.mixtures(&spec, single).unwrap_err().to_string();
    assert!(err.contains("op"), "{err}");
    let err = mask
        .prune(&[vec![0.0; 4]], 3, &spec)
        .unwrap_err()
        .to_string();
    assert!(err.contains("op") && err.contains("keeps 2"), "{err}");
    assert!(CandidateMask::from_fn(&spec, |_, _| false).is_err());
}

/// The progressive run: stage 0 with 3 of 4 candidates, then pruning to 2 and widening; the
/// records' probabilities are zero off the kept candidates and the architecture is kept.
#[test]
fn a_progressive_run_prunes_and_widens_between_stages() {
    let device = Default::default();
    let model = Rows::<AB>::new(&W0, 2, &device);
    let cfg = SearchConfig {
        warmup_epochs: 1,
        ..config(WeightOptimizer::Sgd {
            momentum: 0.9,
            nesterov: false,
            weight_decay: 3e-4,
        })
    };
    let recipe = Progressive {
        stages: vec![
            Stage {
                epochs: 2,
                partial: 2,
                keep: 3,
            },
            Stage {
                epochs: 2,
                partial: 1,
                keep: 2,
            },
        ],
    };
    let mut search = Search::new(
        model,
        Drnas::new(0),
        SearchConfig { epochs: 4, ..cfg },
        0,
        &device,
    )
    .unwrap();
    // Without the mask stage 0's "keep 3" does not hold: a clear error.
    let err = recipe
        .run(
            &mut search,
            &Batch,
            &Regression,
            |m, _| Ok((m, Widening::default())),
            |_| {},
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("decision op considers 4"), "{err}");
    search
        .set_mask(CandidateMask::from_fn(&spec(), |_, i| i != 3).unwrap())
        .unwrap();
    let mut widened_to = vec![];
    let mut epochs = vec![];
    recipe
        .run(
            &mut search,
            &Batch,
            &Regression,
            |m, k| {
                widened_to.push(k);
                let rows = m.w.val().dims()[0] + 1;
                widen_module(
                    &m,
                    Rows::new(&vec![0.0; 2 * rows], rows, &Default::default()),
                    1,
                )
            },
            |r| epochs.push(r.epoch),
        )
        .unwrap();
    assert_eq!(epochs, vec![0, 1, 2, 3]);
    assert_eq!(widened_to, vec![1]);
    assert_eq!(search.model.w.val().dims(), [3, 2]);
    let keep = search.mask().unwrap().keep()[0].clone();
    assert_eq!(keep.iter().filter(|&&k| k).count(), 2);
    assert!(!keep[3], "an excluded candidate stays excluded");
    for r in &search.records[2..] {
        for (p, &k) in r.probabilities[0].iter().zip(&keep) {
            assert!(k || *p == 0.0, "probability {p} on a pruned candidate");
        }
    }
    let chosen = search
        .model
        .spec()
        .indices(&search.architecture().unwrap())
        .unwrap()[0];
    assert!(keep[chosen]);
    // The weights really trained through the widening (finite and moved).
    let w = host(search.model.valid().w.val());
    assert!(w.iter().all(|x| x.is_finite()));
}
