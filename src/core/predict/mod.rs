//! Upstream `OnnxRunner.predict` semantics in Rust: window shaping, feature normalisation, NaN/Inf
//! rejection, price denormalisation, confidence, direction and classification decoding, all in
//! the same call as inference. Split by job: [`columns`] (which named columns a bundle reads),
//! [`spec`] (what a bundle's metadata says), [`window`] (the window's dimensions),
//! [`prepare`] (the model input), [`decode`] (the output), [`bars`] (features from raw bars
//! and prices back in price units, as upstream's live engine computes them), and [`times`] (bar
//! times to UTC, their order and spacing).

pub mod bars;
mod batch;
pub mod cache;
mod columns;
mod decode;
mod prepare;
mod spec;
pub mod stream;
pub mod times;
mod window;

use std::time::Duration;

use ndarray::ArrayView2;
use smallvec::SmallVec;

pub use batch::predict_batch_parallel;
pub use columns::{
    bar_positions, column_position, feature_names, feature_positions, metadata_feature_count,
    schema_feature_count, series_columns, ColumnSource,
};
pub use decode::{BatchOutputs, BatchPrediction, Prediction};
pub use prepare::Features;
pub use spec::{Declared, DeclaredWindow, PredictionSpec, PriceScaling, Task};
pub use window::{input_window, InputWindow};

