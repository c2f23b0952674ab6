//! Helpers shared by the space tests.
#![allow(dead_code)]

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use tangle_core::{Mixture, Mixtures, SearchSpec, Supernet};
use tangle_optim::{Classification, Objective, SearchData};

pub type B = Flex;
pub type AB = Autodiff<Flex>;

pub fn vals<Bk: Backend>(t: Tensor<Bk, 2>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec::<f32>().unwrap()
}

pub fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1f32, |m, x| m.max(x.abs()));
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(
        worst <= tol * scale,
        "max difference {worst} (scale {scale})"
    );
}

/// One-hot superposition weights at the candidate indices `idx`.
pub fn one_hot<Bk: Backend>(s: &SearchSpec, idx: &[usize], device: &Bk::Device) -> Mixtures<Bk> {
    let m = idx
        .iter()
        .zip(s.decisions())
        .map(|(&i, d)| Mixture::one_hot(i, d.len(), device).unwrap())
        .collect();
    Mixtures::new(s, m).unwrap()
}

/// Uniform superposition over every decision.
pub fn uniform<Bk: Backend>(s: &SearchSpec, device: &Bk::Device) -> Mixtures<Bk> {
    let m = s
        .decisions()
        .iter()
        .map(|d| Mixture::weights(Tensor::ones([d.len()], device) / d.len() as f64))
        .collect();
    Mixtures::new(s, m).unwrap()
}

/// `n` pseudo-random architectures (candidate indices) of `s`, reproducible from `seed`,
/// plus the all-first and all-last ones.
pub fn random_archs(s: &SearchSpec, n: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move |m: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) % m as u64) as usize
    };
    let mut out = vec![
        vec![0; s.decisions().len()],
        s.decisions().iter().map(|d| d.len() - 1).collect(),
    ];
    for _ in 0..n {
        out.push(s.decisions().iter().map(|d| next(d.len())).collect());
    }
    out
}

/// Runs one superposed training-mode forward on `net`, filling batch-norm running statistics
/// with real values, and returns it.
pub fn warm<M>(net: M, x: Tensor<AB, 4>) -> M
where
    M: Supernet<AB, Input = Tensor<AB, 4>, Output = Tensor<AB, 2>>,
{
    let mix = uniform(net.spec(), &x.device());
    net.forward_mixed(x, &mix).unwrap();
    net
}

/// For every architecture (the net's dropout switched off), in training mode (batch statistics, dropout off):
/// one-hot superposition == single path == `sub_train(arch)`; and in inference mode (running
/// statistics): single path == `sub_eval(arch)`.
///
/// (A one-hot superposition is not compared in inference mode: an entangled group whose
/// weights are all zero convolves with a zero kernel, and an affine-free batch norm maps that to
/// `−μ/σ` of its running statistics rather than to 0. In training mode it is exactly 0.)
pub fn check_modes<M>(
    net: &M,
    x: Tensor<AB, 4>,
    archs: &[Vec<usize>],
    sub_train: impl Fn(&tangle_core::Architecture, Tensor<AB, 4>) -> Tensor<AB, 2>,
    sub_eval: impl Fn(&tangle_core::Architecture, Tensor<B, 4>) -> Tensor<B, 2>,
) where
    M: Supernet<AB, Input = Tensor<AB, 4>, Output = Tensor<AB, 2>> + AutodiffModule<AB>,
    M::InnerModule: Supernet<B, Input = Tensor<B, 4>, Output = Tensor<B, 2>>,
{
    let s = net.spec().clone();
    let device = x.device();
    let inner = net.valid();
    for idx in archs {
        // Through the architecture's JSON form, as a user would keep it.
        let json = s.architecture(idx).unwrap().to_json();
        let arch = tangle_core::Architecture::from_json(&json, &s).unwrap();
        let run = |f: &dyn Fn() -> Tensor<AB, 2>| vals(f());
        let fixed = Mixtures::fixed(&s, &arch).unwrap();
        let single = run(&|| net.forward_mixed(x.clone(), &fixed).unwrap());
        let hot = run(&|| {
            net.forward_mixed(x.clone(), &one_hot(&s, idx, &device))
                .unwrap()
        });
        eprintln!("{arch}: one-hot vs single path (training mode)");
        close(&hot, &single, 1e-4);
        eprintln!("{arch}: extracted vs single path (training mode)");
        close(&run(&|| sub_train(&arch, x.clone())), &single, 1e-4);
        let fixed = Mixtures::fixed(&s, &arch).unwrap();
        let single = vals(inner.forward_mixed(x.clone().inner(), &fixed).unwrap());
        eprintln!("{arch}: extracted vs single path (inference mode)");
        close(&vals(sub_eval(&arch, x.clone().inner())), &single, 1e-4);
    }
}

