//! Typed handles to the decisions of a space.
//!
//! Declaring a decision through a [`SpecBuilder`] returns a [`DecisionKey`]: the decision's
//! name, its place in the spec and its candidates, typed (`DecisionKey<usize>` for sizes,
//! kernels, heads and depths, `DecisionKey<f64>` for ratios, `DecisionKey<String>` for named
//! operations). A space keeps its keys and reads everything through them: the candidates when
//! it builds its modules, `mix.of(&key)` in its forward pass, `arch.index(&key)` when it
//! discretizes. Nothing is looked up by position or by a formatted name, and a key that does
//! not belong to the spec it is used with fails with [`CoreError::WrongDecision`], naming the
//! key's decision and the one found in its place.
//!
//! ```
//! use tangle_core::SearchSpec;
//!
//! let mut space = SearchSpec::builder();
//! let embed = space.sizes("embed", &[4, 8], 8)?;
//! let ratio = space.ratios("mlp_ratio", &[2.0, 4.0])?;
//! let spec = space.build();
//! assert_eq!(embed.candidates(), &[4, 8]);
//! assert_eq!(spec.decisions()[ratio.position()].name(), "mlp_ratio");
//! let arch = spec.largest();
//! assert_eq!(arch.value(&ratio)?, 4.0);
//! assert_eq!(arch.index(&embed)?, 1);
//! # Ok::<(), tangle_core::CoreError>(())
//! ```
//!
//! Keys are typed, so a ratio cannot stand where a size is read:
//!
//! ```compile_fail
//! use tangle_core::{Architecture, SearchSpec};
//!
//! let mut space = SearchSpec::builder();
//! let ratio = space.ratios("mlp_ratio", &[2.0, 4.0]).unwrap();
//! let spec = space.build();
//! let width: usize = spec.largest().value(&ratio).unwrap(); // f64, not usize
//! ```

use std::fmt;
use std::sync::Arc;

use crate::error::{CoreError, Result};
use crate::spec::{Architecture, Choice, Decision, SearchSpec};

/// A value a decision can take, read back from a [`Choice`].
pub trait Candidate: Clone + fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The value of `choice`, if it has this type.
    fn from_choice(choice: &Choice) -> Option<Self>;
    /// The value as a [`Choice`].
    fn to_choice(&self) -> Choice;
}

impl Candidate for usize {
    fn from_choice(choice: &Choice) -> Option<Self> {
        choice.as_usize()
    }
    fn to_choice(&self) -> Choice {
        Choice::from(*self)
    }
}

impl Candidate for f64 {
    fn from_choice(choice: &Choice) -> Option<Self> {
        choice.as_f64()
    }
    fn to_choice(&self) -> Choice {
        Choice::Float(*self)
    }
}

impl Candidate for String {
    fn from_choice(choice: &Choice) -> Option<Self> {
        match choice {
            Choice::Op(s) => Some(s.clone()),
            _ => None,
        }
    }
    fn to_choice(&self) -> Choice {
        Choice::Op(self.clone())
    }
}

/// A handle to one decision, returned when the decision is declared.
///
/// Cheap to clone (the name and candidates are shared). Two keys are equal when they name the
/// same decision at the same place with the same candidates.
#[derive(Clone, PartialEq)]
pub struct DecisionKey<T> {
    name: Arc<str>,
    position: usize,
    candidates: Arc<[T]>,
}

impl<T: Candidate> DecisionKey<T> {
    /// The decision's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The decision's place in its spec (and in [`crate::Mixtures`]).
    pub fn position(&self) -> usize {
        self.position
    }

    /// The candidates, in mixture order.
    pub fn candidates(&self) -> &[T] {
        &self.candidates
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.candidates.len()
    }

    /// Never true: a declared decision has candidates.
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    /// The last (largest, for nested decisions) candidate.
    pub fn largest(&self) -> &T {
        self.candidates
            .last()
            .expect("a declared decision has candidates")
    }

    /// Checks that this key names the decision at its position in `spec`, with the same
    /// number of candidates.
    pub fn check(&self, spec: &SearchSpec) -> Result<()> {
        let found = spec.decisions().get(self.position);
        match found {
            Some(d) if d.name() == self.name() && d.len() == self.len() => Ok(()),
            _ => Err(self.wrong(found.map(Decision::name))),
        }
    }

