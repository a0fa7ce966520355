//! ONNX Runtime: loading the library once ([`runtime`]), sessions over a model's bytes
//! ([`session`]), the values and tensors that cross into a run ([`values`], [`tensor`]),
//! execution providers ([`providers`]), run deadlines ([`deadline`]) and the plain-value options
//! callers give ([`options`]). Nothing here reads a registry: a session opens from bytes.

pub mod deadline;
pub mod options;
pub mod providers;
pub mod runtime;
pub mod session;
pub mod tensor;
pub(crate) mod values;