/// Ten Adam steps of uniformly superposed training lower the (inference) loss on one batch.
pub fn superposed_training_lowers_the_loss<M>(mut net: M, x: Tensor<AB, 4>, y: Tensor<AB, 1, Int>)
where
    M: Supernet<AB, Input = Tensor<AB, 4>, Output = Tensor<AB, 2>> + AutodiffModule<AB>,
    M::InnerModule: Supernet<B, Input = Tensor<B, 4>, Output = Tensor<B, 2>>,
{
    let device = x.device();
    let s = net.spec().clone();
    let mix = uniform::<AB>(&s, &device);
    let train_loss = |net: &M| {
        Classification
            .loss(net.forward_mixed(x.clone(), &mix).unwrap(), &y)
            .into_scalar()
    };
    let first = train_loss(&net);
    let mut opt = AdamConfig::new().init::<AB, M>();
    for _ in 0..10 {
        let loss = Classification.loss(net.forward_mixed(x.clone(), &mix).unwrap(), &y);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = opt.step(1e-3, net, grads);
    }
    let last = train_loss(&net);
    assert!(
        first.is_finite() && last < first - 0.05,
        "loss {first} → {last}"
    );
}

/// One batch of images and labels split in halves, a step an epoch: the first half trains the
/// weights, the second steps α.
pub struct Halves {
    pub x: Tensor<AB, 4>,
    pub y: Tensor<AB, 1, Int>,
}

impl Halves {
    fn half(&self, second: bool) -> (Tensor<AB, 4>, Tensor<AB, 1, Int>) {
        let n = self.y.dims()[0];
        let r = if second { n / 2..n } else { 0..n / 2 };
        (self.x.clone().slice([r.clone()]), self.y.clone().slice([r]))
    }
}

impl SearchData<Tensor<AB, 4>, Tensor<AB, 1, Int>> for Halves {
    fn steps_per_epoch(&self) -> usize {
        1
    }
    fn train(&self, _: usize, _: usize) -> (Tensor<AB, 4>, Tensor<AB, 1, Int>) {
        self.half(false)
    }
    fn valid(&self, _: usize, _: usize) -> (Tensor<AB, 4>, Tensor<AB, 1, Int>) {
        self.half(true)
    }
}

/// `Extract::params`'s default — extract at `arch` on the inner backend, then
/// `tangle_core::count_params` — against the space's own formula.
pub fn assert_default_params<M>(net: &M, arch: &tangle_core::Architecture)
where
    M: AutodiffModule<AB> + tangle_core::Extract<AB>,
    M::InnerModule: tangle_core::Extract<B>,
{
    use tangle_core::Extract;
    let counted = tangle_core::count_params(&net.valid().extract(arch).unwrap());
    assert_eq!(counted, net.params(arch).unwrap(), "{arch}");
}

/// `|∂(Σ y·r)/∂s|` for GDAS's straight-through weight `s = 1` on decision `name`, every
/// decision (that one included) at `arch`'s candidate, in training mode (batch statistics).
pub fn straight_through_gradient<N>(
    net: &N,
    x: Tensor<AB, 4>,
    arch: &tangle_core::Architecture,
    name: &str,
) -> f32
where
    N: Supernet<AB, Input = Tensor<AB, 4>, Output = Tensor<AB, 2>>,
{
    let spec = net.spec();
    let at = spec.position(name).expect("decision exists");
    let s = Tensor::<AB, 1>::from_floats([1.0], &x.device()).require_grad();
    let mixtures = spec
        .indices(arch)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(d, i)| {
            if d == at {
                Mixture::straight_through(i, s.clone())
            } else {
                Mixture::single(i)
            }
        })
        .collect();
    let mix = Mixtures::new(spec, mixtures).unwrap();
    let y = net.forward_mixed(x, &mix).unwrap();
    // A fixed pseudo-random read-out, so the gradient is not a sum that cancels.
    let [n, c] = y.dims();
    let r: Vec<f32> = (0..n * c)
        .map(|i| ((i * 7919 % 13) as f32 - 6.0) / 6.0)
        .collect();
    let r = Tensor::<AB, 1>::from_floats(r.as_slice(), &y.device()).reshape([n, c]);
    let grads = (y * r).sum().backward();
    s.grad(&grads).unwrap().into_scalar().abs()
}
