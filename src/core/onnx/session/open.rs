//! Opening a session: reading the model, configuring ONNX Runtime, refusing types the core cannot
//! exchange, planning the outputs and warming up.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use ort::session::builder::SessionBuilder;
use ort::session::Session;
use parking_lot::Mutex;

use super::plan::plan_outputs;
use super::warmup::WarmUp;
use super::{InferenceSession, ModelSource, RunState, SessionOptions};
use crate::core::error::{Error, Result};
use crate::core::onnx::deadline;
use crate::core::onnx::providers;
use crate::core::onnx::runtime;
use crate::core::onnx::tensor::{ElementType, TensorSpec};
use crate::core::onnx::values::Names;

impl InferenceSession {
    /// Opens `count` sessions of one model in parallel (a sweep's or a batch's workers): the
    /// first failure is the error.
    pub fn open_many(
        source: ModelSource<'_>,
        options: &SessionOptions,
        count: usize,
    ) -> Result<Vec<Self>> {
        std::thread::scope(|scope| {
            let opening: Vec<_> = (0..count)
                .map(|_| scope.spawn(|| Self::open(source, options)))
                .collect();
            opening
                .into_iter()
                .map(|handle| {
                    handle.join().unwrap_or_else(|_| {
                        Err(Error::ModelLoad {
                            origin: source.describe(),
                            reason: "opening the session panicked (please report this bug)"
                                .to_owned(),
                        })
                    })
                })
                .collect()
        })
    }

    /// Opens a model; the ONNX Runtime library must already be loaded ([`runtime::ensure_loaded`]).
    pub fn open(source: ModelSource<'_>, options: &SessionOptions) -> Result<Self> {
        runtime::require_loaded()?;
        let origin = source.describe();
        let load_error = |reason: String| Error::ModelLoad {
            origin: origin.clone(),
            reason,
        };
        let (ModelSource::Bytes(bytes) | ModelSource::Named { bytes, .. }) = source;
        if bytes.is_empty() {
            return Err(load_error("the model is empty (0 bytes)".to_owned()));
        }

        let (mut builder, negotiated) =
            configure(options).map_err(|error| load_error(error.to_string()))?;
        let session = builder
            .commit_from_memory(bytes)
            .map_err(|error| load_error(format!("not a valid ONNX model: {}", error.message())))?;

        let inputs: Vec<TensorSpec> = session
            .inputs()
            .iter()
            .map(TensorSpec::from_outlet)
            .collect();
        let outputs: Vec<TensorSpec> = session
            .outputs()
            .iter()
            .map(TensorSpec::from_outlet)
            .collect();
        // A model the core cannot feed or read would fail every run: refuse it here, by name.
        let unsupported = unsupported_types(&inputs, &outputs);
        if !unsupported.is_empty() {
            return Err(load_error(unsupported.join("; ")));
        }
        let names = |specs: &[TensorSpec]| {
            Names::new(specs.iter().map(|spec| spec.name.as_str()))
                .map_err(|error| load_error(error.to_string()))
        };
        let plans = plan_outputs(&session, &inputs, &outputs);
        let mut loaded = Self {
            input_names: names(&inputs)?,
            output_names: names(&outputs)?,
            plans,
            guess_refuted: AtomicBool::new(false),
            state: Mutex::new(RunState {
                bound: (0..inputs.len()).map(|_| None).collect(),
                session,
            }),
            inputs,
            outputs,
            metadata: BTreeMap::new(),
            providers: negotiated.active,
            warnings: negotiated.skipped,
            origin: origin.clone(),
            deadlines: deadline::DeadlineSlot::new()
                .map_err(|error| load_error(error.to_string()))?,
        };
        loaded.metadata = read_metadata(&loaded.state.get_mut().session);
        if options.warmup {
            match loaded.warm_up(options.warmup_max_bytes, options.warmup_timeout) {
                Ok(WarmUp::Done | WarmUp::DynamicShape) => {}
                Ok(WarmUp::TooLarge(reason)) => loaded
                    .warnings
                    .push(format!("opened without warm-up: {reason}")),
                // Copying the warm-up's outputs out needs memory too: without it the model still
                // opens, as it does when the zeros are too large.
                Err(error @ Error::OutOfMemory { .. }) => loaded
                    .warnings
                    .push(format!("opened without warm-up: {error}")),
                // A model slower than the timeout still opens (its runs will time out the same
                // way); the warm-up just stops there rather than holding up the open.
                Err(Error::Timeout { timeout_ms, .. }) => loaded.warnings.push(format!(
                    "warm-up stopped at its timeout of {timeout_ms} ms; the first run may be slow"
                )),
                Err(error) => return Err(load_error(format!("warm-up inference failed: {error}"))),
            }
        }
        Ok(loaded)
    }
}

/// Inputs and outputs whose type the core cannot exchange, one line each.
fn unsupported_types(inputs: &[TensorSpec], outputs: &[TensorSpec]) -> Vec<String> {
    let supported: Vec<&str> = ElementType::SUPPORTED.iter().map(|ty| ty.name()).collect();
    inputs
        .iter()
        .map(|spec| ("input", spec))
        .chain(outputs.iter().map(|spec| ("output", spec)))
        .filter_map(|(kind, spec)| match spec.element_type {
            ElementType::Unsupported(name) => Some(format!(
                "{kind} {:?} has element type {name}, which cannot be exchanged with numpy arrays (supported: {})",
                spec.name,
                supported.join(", ")
            )),
            _ => None,
        })
        .collect()
}

fn configure(options: &SessionOptions) -> ort::Result<(SessionBuilder, providers::Negotiated)> {
    let mut builder = Session::builder()?.with_optimization_level(options.optimization.to_ort())?;
    // Sessions share the process's pools unless they ask for thread counts of their own.
    if options.intra_op_threads.is_some() || options.inter_op_threads.is_some() {
        let spinning = runtime::thread_pools().allow_spinning;
        builder = builder
            .with_independent_thread_pool()?
            .with_intra_op_spinning(spinning)?
            .with_inter_op_spinning(spinning)?;
        if let Some(threads) = options.intra_op_threads {
            builder = builder.with_intra_threads(threads)?;
        }
        if let Some(threads) = options.inter_op_threads {
            builder = builder
                .with_inter_threads(threads)?
                .with_parallel_execution(threads > 1)?;
        }
    }
    let negotiated = providers::negotiate(&mut builder, options.providers.as_deref());
    Ok((builder, negotiated))
}

fn read_metadata(session: &Session) -> BTreeMap<String, String> {
    let Ok(metadata) = session.metadata() else {
        return BTreeMap::new();
    };
    let keys = metadata.custom_keys().unwrap_or_default();
    keys.into_iter()
        .filter_map(|key| metadata.custom(&key).map(|value| (key, value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_model::{runtime, DOUBLE_MODEL};
    use super::*;

    #[test]
    fn corrupt_and_empty_models_are_load_errors() {
        if runtime().is_none() {
            return;
        }
        let empty = InferenceSession::open(ModelSource::Bytes(&[]), &SessionOptions::default())
            .unwrap_err();
        assert!(matches!(empty, Error::ModelLoad { .. }), "{empty}");
        let corrupt = InferenceSession::open(
            ModelSource::Bytes(&DOUBLE_MODEL[..40]),
            &SessionOptions::default(),
        )
        .unwrap_err();
        assert!(
            corrupt.to_string().contains("not a valid ONNX model"),
            "{corrupt}"
        );
    }
}
