//! # tangle-spaces
//!
//! The TangleNAS search spaces, each built only from [`tangle_core`] parts and implementing
//! [`tangle_core::Supernet`]:
//!
//! * [`conv_macro`] — the toy conv-macro space (paper Table 17);
//! * [`toy_cell`] — the toy cell space (Fashion-MNIST);
//! * [`nb201`] — NAS-Bench-201;
//! * [`darts`] — the DARTS space, its genotype and the 20-cell evaluation network;
//! * [`mobilenet`] — MobileNetV3 as in Once-for-All (paper Table 19);
//! * [`autoformer`] — AutoFormer-T and -S vision transformers (paper Table 20);
//! * [`gpt`] — the nanoGPT language model (paper Table 18) and a GPT-2-size variant.
//!
//! [`ops`] and [`cell`] hold the cell spaces' candidate operations and cells, [`transformer`]
//! the superposed pre-norm block of the transformer spaces — public so that custom spaces can
//! be built from them.
//!
//! ```
//! use burn::backend::Flex;
//! use tangle_core::{Architecture, Extract, Supernet};
//! use tangle_spaces::conv_macro::ConvMacroConfig;
//!
//! let net = ConvMacroConfig::new().init::<Flex>(&Default::default())?;
//! assert_eq!(net.spec().size(), 6561); // 3^8 architectures
//! // An architecture is one choice per decision, set through the space's keys; discretize
//! // and count.
//! let mut arch = Architecture::new();
//! for layer in net.keys() {
//!     arch.choose(&layer.channels, layer.channels.candidates()[0])?
//!         .choose(&layer.kernel, 3)?;
//! }
//! let subnet = net.extract(&arch)?; // plain Burn modules with the inherited weights
//! assert_eq!(subnet.convs.len(), 5);
//! assert!(net.params(&arch)? < net.params(&net.spec().largest())?);
//! # Ok::<(), tangle_core::CoreError>(())
//! ```

#![warn(missing_docs)]

pub mod autoformer;
pub mod cell;
pub mod conv_macro;
pub mod darts;
pub mod gpt;
mod layers;
pub mod mobilenet;
pub mod nb201;
pub mod ops;
pub mod small_conv;
pub mod toy_cell;
pub mod transformer;

pub use tangle_core;
