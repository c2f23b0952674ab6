//! The search-space vocabulary: decisions, search specs and architectures.
//!
//! A [`Decision`] is one named architectural choice with an ordered list of candidates
//! (`"layer3.kernel"` ∈ {3, 5, 7}). A [`SearchSpec`] is all decisions of a space. An
//! [`Architecture`] picks one candidate per decision and round-trips through JSON.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// One candidate value of a decision.
///
/// Serialized untagged, so an architecture reads naturally in JSON:
/// `{"embed": 240, "layer0.mlp_ratio": 3.5, "edge0": "sep_conv_3x3"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Choice {
    /// An integer: a size, a kernel, a head count, a depth.
    Int(i64),
    /// A real number: an expansion or MLP ratio.
    Float(f64),
    /// A named operation: `"skip_connect"`, `"sep_conv_3x3"`.
    Op(String),
}

impl Choice {
    /// The value as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Choice::Int(v) => Some(*v as f64),
            Choice::Float(v) => Some(*v),
            Choice::Op(_) => None,
        }
    }

    /// The value as a non-negative integer, if it is one (`4.0` counts as 4).
    pub fn as_usize(&self) -> Option<usize> {
        match self {
            Choice::Int(v) if *v >= 0 => Some(*v as usize),
            Choice::Float(v) if *v >= 0.0 && v.fract() == 0.0 => Some(*v as usize),
            _ => None,
        }
    }

    /// Whether two choices denote the same candidate (`4` and `4.0` do).
    pub fn same(&self, other: &Choice) -> bool {
        match (self, other) {
            (Choice::Op(a), Choice::Op(b)) => a == b,
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        }
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Int(v) => write!(f, "{v}"),
            Choice::Float(v) => write!(f, "{v}"),
            Choice::Op(s) => write!(f, "{s}"),
        }
    }
}

impl From<usize> for Choice {
    fn from(v: usize) -> Self {
        Choice::Int(v as i64)
    }
}

impl From<f64> for Choice {
    fn from(v: f64) -> Self {
        Choice::Float(v)
    }
}

impl From<&str> for Choice {
    fn from(v: &str) -> Self {
        Choice::Op(v.to_string())
    }
}

/// What a decision chooses, which fixes how its candidates must look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DecisionKind {
    /// Nested sizes along one axis (channels, embedding dim): strictly increasing, each ≤ the max.
    Size,
    /// Square kernel sizes, centred in the largest: odd and strictly increasing.
    Kernel,
    /// Multiplicative ratios (MLP ratio, expansion): positive, strictly increasing.
    Ratio,
    /// Head counts: strictly increasing; must divide the embedding dims where head dim = embed/heads.
    Heads,
    /// Depths (numbers of blocks): strictly increasing, ≥ 1.
    Depth,
    /// Unordered named operations (cell edges): distinct names.
    Op,
}

/// One named architectural decision and its ordered candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    name: String,
    kind: DecisionKind,
    candidates: Vec<Choice>,
}

fn list<T: fmt::Display>(v: &[T]) -> String {
    let items: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(", "))
}

fn check_increasing<T: PartialOrd + fmt::Display + Copy>(name: &str, values: &[T]) -> Result<()> {
    if values.is_empty() {
        return Err(CoreError::Empty {
            decision: name.to_string(),
        });
    }
    for (i, a) in values.iter().enumerate() {
        if values[..i].iter().any(|b| b == a) {
            return Err(CoreError::Duplicate {
                decision: name.to_string(),
                value: a.to_string(),
            });
        }
    }
    if values.windows(2).any(|w| w[0] >= w[1]) {
        return Err(CoreError::NotIncreasing {
            decision: name.to_string(),
            values: list(values),
        });
    }
    Ok(())
}

