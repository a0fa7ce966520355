//! Upstream `OnnxRunner.predict` semantics in Rust: window shaping, feature normalisation, NaN/Inf
//! rejection, price denormalisation, confidence, direction and classification decoding, all in
//! the same call as inference. Split by job: [`spec`] (what a bundle's metadata says),
//! [`prepare`] (the model input) and [`decode`] (the output).

mod decode;
mod prepare;
mod spec;

use std::time::Duration;

pub use decode::{BatchPrediction, Prediction};
pub use prepare::Features;
pub use spec::{PredictionSpec, PriceScaling, Task};

use crate::core::error::{Error, Result};
use crate::core::session::InferenceSession;
use crate::core::tensor::{NamedInput, TensorData};

/// A model bundle ready to predict: its session and its spec.
pub struct Predictor<'s> {
    /// The session to run.
    pub session: &'s InferenceSession,
    /// How to prepare inputs and read outputs.
    pub spec: &'s PredictionSpec,
}

impl Predictor<'_> {
    fn run(
        &self,
        features: &Features<'_>,
        batch: bool,
        timeout: Option<Duration>,
    ) -> Result<(Vec<usize>, Vec<f64>)> {
        let (shape, data) = prepare::prepare(self.spec, self.session.inputs(), features, batch)?;
        let name = &self.session.inputs()[0].name;
        let input = NamedInput {
            name,
            shape: shape.to_vec(),
            data: data.view(),
        };
        let mut outputs = self.session.run(std::slice::from_ref(&input), timeout)?;
        if outputs.is_empty() {
            return Err(self.output_error("the model returned no outputs".to_owned()));
        }
        let first = outputs.swap_remove(0);
        let values: Vec<f64> = match first.data {
            TensorData::Float32(values) => values.into_iter().map(f64::from).collect(),
            TensorData::Float64(values) => values,
            other => {
                return Err(self.output_error(format!(
                    "the first output is {}, expected float32 or float64",
                    other.element_type().name()
                )))
            }
        };
        if values.is_empty() {
            return Err(self.output_error("the model returned an empty output".to_owned()));
        }
        Ok((first.shape, values))
    }

    fn output_error(&self, reason: String) -> Error {
        Error::Inference {
            origin: self.session.origin().to_owned(),
            reason,
        }
    }

    /// Upstream's `predict`: one prediction (from the first window when given several).
    pub fn predict(
        &self,
        features: &Features<'_>,
        timeout: Option<Duration>,
    ) -> Result<Prediction> {
        let (_, values) = self.run(features, false, timeout)?;
        let per_window = match self.spec.task {
            Task::Regression(_) => 1,
            _ => values.len() / prepare::window_shape(features.shape, false)?[0].max(1),
        };
        self.decode(&values[..per_window.min(values.len())])
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
        let (shape, values) = self.run(features, true, timeout)?;
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
