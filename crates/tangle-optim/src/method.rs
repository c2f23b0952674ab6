//! The search method as one value: which mixer, which α step, whether α exists at all.

use std::fmt;
use std::str::FromStr;

use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};
use tangle_core::{Mixtures, SearchSpec};

use crate::darts::Darts;
use crate::drnas::Drnas;
use crate::engine::ArchStep;
use crate::error::{OptimError, Result};
use crate::gdas::Gdas;
use crate::mixer::Mixer;
use crate::params::ArchParams;
use crate::uniform::UniformPath;

/// A search method. Everything that goes with it — the mixer, a first- or second-order α step,
/// whether there is an α at all — follows from this one value; [`crate::Search::with_method`]
/// builds the search.
///
/// Written (and parsed, and serialized) as `drnas`, `darts-v1`, `darts-v2`, `gdas`, `spos`.
///
/// ```
/// use tangle_optim::{ArchStep, Method};
///
/// let m: Method = "darts-v2".parse()?;
/// assert_eq!(m.arch_step(), Some(ArchStep::SecondOrder));
/// assert_eq!(m.to_string(), "darts-v2");
/// assert_eq!(Method::Spos.arch_step(), None); // no α: weight steps only
/// # Ok::<(), tangle_optim::OptimError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// DrNAS (Dirichlet mixtures, first-order α step): TangleNAS's method on an entangled
    /// supernet.
    Drnas,
    /// DARTS, first order: softmax mixtures, α step on ∇α L_val(w, α).
    DartsV1,
    /// DARTS, second order: softmax mixtures, α step through one unrolled weight step.
    DartsV2,
    /// GDAS: one hard Gumbel sample per pass, straight-through, τ from 10 to 0.1, run as the
    /// superposed pass with the hard weights ([`Gdas::superposed`], the official code's form on
    /// an entangled supernet). For GDAS's cheaper single path, build a [`Search`] with
    /// [`Gdas::new`].
    ///
    /// [`Search`]: crate::Search
    Gdas,
    /// SPOS supernet training: one uniform single path per pass, no α and no validation pass;
    /// the architecture comes from a second stage (random or evolutionary search).
    Spos,
}

impl Method {
    /// Every method, in the order above.
    pub const ALL: [Method; 5] = [
        Method::Drnas,
        Method::DartsV1,
        Method::DartsV2,
        Method::Gdas,
        Method::Spos,
    ];

    /// The method's name, as it is parsed and printed.
    pub fn name(self) -> &'static str {
        match self {
            Method::Drnas => "drnas",
            Method::DartsV1 => "darts-v1",
            Method::DartsV2 => "darts-v2",
            Method::Gdas => "gdas",
            Method::Spos => "spos",
        }
    }

    /// How α's gradient is computed; `None` for a method without α.
    pub fn arch_step(self) -> Option<ArchStep> {
        match self {
            Method::DartsV2 => Some(ArchStep::SecondOrder),
            Method::Spos => None,
            _ => Some(ArchStep::FirstOrder),
        }
    }

    /// Whether the method has architecture parameters (every one but SPOS).
    pub fn has_alpha(self) -> bool {
        self.arch_step().is_some()
    }

    /// The method's mixer, its random draws seeded by `seed`.
    pub fn mixer(self, seed: u64) -> MethodMixer {
        match self {
            Method::Drnas => MethodMixer::Drnas(Drnas::new(seed)),
            Method::DartsV1 | Method::DartsV2 => MethodMixer::Darts(Darts::softmax()),
            Method::Gdas => MethodMixer::Gdas(Gdas::superposed(seed)),
            Method::Spos => MethodMixer::Spos(UniformPath::new(seed)),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = OptimError;

    fn from_str(s: &str) -> Result<Self> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
                OptimError::Config(format!(
                    "unknown search method `{s}` (one of {})",
                    names.join(", ")
                ))
            })
    }
}

/// The mixer of a [`Method`]: one type for all of them, so a search's type does not depend on
/// which method a command line chose.
#[derive(Debug, Clone)]
pub enum MethodMixer {
    /// DrNAS.
    Drnas(Drnas),
    /// DARTS (softmax; the order is the engine's α step).
    Darts(Darts),
    /// GDAS.
    Gdas(Gdas),
    /// SPOS's uniform single paths.
    Spos(UniformPath),
}

impl MethodMixer {
    fn inner<B: Backend>(&self) -> &dyn Mixer<B> {
        match self {
            MethodMixer::Drnas(m) => m,
            MethodMixer::Darts(m) => m,
            MethodMixer::Gdas(m) => m,
            MethodMixer::Spos(m) => m,
        }
    }

    fn inner_mut<B: Backend>(&mut self) -> &mut dyn Mixer<B> {
        match self {
            MethodMixer::Drnas(m) => m,
            MethodMixer::Darts(m) => m,
            MethodMixer::Gdas(m) => m,
            MethodMixer::Spos(m) => m,
        }
    }
}

impl<B: Backend> Mixer<B> for MethodMixer {
    fn mixtures(
        &self,
        alphas: &ArchParams<B>,
        spec: &SearchSpec,
        draw: u64,
    ) -> Result<Mixtures<B>> {
        self.inner::<B>().mixtures(alphas, spec, draw)
    }

    fn probabilities(&self, alphas: &ArchParams<B>) -> Vec<Vec<f32>> {
        self.inner::<B>().probabilities(alphas)
    }

    fn argmax(&self, alphas: &ArchParams<B>) -> Option<Vec<usize>> {
        self.inner::<B>().argmax(alphas)
    }

    fn has_alpha(&self) -> bool {
        self.inner::<B>().has_alpha()
    }

    fn regularizer(&self, alphas: &ArchParams<B>) -> Option<Tensor<B, 1>> {
        self.inner::<B>().regularizer(alphas)
    }

    fn start_epoch(&mut self, epoch: usize, epochs: usize) {
        self.inner_mut::<B>().start_epoch(epoch, epochs)
    }

    fn name(&self) -> &'static str {
        self.inner::<B>().name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn names_round_trip_and_carry_the_alpha_step() {
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
            assert_eq!(
                serde_json::to_string(&m).unwrap(),
                format!("\"{}\"", m.name())
            );
            assert_eq!(Mixer::<Flex>::has_alpha(&m.mixer(0)), m.has_alpha());
        }
        assert_eq!(Method::DartsV1.arch_step(), Some(ArchStep::FirstOrder));
        assert_eq!(Method::DartsV2.arch_step(), Some(ArchStep::SecondOrder));
        assert_eq!(Method::Drnas.arch_step(), Some(ArchStep::FirstOrder));
        assert!(!Method::Spos.has_alpha());
        let e = "darts".parse::<Method>().unwrap_err().to_string();
        assert!(e.contains("`darts`") && e.contains("darts-v1"), "{e}");
    }

    #[test]
    fn the_gdas_mixer_anneals_through_the_method_mixer() {
        let mut m = Method::Gdas.mixer(0);
        Mixer::<Flex>::start_epoch(&mut m, 9, 10);
        let MethodMixer::Gdas(g) = &m else {
            panic!("gdas")
        };
        assert!((g.tau() - 0.1).abs() < 1e-9, "τ {}", g.tau());
        assert!(g.superposed, "the method's GDAS runs the superposed pass");
    }
}