impl Decision {
    fn ints(name: &str, kind: DecisionKind, values: &[usize]) -> Result<Self> {
        check_increasing(name, values)?;
        if values[0] == 0 {
            return Err(CoreError::InvalidCandidate {
                decision: name.to_string(),
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(Decision {
            name: name.to_string(),
            kind,
            candidates: values.iter().map(|&v| Choice::from(v)).collect(),
        })
    }

    /// Nested sizes (channels, embedding dims), strictly increasing, none above `max`.
    pub fn sizes(name: &str, values: &[usize], max: usize) -> Result<Self> {
        let d = Self::ints(name, DecisionKind::Size, values)?;
        if let Some(&v) = values.iter().find(|&&v| v > max) {
            return Err(CoreError::ExceedsMax {
                decision: name.to_string(),
                value: v.to_string(),
                max: max.to_string(),
            });
        }
        Ok(d)
    }

    /// Kernel sizes: odd (so a smaller kernel is the exact centre of a larger one), increasing.
    pub fn kernels(name: &str, values: &[usize]) -> Result<Self> {
        let d = Self::ints(name, DecisionKind::Kernel, values)?;
        if let Some(&k) = values.iter().find(|&&k| k % 2 == 0) {
            return Err(CoreError::InvalidCandidate {
                decision: name.to_string(),
                value: k.to_string(),
                reason: "kernel sizes must be odd to be centred".into(),
            });
        }
        Ok(d)
    }

    /// Ratios (MLP ratio, expansion), positive and strictly increasing.
    pub fn ratios(name: &str, values: &[f64]) -> Result<Self> {
        if let Some(&r) = values.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
            return Err(CoreError::InvalidCandidate {
                decision: name.to_string(),
                value: r.to_string(),
                reason: "ratios must be finite and positive".into(),
            });
        }
        check_increasing(name, values)?;
        Ok(Decision {
            name: name.to_string(),
            kind: DecisionKind::Ratio,
            candidates: values.iter().map(|&v| Choice::Float(v)).collect(),
        })
    }

    /// Head counts, strictly increasing.
    pub fn heads(name: &str, values: &[usize]) -> Result<Self> {
        Self::ints(name, DecisionKind::Heads, values)
    }

    /// Head counts that must divide every embedding dim in `embeds` (head dim = embed / heads).
    pub fn heads_dividing(name: &str, values: &[usize], embeds: &[usize]) -> Result<Self> {
        let d = Self::heads(name, values)?;
        check_heads_divide(values, embeds)?;
        Ok(d)
    }

    /// Depths (numbers of blocks), strictly increasing, none above `max`.
    pub fn depths(name: &str, values: &[usize], max: usize) -> Result<Self> {
        let d = Self::ints(name, DecisionKind::Depth, values)?;
        if let Some(&v) = values.iter().find(|&&v| v > max) {
            return Err(CoreError::ExceedsMax {
                decision: name.to_string(),
                value: v.to_string(),
                max: max.to_string(),
            });
        }
        Ok(d)
    }

    /// Named operations; order is the order of the mixture weights.
    pub fn ops(name: &str, ops: &[&str]) -> Result<Self> {
        if ops.is_empty() {
            return Err(CoreError::Empty {
                decision: name.to_string(),
            });
        }
        for (i, a) in ops.iter().enumerate() {
            if a.is_empty() {
                return Err(CoreError::InvalidCandidate {
                    decision: name.to_string(),
                    value: "\"\"".into(),
                    reason: "operation names must not be empty".into(),
                });
            }
            if ops[..i].contains(a) {
                return Err(CoreError::Duplicate {
                    decision: name.to_string(),
                    value: a.to_string(),
                });
            }
        }
        Ok(Decision {
            name: name.to_string(),
            kind: DecisionKind::Op,
            candidates: ops.iter().map(|&s| Choice::from(s)).collect(),
        })
    }

    /// The decision's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the decision chooses.
    pub fn kind(&self) -> DecisionKind {
        self.kind
    }

    /// The candidates, in mixture order.
    pub fn candidates(&self) -> &[Choice] {
        &self.candidates
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.candidates.len()
    }

    /// Never true for a validated decision; present for API completeness.
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    /// The candidates as integers (for size, kernel, head and depth decisions).
    pub fn int_values(&self) -> Option<Vec<usize>> {
        self.candidates.iter().map(Choice::as_usize).collect()
    }

    /// The candidates as reals (for numeric decisions).
    pub fn float_values(&self) -> Option<Vec<f64>> {
        self.candidates.iter().map(Choice::as_f64).collect()
    }

    /// Position of `value` among the candidates.
    pub fn index_of(&self, value: &Choice) -> Result<usize> {
        self.candidates
            .iter()
            .position(|c| c.same(value))
            .ok_or_else(|| CoreError::InvalidChoice {
                decision: self.name.clone(),
                value: value.to_string(),
                candidates: list(&self.candidates),
            })
    }
}

/// Checks that every head count divides every embedding dimension.
pub fn check_heads_divide(heads: &[usize], embeds: &[usize]) -> Result<()> {
    for &e in embeds {
        for &h in heads {
            if h == 0 || e % h != 0 {
                return Err(CoreError::HeadsDoNotDivide { heads: h, embed: e });
            }
        }
    }
    Ok(())
}

/// All decisions of a search space, in a fixed order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SearchSpec {
    decisions: Vec<Decision>,
}

impl SearchSpec {
    /// A spec from decisions with distinct names.
    pub fn new(decisions: Vec<Decision>) -> Result<Self> {
        let mut spec = SearchSpec::default();
        for d in decisions {
            spec.push(d)?;
        }
        Ok(spec)
    }

