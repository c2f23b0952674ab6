//! A user's own two-decision search space: a residual MLP regressor whose hidden width and depth
//! are searched. Uses only public items of tangle-core and tangle-optim. [`check`] searches it
//! with DrNAS for a few steps on any autodiff backend and panics if anything does not behave.
//! The space is only its supernet and forward pass: the discovered network is its
//! `SinglePath`, saved and reloaded without a second, plain topology;
//! `main.rs` runs it on the CPU, `tests/wgpu` on the wgpu device.

use burn::module::{AutodiffModule, Module};
use burn::tensor::activation::relu;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Distribution, ElementConversion, Tensor};
use tangle_core::{
    DecisionKey, DepthMixer, Mixtures, Result, SearchSpec, SinglePath, SuperLinear,
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
/// falls, α moves, and the discovered network, saved and reloaded, computes what the searched
/// supernet's path does.
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

    // The discovered network needs no second topology: `SinglePath` runs the supernet's path.
    let arch = search.architecture().expect("argmax");
    let fixed = SinglePath::new(search.model.valid(), &arch).expect("fits");
    let x = data.x[1].clone().inner();
    let before = fixed.forward(x.clone()).expect("forward");
    // Saved and loaded into a fresh supernet's path, it computes the same function.
    let path = std::env::temp_dir().join(format!("downstream-{}.bpk", std::process::id()));
    tangle_core::subnet::save(&fixed, &path).expect("save");
    let fresh = Mlp::<AB::InnerBackend>::new(&device).expect("valid space");
    let fresh = SinglePath::new(fresh, &arch).expect("fits");
    let max_diff = |a: Tensor<AB::InnerBackend, 2>, b: Tensor<AB::InnerBackend, 2>| -> f32 {
        let scale: f32 = b.clone().abs().max().into_scalar().elem::<f32>().max(1.0);
        (a - b).abs().max().into_scalar().elem::<f32>() / scale
    };
    // (A fresh network computes something else, so the comparison below can fail.)
    assert!(max_diff(fresh.forward(x.clone()).expect("forward"), before.clone()) > 1e-3);
    let loaded = tangle_core::subnet::load(fresh, &path).expect("load");
    let _ = std::fs::remove_file(&path);
    let diff = max_diff(loaded.forward(x).expect("forward"), before);
    assert!(diff < 1e-6, "the reloaded network differs by {diff}");
    println!("downstream OK: {}", arch.to_json());
}
