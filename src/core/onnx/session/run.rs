//! One run: where each output goes, the inputs described, ONNX Runtime's `Run` under the session
//! lock and an optional deadline, and the copies of the outputs not written in place.

use std::ffi::c_char;
use std::ptr::NonNull;
use std::time::Duration;

use ort::session::Session;
use ort::sys::OrtValue;
use ort::value::DynValue;
use smallvec::SmallVec;

use super::inputs::bind_inputs;
use super::{CheckedInputs, InferenceSession, RunInput};
use crate::core::error::{Error, Result};
use crate::core::onnx::tensor::{NamedInput, OutputTensor, TensorData, TensorViewMut};
use crate::core::onnx::values::{self, RawValue};

/// Where one output of [`InferenceSession::run_with`] goes, in graph order.
#[derive(Debug)]
pub enum OutputTarget<'a> {
    /// Written in place into a caller's buffer, which must hold exactly the elements of
    /// [`InferenceSession::planned_output_shape`] in the output's dtype: no copy is made.
    Buffer(TensorViewMut<'a>),
    /// Copied out of ONNX Runtime after the run (any output, including dynamic shapes).
    Copy,
    /// Not requested: ONNX Runtime skips what only this output needs.
    Skip,
}

/// The requested outputs as `Run` takes them: names, and values (null where ONNX Runtime
/// allocates the output), with the values over the caller's buffers that the pointers refer to.
struct OutputValues {
    /// Per requested output, the value over its caller buffer (`None`: ONNX Runtime allocates).
    buffers: SmallVec<[Option<RawValue>; 4]>,
    names: SmallVec<[*const c_char; 4]>,
    pointers: SmallVec<[*mut OrtValue; 4]>,
}

impl CheckedInputs<'_, '_, '_> {
    /// Runs the model on these inputs, as [`InferenceSession::run_with`] does; the buffers of
    /// `targets` must have the shapes [`Self::planned_output_shape`] gives.
    pub fn run(
        &mut self,
        targets: &mut [OutputTarget<'_>],
        timeout: Option<Duration>,
    ) -> Result<Vec<Option<OutputTensor>>> {
        let session = self.session;
        session.check_targets(self.inputs, targets)?;
        let guesses = session.trusts_guesses();
        let relies_on_guess = guesses
            && targets.iter().enumerate().any(|(index, target)| {
                matches!(target, OutputTarget::Buffer(_)) && session.is_guess(index)
            });
        match session.execute(self.inputs, &self.order, targets, timeout, guesses) {
            // A guessed batch plan may be wrong (ONNX Runtime then refuses the buffer's shape):
            // run again copying those outputs. If that succeeds the guess was the problem, and
            // this session copies them from now on; if not, the first error stands.
            Err(error) if relies_on_guess && !matches!(error, Error::Timeout { .. }) => {
                let copies = session
                    .execute(self.inputs, &self.order, targets, timeout, false)
                    .map_err(|_| error)?;
                session.refute_guesses();
                Ok(copies)
            }
            outcome => outcome,
        }
    }
}

/// What ONNX Runtime allocated for a run, one entry per requested output (`None` where the run
/// wrote a caller's buffer).
type Allocated = SmallVec<[Option<DynValue>; 4]>;

