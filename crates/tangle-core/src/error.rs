//! Typed errors of the search-space vocabulary and the entangled modules.

use thiserror::Error;

/// Everything that can go wrong when building or using a search space.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
    /// A decision was declared with no candidates.
    #[error("decision `{decision}` has no candidates")]
    Empty {
        /// The decision's name.
        decision: String,
    },
    /// The same candidate value appears twice in one decision.
    #[error("decision `{decision}` lists candidate {value} more than once")]
    Duplicate {
        /// The decision's name.
        decision: String,
        /// The repeated value.
        value: String,
    },
    /// Sizes that must nest (each a slice of the next) are not strictly increasing.
    #[error("decision `{decision}`: candidates must be strictly increasing so that they nest, got {values}")]
    NotIncreasing {
        /// The decision's name.
        decision: String,
        /// The candidates as given.
        values: String,
    },
    /// A candidate is larger than the supernet's maximum for that axis.
    #[error("decision `{decision}`: candidate {value} exceeds the supernet maximum {max}")]
    ExceedsMax {
        /// The decision's name.
        decision: String,
        /// The offending value.
        value: String,
        /// The largest value the supernet supports.
        max: String,
    },
    /// A candidate value is not allowed for this kind of decision (zero size, even kernel, ratio ≤ 0 …).
    #[error("decision `{decision}`: invalid candidate {value}: {reason}")]
    InvalidCandidate {
        /// The decision's name.
        decision: String,
        /// The offending value.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A head count does not divide an embedding dimension.
    #[error("{heads} heads do not divide embedding dimension {embed}")]
    HeadsDoNotDivide {
        /// The number of heads.
        heads: usize,
        /// The embedding dimension.
        embed: usize,
    },
    /// Two decisions of one search spec share a name.
    #[error("search spec declares decision `{0}` twice")]
    DuplicateDecision(String),
    /// An architecture has no choice for a decision of the spec.
    #[error("architecture has no choice for decision `{0}`")]
    MissingChoice(String),
    /// An architecture names a decision the spec does not have.
    #[error("architecture names unknown decision `{0}`")]
    UnknownDecision(String),
    /// An architecture's choice is not one of the decision's candidates.
    #[error("decision `{decision}`: {value} is not a candidate (candidates: {candidates})")]
    InvalidChoice {
        /// The decision's name.
        decision: String,
        /// The value given.
        value: String,
        /// The allowed values.
        candidates: String,
    },
    /// A mixture does not fit the decision it is applied to.
    #[error("mixture for `{decision}`: {reason}")]
    BadMixture {
        /// Which decision or module axis.
        decision: String,
        /// What was wrong.
        reason: String,
    },
    /// A decision key used with a spec (or mixtures) it does not belong to.
    #[error("decision key `{key}` (position {position}) does not belong to this space: position {position} holds {found}")]
    WrongDecision {
        /// The key's decision.
        key: String,
        /// The key's position.
        position: usize,
        /// What the space has there: a decision name in backticks, or `nothing`.
        found: String,
    },
    /// A tensor fed to an entangled module has the wrong shape for the chosen mixture.
    #[error("{module}: expected {expected}, got shape {got:?}")]
    Shape {
        /// The module.
        module: String,
        /// What it expected.
        expected: String,
        /// The shape it got.
        got: Vec<usize>,
    },
    /// An invalid module configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// JSON (de)serialization of an architecture failed.
    #[error("architecture JSON: {0}")]
    Json(String),
    /// Reading or writing a saved module failed.
    #[error("saving or loading `{path}`: {reason}")]
    Store {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, CoreError>;
