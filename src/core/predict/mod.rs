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

use smallvec::{smallvec, SmallVec};

pub use columns::{feature_names, feature_positions};
pub use decode::{BatchPrediction, Prediction};
pub use prepare::Features;
pub use spec::{PredictionSpec, PriceScaling, Task};

use crate::core::error::{Error, Result};
use crate::core::session::{InferenceSession, KeepAlive, OutputTarget, RunInput};
use crate::core::tensor::{element_count, ElementType, OutputTensor, TensorData, TensorViewMut};

/// A model bundle ready to predict: its session and its spec.
pub struct Predictor<'s> {
    /// The session to run.
    pub session: &'s InferenceSession,
    /// How to prepare inputs and read outputs.
    pub spec: &'s PredictionSpec,
}

impl Predictor<'_> {
    /// Prepares `features` and runs `work` on the model input made of them. When the input is
    /// the caller's own buffer, `owner` (what keeps that buffer alive) goes with it, so the
    /// session reuses the value it bound to the buffer last time; afterwards `owner` holds what
    /// the caller must release (its own owner, or the one the session stopped caching).
    fn with_input<T>(
        &self,
        features: &Features<'_>,
        batch: bool,
        owner: &mut Option<KeepAlive>,
        work: impl FnOnce(&mut RunInput<'_>) -> Result<T>,
    ) -> Result<T> {
        let (shape, data) = prepare::prepare(self.spec, self.session.inputs(), features, batch)?;
        let borrowed = matches!(data, prepare::Prepared::Borrowed(_));
        let mut input = RunInput {
            name: &self.session.inputs()[0].name,
            shape: &shape,
            data: data.view(),
            owner: if borrowed { owner.take() } else { None },
        };
        let outcome = work(&mut input);
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
        let outputs = self.session.outputs().len();
        if outputs == 0 {
            return Err(self.output_error("the model returned no outputs".to_owned()));
        }
        let mut targets: SmallVec<[OutputTarget<'_>; 4]> = SmallVec::with_capacity(outputs);
        targets.push(first);
        targets.extend((1..outputs).map(|_| OutputTarget::Skip));
        let copies = self
            .session
            .run_with(std::slice::from_mut(input), &mut targets, timeout)?;
        Ok(copies.into_iter().next().flatten())
    }

    /// The first output copied out, as float64 values with its shape.
    fn copy_first(
        &self,
        input: &mut RunInput<'_>,
        timeout: Option<Duration>,
    ) -> Result<(Vec<usize>, Vec<f64>)> {
        let first = self
            .run_first(input, OutputTarget::Copy, timeout)?
            .ok_or_else(|| self.output_error("the model returned no outputs".to_owned()))?;
        self.float_values(first)
    }

    /// The first value of the first output, read from a small buffer the run writes in place
    /// (no allocation for up to a few values); `None` when that output's shape is not known
    /// before the run, it is empty, or it is not a float tensor (the copy path then reports it).
    fn first_value(
        &self,
        input: &mut RunInput<'_>,
        timeout: Option<Duration>,
    ) -> Result<Option<f64>> {
        fn first_in<T: Copy + Default + Into<f64>>(
            predictor: &Predictor<'_>,
            input: &mut RunInput<'_>,
            len: usize,
            view: impl FnOnce(&mut [T]) -> TensorViewMut<'_>,
            timeout: Option<Duration>,
        ) -> Result<f64> {
            let mut buffer: SmallVec<[T; 4]> = smallvec![T::default(); len];
            match predictor.run_first(input, OutputTarget::Buffer(view(&mut buffer)), timeout)? {
                None => Ok(buffer[0].into()),
                // The run refuted the planned shape and copied the output instead.
                Some(copy) => Ok(predictor.float_values(copy)?.1[0]),
            }
        }
        let Some(spec) = self.session.outputs().first() else {
            return Ok(None);
        };
        let len = self
            .session
            .planned_output_shape(0, std::slice::from_ref(input))
            .and_then(|shape| element_count(&shape))
            .filter(|&len| len > 0);
        let Some(len) = len else {
            return Ok(None);
        };
        match spec.element_type {
            ElementType::Float32 => first_in(
                self,
                input,
                len,
                |b: &mut [f32]| TensorViewMut::Float32(b),
                timeout,
            )
            .map(Some),
            ElementType::Float64 => first_in(
                self,
                input,
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
            TensorData::Float32(values) => values.into_iter().map(f64::from).collect(),
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
        self.with_input(features, false, owner, |input| {
            if let Task::Regression(_) = self.spec.task {
                if let Some(value) = self.first_value(input, timeout)? {
                    return self.decode(&[value]);
                }
            }
            let (_, values) = self.copy_first(input, timeout)?;
            let per_window = match self.spec.task {
                Task::Regression(_) => 1,
                _ => values.len() / input.shape[0].max(1),
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
        let (shape, values) = self.with_input(features, true, &mut None, |input| {
            self.copy_first(input, timeout)
        })?;
        if shape.first() != Some(&windows) || values.len() % windows != 0 {
            return Err(self.output_error(format!(
                "output shape {:?} does not have one row per window ({windows} windows)",
                shape
            )));
        }
        let per_window = values.len() / windows;
        let classes = self.spec.class_count();
        let mut probabilities = Vec::new();
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
