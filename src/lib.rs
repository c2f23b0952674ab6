pub use tangle_core as core;
