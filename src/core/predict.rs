//! Upstream `OnnxRunner.predict` semantics in Rust: window shaping, feature normalisation, NaN/Inf
//! rejection, price denormalisation, confidence, direction and classification decoding, all in
//! the same call as inference.

use serde_json::Value;

use crate::core::error::{Error, Result};
use crate::core::session::InferenceSession;
use crate::core::tensor::{ElementType, NamedInput, TensorData, TensorView};

/// Standard deviations at or below this (or non-finite) are replaced, as upstream does.
const EPSILON: f64 = 1e-8;
const PROBABILITY_RANGE_TOLERANCE: f64 = 1e-3;
const PROBABILITY_SUM_TOLERANCE: f64 = 1e-2;

/// How a regression output maps back to a price.
#[derive(Debug, Clone, PartialEq)]
pub enum PriceScaling {
    /// Output is used as is (no `price_normalization`, or `rolling_minmax`, which the caller undoes).
    Identity,
    /// `price = output * std + mean`.
    MeanStd { mean: f64, std: f64 },
    /// `std` is zero: every prediction is `mean`, as upstream returns.
    Constant(f64),
}

/// What the model's output means.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// One value: a (possibly normalised) price.
    Regression(PriceScaling),
    /// One sigmoid value `p_up`; labels are the directions of `[1 - p_up, p_up]`.
    Binary { labels: [i8; 2] },
    /// One probability per label (softmax output).
    Ternary { labels: Vec<i8> },
}

/// Everything `predict` needs from a bundle's metadata and the registry's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionSpec {
    /// Per input column: `(mean, std)` to normalise with, or `None` to leave the column raw.
    pub normalization: Vec<Option<(f64, f64)>>,
    /// The number of feature columns `feature_names` declares, when it does.
    pub declared_features: Option<usize>,
    /// How to read the output.
    pub task: Task,
    /// `confidence = min(1, |price| * confidence_scale_factor)` for regression.
    pub confidence_scale_factor: f64,
    /// `|price| > direction_threshold` gives a direction for regression.
    pub direction_threshold: f64,
}

/// One prediction, upstream's `ModelPrediction` less the name and timing.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The predicted price (NaN for classifiers, deliberately).
    pub price: f64,
    /// In `[0, 1]`.
    pub confidence: f64,
    /// `1`, `0` or `-1`.
    pub direction: i8,
    /// Class probabilities for classifiers.
    pub probabilities: Option<Vec<f64>>,
}

/// Column-wise results of a batch prediction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchPrediction {
    /// One price per window.
    pub price: Vec<f64>,
    /// One confidence per window.
    pub confidence: Vec<f64>,
    /// One direction per window.
    pub direction: Vec<i8>,
    /// Row-major `[windows, classes]` probabilities for classifiers.
    pub probabilities: Option<(Vec<f64>, usize)>,
}

fn number(value: Option<&Value>) -> Option<f64> {
    value.and_then(Value::as_f64)
}

fn direction_label(value: &Value) -> Option<i8> {
    let parsed = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }?;
    i8::try_from(parsed).ok()
}

impl PredictionSpec {
    /// Builds the spec from `metadata.json` (an object; `Value::Null` when the bundle has none).
    pub fn from_metadata(
        metadata: &Value,
        confidence_scale_factor: f64,
        direction_threshold: f64,
    ) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidArgument(format!("metadata.json: {reason}"));
        let names: Option<Vec<&str>> = metadata
            .get("feature_names")
            .and_then(Value::as_array)
            .filter(|names| !names.is_empty())
            .map(|names| names.iter().filter_map(Value::as_str).collect());
        let params = metadata
            .get("normalization_params")
            .and_then(Value::as_object)
            .filter(|params| !params.is_empty());
        // A key present with a null value came from `NaN`/`Infinity` in the file: non-finite,
        // which upstream sanitises (mean to 0, std to EPSILON); an absent key takes the default.
        let column_params = |param: &Value| {
            let read = |key: &str, default: f64| match param.get(key) {
                None => default,
                Some(value) => value.as_f64().unwrap_or(f64::NAN),
            };
            let mean = read("mean", 0.0);
            let std = read("std", 1.0);
            let mean = if mean.is_finite() { mean } else { 0.0 };
            let std = if std.is_finite() && std != 0.0 {
                std
            } else {
                EPSILON
            };
            (mean, std)
        };
        let normalization = match (params, &names) {
            (None, _) => Vec::new(),
            (Some(params), Some(names)) => names
                .iter()
                .map(|name| params.get(*name).map(column_params))
                .collect(),
            // Legacy bundles without feature names: upstream applies the parameters in key order.
            (Some(params), None) => params
                .values()
                .map(|param| Some(column_params(param)))
                .collect(),
        };

