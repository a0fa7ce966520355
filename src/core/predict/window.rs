//! The window a bundle predicts from: `[sequence_length, features]`, from the model's input where
//! it fixes them, else from `metadata.json`. Sweeps, raw-bar prediction and sweep planning all
//! ask here, so they agree on how many bars a window spans and how many columns it reads.

use super::spec::PredictionSpec;
use crate::core::onnx::tensor::TensorSpec;

/// The dimensions of one model input window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputWindow {
    /// Bars (time steps) per window.
    pub sequence_length: usize,
    /// Feature columns per bar.
    pub feature_count: usize,
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
    let dimension = |name: &str, model: Option<i64>, declared: Option<usize>| match (
        model.and_then(|d| usize::try_from(d).ok()),
        declared,
    ) {
        (Some(model), Some(declared)) if model != declared => Err(format!(
            "the model's {name} is {model}, but metadata.json declares {declared}"
        )),
        (Some(value), _) | (None, Some(value)) if value > 0 => Ok(value),
        _ => Err(format!(
            "the model leaves its {name} dynamic and metadata.json declares none"
        )),
    };
    Ok(InputWindow {
        sequence_length: dimension(
            "sequence length",
            model_length,
            spec.declared_sequence_length,
        )?,
        feature_count: dimension("feature count", model_features, spec.declared_features)?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::onnx::tensor::ElementType;

    fn input(shape: &[Option<i64>]) -> Vec<TensorSpec> {
        vec![TensorSpec {
            name: "x".to_owned(),
            element_type: ElementType::Float32,
            shape: shape.to_vec(),
        }]
    }

    fn spec(metadata: serde_json::Value) -> PredictionSpec {
        PredictionSpec::from_metadata(&metadata, 10.0, 0.01).unwrap()
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
            "the model leaves its sequence length dynamic and metadata.json declares none"
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
