//! A user's own two-decision search space: a residual MLP regressor whose hidden width and depth
//! are searched. Uses only public items of tangle-core and tangle-optim. [`check`] searches it
//! with DrNAS for a few steps on any autodiff backend and panics if anything does not behave;
//! `main.rs` runs it on the CPU, `tests/wgpu` on the wgpu device.

use burn::module::{AutodiffModule, Module};
use burn::tensor::activation::relu;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Distribution, ElementConversion, Tensor};
use tangle_core::{
    Architecture, DecisionKey, DepthMixer, Extract, Mixtures, Result, SearchSpec, SuperLinear,
    SuperLinearConfig, Supernet,
};
use tangle_optim::{Method, Regression, Search, SearchConfig, SearchData, WeightOptimizer};

/// The supernet.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    fc_in: SuperLinear<B>,
    hidden: Vec<SuperLinear<B>>,
    fc_out: SuperLinear<B>,
    #[module(skip)]
    spec: SearchSpec,
    #[module(skip)]
    width: DecisionKey<usize>,
    #[module(skip)]
    depth_key: DecisionKey<usize>,
    #[module(skip)]
    depth: DepthMixer,
}

impl<B: Backend> Mlp<B> {
    /// The supernet: hidden width {8, 16, 32}, depth {1, 2}.
    pub fn new(device: &B::Device) -> Result<Self> {
        let mut space = SearchSpec::builder();
        let width = space.sizes("hidden", &[8, 16, 32], 32)?;
        let depth_key = space.depths("depth", &[1, 2], 2)?;
        let h = width.candidates();
        Ok(Mlp {
            fc_in: SuperLinearConfig::output(4, h)?.init(device)?,
            hidden: (0..*depth_key.largest())
                .map(|_| SuperLinearConfig::new(h, h)?.init(device))
                .collect::<Result<_>>()?,
            fc_out: SuperLinearConfig::input(h, 1)?.init(device)?,
            depth: DepthMixer::new(depth_key.candidates())?,
            spec: space.build(),
            width,
            depth_key,
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
        let h = mix.of(&self.width)?;
        let x = relu(self.fc_in.forward(x, &[h])?);
        let x = self.depth.forward(x, mix.of(&self.depth_key)?, |i, x| {
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
        arch.validate(&self.spec)?;
        let h = arch.index(&self.width)?;
        let mut layers = vec![self.fc_in.extract(&[h])?];
        for hidden in &self.hidden[..arch.value(&self.depth_key)?] {
            layers.push(hidden.extract(&[h, h])?);
        }
        layers.push(self.fc_out.extract(&[h])?);
        Ok(Plain { layers })
    }

    // `params` is left to its default: the extracted network's parameters, counted.
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
    let mut search = Search::with_method(net, Method::Drnas, config, 7, &device).expect("search");
    search.run(&data, &Regression).expect("search runs");
    let (first, last) = (&search.records[0], &search.records[3]);
    println!(
        "train loss {:.3} → {:.3}, architecture {}",
        first.train_loss,
        last.train_loss,
        last.architecture.as_ref().expect("DrNAS has an argmax")
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
    // The default parameter count, against the layers by hand: input 4 → h, `depth` hidden
    // h → h, output h → 1, each with a bias.
    let width = arch.value(&supernet.width).expect("width");
    let hidden = arch.value(&supernet.depth_key).expect("depth");
    let by_hand = 4 * width + width + hidden * (width * width + width) + width + 1;
    let params = supernet.params(&arch).expect("params");
    assert_eq!(params, by_hand, "Extract::params's default");
    println!("downstream OK: {params} parameters at {}", arch.to_json());
}