        let task_type = metadata
            .get("task_type")
            .and_then(Value::as_str)
            .unwrap_or("regression");
        let labels = || -> Result<Vec<i8>> {
            let labels = metadata
                .get("class_labels")
                .and_then(Value::as_array)
                .filter(|labels| !labels.is_empty())
                .ok_or_else(|| invalid(format!("task_type {task_type:?} needs class_labels")))?;
            labels
                .iter()
                .map(|label| {
                    direction_label(label).ok_or_else(|| {
                        invalid(format!(
                            "class label {label} is not a direction (-1, 0 or 1)"
                        ))
                    })
                })
                .collect()
        };
        let task = match task_type {
            "regression" => Task::Regression(price_scaling(metadata.get("price_normalization"))),
            "binary_classification" => {
                let labels = labels()?;
                let labels: [i8; 2] = labels.try_into().map_err(|labels: Vec<i8>| {
                    invalid(format!(
                        "binary_classification needs 2 class_labels, found {}",
                        labels.len()
                    ))
                })?;
                Task::Binary { labels }
            }
            "ternary_classification" => Task::Ternary { labels: labels()? },
            other => return Err(invalid(format!("unknown task_type {other:?}"))),
        };
        Ok(Self {
            normalization,
            declared_features: names.map(|names| names.len()),
            task,
            confidence_scale_factor,
            direction_threshold,
        })
    }

    /// Whether results of this spec may be cached (upstream never caches classifications).
    pub fn is_cacheable(&self) -> bool {
        matches!(self.task, Task::Regression(_))
    }

    /// The number of classes the output has, for classifiers.
    pub fn class_count(&self) -> Option<usize> {
        match &self.task {
            Task::Regression(_) => None,
            Task::Binary { .. } => Some(2),
            Task::Ternary { labels } => Some(labels.len()),
        }
    }
}

fn price_scaling(params: Option<&Value>) -> PriceScaling {
    let Some(params) = params.and_then(Value::as_object).filter(|p| !p.is_empty()) else {
        return PriceScaling::Identity;
    };
    if params.get("method").and_then(Value::as_str) == Some("rolling_minmax") {
        return PriceScaling::Identity;
    }
    match (number(params.get("mean")), number(params.get("std"))) {
        (Some(mean), Some(std)) if mean.is_finite() && std.is_finite() => {
            if std == 0.0 {
                PriceScaling::Constant(mean)
            } else {
                PriceScaling::MeanStd { mean, std }
            }
        }
        _ => PriceScaling::Identity,
    }
}

/// Feature windows as given by the caller: any float or integer dtype, 1-D, 2-D or 3-D.
#[derive(Debug, Clone, Copy)]
pub struct Features<'a> {
    /// The caller's dimensions.
    pub shape: &'a [usize],
    /// The data, C-contiguous.
    pub data: TensorView<'a>,
}

/// Upstream's reshaping: 1-D `[f]` -> `[1, 1, f]`, 2-D `[seq, f]` -> `[1, seq, f]`, 3-D kept.
fn window_shape(shape: &[usize], batch: bool) -> Result<[usize; 3]> {
    match (shape, batch) {
        ([features], false) => Ok([1, 1, *features]),
        ([seq, features], false) => Ok([1, *seq, *features]),
        ([windows, seq, features], _) => Ok([*windows, *seq, *features]),
        (other, false) => Err(Error::invalid_input(format!(
            "features must be a 1-D, 2-D or 3-D array, got shape {}",
            crate::core::tensor::format_shape(other.iter().map(usize::to_string))
        ))),
        (other, true) => Err(Error::invalid_input(format!(
            "predict_batch needs a 3-D array [windows, sequence_length, features], got shape {}",
            crate::core::tensor::format_shape(other.iter().map(usize::to_string))
        ))),
    }
}

