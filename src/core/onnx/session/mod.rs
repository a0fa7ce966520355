//! An ONNX Runtime session with checked inputs, a lock around `Session::run`, optional warm-up
//! and deadlines.
//!
//! Runs go straight to ONNX Runtime's C API ([`crate::core::onnx::values`]): inputs are described in
//! place (and the description of a buffer that comes back is reused), and an output whose shape
//! is known before the run is written straight into a buffer the caller provides.
//!
//! Split by job: [`options`] (how a session is opened), `open` (reading the model and building
//! the session), [`plan`] (output shapes known before a run), [`inputs`] (checking inputs and
//! caching the values over them), [`run`] (one run) and `warmup` (the run on zeros at open).

mod inputs;
mod open;
mod options;
mod plan;
mod run;
mod warmup;

#[cfg(test)]
mod test_model;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use ort::session::Session;
use parking_lot::Mutex;

use crate::core::onnx::deadline::DeadlineSlot;
use crate::core::onnx::providers::Provider;
use crate::core::onnx::tensor::TensorSpec;
use crate::core::onnx::values::Names;

pub use inputs::{CheckedInputs, KeepAlive, RunInput};
pub use options::{ModelSource, OptimizationLevel, SessionOptions, DEFAULT_WARMUP_MAX_BYTES};
pub use plan::PlannedShape;
pub use run::OutputTarget;
pub use warmup::ZeroInput;

use inputs::BoundInput;
use plan::OutputPlan;

/// What a run needs exclusive access to.
struct RunState {
    session: Session,
    /// Per graph input, the value over the last cacheable buffer it was given.
    bound: Vec<Option<BoundInput>>,
}

/// A loaded model, safe to share between threads.
pub struct InferenceSession {
    // `Session::run` takes `&mut self`, and ONNX Runtime's own `Run` is not reliably thread-safe for
    // every provider, so calls on one session are serialised here. The lock is only ever taken
    // without the GIL held.
    state: Mutex<RunState>,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    input_names: Names,
    output_names: Names,
    plans: Vec<OutputPlan>,
    /// Set when a run showed a guessed batch plan wrong: such outputs are copied from then on.
    guess_refuted: AtomicBool,
    metadata: BTreeMap<String, String>,
    providers: Vec<Provider>,
    warnings: Vec<String>,
    origin: String,
    deadlines: Arc<DeadlineSlot>,
}

impl std::fmt::Debug for InferenceSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferenceSession")
            .field("origin", &self.origin)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl InferenceSession {
    /// The model's inputs, in graph order.
    pub fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    /// The model's outputs, in graph order.
    pub fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    /// The model's `metadata_props`.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The execution providers in use, in order of preference.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// Things worth logging from the open, one line each: skipped providers, a skipped warm-up.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Where the model came from: its path, or a note that it came from memory.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}
