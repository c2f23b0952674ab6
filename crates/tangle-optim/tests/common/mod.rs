//! A probe search space with a known best candidate, and its data.
#![allow(dead_code)]

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, Param};
use burn::tensor::{backend::Backend, Tensor, TensorData};
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Normal};
use tangle_core::{
    Decision, Mixtures, Result, SearchSpec, SuperLinear, SuperLinearConfig, Supernet,
};
use tangle_optim::{SearchConfig, SearchData, WeightOptimizer};

pub type AB = Autodiff<Flex>;

pub const WIDTHS: [usize; 4] = [2, 4, 6, 8];
/// The target scales each input feature: outputs 0–1 want 0.5, outputs 2–3 want 2, the rest 0.
/// Under a prefix mask (non-increasing, ≤ 1) the best mask is 1 on the first four outputs and 0
/// after: the one-hot on width 4. A single width k gains from a larger scale exactly when k = 4.
pub const SCALE: [f32; 8] = [0.5, 0.5, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0];
pub const BEST: usize = 1;

/// `y = x · (W ⊙ M) + b ⊙ m` with the output width a decision; outputs padded to 8.
#[derive(Module, Debug)]
pub struct Probe<B: Backend> {
    pub fc: SuperLinear<B>,
    /// Dropout on the input (0: none), drawn with `Mixtures::dropout`.
    #[module(skip)]
    pub dropout: f64,
    #[module(skip)]
    spec: SearchSpec,
}

impl<B: Backend> Probe<B> {
    /// `frozen_identity`: W fixed to the identity (only the bias trains), which makes the best
    /// width unique whatever the weights learn.
    pub fn new(frozen_identity: bool, device: &B::Device) -> Self {
        let mut fc = SuperLinearConfig::output(8, &WIDTHS)
            .unwrap()
            .init::<B>(device)
            .unwrap();
        if frozen_identity {
            fc.weight = Param::from_tensor(Tensor::eye(8, device)).set_require_grad(false);
        }
        fc.bias = Some(Param::from_tensor(Tensor::zeros([8], device)));
        // Parameters initialize lazily; realize W now so that clones share one initial value.
        let _ = fc.weight.val();
        Probe {
            fc,
            dropout: 0.0,
            spec: SearchSpec::new(vec![Decision::sizes("width", &WIDTHS, 8).unwrap()]).unwrap(),
        }
    }
}

impl<B: Backend> Supernet<B> for Probe<B> {
    type Input = Tensor<B, 2>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 2>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        let x = mix.dropout(x, self.dropout);
        let y = self.fc.forward(x, &[mix.get("width")?])?;
        let [n, w] = y.dims();
        Ok(if w < 8 {
            Tensor::cat(vec![y, Tensor::zeros([n, 8 - w], &Default::default())], 1)
        } else {
            y
        })
    }
}

/// Gaussian inputs and the scaled targets, a fixed pool cycled by (epoch, step).
pub struct ProbeData<B: Backend> {
    x: Vec<Tensor<B, 2>>,
    y: Vec<Tensor<B, 2>>,
    pub steps: usize,
}

impl<B: Backend> ProbeData<B> {
    pub fn new(seed: u64, steps: usize, batch: usize, device: &B::Device) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let normal = Normal::new(0.0f32, 1.0).unwrap();
        let mut x = vec![];
        let mut y = vec![];
        for _ in 0..2 * steps {
            let xs: Vec<f32> = (0..batch * 8).map(|_| normal.sample(&mut rng)).collect();
            let ys: Vec<f32> = xs
                .iter()
                .enumerate()
                .map(|(i, v)| v * SCALE[i % 8])
                .collect();
            x.push(Tensor::from_data(TensorData::new(xs, [batch, 8]), device));
            y.push(Tensor::from_data(TensorData::new(ys, [batch, 8]), device));
        }
        ProbeData { x, y, steps }
    }
}

impl<B: Backend> SearchData<Tensor<B, 2>, Tensor<B, 2>> for ProbeData<B> {
    fn steps_per_epoch(&self) -> usize {
        self.steps
    }
    fn train(&self, _epoch: usize, step: usize) -> (Tensor<B, 2>, Tensor<B, 2>) {
        (self.x[step].clone(), self.y[step].clone())
    }
    fn valid(&self, _epoch: usize, step: usize) -> (Tensor<B, 2>, Tensor<B, 2>) {
        (
            self.x[self.steps + step].clone(),
            self.y[self.steps + step].clone(),
        )
    }
}

/// The weight-sharing (WS) twin of [`Probe`]: an independent `8 → k` layer per width (identity
/// slices, frozen), outputs zero-padded and mixed — the DrNAS-WS baseline's structure.
#[derive(Module, Debug)]
pub struct WsProbe<B: Backend> {
    pub op: tangle_core::WsMixedOp<B, burn::nn::Linear<B>>,
    #[module(skip)]
    spec: SearchSpec,
}

impl<B: Backend> WsProbe<B> {
    pub fn new(device: &B::Device) -> Self {
        let ops = WIDTHS
            .iter()
            .map(|&k| {
                let mut l = burn::nn::LinearConfig::new(8, k).init::<B>(device);
                let eye: Tensor<B, 2> = Tensor::eye(8, device);
                l.weight = Param::from_tensor(eye.slice([0..8, 0..k])).set_require_grad(false);
                l.bias = Some(Param::from_tensor(Tensor::zeros([k], device)));
                l
            })
            .collect();
        WsProbe {
            op: tangle_core::WsMixedOp::new(ops).unwrap(),
            spec: SearchSpec::new(vec![Decision::sizes("width", &WIDTHS, 8).unwrap()]).unwrap(),
        }
    }
}

impl<B: Backend> Supernet<B> for WsProbe<B> {
    type Input = Tensor<B, 2>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 2>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        self.op.forward(x, mix.get("width")?, |l, x| {
            let y = l.forward(x);
            let [n, w] = y.dims();
            Ok(if w < 8 {
                Tensor::cat(vec![y, Tensor::zeros([n, 8 - w], &Default::default())], 1)
            } else {
                y
            })
        })
    }
}

/// The probe searches' settings: 4 epochs, the first weights only, lr and α lr 0.05, `opt` for
/// the weights.
pub fn probe_config(opt: WeightOptimizer) -> SearchConfig {
    SearchConfig {
        epochs: 4,
        warmup_epochs: 1,
        weight_optimizer: opt,
        lr: 0.05,
        arch_lr: 0.05,
        ..SearchConfig::default()
    }
}