    /// The error for this key used where `found` (or nothing) sits.
    pub(crate) fn wrong(&self, found: Option<&str>) -> CoreError {
        CoreError::WrongDecision {
            key: self.name.to_string(),
            position: self.position,
            found: found.map_or_else(|| "nothing".to_string(), |n| format!("`{n}`")),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for DecisionKey<T> {
    // The name and candidates, not the Arc internals: keys sit in module and error dumps.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}{:?}", self.name, self.position, &*self.candidates)
    }
}

impl<T: fmt::Display> fmt::Display for DecisionKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Declares the decisions of a space one by one, handing back a [`DecisionKey`] for each.
#[derive(Debug, Clone, Default)]
pub struct SpecBuilder {
    spec: SearchSpec,
}

impl SpecBuilder {
    /// An empty builder (same as [`SearchSpec::builder`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an already built decision; its candidates must have type `T`.
    pub fn decision<T: Candidate>(&mut self, decision: Decision) -> Result<DecisionKey<T>> {
        let candidates = decision
            .candidates()
            .iter()
            .map(|c| {
                T::from_choice(c).ok_or_else(|| CoreError::InvalidCandidate {
                    decision: decision.name().to_string(),
                    value: c.to_string(),
                    reason: format!("not a {}", std::any::type_name::<T>()),
                })
            })
            .collect::<Result<Vec<T>>>()?;
        let key = DecisionKey {
            name: Arc::from(decision.name()),
            position: self.spec.decisions().len(),
            candidates: Arc::from(candidates),
        };
        self.spec.push(decision)?;
        Ok(key)
    }

    /// Nested sizes (channels, embedding dims), strictly increasing, none above `max`.
    pub fn sizes(
        &mut self,
        name: &str,
        values: &[usize],
        max: usize,
    ) -> Result<DecisionKey<usize>> {
        self.decision(Decision::sizes(name, values, max)?)
    }

    /// Odd kernel sizes, increasing.
    pub fn kernels(&mut self, name: &str, values: &[usize]) -> Result<DecisionKey<usize>> {
        self.decision(Decision::kernels(name, values)?)
    }

    /// Ratios (MLP ratio, expansion), positive and strictly increasing.
    pub fn ratios(&mut self, name: &str, values: &[f64]) -> Result<DecisionKey<f64>> {
        self.decision(Decision::ratios(name, values)?)
    }

    /// Head counts, strictly increasing.
    pub fn heads(&mut self, name: &str, values: &[usize]) -> Result<DecisionKey<usize>> {
        self.decision(Decision::heads(name, values)?)
    }

    /// Head counts that divide every candidate of `embed` (head dim = embed / heads).
    pub fn heads_dividing(
        &mut self,
        name: &str,
        values: &[usize],
        embed: &DecisionKey<usize>,
    ) -> Result<DecisionKey<usize>> {
        self.decision(Decision::heads_dividing(name, values, embed.candidates())?)
    }

    /// Depths (numbers of blocks), strictly increasing, none above `max`.
    pub fn depths(
        &mut self,
        name: &str,
        values: &[usize],
        max: usize,
    ) -> Result<DecisionKey<usize>> {
        self.decision(Decision::depths(name, values, max)?)
    }

    /// Named operations; their order is the order of the mixture weights.
    pub fn ops(&mut self, name: &str, ops: &[&str]) -> Result<DecisionKey<String>> {
        self.decision(Decision::ops(name, ops)?)
    }

    /// The spec declared so far.
    pub fn build(self) -> SearchSpec {
        self.spec
    }
}

impl SearchSpec {
    /// A builder that declares decisions and returns their keys.
    pub fn builder() -> SpecBuilder {
        SpecBuilder::new()
    }
}

impl Architecture {
    /// The candidate index chosen for `key`'s decision.
    pub fn index<T: Candidate>(&self, key: &DecisionKey<T>) -> Result<usize> {
        let choice = self
            .get(key.name())
            .ok_or_else(|| CoreError::MissingChoice(key.name().to_string()))?;
        key.candidates()
            .iter()
            // `from_choice` reads `4` and `4.0` alike, so either spelling finds its candidate.
            .position(|c| T::from_choice(choice).is_some_and(|v| v == *c))
            .ok_or_else(|| CoreError::InvalidChoice {
                decision: key.name().to_string(),
                value: choice.to_string(),
                candidates: format!("{:?}", key.candidates()),
            })
    }

    /// Chooses `value` for `key`'s decision; errors (naming the decision and its candidates)
    /// when `value` is not one of them.
    pub fn choose<T: Candidate>(&mut self, key: &DecisionKey<T>, value: T) -> Result<&mut Self> {
        if !key.candidates().contains(&value) {
            return Err(CoreError::InvalidChoice {
                decision: key.name().to_string(),
                value: value.to_choice().to_string(),
                candidates: format!("{:?}", key.candidates()),
            });
        }
        Ok(self.set(key.name(), value.to_choice()))
    }

    /// The value chosen for `key`'s decision.
    pub fn value<T: Candidate>(&self, key: &DecisionKey<T>) -> Result<T> {
        let i = self.index(key)?;
        Ok(key.candidates()[i].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mixtures;
    use burn::backend::Flex;

    fn space() -> (
        SearchSpec,
        DecisionKey<usize>,
        DecisionKey<f64>,
        DecisionKey<String>,
    ) {
        let mut b = SearchSpec::builder();
        let embed = b.sizes("embed", &[4, 8, 16], 16).unwrap();
        let ratio = b.ratios("ratio", &[2.0, 3.5]).unwrap();
        let op = b.ops("edge", &["skip", "conv"]).unwrap();
        (b.build(), embed, ratio, op)
    }

    #[test]
    fn keys_carry_name_position_and_candidates() {
        let (spec, embed, ratio, op) = space();
        assert_eq!((embed.name(), embed.position()), ("embed", 0));
        assert_eq!((ratio.name(), ratio.position()), ("ratio", 1));
        assert_eq!(op.candidates(), &["skip".to_string(), "conv".to_string()]);
        assert_eq!(*embed.largest(), 16);
        assert_eq!(spec.decisions().len(), 3);
        for d in spec.decisions() {
            assert!(spec.get(d.name()).is_some());
        }
        embed.check(&spec).unwrap();
        assert_eq!(format!("{embed:?}"), "embed#0[4, 8, 16]");
    }

    #[test]
    fn builder_rejects_duplicates_and_bad_candidates() {
        let mut b = SearchSpec::builder();
        b.sizes("embed", &[4, 8], 8).unwrap();
        let e = b.sizes("embed", &[2], 8).unwrap_err();
        assert!(e.to_string().contains("`embed` twice"), "{e}");
        let e = b.sizes("width", &[8, 4], 8).unwrap_err();
        assert!(e.to_string().contains("width"), "{e}");
        // A ratio decision read as integers names the decision and the value.
        let e = b
            .decision::<usize>(Decision::ratios("r", &[2.5]).unwrap())
            .unwrap_err();
        assert!(
            e.to_string().contains("`r`") && e.to_string().contains("2.5"),
            "{e}"
        );
    }

    #[test]
    fn architectures_read_through_keys() {
        let (spec, embed, ratio, op) = space();
        let arch = spec.architecture(&[1, 0, 1]).unwrap();
        assert_eq!(arch.index(&embed).unwrap(), 1);
        assert_eq!(arch.value(&embed).unwrap(), 8);
        assert_eq!(arch.value(&ratio).unwrap(), 2.0);
        assert_eq!(arch.value(&op).unwrap(), "conv");
        // A JSON ratio written as an integer still finds its candidate.
        let a =
            Architecture::from_json(r#"{"embed": 4, "ratio": 2, "edge": "skip"}"#, &spec).unwrap();
        assert_eq!(a.index(&ratio).unwrap(), 0);
        let mut missing = Architecture::new();
        missing.set("ratio", 2.0);
        let e = missing.index(&embed).unwrap_err();
        assert!(e.to_string().contains("`embed`"), "{e}");
        let mut chosen = Architecture::new();
        chosen
            .choose(&embed, 16)
            .unwrap()
            .choose(&ratio, 3.5)
            .unwrap()
            .choose(&op, "skip".to_string())
            .unwrap();
        assert_eq!(chosen, spec.architecture(&[2, 1, 0]).unwrap());
        let e = chosen.choose(&embed, 5).unwrap_err().to_string();
        assert!(e.contains("`embed`") && e.contains("[4, 8, 16]"), "{e}");
    }

    #[test]
    fn a_key_from_another_space_names_both_decisions() {
        let (spec, embed, ratio, _) = space();
        let mut other = SearchSpec::builder();
        let heads = other.heads("heads", &[2, 4]).unwrap();
        let width = other.sizes("width", &[4, 8], 8).unwrap();
        let mix = Mixtures::<Flex>::fixed(&spec, &spec.largest()).unwrap();
        mix.of(&embed).unwrap();
        mix.of(&ratio).unwrap();
        // `width` sits at position 1 in its own space; here position 1 is `ratio`.
        let e = mix.of(&width).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, CoreError::WrongDecision { .. }), "{e:?}");
        assert!(
            text.contains("`width`") && text.contains("`ratio`"),
            "{text}"
        );
        // Same name and place but a different candidate list is still caught.
        let e = heads.check(&spec).unwrap_err().to_string();
        assert!(e.contains("`heads`") && e.contains("`embed`"), "{e}");
        let mut long = SearchSpec::builder();
        let embed2 = long.sizes("embed", &[4, 8], 16).unwrap();
        assert!(mix.of(&embed2).is_err());
    }
}
