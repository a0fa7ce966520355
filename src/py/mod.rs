//! Python bindings: pyclasses, numpy conversion, error mapping and the one GIL helper.

pub mod arrays;
pub mod errors;
pub mod gil;
pub mod runtime;
pub mod session;
