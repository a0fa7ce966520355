//! The window a bundle predicts from: `[sequence_length, features]`, from the model's input where
//! it fixes them, else as the bundle declares them ([`super::DeclaredWindow`]). Sweeps, raw-bar
//! prediction, sweep planning and validation's zero inputs all ask here, so they agree on how
//! many bars a window spans and how many columns it reads.

use std::ops::Range;

use super::spec::{Declared, PredictionSpec, FEATURE_SCHEMA, METADATA};
use crate::core::onnx::tensor::TensorSpec;

/// The dimensions of one model input window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputWindow {
    /// Bars (time steps) per window.
    pub sequence_length: usize,
    /// Feature columns per bar.
    pub feature_count: usize,
}

impl InputWindow {
    /// The first bar with a full window: a window ends at its bar and reaches back
    /// `sequence_length - 1` bars, so no earlier bar has one. Sweeps cut their batch grid from
    /// here, and sweep planning clips its ranges here ([`InputWindow::full_windows`]).
    pub fn first_full_bar(&self) -> usize {
        self.sequence_length.saturating_sub(1)
    }

    /// `ranges` of bars clipped to the bars that have a full window, emptied ranges dropped.
    pub fn full_windows(&self, ranges: &[Range<usize>]) -> Vec<Range<usize>> {
        let first = self.first_full_bar();
        ranges
            .iter()
            .map(|range| range.start.max(first)..range.end)
            .filter(|range| range.start < range.end)
            .collect()
    }
}

