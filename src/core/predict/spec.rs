//! The prediction spec: what `predict` needs from a bundle's metadata and the configuration
//! (normalisation, price denormalisation, task and class labels), built once per bundle.

use serde_json::Value;

use super::bars::{self, BarFeatures, RollingPrice};
use super::columns::{feature_names, metadata_feature_count, schema_feature_count};
use crate::core::error::{Error, Result};

/// A window dimension a bundle declares, and the file that declares it (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    /// The dimension (positive).
    pub value: usize,
    /// `"metadata.json"` or `"feature_schema.json"`.
    pub file: &'static str,
}

/// The window a bundle declares in its JSON, for a model that leaves a dimension dynamic. The
/// one rule, which validation and prediction both follow:
/// - the sequence length is `feature_schema.json`'s `sequence_length`, else `metadata.json`'s:
///   upstream's `PredictionEngine` windows a bundle with a feature schema by the schema's
///   (`_select_schema_features`), so the schema wins when the two files disagree;
/// - the feature count is `metadata.json`'s `feature_names` count, else `feature_schema.json`'s
///   `features` count: `feature_names` are the columns a DataFrame is read by.
///
/// A dimension the model fixes wins over both ([`super::input_window`]); a file that disagrees with
/// the model is a shape problem of the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeclaredWindow {
    /// Bars per window, when declared.
    pub sequence_length: Option<Declared>,
    /// Feature columns per bar, when declared.
    pub feature_count: Option<Declared>,
}

/// The file names the declared window names in messages.
pub(super) const METADATA: &str = "metadata.json";
pub(super) const FEATURE_SCHEMA: &str = "feature_schema.json";

impl DeclaredWindow {
    /// The window `metadata` and `feature_schema` declare (either may be absent).
    pub fn of(metadata: Option<&Value>, feature_schema: Option<&Value>) -> Self {
        let length = |document: Option<&Value>, file| {
            let value = document?.get("sequence_length")?.as_u64()?;
            let value = usize::try_from(value).ok().filter(|&n| n > 0)?;
            Some(Declared { value, file })
        };
        let declared = |value: Option<usize>, file| value.map(|value| Declared { value, file });
        Self {
            sequence_length: length(feature_schema, FEATURE_SCHEMA)
                .or_else(|| length(metadata, METADATA)),
            feature_count: declared(metadata.and_then(metadata_feature_count), METADATA).or_else(
                || {
                    declared(
                        feature_schema.and_then(schema_feature_count),
                        FEATURE_SCHEMA,
                    )
                },
            ),
        }
    }
}

/// Standard deviations at or below this (or non-finite) are replaced, as upstream does.
const EPSILON: f64 = 1e-8;

