//! # tangle-twostage
//!
//! SPOS supernet training followed by random or evolutionary search on the trained supernet.
//! Laid down with the workspace; the methods arrive with their issue. Depends on [`tangle_core`].

#![warn(missing_docs)]

pub use tangle_core;
