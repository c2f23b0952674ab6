//! Architecture parameters: one α vector per decision, kept apart from the network weights.

use burn::module::{Module, Param};
use burn::tensor::{backend::Backend, Tensor, TensorData};
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Normal};
use tangle_core::SearchSpec;

use crate::error::{OptimError, Result};

/// One α vector per decision of a [`SearchSpec`], in spec order. A Burn module of its own, so
/// that it has its own optimizer, separate from the supernet's weights.
#[derive(Module, Debug)]
pub struct ArchParams<B: Backend> {
    /// α per decision.
    pub alpha: Vec<Param<Tensor<B, 1>>>,
}

impl<B: Backend> ArchParams<B> {
    /// α ~ 1e-3 · N(0, 1), drawn from `seed` on the host so that it is the same on every backend.
    pub fn new(spec: &SearchSpec, seed: u64, device: &B::Device) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let normal = Normal::new(0.0f32, 1.0).expect("valid normal");
        let alpha = spec
            .decisions()
            .iter()
            .map(|d| {
                let v: Vec<f32> = (0..d.len())
                    .map(|_| 1e-3 * normal.sample(&mut rng))
                    .collect();
                Param::from_tensor(Tensor::from_data(TensorData::new(v, [d.len()]), device))
            })
            .collect();
        ArchParams { alpha }
    }

    /// α from explicit values (one vector per decision).
    pub fn from_values(spec: &SearchSpec, values: &[Vec<f32>], device: &B::Device) -> Result<Self> {
        if values.len() != spec.decisions().len()
            || spec
                .decisions()
                .iter()
                .zip(values)
                .any(|(d, v)| d.len() != v.len())
        {
            return Err(OptimError::Config(format!(
                "α values do not fit the spec's {} decisions",
                spec.decisions().len()
            )));
        }
        Ok(ArchParams {
            alpha: values
                .iter()
                .map(|v| {
                    Param::from_tensor(Tensor::from_data(
                        TensorData::new(v.clone(), [v.len()]),
                        device,
                    ))
                })
                .collect(),
        })
    }

    /// α as host vectors.
    pub fn values(&self) -> Vec<Vec<f32>> {
        self.alpha.iter().map(|a| host(&a.val())).collect()
    }

    /// Errors if any α is NaN or infinite.
    pub fn check_finite(&self, epoch: usize, step: usize) -> Result<()> {
        for (i, v) in self.values().iter().enumerate() {
            if v.iter().any(|x| !x.is_finite()) {
                return Err(OptimError::NonFinite {
                    what: format!("α of decision {i}"),
                    epoch,
                    step,
                });
            }
        }
        Ok(())
    }
}

/// A tensor's values on the host.
pub(crate) fn host<B: Backend, const D: usize>(t: &Tensor<B, D>) -> Vec<f32> {
    t.to_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("float data")
}