/// How a regression output maps back to a price.
#[derive(Debug, Clone, PartialEq)]
pub enum PriceScaling {
    /// Output is used as is (no `price_normalization`, or `rolling_minmax`, which needs the
    /// bars: [`PredictionSpec::rolling_price`]).
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
    /// The window the bundle's JSON declares, for a model that leaves it dynamic.
    pub declared_window: DeclaredWindow,
    /// How the features come from raw OHLCV bars, or why they cannot.
    pub bar_features: std::result::Result<BarFeatures, String>,
    /// How a `rolling_minmax` output maps back to a price, given the bars.
    pub rolling_price: Option<RollingPrice>,
    /// How to read the output.
    pub task: Task,
    /// `confidence = min(1, |price| * confidence_scale_factor)` for regression.
    pub confidence_scale_factor: f64,
    /// `|price| > direction_threshold` gives a direction for regression.
    pub direction_threshold: f64,
    /// What upstream warns about in this metadata (sanitised parameters, legacy key order), for
    /// the binding to log once rather than on every call as upstream does.
    pub warnings: Vec<String>,
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
    /// Builds the spec from `metadata.json` (an object; `Value::Null` when the bundle has none)
    /// and `feature_schema.json`, which only the declared window reads.
    pub fn from_documents(
        metadata: &Value,
        feature_schema: Option<&Value>,
        confidence_scale_factor: f64,
        direction_threshold: f64,
    ) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidArgument(format!("metadata.json: {reason}"));
        let names = feature_names(metadata);
        let params = metadata
            .get("normalization_params")
            .and_then(Value::as_object)
            .filter(|params| !params.is_empty());
        let mut warnings = Vec::new();
        // A key present with a null value came from `NaN`/`Infinity` in the file: non-finite,
        // which upstream sanitises (mean to 0, std to EPSILON); an absent key takes the default.
        let mut column_params = |name: &str, param: &Value| {
            let read = |key: &str, default: f64| match param.get(key) {
                None => default,
                Some(value) => value.as_f64().unwrap_or(f64::NAN),
            };
            let (mean, std) = (read("mean", 0.0), read("std", 1.0));
            let mean = if mean.is_finite() {
                mean
            } else {
                warnings.push(format!(
                    "normalization_params[{name:?}] has a non-finite mean; using 0.0"
                ));
                0.0
            };
            let std = if std.is_finite() && std != 0.0 {
                std
            } else {
                warnings.push(format!(
                    "normalization_params[{name:?}] has a zero or non-finite std; using {EPSILON:e}"
                ));
                EPSILON
            };
            (mean, std)
        };
        let normalization = match (params, &names) {
            (None, _) => Vec::new(),
            (Some(params), Some(names)) => {
                let normalization: Vec<_> = names
                    .iter()
                    .map(|name| params.get(*name).map(|param| column_params(name, param)))
                    .collect();
                let missing: Vec<String> = names
                    .iter()
                    .zip(&normalization)
                    .filter(|(_, params)| params.is_none())
                    .map(|(name, _)| format!("{name:?}"))
                    .collect();
                if !missing.is_empty() {
                    warnings.push(format!(
                        "feature_names {} have no normalization_params entry; they stay unnormalised",
                        missing.join(", ")
                    ));
                }
                normalization
            }
            // Legacy bundles without feature names: upstream applies the parameters in key order.
            (Some(params), None) => {
                let normalization = params
                    .iter()
                    .map(|(name, param)| Some(column_params(name, param)))
                    .collect();
                warnings.insert(
                    0,
                    "metadata has normalization_params but no feature_names; features are \
                     normalised in the key order of normalization_params"
                        .to_owned(),
                );
                normalization
            }
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
            "regression" => {
                let (scaling, warning) = price_scaling(metadata.get("price_normalization"));
                warnings.extend(warning);
                Task::Regression(scaling)
            }
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
        // Classifiers have no price to map back.
        let rolling_price = match bars::rolling_price(metadata) {
            Ok(price) => price.filter(|_| matches!(task, Task::Regression(_))),
            Err(reason) => {
                warnings.push(format!(
                    "{reason}; rolling_minmax prices from raw bars stay the model's output, as \
                     upstream's engine leaves them"
                ));
                None
            }
        };
        Ok(Self {
            normalization,
            declared_features: names.map(|names| names.len()),
            declared_window: DeclaredWindow::of(Some(metadata), feature_schema),
            bar_features: bars::bar_features(metadata),
            rolling_price,
            task,
            confidence_scale_factor,
            direction_threshold,
            warnings,
        })
    }