/// The window of a model taking one `[batch, sequence_length, features]` input: each dimension
/// as the model fixes it, else as `spec` declares it; `Err` says why there is none.
pub fn input_window(inputs: &[TensorSpec], spec: &PredictionSpec) -> Result<InputWindow, String> {
    let input = match inputs {
        [input] => input,
        inputs => {
            return Err(format!(
                "the model has {} inputs; a window goes to a model with exactly one",
                inputs.len()
            ))
        }
    };
    let [_, model_length, model_features] = input.shape[..] else {
        return Err(format!(
            "model input {:?} has shape {}; expected [batch, sequence_length, features]",
            input.name,
            input.shape_text()
        ));
    };
    let dimension = |name: &str, model: Option<i64>, declared: Option<Declared>| match (
        model.and_then(|d| usize::try_from(d).ok()),
        declared,
    ) {
        (Some(model), Some(Declared { value, file })) if model != value => Err(format!(
            "the model's {name} is {model}, but {file} declares {value}"
        )),
        (Some(value), _) | (None, Some(Declared { value, .. })) if value > 0 => Ok(value),
        _ => Err(format!(
            "the model leaves its {name} dynamic and neither {FEATURE_SCHEMA} nor {METADATA} \
             declares it"
        )),
    };
    let declared = spec.declared_window;
    Ok(InputWindow {
        sequence_length: dimension("sequence length", model_length, declared.sequence_length)?,
        feature_count: dimension("feature count", model_features, declared.feature_count)?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::onnx::tensor::ElementType;
    use crate::core::predict::DeclaredWindow;

    fn input(shape: &[Option<i64>]) -> Vec<TensorSpec> {
        vec![TensorSpec {
            name: "x".to_owned(),
            element_type: ElementType::Float32,
            shape: shape.to_vec(),
        }]
    }

    fn spec(metadata: serde_json::Value) -> PredictionSpec {
        PredictionSpec::from_documents(&metadata, None, 10.0, 0.01).unwrap()
    }

    #[test]
    fn the_declared_window_takes_the_schemas_length_and_the_metadatas_features() {
        let declared = |value, file| Some(Declared { value, file });
        let metadata = json!({"sequence_length": 60, "feature_names": ["a", 3, "b"]});
        let schema = json!({"sequence_length": 30, "features": [{"name": "a"}, {}, {"name": "c"}]});
        // The two files disagree on both: the schema's length, the metadata's features.
        assert_eq!(
            DeclaredWindow::of(Some(&metadata), Some(&schema)),
            DeclaredWindow {
                sequence_length: declared(30, "feature_schema.json"),
                feature_count: declared(2, "metadata.json"),
            }
        );
        // Each falls back on the other file.
        assert_eq!(
            DeclaredWindow::of(Some(&json!({})), Some(&schema)).feature_count,
            declared(3, "feature_schema.json")
        );
        assert_eq!(
            DeclaredWindow::of(Some(&metadata), Some(&json!({"sequence_length": 0}))),
            DeclaredWindow {
                sequence_length: declared(60, "metadata.json"),
                feature_count: declared(2, "metadata.json"),
            }
        );
        assert_eq!(DeclaredWindow::of(None, None), DeclaredWindow::default());
        // A dynamic model takes the declared window; a fixed dimension wins over it.
        let both = PredictionSpec::from_documents(&metadata, Some(&schema), 10.0, 0.01).unwrap();
        assert_eq!(
            input_window(&input(&[None, None, None]), &both),
            Ok(InputWindow {
                sequence_length: 30,
                feature_count: 2
            })
        );
        assert_eq!(
            input_window(&input(&[None, Some(60), None]), &both).unwrap_err(),
            "the model's sequence length is 60, but feature_schema.json declares 30"
        );
    }

    #[test]
    fn full_windows_start_at_the_bar_whose_window_is_full() {
        let window = InputWindow {
            sequence_length: 4,
            feature_count: 2,
        };
        assert_eq!(window.first_full_bar(), 3);
        assert_eq!(
            window.full_windows(&[0..2, 2..5, 7..9, 9..9]),
            vec![3..5, 7..9]
        );
        let one_bar = InputWindow {
            sequence_length: 1,
            feature_count: 1,
        };
        assert_eq!(one_bar.full_windows(&[0..3, 5..6]), vec![0..3, 5..6]);
    }

    #[test]
    fn fixed_dimensions_win_and_metadata_fills_dynamic_ones() {
        let declared = spec(json!({"sequence_length": 30, "feature_names": ["a", "b"]}));
        let window =
            |shape: &[Option<i64>], spec: &PredictionSpec| input_window(&input(shape), spec);
        assert_eq!(
            window(&[None, Some(30), Some(2)], &declared),
            Ok(InputWindow {
                sequence_length: 30,
                feature_count: 2
            })
        );
        assert_eq!(
            window(&[None, None, None], &declared),
            Ok(InputWindow {
                sequence_length: 30,
                feature_count: 2
            })
        );
        let silent = spec(json!({}));
        assert_eq!(
            window(&[None, Some(120), Some(3)], &silent),
            Ok(InputWindow {
                sequence_length: 120,
                feature_count: 3
            })
        );
        assert_eq!(
            window(&[None, None, Some(3)], &silent).unwrap_err(),
            "the model leaves its sequence length dynamic and neither feature_schema.json nor \
             metadata.json declares it"
        );
        assert_eq!(
            window(&[None, Some(20), Some(2)], &declared).unwrap_err(),
            "the model's sequence length is 20, but metadata.json declares 30"
        );
        assert_eq!(
            window(&[None, Some(30), Some(5)], &declared).unwrap_err(),
            "the model's feature count is 5, but metadata.json declares 2"
        );
        assert!(window(&[None, Some(30)], &declared)
            .unwrap_err()
            .contains("has shape (None, 30)"));
        assert!(input_window(&[], &declared)
            .unwrap_err()
            .contains("has 0 inputs"));
    }

    #[test]
    fn a_dimension_fixed_at_zero_is_no_window() {
        // A model may fix a dimension at 0 (the fuzzer makes such models): no window of zero
        // bars or zero columns is taken from it, whether or not metadata declares one.
        let silent = spec(json!({}));
        for shape in [[None, Some(0), Some(3)], [None, Some(30), Some(0)]] {
            assert!(input_window(&input(&shape), &silent).is_err(), "{shape:?}");
        }
        let declared = spec(json!({"sequence_length": 30, "feature_names": ["a", "b"]}));
        assert_eq!(
            input_window(&input(&[None, Some(0), Some(2)]), &declared).unwrap_err(),
            "the model's sequence length is 0, but metadata.json declares 30"
        );
    }
}
