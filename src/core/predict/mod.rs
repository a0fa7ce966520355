//! Upstream `OnnxRunner.predict` semantics in Rust: window shaping, feature normalisation, NaN/Inf
//! rejection, price denormalisation, confidence, direction and classification decoding, all in
//! the same call as inference. Split by job: [`columns`] (which named columns a bundle reads),
//! [`spec`] (what a bundle's metadata says),
//! [`prepare`] (the model input) and [`decode`] (the output).

mod columns;
mod decode;
mod prepare;
mod spec;

use std::time::Duration;

use smallvec::SmallVec;

pub use columns::{feature_names, feature_positions};
pub use decode::{BatchPrediction, Prediction};
pub use prepare::Features;
pub use spec::{PredictionSpec, PriceScaling, Task};

use crate::core::alloc;
use crate::core::error::{Error, Result};
use crate::core::session::{CheckedInputs, InferenceSession, KeepAlive, OutputTarget, RunInput};
use crate::core::tensor::{element_count, ElementType, OutputTensor, TensorData, TensorViewMut};

/// A first output of up to this many elements is read into a buffer on the stack; a larger one
/// is copied out of ONNX Runtime instead (predict reads one window's values of it anyway).
const IN_PLACE_MAX_ELEMENTS: usize = 4;

/// A model bundle ready to predict: its session and its spec.
pub struct Predictor<'s> {
    /// The session to run.
    pub session: &'s InferenceSession,
    /// How to prepare inputs and read outputs.
    pub spec: &'s PredictionSpec,
}