    /// Adds a decision; its name must be new.
    pub fn push(&mut self, decision: Decision) -> Result<()> {
        if self.get(decision.name()).is_some() {
            return Err(CoreError::DuplicateDecision(decision.name().to_string()));
        }
        self.decisions.push(decision);
        Ok(())
    }

    /// The decisions in order.
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    /// The decision called `name`.
    pub fn get(&self, name: &str) -> Option<&Decision> {
        self.decisions.iter().find(|d| d.name() == name)
    }

    /// Position of the decision called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.decisions.iter().position(|d| d.name() == name)
    }

    /// Number of architectures in the space (saturating).
    pub fn size(&self) -> u128 {
        self.decisions
            .iter()
            .fold(1u128, |n, d| n.saturating_mul(d.len() as u128))
    }

    /// Candidate index per decision (in spec order) of a valid architecture.
    pub fn indices(&self, arch: &Architecture) -> Result<Vec<usize>> {
        arch.validate(self)?;
        self.decisions
            .iter()
            .map(|d| d.index_of(&arch.choices[d.name()]))
            .collect()
    }

    /// The architecture choosing candidate `indices[i]` for decision `i`.
    pub fn architecture(&self, indices: &[usize]) -> Result<Architecture> {
        if indices.len() != self.decisions.len() {
            return Err(CoreError::BadMixture {
                decision: "<spec>".into(),
                reason: format!(
                    "{} indices for {} decisions",
                    indices.len(),
                    self.decisions.len()
                ),
            });
        }
        let mut choices = BTreeMap::new();
        for (d, &i) in self.decisions.iter().zip(indices) {
            let c = d.candidates.get(i).ok_or_else(|| CoreError::BadMixture {
                decision: d.name.clone(),
                reason: format!("index {i} out of range for {} candidates", d.len()),
            })?;
            choices.insert(d.name.clone(), c.clone());
        }
        Ok(Architecture { choices })
    }

    /// The architecture taking the last (largest) candidate everywhere.
    pub fn largest(&self) -> Architecture {
        let idx: Vec<usize> = self.decisions.iter().map(|d| d.len() - 1).collect();
        self.architecture(&idx)
            .expect("validated decisions are non-empty")
    }
}

/// One choice per decision. Serializes as a flat JSON object `{decision: value}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Architecture {
    choices: BTreeMap<String, Choice>,
}

impl Architecture {
    /// An empty architecture; fill it with [`Architecture::set`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the choice for `decision`.
    pub fn set(&mut self, decision: &str, value: impl Into<Choice>) -> &mut Self {
        self.choices.insert(decision.to_string(), value.into());
        self
    }

    /// The choice for `decision`.
    pub fn get(&self, decision: &str) -> Option<&Choice> {
        self.choices.get(decision)
    }

    /// All choices, by decision name.
    pub fn choices(&self) -> &BTreeMap<String, Choice> {
        &self.choices
    }

    /// Checks the architecture against `spec`: every decision chosen, nothing unknown,
    /// every value a candidate.
    pub fn validate(&self, spec: &SearchSpec) -> Result<()> {
        if let Some(name) = self.choices.keys().find(|k| spec.get(k).is_none()) {
            return Err(CoreError::UnknownDecision(name.clone()));
        }
        for d in spec.decisions() {
            let c = self
                .choices
                .get(d.name())
                .ok_or_else(|| CoreError::MissingChoice(d.name().to_string()))?;
            d.index_of(c)?;
        }
        Ok(())
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("choices always serialize")
    }

    /// Parses JSON and validates it against `spec`.
    pub fn from_json(json: &str, spec: &SearchSpec) -> Result<Self> {
        let arch: Architecture =
            serde_json::from_str(json).map_err(|e| CoreError::Json(e.to_string()))?;
        arch.validate(spec)?;
        Ok(arch)
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .choices
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        write!(f, "{{{}}}", items.join(", "))
    }
}

/// Checks nested sizes for a module axis: non-empty, ≥ 1, strictly increasing.
pub(crate) fn check_increasing_sizes(name: &str, values: &[usize]) -> Result<()> {
    Decision::ints(name, DecisionKind::Size, values).map(|_| ())
}