/// A model bundle ready to predict: its session and its spec.
pub struct Predictor<'s> {
    /// The session to run.
    pub session: &'s InferenceSession,
    /// How to prepare inputs and read outputs.
    pub spec: &'s PredictionSpec,
}

impl Predictor<'_> {
    /// Prepares the model input: normalised, checked for NaN/Inf, cast to the model's dtype.
    ///
    /// The common live case (float32 features for a float32 model, no normalisation) borrows the
    /// caller's buffer after the NaN/Inf check instead of copying it.
    fn prepare<'f>(
        &self,
        features: &Features<'f>,
        batch: bool,
    ) -> Result<(Vec<usize>, Prepared<'f>)> {
        let shape = window_shape(features.shape, batch)?;
        let columns = shape[2];
        if let Some(declared) = self.spec.declared_features {
            if !self.spec.normalization.is_empty() && declared != columns {
                return Err(Error::invalid_input(format!(
                    "feature count mismatch: metadata declares {declared} features (feature_names) but the input has {columns}"
                )));
            }
        }
        let element_type = match self.session.inputs() {
            [input] => input.element_type,
            inputs => {
                return Err(Error::invalid_input(format!(
                    "predict needs a model with exactly one input; this one has {}",
                    inputs.len()
                )))
            }
        };
        let total = shape.iter().product::<usize>();
        if total != features.data.len() {
            return Err(Error::invalid_input(format!(
                "features hold {} values, but their shape needs {total}",
                features.data.len()
            )));
        }
        if let TensorView::Bool(_) = features.data {
            return Err(Error::invalid_input(
                "features must be numbers, got an array of dtype bool",
            ));
        }
        let nonfinite = |index: usize| nonfinite_error(shape, batch, index);
        let normalization = &self.spec.normalization;
        let prepared = match (features.data, element_type) {
            (TensorView::Float32(data), ElementType::Float32) if normalization.is_empty() => {
                if let Some(index) = data.iter().position(|v| !v.is_finite()) {
                    return Err(nonfinite(index));
                }
                Prepared::Borrowed(features.data)
            }
            (TensorView::Float64(data), ElementType::Float64) if normalization.is_empty() => {
                if let Some(index) = data.iter().position(|v| !v.is_finite()) {
                    return Err(nonfinite(index));
                }
                Prepared::Borrowed(features.data)
            }
            (data, ElementType::Float32) => Prepared::Owned(TensorData::Float32(
                convert(
                    data,
                    columns,
                    normalization,
                    |v| v as f32,
                    |v| v.is_finite(),
                )
                .map_err(nonfinite)?,
            )),
            (data, ElementType::Float64) => Prepared::Owned(TensorData::Float64(
                convert(data, columns, normalization, |v| v, f64::is_finite).map_err(nonfinite)?,
            )),
            (_, other) => {
                return Err(Error::invalid_input(format!(
                    "predict supports models with a float32 or float64 input; this one takes {}",
                    other.name()
                )))
            }
        };
        Ok((shape.to_vec(), prepared))
    }

    fn run(
        &self,
        features: &Features<'_>,
        batch: bool,
        timeout: Option<std::time::Duration>,
    ) -> Result<(Vec<usize>, Vec<f64>)> {
        let (shape, data) = self.prepare(features, batch)?;
        let name = &self.session.inputs()[0].name;
        let input = NamedInput {
            name,
            shape,
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
        timeout: Option<std::time::Duration>,
    ) -> Result<Prediction> {
        let (_, values) = self.run(features, false, timeout)?;
        let per_window = match self.spec.task {
            Task::Regression(_) => 1,
            _ => values.len() / window_shape(features.shape, false)?[0].max(1),
        };
        self.decode(&values[..per_window.min(values.len())])
    }

    /// Predictions for every window of a `[windows, seq, features]` array, in one run.
    pub fn predict_batch(
        &self,
        features: &Features<'_>,
        timeout: Option<std::time::Duration>,
    ) -> Result<BatchPrediction> {
        let windows = window_shape(features.shape, true)?[0];
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
    fn decode(&self, values: &[f64]) -> Result<Prediction> {
        let spec = self.spec;
        match &spec.task {
            Task::Regression(scaling) => {
                let raw = values[0];
                let price = match *scaling {
                    PriceScaling::Identity => raw,
                    PriceScaling::MeanStd { mean, std } => raw * std + mean,
                    PriceScaling::Constant(mean) => mean,
                };
                let (confidence, direction) = if price.is_finite() {
                    let direction = if price > spec.direction_threshold {
                        1
                    } else if price < -spec.direction_threshold {
                        -1
                    } else {
                        0
                    };
                    (
                        (price.abs() * spec.confidence_scale_factor).min(1.0),
                        direction,
                    )
                } else {
                    (0.0, 0)
                };
                Ok(Prediction {
                    price,
                    confidence,
                    direction,
                    probabilities: None,
                })
            }
            Task::Binary { labels } => {
                if values.len() != 1 {
                    return Err(self.output_error(format!(
                        "binary_classification expects a single sigmoid output value, got {}",
                        values.len()
                    )));
                }
                let p_up = values[0];
                if !p_up.is_finite() {
                    return Err(self.output_error(format!(
                        "binary_classification output is not finite: {p_up}"
                    )));
                }
                let p_up = p_up.clamp(0.0, 1.0);
                Ok(classified(vec![1.0 - p_up, p_up], labels))
            }
            Task::Ternary { labels } => {
                if values.len() != labels.len() {
                    return Err(self.output_error(format!(
                        "ternary_classification expects {} probabilities (one per class label), got {}",
                        labels.len(),
                        values.len()
                    )));
                }
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(self
                        .output_error(format!("classification output is not finite: {values:?}")));
                }
                let sum: f64 = values.iter().sum();
                let in_range = values.iter().all(|&v| {
                    (-PROBABILITY_RANGE_TOLERANCE..=1.0 + PROBABILITY_RANGE_TOLERANCE).contains(&v)
                });
                if !in_range || (sum - 1.0).abs() > PROBABILITY_SUM_TOLERANCE {
                    return Err(self.output_error(format!(
                        "classification output {values:?} (sum {sum}) does not look like softmax probabilities; the model may output raw logits"
                    )));
                }
                Ok(classified(
                    values.iter().map(|v| v.clamp(0.0, 1.0)).collect(),
                    labels,
                ))
            }
        }
    }
}

