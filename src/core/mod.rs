//! The pure Rust core: no Python here, so `cargo test --no-default-features` runs without an
//! interpreter.

pub mod alloc;
pub mod backtest;
pub mod bundle;
pub mod bundle_reload;
pub mod cache;
pub mod deadline;
pub mod documents;
pub mod error;
pub mod files;
pub mod fingerprint;
pub mod hashing;
pub mod json;
pub mod layout;
pub mod manifest;
pub mod options;
pub mod parallel;
pub mod predict;
pub mod providers;
pub mod runtime;
pub mod scan;
pub mod schema;
pub mod score;
pub mod session;
#[cfg(test)]
mod source_checks;
pub mod sweep;
pub mod tensor;
pub(crate) mod values;

pub use error::{Error, Result};