    /// One input value of `column`, normalised as `predict` does.
    pub fn normalise(&self, column: usize, value: f64) -> f64 {
        normalise(&self.normalization, column, value)
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

/// `(value - mean) / std` where `column` has parameters, else `value` unchanged.
pub fn normalise(normalization: &[Option<(f64, f64)>], column: usize, value: f64) -> f64 {
    match normalization.get(column) {
        Some(Some((mean, std))) => (value - mean) / std,
        _ => value,
    }
}

/// How the output maps back to a price, and what upstream would warn about on the way.
fn price_scaling(params: Option<&Value>) -> (PriceScaling, Option<String>) {
    let identity = |reason: &str| {
        (
            PriceScaling::Identity,
            Some(format!(
                "price_normalization {reason}; the model output is used as the price"
            )),
        )
    };
    let Some(params) = params.filter(|p| p.as_object().map_or(true, |p| !p.is_empty())) else {
        return (PriceScaling::Identity, None);
    };
    let Some(params) = params.as_object() else {
        return identity("is not an object");
    };
    if params.get("method").and_then(Value::as_str) == Some("rolling_minmax") {
        return (PriceScaling::Identity, None);
    }
    let (Some(mean), Some(std)) = (params.get("mean"), params.get("std")) else {
        return identity("has no mean/std");
    };
    // A `NaN`/`Infinity` token was read as null; anything not a number is as unusable.
    match (number(Some(mean)), number(Some(std))) {
        (Some(mean), Some(std)) if mean.is_finite() && std.is_finite() => {
            if std == 0.0 {
                (
                    PriceScaling::Constant(mean),
                    Some("price_normalization has std 0; every prediction is its mean".to_owned()),
                )
            } else {
                (PriceScaling::MeanStd { mean, std }, None)
            }
        }
        _ => identity("has a non-finite mean or std"),
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
        let spec = PredictionSpec::from_documents(&metadata, None, 10.0, 0.01).unwrap();
        assert_eq!(
            spec.normalization,
            vec![Some((2.0, 4.0)), None, Some((1.0, EPSILON))]
        );
    }

    #[test]
    fn legacy_metadata_uses_key_order() {
        let metadata = json!({"normalization_params": {"x": {"mean": 1.0}, "y": {"std": 2.0}}});
        let spec = PredictionSpec::from_documents(&metadata, None, 10.0, 0.01).unwrap();
        assert_eq!(spec.normalization, vec![Some((1.0, 1.0)), Some((0.0, 2.0))]);
    }

    #[test]
    fn price_scaling_matches_upstream() {
        let scaling = |params: Value| price_scaling(Some(&params));
        assert_eq!(
            scaling(json!({"method": "rolling_minmax", "mean": 3.0, "std": 2.0})),
            (PriceScaling::Identity, None)
        );
        assert_eq!(
            scaling(json!({"mean": 3.0, "std": 2.0})),
            (
                PriceScaling::MeanStd {
                    mean: 3.0,
                    std: 2.0
                },
                None
            )
        );
        assert_eq!(scaling(json!({})), (PriceScaling::Identity, None));
        let (constant, warning) = scaling(json!({"mean": 3.0, "std": 0.0}));
        assert_eq!(constant, PriceScaling::Constant(3.0));
        assert!(warning.unwrap().contains("std 0"));
        for params in [
            json!({"mean": 3.0}),
            json!({"mean": null, "std": 1.0}),
            json!(5),
        ] {
            let (identity, warning) = scaling(params);
            assert_eq!(identity, PriceScaling::Identity);
            assert!(warning.is_some());
        }
    }

    #[test]
    fn sanitised_parameters_are_reported() {
        let metadata = json!({
            "feature_names": ["a", "b", "c"],
            "normalization_params": {"a": {"mean": null, "std": 0.0}, "c": {"std": null}},
        });
        let spec = PredictionSpec::from_documents(&metadata, None, 10.0, 0.01).unwrap();
        let text = spec.warnings.join("\n");
        assert!(text.contains("\"a\"] has a non-finite mean"), "{text}");
        assert!(
            text.contains("\"a\"] has a zero or non-finite std"),
            "{text}"
        );
        assert!(
            text.contains("\"c\"] has a zero or non-finite std"),
            "{text}"
        );
        assert!(text.contains("feature_names \"b\" have no"), "{text}");
        let legacy = json!({"normalization_params": {"x": {"mean": 1.0}}});
        let spec = PredictionSpec::from_documents(&legacy, None, 10.0, 0.01).unwrap();
        assert!(spec.warnings[0].contains("no feature_names"));
        let clean = json!({"feature_names": ["x"], "normalization_params": {"x": {"mean": 1.0}}});
        let spec = PredictionSpec::from_documents(&clean, None, 10.0, 0.01).unwrap();
        assert!(spec.warnings.is_empty());
    }

    #[test]
    fn classification_needs_labels() {
        let error = PredictionSpec::from_documents(
            &json!({"task_type": "ternary_classification"}),
            None,
            10.0,
            0.01,
        )
        .unwrap_err();
        assert!(error.to_string().contains("class_labels"));
        let spec = PredictionSpec::from_documents(
            &json!({"task_type": "binary_classification", "class_labels": ["-1", 1]}),
            None,
            10.0,
            0.01,
        )
        .unwrap();
        assert_eq!(spec.task, Task::Binary { labels: [-1, 1] });
    }
}