/// A prepared model input: the caller's buffer itself, or a converted copy.
enum Prepared<'a> {
    Borrowed(TensorView<'a>),
    Owned(TensorData),
}

impl Prepared<'_> {
    fn view(&self) -> TensorView<'_> {
        match self {
            Self::Borrowed(view) => *view,
            Self::Owned(data) => data.view(),
        }
    }
}

fn nonfinite_error(shape: [usize; 3], batch: bool, index: usize) -> Error {
    let [windows, seq, columns] = shape;
    let per_window = (seq * columns).max(1);
    let (window, rest) = (index / per_window, index % per_window);
    let step = rest / columns.max(1);
    let feature = rest % columns.max(1);
    let at = if batch || windows > 1 {
        format!("window {window}, step {step}, feature {feature}")
    } else {
        format!("step {step}, feature {feature}")
    };
    Error::invalid_input(format!(
        "features contain NaN or infinite values after preparation (first at {at}); clean the input before predicting"
    ))
}

/// Converts `data` row by row, normalising each column; `Err(index)` at the first value that is
/// not finite once written.
fn convert<D: Copy>(
    data: TensorView<'_>,
    columns: usize,
    normalization: &[Option<(f64, f64)>],
    write: impl Fn(f64) -> D,
    is_finite: impl Fn(D) -> bool,
) -> std::result::Result<Vec<D>, usize> {
    fn rows<S: Copy, D: Copy>(
        source: &[S],
        columns: usize,
        normalization: &[Option<(f64, f64)>],
        read: impl Fn(S) -> f64,
        write: &impl Fn(f64) -> D,
        is_finite: &impl Fn(D) -> bool,
    ) -> std::result::Result<Vec<D>, usize> {
        let mut out = Vec::with_capacity(source.len());
        for row in source.chunks(columns.max(1)) {
            for (column, &raw) in row.iter().enumerate() {
                let value = match normalization.get(column) {
                    Some(Some((mean, std))) => (read(raw) - mean) / std,
                    _ => read(raw),
                };
                let value = write(value);
                if !is_finite(value) {
                    return Err(out.len());
                }
                out.push(value);
            }
        }
        Ok(out)
    }
    let (w, f) = (&write, &is_finite);
    match data {
        TensorView::Float32(d) => rows(d, columns, normalization, f64::from, w, f),
        TensorView::Float64(d) => rows(d, columns, normalization, |v| v, w, f),
        TensorView::Int64(d) => rows(d, columns, normalization, |v| v as f64, w, f),
        TensorView::Int32(d) => rows(d, columns, normalization, f64::from, w, f),
        TensorView::Int16(d) => rows(d, columns, normalization, f64::from, w, f),
        TensorView::Int8(d) => rows(d, columns, normalization, f64::from, w, f),
        TensorView::Uint64(d) => rows(d, columns, normalization, |v| v as f64, w, f),
        TensorView::Uint32(d) => rows(d, columns, normalization, f64::from, w, f),
        TensorView::Uint16(d) => rows(d, columns, normalization, f64::from, w, f),
        TensorView::Uint8(d) => rows(d, columns, normalization, f64::from, w, f),
        // Refused by `prepare` before conversion; kept total for the match.
        TensorView::Bool(d) => rows(d, columns, normalization, |v| f64::from(u8::from(v)), w, f),
    }
}

