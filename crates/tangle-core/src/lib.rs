//! # tangle-core
//!
//! The heart of TangleNAS: the search-space vocabulary and the weight-entangled modules.
//!
//! * [`spec`]: [`Decision`]s (named choices with ordered candidates), the [`SearchSpec`] of a
//!   space, and [`Architecture`]s (one choice per decision, JSON round-trip, validated).
//! * [`key`]: declaring a decision through a [`SpecBuilder`] returns a typed [`DecisionKey`];
//!   a space reads its mixtures (`mix.of(&key)`) and architectures (`arch.index(&key)`)
//!   through its keys, never by position or by name.
//! * [`Mixture`]: how a decision is realized in one forward pass — superposition weights, or
//!   one candidate (optionally with a straight-through weight).
//! * [`mask`] and [`combi`]: superposition masks. With nested candidates,
//!   `Σ_i w_i · pad(slice_i(W)) = W ⊙ mask`, so a superposed op costs one pass of the largest op.
//! * Entangled modules, each a Burn `Module` that also runs in single-path mode and extracts to
//!   plain Burn modules: [`SuperLinear`], [`SuperConv2d`], [`SuperConv1d`], [`SuperLayerNorm`],
//!   [`SuperBatchNorm2d`], [`SuperEmbedding`], [`SuperPatchEmbed`], [`SuperAttention`] (with
//!   AutoFormer's [`RelativePosition2d`] encodings as an option);
//!   [`DepthMixer`] for depth; [`WsMixedOp`], the weight-sharing baseline.
//! * [`subnet`]: plain modules for extracted subnets and burnpack save / load.
//! * [`Supernet`]: the trait a search space implements so optimizers can drive it, and
//!   [`Extract`]: discretization to the plain network at an architecture.
//!
//! ```
//! use burn::backend::Flex;
//! use burn::tensor::{Distribution, Tensor};
//! use tangle_core::{Mixture, SuperLinearConfig};
//!
//! let device = Default::default();
//! // A transformer's fc1 over embed {4, 8} × MLP ratio {2, 4}: a combi-superposition.
//! let fc1 = SuperLinearConfig::expand(&[4, 8], &[2.0, 4.0])?.init::<Flex>(&device)?;
//! let x = Tensor::<Flex, 2>::random([3, 8], Distribution::Default, &device);
//! let embed = Mixture::weights(Tensor::from_floats([0.3, 0.7], &device));
//! let ratio = Mixture::weights(Tensor::from_floats([0.5, 0.5], &device));
//! let h = fc1.forward(x, &[&embed, &ratio])?; // one pass on W ⊙ mask
//! assert_eq!(h.dims(), [3, 32]);
//! // Single path: the sliced weight, no padding.
//! let x4 = Tensor::<Flex, 2>::random([3, 4], Distribution::Default, &device);
//! let h4 = fc1.forward(x4, &[&Mixture::single(0), &Mixture::single(1)])?;
//! assert_eq!(h4.dims(), [3, 16]);
//! // The discretized layer: a plain `burn::nn::Linear` with the inherited weights.
//! let sub = fc1.extract(&[0, 1])?;
//! assert_eq!(sub.weight.dims(), [4, 16]);
//! # Ok::<(), tangle_core::CoreError>(())
//! ```

#![warn(missing_docs)]

pub mod attention;
pub mod batch_norm;
pub mod combi;
pub mod conv;
pub mod conv1d;
pub mod depth;
pub mod embedding;
pub mod error;
pub mod fast_conv;
pub mod key;
pub mod layer_norm;
pub mod linear;
pub mod mask;
pub mod mixture;
pub mod patch;
pub mod random;
pub mod relative_position;
pub mod single_path;
pub mod space;
pub mod spec;
pub mod subnet;
pub mod task;
pub mod widen;
pub mod ws;

pub use attention::{HeadDim, SuperAttention, SuperAttentionConfig};
pub use batch_norm::{batch_norm_forward, SuperBatchNorm2d, SuperBatchNorm2dConfig};
pub use combi::{Combi, Plan};
pub use conv::{SuperConv2d, SuperConv2dConfig};
pub use conv1d::{SuperConv1d, SuperConv1dConfig};
pub use depth::DepthMixer;
pub use embedding::{SuperEmbedding, SuperEmbeddingConfig};
pub use error::{CoreError, Result};
pub use fast_conv::{conv2d, conv2d_forward, has_fast_backward};
pub use key::{Candidate, DecisionKey, SpecBuilder};
pub use layer_norm::{SuperLayerNorm, SuperLayerNormConfig};
pub use linear::{scaled, SuperLinear, SuperLinearConfig};
pub use mixture::Mixture;
pub use patch::{SuperPatchEmbed, SuperPatchEmbedConfig};
pub use relative_position::{RelativePosition2d, RelativePosition2dConfig};
pub use single_path::SinglePath;
pub use space::{count_params, Extract, Mixtures, Supernet};
pub use spec::{check_heads_divide, Architecture, Choice, Decision, DecisionKind, SearchSpec};
pub use task::{Classification, Objective, Regression, SearchData};
pub use widen::{widen_module, Widening};
pub use ws::WsMixedOp;
