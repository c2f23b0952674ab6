//! GDAS: hard Gumbel-softmax with a straight-through estimator; one candidate per pass.

use burn::tensor::{activation::log_softmax, activation::softmax, backend::Backend, Tensor};
use rand::{rngs::StdRng, Rng, SeedableRng};
use tangle_core::{Mixture, Mixtures, SearchSpec};

use crate::error::{OptimError, Result};
use crate::mixer::{argmax, Mixer};
use crate::params::{host, ArchParams};
use tangle_core::random::mix_seed;

/// The GDAS mixer. Each pass samples `p = softmax((log_softmax(α) + g) / τ)` with Gumbel noise
/// `g`, takes `i = argmax p` and uses the straight-through weights `h = one_hot(i) − p.detach()
/// + p`: the value is candidate `i` alone, the gradient that of `p`. τ is annealed linearly per
/// epoch from `tau_max` to `tau_min`.
///
/// Two ways to run the pass:
/// * **single path** ([`Gdas::new`], GDAS's own form): only candidate `i` runs, on its sliced
///   weights, its output scaled by `h_i` (value 1). Cheap, but α learns only through that
///   scale, and a scale that a later batch norm divides out — a width or kernel in a
///   convolution chain with batch norms — teaches it nothing.
/// * **superposed** ([`Gdas::superposed`], how the official TangleNAS code runs GDAS on a
///   weight-entangled supernet: its entangled operations take the whole weight vector): the
///   superposed pass with the weights `h`, `Σ_j h_j · pad(W_j) = pad(W_i)` in value, so every
///   candidate `j` gets the gradient `⟨∂L/∂W, pad(W_j)⟩` — what adding some of it would do.
///   It costs a full superposed pass, as DrNAS's.
#[derive(Debug, Clone)]
pub struct Gdas {
    /// RNG seed of the Gumbel noise.
    pub seed: u64,
    /// τ at the first epoch (10 in the paper).
    pub tau_max: f64,
    /// τ at the last epoch (0.1).
    pub tau_min: f64,
    /// Run the superposed pass with the hard weights instead of the single path.
    pub superposed: bool,
    tau: f64,
}

impl Gdas {
    /// GDAS with τ from 10 to 0.1, on the single path.
    pub fn new(seed: u64) -> Self {
        Gdas {
            seed,
            tau_max: 10.0,
            tau_min: 0.1,
            superposed: false,
            tau: 10.0,
        }
    }

    /// GDAS with τ from 10 to 0.1, on the superposed pass with the hard weights (the
    /// official code's form for weight-entangled supernets; see [`Gdas`]).
    pub fn superposed(seed: u64) -> Self {
        Gdas {
            superposed: true,
            ..Gdas::new(seed)
        }
    }

    /// The current temperature.
    pub fn tau(&self) -> f64 {
        self.tau
    }
}

impl<B: Backend> Mixer<B> for Gdas {
    fn mixtures(
        &self,
        alphas: &ArchParams<B>,
        spec: &SearchSpec,
        draw: u64,
    ) -> Result<Mixtures<B>> {
        let mut out = Vec::with_capacity(alphas.alpha.len());
        for (d, a) in alphas.alpha.iter().enumerate() {
            let a = a.val();
            let n = a.dims()[0];
            let device = a.device();
            let mut sampled = None;
            // Resample when the noise produces inf/NaN (u at 0 or 1, or extreme α).
            for attempt in 0..100u64 {
                let mut rng =
                    StdRng::seed_from_u64(mix_seed(self.seed, draw, (d as u64) << 8 | attempt));
                let g: Vec<f32> = (0..n)
                    .map(|_| {
                        let u: f64 = rng.random_range(f64::EPSILON..1.0);
                        -(-u.ln()).ln() as f32
                    })
                    .collect();
                let logits = (log_softmax(a.clone(), 0)
                    + Tensor::from_floats(g.as_slice(), &device))
                    / self.tau;
                let p = softmax(logits, 0);
                let pv = host(&p);
                if pv.iter().all(|x| x.is_finite()) {
                    sampled = Some((p, argmax(&pv)));
                    break;
                }
            }
            let (p, i) = sampled.ok_or_else(|| {
                OptimError::Config(format!(
                    "GDAS could not draw a finite sample for decision {d} (α diverged?)"
                ))
            })?;
            out.push(if self.superposed {
                let mut hot = vec![0f32; n];
                hot[i] = 1.0;
                let hard = p.clone() - p.detach() + Tensor::from_floats(hot.as_slice(), &device);
                Mixture::weights(hard)
            } else {
                let pi = p.slice([i..i + 1]);
                let hard = pi.clone() - pi.detach() + 1.0;
                Mixture::straight_through(i, hard)
            });
        }
        Ok(Mixtures::new(spec, out)?)
    }

    fn probabilities(&self, alphas: &ArchParams<B>) -> Vec<Vec<f32>> {
        alphas
            .alpha
            .iter()
            .map(|a| host(&softmax(a.val(), 0)))
            .collect()
    }

    fn start_epoch(&mut self, epoch: usize, epochs: usize) {
        let t = if epochs > 1 {
            epoch as f64 / (epochs - 1) as f64
        } else {
            1.0
        };
        self.tau = self.tau_max - (self.tau_max - self.tau_min) * t.min(1.0);
    }

    fn name(&self) -> &'static str {
        "gdas"
    }
}