fn classified(probabilities: Vec<f64>, labels: &[i8]) -> Prediction {
    // The first maximum wins ties, as numpy's argmax does.
    let mut best = 0;
    for (index, &p) in probabilities.iter().enumerate() {
        if p > probabilities[best] {
            best = index;
        }
    }
    Prediction {
        price: f64::NAN,
        confidence: probabilities[best],
        direction: labels[best],
        probabilities: Some(probabilities),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalisation_follows_feature_names_and_sanitises_std() {
        let metadata = json!({
            "feature_names": ["a", "b", "c"],
            "normalization_params": {"c": {"mean": 1.0, "std": 0.0}, "a": {"mean": 2.0, "std": 4.0}},
        });
        let spec = PredictionSpec::from_metadata(&metadata, 10.0, 0.01).unwrap();
        assert_eq!(
            spec.normalization,
            vec![Some((2.0, 4.0)), None, Some((1.0, EPSILON))]
        );
    }

    #[test]
    fn legacy_metadata_uses_key_order() {
        let metadata = json!({"normalization_params": {"x": {"mean": 1.0}, "y": {"std": 2.0}}});
        let spec = PredictionSpec::from_metadata(&metadata, 10.0, 0.01).unwrap();
        assert_eq!(spec.normalization, vec![Some((1.0, 1.0)), Some((0.0, 2.0))]);
    }

    #[test]
    fn price_scaling_matches_upstream() {
        assert_eq!(
            price_scaling(Some(
                &json!({"method": "rolling_minmax", "mean": 3.0, "std": 2.0})
            )),
            PriceScaling::Identity
        );
        assert_eq!(
            price_scaling(Some(&json!({"mean": 3.0, "std": 2.0}))),
            PriceScaling::MeanStd {
                mean: 3.0,
                std: 2.0
            }
        );
        assert_eq!(
            price_scaling(Some(&json!({"mean": 3.0, "std": 0.0}))),
            PriceScaling::Constant(3.0)
        );
        assert_eq!(
            price_scaling(Some(&json!({"mean": 3.0}))),
            PriceScaling::Identity
        );
    }

    #[test]
    fn classification_needs_labels() {
        let error = PredictionSpec::from_metadata(
            &json!({"task_type": "ternary_classification"}),
            10.0,
            0.01,
        )
        .unwrap_err();
        assert!(error.to_string().contains("class_labels"));
        let spec = PredictionSpec::from_metadata(
            &json!({"task_type": "binary_classification", "class_labels": ["-1", 1]}),
            10.0,
            0.01,
        )
        .unwrap();
        assert_eq!(spec.task, Task::Binary { labels: [-1, 1] });
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        let prediction = classified(vec![0.4, 0.4, 0.2], &[-1, 0, 1]);
        assert_eq!(prediction.direction, -1);
        assert!(prediction.price.is_nan());
    }

    #[test]
    fn windows_are_shaped_like_upstream() {
        assert_eq!(window_shape(&[5], false).unwrap(), [1, 1, 5]);
        assert_eq!(window_shape(&[120, 5], false).unwrap(), [1, 120, 5]);
        assert_eq!(window_shape(&[2, 120, 5], false).unwrap(), [2, 120, 5]);
        assert!(window_shape(&[1, 1, 1, 1], false).is_err());
        assert!(window_shape(&[120, 5], true).is_err());
    }
}