impl Predictor<'_> {
    /// Prepares `features`, checks the model input made of them against the model, and runs
    /// `work` on it. When the input is the caller's own buffer, `owner` (what keeps that buffer
    /// alive) goes with it, so the session reuses the value it bound to the buffer last time;
    /// afterwards `owner` holds what the caller must release (its own owner, or the one the
    /// session stopped caching).
    fn with_input<T>(
        &self,
        features: &Features<'_>,
        batch: bool,
        owner: &mut Option<KeepAlive>,
        work: impl FnOnce(&mut CheckedInputs<'_, '_, '_>) -> Result<T>,
    ) -> Result<T> {
        let (shape, data) = prepare::prepare(self.spec, self.session.inputs(), features, batch)?;
        let borrowed = matches!(data, prepare::Prepared::Borrowed(_));
        let mut input = RunInput {
            name: &self.session.inputs()[0].name,
            shape: &shape,
            data: data.view(),
            owner: if borrowed { owner.take() } else { None },
        };
        let outcome = self
            .session
            .check_inputs(std::slice::from_mut(&mut input))
            .and_then(|mut checked| work(&mut checked));
        if borrowed {
            *owner = input.owner.take();
        }
        outcome
    }

    /// Runs the model sending its first output to `first` and skipping the others (only the
    /// first is read); returns the first output's copy when one was made.
    pub(crate) fn run_first(
        &self,
        input: &mut RunInput<'_>,
        first: OutputTarget<'_>,
        timeout: Option<Duration>,
    ) -> Result<Option<OutputTensor>> {
        let mut checked = self.session.check_inputs(std::slice::from_mut(input))?;
        self.run_checked_first(&mut checked, first, timeout)
    }

    /// [`Self::run_first`] on inputs already checked.
    fn run_checked_first(
        &self,
        checked: &mut CheckedInputs<'_, '_, '_>,
        first: OutputTarget<'_>,
        timeout: Option<Duration>,
    ) -> Result<Option<OutputTensor>> {
        let outputs = self.session.outputs().len();
        if outputs == 0 {
            return Err(self.output_error("the model returned no outputs".to_owned()));
        }
        // alloc: one target per graph output, which ONNX Runtime already holds.
        let mut targets: SmallVec<[OutputTarget<'_>; 4]> = SmallVec::with_capacity(outputs);
        targets.push(first);
        targets.extend((1..outputs).map(|_| OutputTarget::Skip));
        let copies = checked.run(&mut targets, timeout)?;
        Ok(copies.into_iter().next().flatten())
    }

    /// The first output copied out, as float64 values with its shape.
    fn copy_first(
        &self,
        checked: &mut CheckedInputs<'_, '_, '_>,
        timeout: Option<Duration>,
    ) -> Result<(Vec<usize>, Vec<f64>)> {
        let first = self
            .run_checked_first(checked, OutputTarget::Copy, timeout)?
            .ok_or_else(|| self.output_error("the model returned no outputs".to_owned()))?;
        self.float_values(first)
    }

    /// The first value of the first output, read from a buffer on the stack that the run writes
    /// in place (nothing allocated); `None` when that output's shape is not known before the
    /// run, it is empty or larger than [`IN_PLACE_MAX_ELEMENTS`], or it is not a float tensor
    /// (the copy path then reads or reports it).
    fn first_value(
        &self,
        checked: &mut CheckedInputs<'_, '_, '_>,
        timeout: Option<Duration>,
    ) -> Result<Option<f64>> {
        fn first_in<T: Copy + Default + Into<f64>>(
            predictor: &Predictor<'_>,
            checked: &mut CheckedInputs<'_, '_, '_>,
            len: usize,
            view: impl FnOnce(&mut [T]) -> TensorViewMut<'_>,
            timeout: Option<Duration>,
        ) -> Result<f64> {
            let mut buffer = [T::default(); IN_PLACE_MAX_ELEMENTS];
            let target = OutputTarget::Buffer(view(&mut buffer[..len]));
            match predictor.run_checked_first(checked, target, timeout)? {
                None => Ok(buffer[0].into()),
                // The run refuted the planned shape and copied the output instead.
                Some(copy) => Ok(predictor.float_values(copy)?.1[0]),
            }
        }
        let Some(spec) = self.session.outputs().first() else {
            return Ok(None);
        };
        let len = checked
            .planned_output_shape(0)
            .and_then(|shape| element_count(&shape))
            .filter(|len| (1..=IN_PLACE_MAX_ELEMENTS).contains(len));
        let Some(len) = len else {
            return Ok(None);
        };
        match spec.element_type {
            ElementType::Float32 => first_in(
                self,
                checked,
                len,
                |b: &mut [f32]| TensorViewMut::Float32(b),
                timeout,
            )
            .map(Some),
            ElementType::Float64 => first_in(
                self,
                checked,
                len,
                |b: &mut [f64]| TensorViewMut::Float64(b),
                timeout,
            )
            .map(Some),
            _ => Ok(None),
        }
    }

    /// An output's values as float64, refusing other dtypes and empty outputs.
    fn float_values(&self, output: OutputTensor) -> Result<(Vec<usize>, Vec<f64>)> {
        let (shape, values) = self.as_f64(output)?;
        if values.is_empty() {
            return Err(self.output_error("the model returned an empty output".to_owned()));
        }
        Ok((shape, values))
    }

    /// An output's values as float64, refusing other dtypes.
    pub(crate) fn as_f64(&self, output: OutputTensor) -> Result<(Vec<usize>, Vec<f64>)> {
        let values: Vec<f64> = match output.data {
            TensorData::Float32(values) => {
                let widened = || format!("the float64 copy of {} output values", values.len());
                alloc::try_collect(values.iter().copied().map(f64::from), widened)?
            }
            TensorData::Float64(values) => values,
            other => {
                return Err(self.output_error(format!(
                    "the first output is {}, expected float32 or float64",
                    other.element_type().name()
                )))
            }
        };
        Ok((output.shape, values))
    }

    pub(crate) fn output_error(&self, reason: String) -> Error {
        Error::Inference {
            origin: self.session.origin().to_owned(),
            reason,
        }
    }

    /// Upstream's `predict`: one prediction (from the first window when given several).
    ///
    /// `owner` keeps the caller's feature buffer alive so the session can reuse the input value
    /// it bound to it (see [`RunInput::owner`]); afterwards it holds what the caller releases.
    /// A regression output whose shape is known before the run is written into a small buffer
    /// here, so the common live call allocates nothing for its result.
    pub fn predict(
        &self,
        features: &Features<'_>,
        owner: &mut Option<KeepAlive>,
        timeout: Option<Duration>,
    ) -> Result<Prediction> {
        self.with_input(features, false, owner, |checked| {
            if let Task::Regression(_) = self.spec.task {
                if let Some(value) = self.first_value(checked, timeout)? {
                    return self.decode(&[value]);
                }
            }
            let (_, values) = self.copy_first(checked, timeout)?;
            let per_window = match self.spec.task {
                Task::Regression(_) => 1,
                _ => values.len() / checked.inputs()[0].shape[0].max(1),
            };
            self.decode(&values[..per_window.min(values.len())])
        })
    }

    /// Predictions for every window of a `[windows, seq, features]` array, in one run.
    pub fn predict_batch(
        &self,
        features: &Features<'_>,
        timeout: Option<Duration>,
    ) -> Result<BatchPrediction> {
        let windows = prepare::window_shape(features.shape, true)?[0];
        let mut batch = BatchPrediction::default();
        if windows == 0 {
            batch.probabilities = self.spec.class_count().map(|classes| (Vec::new(), classes));
            return Ok(batch);
        }
        let (shape, values) = self.with_input(features, true, &mut None, |checked| {
            self.copy_first(checked, timeout)
        })?;
        if shape.first() != Some(&windows) || values.len() % windows != 0 {
            return Err(self.output_error(format!(
                "output shape {:?} does not have one row per window ({windows} windows)",
                shape
            )));
        }
        let per_window = values.len() / windows;
        let classes = self.spec.class_count();
        let results = |what: &'static str| move || format!("the {what} of {windows} windows");
        alloc::try_reserve(&mut batch.price, windows, results("prices"))?;
        alloc::try_reserve(&mut batch.confidence, windows, results("confidences"))?;
        alloc::try_reserve(&mut batch.direction, windows, results("directions"))?;
        let mut probabilities = match classes {
            Some(classes) => alloc::try_with_capacity(
                windows.saturating_mul(classes),
                results("class probabilities"),
            )?,
            None => Vec::new(),
        };
        for row in values.chunks(per_window) {
            let prediction = self.decode(row)?;
            batch.price.push(prediction.price);
            batch.confidence.push(prediction.confidence);
            batch.direction.push(prediction.direction);
            if let Some(p) = prediction.probabilities {
                probabilities.extend(p);
            }
        }
        batch.probabilities = classes.map(|classes| (probabilities, classes));
        Ok(batch)
    }

    /// Reads one window's output values.
    pub(crate) fn decode(&self, values: &[f64]) -> Result<Prediction> {
        decode::decode(self.spec, values).map_err(|reason| self.output_error(reason))
    }
}