use crate::core::alloc;
use crate::core::error::{Error, Result};
use crate::core::onnx::session::{
    CheckedInputs, InferenceSession, KeepAlive, OutputTarget, RunInput,
};
use crate::core::onnx::tensor::{
    element_count, ElementType, OutputTensor, TensorData, TensorViewMut,
};

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
    /// The window this bundle predicts from ([`input_window`]).
    pub fn window(&self) -> Result<InputWindow> {
        input_window(self.session.inputs(), self.spec).map_err(|reason| Error::ModelLoad {
            origin: self.session.origin().to_owned(),
            reason,
        })
    }

    /// How the bundle's features come from raw bars, or `InvalidInputError` saying why they
    /// cannot (naming the feature columns it needs instead).
    fn bar_recipe(&self) -> Result<&bars::BarFeatures> {
        self.spec
            .bar_features
            .as_ref()
            .map_err(|reason| Error::invalid_input(reason.clone()))
    }

    /// How many of the last bars [`Self::predict_bars`] reads: `sequence_length + window - 1`,
    /// so that every bar of the model's window has a full rolling window behind it. A window
    /// longer than any history (`price_normalization.window` up to 2^64 - 1) reads every bar
    /// given, as a sweep does: the sum saturates rather than failing.
    pub fn bars_needed(&self) -> Result<usize> {
        let recipe = self.bar_recipe()?;
        let window = self.window()?;
        Ok(window.sequence_length.saturating_add(recipe.window - 1))
    }

    /// An empty [`stream::BarStream`] for this bundle, or why it cannot take raw bars (before
    /// any bar is read).
    pub fn bar_stream(&self) -> Result<stream::BarStream> {
        let recipe = self.bar_recipe()?;
        let window = self.window()?;
        Ok(stream::BarStream::new(
            recipe,
            self.spec.rolling_price.as_ref(),
            window.sequence_length,
        ))
    }

    /// The prediction from `stream`'s window, as [`Self::predict_bars`] makes it from the bars
    /// pushed so far; `None` while its window is not full.
    pub fn predict_stream(
        &self,
        stream: &stream::BarStream,
        timeout: Option<Duration>,
    ) -> Result<Option<Prediction>> {
        let Some(window) = stream.window() else {
            return Ok(None);
        };
        let shape = stream.window_shape();
        let features = Features {
            shape: &shape,
            data: crate::core::onnx::tensor::TensorView::Float64(window),
        };
        let prediction = self.predict(&features, &mut None, timeout)?;
        self.rolling_priced(prediction, stream.price_extrema())
            .map(Some)
    }

    /// A `rolling_minmax` bundle's `prediction` with its price mapped back with the min and max
    /// of the target's last `window` bars ([`bars::to_price`]); other bundles' as it is.
    fn rolling_priced(
        &self,
        mut prediction: Prediction,
        extrema: Option<(f64, f64)>,
    ) -> Result<Prediction> {
        if let Some(rolling) = &self.spec.rolling_price {
            prediction.price =
                bars::to_price(prediction.price, extrema).map_err(|why| match why {
                    bars::Unpriceable::Output(_) => self.output_error(why.to_string()),
                    bars::Unpriceable::Window(_) => Error::invalid_input(format!(
                        "{why} (the last {} {:?} values of the bars)",
                        rolling.window,
                        rolling.target()
                    )),
                })?;
        }
        Ok(prediction)
    }

    /// Upstream's live path from raw OHLCV `bars` (`[rows, 5]`, oldest first, columns in
    /// [`bars::BAR_COLUMNS`] order): the features of the last window ([`bars::features`]),
    /// `predict`, and for a `rolling_minmax` bundle the price mapped back with the target's last
    /// `window` bars ([`bars::to_price`]). Only the last [`Self::bars_needed`] rows are read.
    ///
    /// Confidence and direction are the model output's, as upstream's engine leaves them.
    pub fn predict_bars(
        &self,
        bars: ArrayView2<'_, f64>,
        timeout: Option<Duration>,
    ) -> Result<Prediction> {
        let recipe = self.bar_recipe()?;
        if bars.ncols() != bars::BAR_COLUMNS.len() {
            return Err(Error::invalid_input(format!(
                "bars must have the {} columns {}, got {}",
                bars::BAR_COLUMNS.len(),
                bars::BAR_COLUMNS.join(", "),
                bars.ncols()
            )));
        }
        let window = self.window()?;
        let rows = bars.nrows();
        if rows < window.sequence_length {
            return Err(Error::invalid_input(format!(
                "predict_bars needs at least {} bars (the model's sequence_length), got {rows}",
                window.sequence_length
            )));
        }
        let needed = self.bars_needed()?;
        let bars = bars.slice(ndarray::s![rows.saturating_sub(needed).., ..]);
        let from = bars.nrows() - window.sequence_length;
        let shape = [window.sequence_length, recipe.columns.len()];
        // A float32 model whose features are not normalised gets them as float32 straight
        // away (the values `predict`'s own conversion would give), and reads them in place.
        let float32 = self.spec.normalization.is_empty()
            && matches!(
                self.session.inputs(),
                [input] if input.element_type == ElementType::Float32
            );
        let (float32_values, float64_values);
        let data = if float32 {
            float32_values = bars::features_as(recipe, bars, from, |value| value as f32)?;
            crate::core::onnx::tensor::TensorView::Float32(&float32_values)
        } else {
            float64_values = bars::features(recipe, bars, from)?;
            crate::core::onnx::tensor::TensorView::Float64(&float64_values)
        };
        let prediction = self.predict(
            &Features {
                shape: &shape,
                data,
            },
            &mut None,
            timeout,
        )?;
        let extrema =
            self.spec.rolling_price.as_ref().and_then(|rolling| {
                bars::last_extrema(bars.column(rolling.column), rolling.window)
            });
        self.rolling_priced(prediction, extrema)
    }

    /// Prepares `features`, checks the model input made of them against the model, and runs
    /// `work` on it. When the input is the caller's own buffer, `owner` (what keeps that buffer
    /// alive) goes with it, so the session reuses the value it bound to the buffer last time;
    /// afterwards `owner` holds what the caller must release (its own owner, or the one the
    /// session stopped caching).
    fn with_input<T>(
        &self,
        features: &Features<'_>,
        batch: Option<usize>,
        owner: &mut Option<KeepAlive>,
        work: impl FnOnce(&mut CheckedInputs<'_, '_, '_>) -> Result<T>,
    ) -> Result<T> {
        let inputs = self.session.inputs();
        let (shape, data) = match batch {
            // A batch's first window in the caller's whole batch, for its error messages.
            Some(first_window) => {
                prepare::prepare(self.spec, inputs, features, true, first_window)?
            }
            None => prepare::prepare(self.spec, inputs, features, false, 0)?,
        };
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
        self.with_input(features, None, owner, |checked| {
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
        let mut batch = BatchPrediction::empty(windows, self.spec.class_count())?;
        self.predict_batch_into(features, 0, timeout, batch.outputs())?;
        Ok(batch)
    }

    /// [`Self::predict_batch`] of one chunk of a batch, written into `out` (one slot per
    /// window); `first_window` is the chunk's place in the caller's whole batch.
    pub(crate) fn predict_batch_into(
        &self,
        features: &Features<'_>,
        first_window: usize,
        timeout: Option<Duration>,
        out: BatchOutputs<'_>,
    ) -> Result<()> {
        let windows = prepare::window_shape(features.shape, true)?[0];
        if windows == 0 {
            return Ok(());
        }
        let (shape, values) =
            self.with_input(features, Some(first_window), &mut None, |checked| {
                self.copy_first(checked, timeout)
            })?;
        if shape.first() != Some(&windows) || values.len() % windows != 0 {
            return Err(self.output_error(format!(
                "output shape {:?} does not have one row per window ({windows} windows)",
                shape
            )));
        }
        let per_window = values.len() / windows;
        let BatchOutputs {
            price,
            confidence,
            direction,
            mut probabilities,
        } = out;
        let classes = self.spec.class_count().unwrap_or(0);
        for (index, row) in values.chunks(per_window).enumerate() {
            let prediction = self.decode(row)?;
            price[index] = prediction.price;
            confidence[index] = prediction.confidence;
            direction[index] = prediction.direction;
            if let (Some(slots), Some(p)) = (probabilities.as_deref_mut(), prediction.probabilities)
            {
                slots[index * classes..(index + 1) * classes].copy_from_slice(&p);
            }
        }
        Ok(())
    }

    /// Reads one window's output values.
    pub(crate) fn decode(&self, values: &[f64]) -> Result<Prediction> {
        decode::decode(self.spec, values).map_err(|reason| self.output_error(reason))
    }
}