impl InferenceSession {
    /// Runs the model; `timeout` terminates the run through ONNX Runtime when it passes.
    ///
    /// Every output is copied out; [`Self::run_with`] writes outputs in place instead.
    pub fn run(
        &self,
        inputs: &[NamedInput<'_>],
        timeout: Option<Duration>,
    ) -> Result<Vec<OutputTensor>> {
        let mut inputs: SmallVec<[RunInput<'_>; 4]> = inputs
            .iter()
            .map(|input| RunInput {
                name: input.name,
                shape: &input.shape,
                data: input.data,
                owner: None,
            })
            .collect();
        let mut targets: SmallVec<[OutputTarget<'_>; 4]> =
            self.outputs.iter().map(|_| OutputTarget::Copy).collect();
        let outputs = self.run_with(&mut inputs, &mut targets, timeout)?;
        Ok(outputs.into_iter().flatten().collect())
    }

    /// Runs the model on `inputs`, sending each output where `targets` says (one target per
    /// output, in graph order); returns the copied outputs, `Some` for each [`OutputTarget::Copy`]
    /// and, rarely, for a [`OutputTarget::Buffer`] whose planned shape the run refuted (the
    /// buffer is then not written, and the output is copied from then on).
    ///
    /// This is the path without copies: outputs written into caller buffers, and input values
    /// reused for buffers that come back (see [`RunInput::owner`]). A caller reading a scalar
    /// regression output passes a one-element stack buffer and allocates nothing.
    pub fn run_with(
        &self,
        inputs: &mut [RunInput<'_>],
        targets: &mut [OutputTarget<'_>],
        timeout: Option<Duration>,
    ) -> Result<Vec<Option<OutputTensor>>> {
        self.check_inputs(inputs)?.run(targets, timeout)
    }

    /// One run of checked inputs and targets; with `guesses` off, buffers of guessed outputs
    /// are left alone and those outputs returned as copies instead.
    fn execute(
        &self,
        inputs: &mut [RunInput<'_>],
        order: &[usize],
        targets: &mut [OutputTarget<'_>],
        timeout: Option<Duration>,
        guesses: bool,
    ) -> Result<Vec<Option<OutputTensor>>> {
        let mut outputs = self.describe_outputs(inputs, targets, guesses)?;
        let allocated = {
            let mut state = self.state.lock();
            let state = &mut *state;
            let input_values = bind_inputs(&mut state.bound, inputs, order)
                .map_err(|error| self.inference_error(error.to_string()))?;
            let allocated = self.call(
                &mut state.session,
                &input_values.pointers,
                &mut outputs,
                timeout,
            )?;
            input_values.release();
            allocated
        };
        self.copy_outputs(targets, allocated, guesses)
    }

    /// Whether output `index` comes back as a copy rather than in its target's buffer.
    fn is_copied(&self, index: usize, target: &OutputTarget<'_>, guesses: bool) -> bool {
        match target {
            OutputTarget::Copy => true,
            OutputTarget::Buffer(_) => !guesses && self.is_guess(index),
            OutputTarget::Skip => false,
        }
    }

    /// Describes the requested outputs: a value over each caller buffer written in place, a null
    /// pointer for each output ONNX Runtime allocates.
    fn describe_outputs(
        &self,
        inputs: &[RunInput<'_>],
        targets: &mut [OutputTarget<'_>],
        guesses: bool,
    ) -> Result<OutputValues> {
        let mut buffers: SmallVec<[Option<RawValue>; 4]> = SmallVec::new();
        let mut names: SmallVec<[*const c_char; 4]> = SmallVec::new();
        for ((index, target), name) in targets
            .iter_mut()
            .enumerate()
            .zip(self.output_names.pointers())
        {
            if matches!(target, OutputTarget::Skip) {
                continue;
            }
            let copied = self.is_copied(index, target, guesses);
            let value = match target {
                _ if copied => None,
                OutputTarget::Skip | OutputTarget::Copy => None,
                OutputTarget::Buffer(buffer) => {
                    let shape = self.plan_shape(index, inputs, guesses).unwrap_or_default();
                    let (element_type, len, data) = buffer.parts();
                    // SAFETY: the buffer is borrowed mutably for this call, holds `len` elements
                    // (checked against the shape by `check_targets`), and the value is dropped
                    // before we return.
                    Some(
                        unsafe { RawValue::over(data, len, element_type, &shape) }
                            .map_err(|error| self.inference_error(error.to_string()))?,
                    )
                }
            };
            buffers.push(value);
            names.push(*name);
        }
        let pointers = buffers
            .iter()
            .map(|value| {
                value
                    .as_ref()
                    .map_or(std::ptr::null_mut(), RawValue::as_ptr)
            })
            .collect();
        Ok(OutputValues {
            buffers,
            names,
            pointers,
        })
    }

    /// One `Run` of `session` within `timeout`; takes ownership of what ONNX Runtime allocated,
    /// so it is released on every path.
    fn call(
        &self,
        session: &mut Session,
        inputs: &[*const OrtValue],
        outputs: &mut OutputValues,
        timeout: Option<Duration>,
    ) -> Result<Allocated> {
        // SAFETY: every input value describes a buffer alive for this call (or held by its
        // owner), and every output value a caller buffer borrowed mutably for this call.
        let mut run = |options| unsafe {
            values::run(
                session,
                options,
                self.input_names.pointers(),
                inputs,
                &outputs.names,
                &mut outputs.pointers,
            )
        };
        let (outcome, missed) = match timeout {
            Some(timeout) => {
                self.deadlines.arm(timeout);
                let outcome = run(Some(self.deadlines.options()));
                (outcome, self.deadlines.disarm().then_some(timeout))
            }
            None => (run(None), None),
        };
        let allocated: Allocated = outputs
            .pointers
            .iter()
            .zip(&outputs.buffers)
            .map(|(&value, buffer)| match (buffer, NonNull::new(value)) {
                // SAFETY: a non-null output that we did not provide was created by `Run` for us.
                (None, Some(value)) => Some(unsafe { DynValue::from_ptr(value, None) }),
                _ => None,
            })
            .collect();
        if let Some(timeout) = missed {
            return Err(Error::Timeout {
                origin: self.origin.clone(),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            });
        }
        outcome.map_err(|error| self.inference_error(error.message().to_owned()))?;
        Ok(allocated)
    }

    /// The copies a run returns, one entry per target: `Some` for each output copied out of
    /// what ONNX Runtime allocated.
    fn copy_outputs(
        &self,
        targets: &[OutputTarget<'_>],
        allocated: Allocated,
        guesses: bool,
    ) -> Result<Vec<Option<OutputTensor>>> {
        let mut allocated = allocated.into_iter();
        // alloc: one per graph output, which ONNX Runtime already holds.
        let mut copies = Vec::with_capacity(targets.len());
        for (index, target) in targets.iter().enumerate() {
            copies.push(match target {
                _ if self.is_copied(index, target, guesses) => {
                    let value = allocated.next().flatten().ok_or_else(|| {
                        self.inference_error(
                            "ONNX Runtime returned no value for an output".to_owned(),
                        )
                    })?;
                    let (shape, data) =
                        TensorData::from_value(&value, &self.origin, &self.outputs[index].name)?;
                    Some(OutputTensor { shape, data })
                }
                OutputTarget::Skip => None,
                // Written in place.
                OutputTarget::Buffer(_) | OutputTarget::Copy => {
                    allocated.next();
                    None
                }
            });
        }
        Ok(copies)
    }

    /// An [`Error::Inference`] for this session's model.
    fn inference_error(&self, reason: String) -> Error {
        Error::Inference {
            origin: self.origin.clone(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_model::{runtime, DOUBLE_MODEL};
    use super::super::{KeepAlive, ModelSource, SessionOptions};
    use super::*;
    use crate::core::onnx::providers::Provider;
    use crate::core::onnx::tensor::TensorView;

    #[test]
    fn a_model_runs_and_inputs_are_checked() {
        if runtime().is_none() {
            eprintln!("ORT_DYLIB_PATH not set: skipping the session test");
            return;
        }
        let session = InferenceSession::open(
            ModelSource::Bytes(&DOUBLE_MODEL),
            &SessionOptions::default(),
        )
        .unwrap();
        assert_eq!(session.inputs()[0].shape, vec![None, Some(3)]);
        assert_eq!(session.providers().last(), Some(&Provider::Cpu));
        let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let input = NamedInput {
            name: "x",
            shape: vec![2, 3],
            data: TensorView::Float32(&data),
        };
        let outputs = session
            .run(std::slice::from_ref(&input), Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(outputs[0].shape, vec![2, 3]);
        assert_eq!(
            outputs[0].data,
            TensorData::Float32(vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0])
        );

        let wrong_dim = NamedInput {
            name: "x",
            shape: vec![3, 2],
            data: TensorView::Float32(&data),
        };
        let error = session.run(&[wrong_dim], None).unwrap_err().to_string();
        assert!(error.contains("dimension 1 is 2, expected 3"), "{error}");
        let unknown = NamedInput {
            name: "z",
            shape: vec![2, 3],
            data: TensorView::Float32(&data),
        };
        assert!(session
            .run(&[unknown], None)
            .unwrap_err()
            .to_string()
            .contains("unknown input"));
    }

    #[test]
    fn outputs_go_into_caller_buffers_and_bound_inputs_are_reused() {
        if runtime().is_none() {
            return;
        }
        let session = InferenceSession::open(
            ModelSource::Bytes(&DOUBLE_MODEL),
            &SessionOptions::default(),
        )
        .unwrap();
        let mut data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let owner: KeepAlive = Box::new(7u32);
        let shape = [2usize, 3];
        let mut inputs = [RunInput {
            name: "x",
            shape: &shape,
            data: TensorView::Float32(&data),
            owner: Some(owner),
        }];
        // The output's batch is the input's ("batch" names both), so it is known before the run.
        let mut checked = session.check_inputs(&mut inputs).unwrap();
        assert_eq!(
            checked.planned_output_shape(0).as_deref(),
            Some(&[2usize, 3][..])
        );
        let mut out = [0.0f32; 6];
        let copies = checked
            .run(
                &mut [OutputTarget::Buffer(TensorViewMut::Float32(&mut out))],
                None,
            )
            .unwrap();
        assert_eq!(copies.len(), 1);
        assert!(copies[0].is_none());
        assert_eq!(out, [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
        // The session kept the owner with the value it cached over `data`.
        assert!(inputs[0].owner.is_none());

        // The same buffer again, refilled: the cached value is reused, and the new data seen.
        data[0] = 10.0;
        let mut again = [RunInput {
            name: "x",
            shape: &shape,
            data: TensorView::Float32(&data),
            owner: Some(Box::new(8u32)),
        }];
        let copied = session
            .run_with(&mut again, &mut [OutputTarget::Copy], None)
            .unwrap();
        let copy = copied.into_iter().next().flatten().unwrap();
        assert_eq!(
            copy.data,
            TensorData::Float32(vec![20.0, 4.0, 6.0, 8.0, 10.0, 12.0])
        );
        // A cache hit hands the caller's owner back untouched.
        let returned = again[0].owner.take().unwrap();
        assert_eq!(returned.downcast_ref::<u32>(), Some(&8));

        // Another buffer replaces the cached one; the old owner comes back to the caller.
        let other = [0.5f32; 3];
        let one = [1usize, 3];
        let mut replaced = [RunInput {
            name: "x",
            shape: &one,
            data: TensorView::Float32(&other),
            owner: Some(Box::new(9u32)),
        }];
        let mut small = [0.0f32; 3];
        session
            .run_with(
                &mut replaced,
                &mut [OutputTarget::Buffer(TensorViewMut::Float32(&mut small))],
                None,
            )
            .unwrap();
        assert_eq!(small, [1.0; 3]);
        let evicted = replaced[0].owner.take().unwrap();
        assert_eq!(evicted.downcast_ref::<u32>(), Some(&7));

        // A buffer of the wrong size is refused before anything runs.
        let mut wrong = [0.0f32; 2];
        let error = session
            .run_with(
                &mut replaced,
                &mut [OutputTarget::Buffer(TensorViewMut::Float32(&mut wrong))],
                None,
            )
            .unwrap_err();
        assert!(error.to_string().contains("holds 2 elements"), "{error}");
    }
}
