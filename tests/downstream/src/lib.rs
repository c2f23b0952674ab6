//! A user's own two-decision search space: a residual MLP regressor whose hidden width and depth
//! are searched. Uses only public items of tangle-core and tangle-optim. [`check`] searches it
//! with DrNAS for a few steps on any autodiff backend and panics if anything does not behave;
//! `main.rs` runs it on the CPU, `tests/wgpu` on the wgpu device.

use burn::module::{AutodiffModule, Module};
use burn::tensor::activation::relu;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Distribution, ElementConversion, Tensor};
use tangle_core::{
    Architecture, Decision, DepthMixer, Extract, Mixtures, Result, SearchSpec, SuperLinear,
    SuperLinearConfig, Supernet,
};
use tangle_optim::{Drnas, Regression, Search, SearchConfig, SearchData, WeightOptimizer};

const HIDDEN: [usize; 3] = [8, 16, 32];
const DEPTHS: [usize; 2] = [1, 2];

/// The supernet.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    fc_in: SuperLinear<B>,
    hidden: Vec<SuperLinear<B>>,
    fc_out: SuperLinear<B>,
    #[module(skip)]
    spec: SearchSpec,
    #[module(skip)]
    depth: DepthMixer,
}

impl<B: Backend> Mlp<B> {
    /// The supernet: hidden width {8, 16, 32}, depth {1, 2}.
    pub fn new(device: &B::Device) -> Result<Self> {
        Ok(Mlp {
            fc_in: SuperLinearConfig::output(4, &HIDDEN)?.init(device),
            hidden: (0..2)
                .map(|_| SuperLinearConfig::new(&HIDDEN, &HIDDEN).map(|c| c.init(device)))
                .collect::<Result<_>>()?,
            fc_out: SuperLinearConfig::input(&HIDDEN, 1)?.init(device),
            spec: SearchSpec::new(vec![
                Decision::sizes("hidden", &HIDDEN, 32)?,
                Decision::depths("depth", &DEPTHS, 2)?,
            ])?,
            depth: DepthMixer::new(&DEPTHS)?,
        })
    }
}

impl<B: Backend> Supernet<B> for Mlp<B> {
    type Input = Tensor<B, 2>;
    type Output = Tensor<B, 2>;

    fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn forward_mixed(&self, x: Tensor<B, 2>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
        let h = mix.get("hidden")?;
        let x = relu(self.fc_in.forward(x, &[h])?);
        let x = self.depth.forward(x, mix.get("depth")?, |i, x| {
            Ok(x.clone() + relu(self.hidden[i].forward(x, &[h, h])?))
        })?;
        self.fc_out.forward(x, &[h])
    }
}

/// The discretized network: plain `burn::nn::Linear`s.
#[derive(Module, Debug)]
pub struct Plain<B: Backend> {
    /// fc_in, the hidden layers at the chosen depth, fc_out.
    pub layers: Vec<burn::nn::Linear<B>>,
}

impl<B: Backend> Extract<B> for Mlp<B> {
    type Subnet = Plain<B>;

    fn extract(&self, arch: &Architecture) -> Result<Plain<B>> {
        let idx = self.spec.indices(arch)?;
        let h = idx[0];
        let mut layers = vec![self.fc_in.extract(&[h])?];
        for i in 0..DEPTHS[idx[1]] {
            layers.push(self.hidden[i].extract(&[h, h])?);
        }
        layers.push(self.fc_out.extract(&[h])?);
        Ok(Plain { layers })
    }

    fn params(&self, arch: &Architecture) -> Result<usize> {
        let idx = self.spec.indices(arch)?;
        let h = HIDDEN[idx[0]];
        Ok(4 * h + h + DEPTHS[idx[1]] * (h * h + h) + h + 1)
    }
}

/// y = sin(x₀) + x₁·x₂ − x₃², a fixed regression task.
pub struct Data<B: Backend> {
    /// Input batches; even ones train the weights, odd ones the architecture.
    pub x: Vec<Tensor<B, 2>>,
}

impl<B: Backend> Data<B> {
    fn target(x: &Tensor<B, 2>) -> Tensor<B, 2> {
        let col = |i: usize| x.clone().slice([0..x.dims()[0], i..i + 1]);
        col(0).sin() + col(1) * col(2) - col(3).powf_scalar(2.0)
    }
}

impl<B: Backend> SearchData<Tensor<B, 2>, Tensor<B, 2>> for Data<B> {
    fn steps_per_epoch(&self) -> usize {
        self.x.len() / 2
    }
    fn train(&self, _epoch: usize, step: usize) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let x = self.x[2 * step].clone();
        (x.clone(), Self::target(&x))
    }
    fn valid(&self, _epoch: usize, step: usize) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let x = self.x[2 * step + 1].clone();
        (x.clone(), Self::target(&x))
    }
}

/// Searches the space with DrNAS for 4 epochs on `device` and checks that the training loss
/// falls, α moves, and the extracted plain network equals the supernet's single path.
pub fn check<AB: AutodiffBackend>(device: &AB::Device) {
    let device = device.clone();
    AB::seed(&device, 7);
    let data = Data::<AB> {
        x: (0..16)
            .map(|_| Tensor::random([32, 4], Distribution::Normal(0.0, 1.0), &device))
            .collect(),
    };
    let net = Mlp::<AB>::new(&device).expect("valid space");
    let config = SearchConfig {
        epochs: 4,
        warmup_epochs: 1,
        weight_optimizer: WeightOptimizer::Adam { weight_decay: 0.0 },
        lr: 1e-2,
        lr_min: 1e-3,
        ..SearchConfig::default()
    };
    let mut search = Search::new(net, Drnas::new(7), config, 7, &device).expect("search");
    search.run(&data, &Regression).expect("search runs");
    let (first, last) = (&search.records[0], &search.records[3]);
    println!(
        "train loss {:.3} → {:.3}, architecture {}",
        first.train_loss, last.train_loss, last.architecture
    );
    assert!(last.train_loss.is_finite() && last.train_loss < first.train_loss);
    // α moved away from uniform.
    let p = &last.probabilities[0];
    assert!(
        p.iter().any(|v| (v - 1.0 / 3.0).abs() > 1e-4),
        "α never moved: {p:?}"
    );

    let arch = search.architecture().expect("argmax");
    let supernet = search.model.valid();
    let plain = supernet.extract(&arch).expect("extract");
    // The plain network equals the supernet's single path at `arch`.
    let x = data.x[1].clone().inner();
    let single = supernet
        .forward_mixed(
            x.clone(),
            &Mixtures::fixed(supernet.spec(), &arch).expect("fits"),
        )
        .expect("forward");
    let mut h = x;
    let n = plain.layers.len();
    for (i, layer) in plain.layers.iter().enumerate() {
        let y = layer.forward(h.clone());
        h = match i {
            0 => relu(y),
            i if i + 1 == n => y,
            _ => h + relu(y),
        };
    }
    let scale: f32 = single
        .clone()
        .abs()
        .max()
        .into_scalar()
        .elem::<f32>()
        .max(1.0);
    let diff: f32 = (h - single).abs().max().into_scalar().elem();
    assert!(diff / scale < 1e-5, "extracted network differs by {diff}");
    println!(
        "downstream OK: {} parameters at {}",
        supernet.params(&arch).expect("params"),
        arch.to_json()
    );
}
