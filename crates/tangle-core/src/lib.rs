//! # tangle-core
//!
//! The heart of TangleNAS: the search-space vocabulary and the weight-entangled modules.
//!
//! * [`spec`]: [`Decision`]s (named choices with ordered candidates), the [`SearchSpec`] of a
//!   space, and [`Architecture`]s (one choice per decision, JSON round-trip, validated).
//! * [`Mixture`]: how a decision is realized in one forward pass — superposition weights, or
//!   one candidate (optionally with a straight-through weight).
//! * [`mask`] and [`combi`]: superposition masks. With nested candidates,
//!   `Σ_i w_i · pad(slice_i(W)) = W ⊙ mask`, so a superposed op costs one pass of the largest op.
//! * Entangled modules, each a Burn `Module` that also runs in single-path mode and extracts to
//!   plain Burn modules: [`SuperLinear`], [`SuperConv2d`], [`SuperLayerNorm`],
//!   [`SuperBatchNorm2d`], [`SuperEmbedding`], [`SuperPatchEmbed`], [`SuperAttention`];
//!   [`DepthMixer`] for depth; [`WsMixedOp`], the weight-sharing baseline.
//! * [`subnet`]: plain modules for extracted subnets and burnpack save / load.
//! * [`Supernet`]: the trait a search space implements so optimizers can drive it.

#![warn(missing_docs)]

pub mod attention;
pub mod batch_norm;
pub mod combi;
pub mod conv;
pub mod depth;
pub mod embedding;
pub mod error;
pub mod layer_norm;
pub mod linear;
pub mod mask;
pub mod mixture;
pub mod patch;
pub mod space;
pub mod spec;
pub mod subnet;
pub mod ws;

pub use attention::{HeadDim, SuperAttention, SuperAttentionConfig};
pub use batch_norm::SuperBatchNorm2d;
pub use combi::{Combi, Plan};
pub use conv::{SuperConv2d, SuperConv2dConfig};
pub use depth::DepthMixer;
pub use embedding::SuperEmbedding;
pub use error::{CoreError, Result};
pub use layer_norm::SuperLayerNorm;
pub use linear::{scaled, SuperLinear, SuperLinearConfig};
pub use mixture::Mixture;
pub use patch::SuperPatchEmbed;
pub use space::{Mixtures, Supernet};
pub use spec::{check_heads_divide, Architecture, Choice, Decision, DecisionKind, SearchSpec};
pub use ws::WsMixedOp;
