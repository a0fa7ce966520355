//! The pure Rust core: no Python here, so `cargo test --no-default-features` runs without an
//! interpreter.
//!
//! Four areas, each a folder, layered bottom to top (a module only names modules below it):
//! - [`onnx`]: ONNX Runtime itself: the library, sessions, values, tensors, providers,
//!   deadlines and the options callers give them. It knows nothing of registries.
//! - [`predict`]: turning features or raw bars into a model's input and its outputs into
//!   predictions (the spec a bundle declares, windows, batches, the prediction cache).
//! - [`registry`]: the registry on disk: its layout, guarded file and JSON reads, documents and
//!   schemas, the scan, manifests, and opened bundles and their reload.
//! - [`backtest`]: sweeps of long series through bundles, their scores, and the bootstrap that
//!   says whether one row's edge over another is more than luck.
//!
//! At the root, what every area shares: the error type, fallible allocation and the parallel
//! workers' shared state and core count.

pub mod alloc;
pub mod backtest;
pub mod error;
pub mod onnx;
pub mod parallel;
pub mod predict;
pub mod registry;
#[cfg(test)]
mod source_checks;

pub use error::{Error, Result};
