//! ONNX Runtime: loading the library once ([`runtime`]), sessions over a model's bytes
//! ([`session`]), the values and tensors that cross into a run ([`values`], [`tensor`]),
//! execution providers ([`providers`]), run deadlines ([`deadline`]), the plain-value options
//! callers give ([`options`]) and the all-zero inputs of warm-ups and checks ([`zeros`]).
//! Nothing here reads a registry: a session opens from bytes.

pub mod deadline;
pub mod options;
pub mod providers;
pub mod runtime;
pub mod session;
pub mod tensor;
pub(crate) mod values;
pub mod zeros;
