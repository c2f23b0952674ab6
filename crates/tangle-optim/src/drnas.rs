//! DrNAS: mixture weights are a reparameterized sample of `Dirichlet(elu(α) + 1)`.

use burn::tensor::{backend::Backend, Tensor, TensorData};
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Gamma};
use tangle_core::{Mixture, Mixtures, SearchSpec};

use crate::error::{OptimError, Result};
use crate::mixer::Mixer;
use crate::params::{host, ArchParams};
use crate::special::{digamma, gamma_sample_grad, ln_gamma, trigamma};
use tangle_core::random::mix_seed;

/// `elu(α) + 1`, the Dirichlet concentration (positive for any α).
pub fn concentration<B: Backend>(alpha: Tensor<B, 1>) -> Tensor<B, 1> {
    alpha.clone().clamp_min(0.0) + alpha.clamp_max(0.0).exp()
}

/// A reparameterized `Dirichlet(a)` sample: Gamma(aᵢ, 1) draws `zᵢ` on the host, with
/// `dzᵢ/daᵢ` by implicit reparameterization entering as `z + (a − a.detach()) ⊙ dz/da` (value
/// `z`, gradient `dz/da`), normalized by tensor ops so autodiff carries the rest.
pub fn dirichlet_sample<B: Backend>(a: Tensor<B, 1>, rng: &mut StdRng) -> Tensor<B, 1> {
    let av = host(&a);
    let n = av.len();
    let mut z = Vec::with_capacity(n);
    let mut dz = Vec::with_capacity(n);
    for &ai in &av {
        let ai = (ai as f64).max(1e-6);
        let gamma = Gamma::new(ai, 1.0).expect("positive shape");
        // A draw that underflows to 0 carries no gradient; keep it tiny instead.
        let zi: f64 = gamma.sample(rng).max(1e-30);
        z.push(zi as f32);
        dz.push(gamma_sample_grad(ai, zi) as f32);
    }
    let device = a.device();
    let zt = Tensor::<B, 1>::from_data(TensorData::new(z, [n]), &device);
    let dzt = Tensor::<B, 1>::from_data(TensorData::new(dz, [n]), &device);
    let z = zt + (a.clone() - a.detach()) * dzt;
    z.clone() / z.sum()
}

/// `KL(Dir(a) ‖ Dir(b))` with its gradient in `a` (computed on the host, injected so autodiff
/// carries it): `∂/∂aⱼ = (aⱼ − bⱼ) ψ′(aⱼ) − ψ′(A) Σᵢ (aᵢ − bᵢ)`.
pub fn dirichlet_kl<B: Backend>(a: Tensor<B, 1>, b: &[f64]) -> Tensor<B, 1> {
    let av: Vec<f64> = host(&a).iter().map(|&x| x as f64).collect();
    let (sa, sb): (f64, f64) = (av.iter().sum(), b.iter().sum());
    let mut kl = ln_gamma(sa) - ln_gamma(sb);
    for (&ai, &bi) in av.iter().zip(b) {
        kl += ln_gamma(bi) - ln_gamma(ai) + (ai - bi) * (digamma(ai) - digamma(sa));
    }
    let excess: f64 = av.iter().zip(b).map(|(a, b)| a - b).sum();
    let grad: Vec<f32> = av
        .iter()
        .zip(b)
        .map(|(&ai, &bi)| ((ai - bi) * trigamma(ai) - trigamma(sa) * excess) as f32)
        .collect();
    let device = a.device();
    let n = av.len();
    let g = Tensor::<B, 1>::from_data(TensorData::new(grad, [n]), &device);
    Tensor::<B, 1>::from_floats([kl as f32], &device) + ((a.clone() - a.detach()) * g).sum()
}

/// The DrNAS mixer.
#[derive(Debug, Clone)]
pub struct Drnas {
    /// RNG seed of the Dirichlet samples.
    pub seed: u64,
    /// Scale of the KL-to-Dir(1) regularizer (`None`: off; the paper's option uses 1e-3).
    pub kl_scale: Option<f64>,
}

impl Drnas {
    /// DrNAS without the KL regularizer (L2 on α comes from the α optimizer's weight decay).
    pub fn new(seed: u64) -> Self {
        Drnas {
            seed,
            kl_scale: None,
        }
    }

    /// Adds the KL(Dir(elu(α)+1) ‖ Dir(1)) regularizer with `scale`.
    pub fn with_kl(mut self, scale: f64) -> Self {
        self.kl_scale = Some(scale);
        self
    }
}

impl<B: Backend> Mixer<B> for Drnas {
    fn mixtures(
        &self,
        alphas: &ArchParams<B>,
        spec: &SearchSpec,
        draw: u64,
    ) -> Result<Mixtures<B>> {
        let mut out = Vec::with_capacity(alphas.alpha.len());
        for (d, a) in alphas.alpha.iter().enumerate() {
            let conc = concentration(a.val());
            if host(&conc).iter().any(|x| !x.is_finite()) {
                return Err(OptimError::Config(format!(
                    "DrNAS concentration of decision {d} is not finite"
                )));
            }
            let mut rng = StdRng::seed_from_u64(mix_seed(self.seed, draw, d as u64));
            out.push(Mixture::weights(dirichlet_sample(conc, &mut rng)));
        }
        Ok(Mixtures::new(spec, out)?)
    }

    fn probabilities(&self, alphas: &ArchParams<B>) -> Vec<Vec<f32>> {
        alphas
            .alpha
            .iter()
            .map(|a| {
                let c = host(&concentration(a.val()));
                let s: f32 = c.iter().sum();
                c.iter().map(|x| x / s).collect()
            })
            .collect()
    }

    fn regularizer(&self, alphas: &ArchParams<B>) -> Option<Tensor<B, 1>> {
        let scale = self.kl_scale?;
        alphas
            .alpha
            .iter()
            .map(|a| {
                let n = a.dims()[0];
                dirichlet_kl(concentration(a.val()), &vec![1.0; n]) * scale
            })
            .reduce(|x, y| x + y)
    }

    fn name(&self) -> &'static str {
        "drnas"
    }
}
