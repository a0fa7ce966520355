//! Python bindings: pyclasses, numpy conversion, error mapping and the one GIL helper.

pub mod arrays;
pub mod bars;
pub mod bootstrap;
pub mod bundle;
pub mod cache;
pub mod documents;
pub mod errors;
pub mod gil;
pub mod integrity;
pub mod layout;
pub mod log;
pub mod pointer;
pub mod prediction;
pub mod predictor;
pub mod registry;
pub mod repr;
pub mod runtime;
pub mod score;
pub mod session;
pub mod stream;
pub mod sweep;
pub mod times;
