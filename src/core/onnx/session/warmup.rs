//! The warm-up at open: one run on zeros of the smallest valid shape ([`crate::core::onnx::zeros`]),
//! so the first real call is not slow, within a cap on the zeros' size and an optional deadline.

use std::time::Duration;

use super::InferenceSession;
use crate::core::error::Result;
use crate::core::onnx::tensor::{element_count, format_shape, NamedInput, TensorData};
use crate::core::onnx::zeros::{zero_shapes, DynamicDims, ZeroInputSpec, ZerosRefused};

/// One all-zeros input: its name, shape and data.
pub type ZeroInput = (String, Vec<usize>, TensorData);

/// What a warm-up did.
pub(super) enum WarmUp {
    Done,
    /// Some dimension other than the batch is dynamic: no shape is known to be valid.
    DynamicShape,
    /// The zeros would exceed the cap, or the memory there is; the reason says which.
    TooLarge(String),
}

impl InferenceSession {
    /// A zeros input per model input with every dimension known (dynamic batch taken as 1, the
    /// smallest valid batch: [`DynamicDims::BatchOnly`]), or `None` when some other dimension is
    /// dynamic. `Err` carries the reason when the inputs together would need more than
    /// `max_bytes`, or more memory than there is: the shapes come from the model file, so
    /// nothing is allocated before both checks.
    pub(super) fn zeros_inputs(
        &self,
        max_bytes: usize,
    ) -> std::result::Result<Option<Vec<ZeroInput>>, String> {
        // alloc: one entry per graph input, which ONNX Runtime already holds.
        let mut specs = Vec::with_capacity(self.inputs.len());
        for spec in &self.inputs {
            // An element type the core cannot build zeros of: no run is known to be valid.
            let Some(element_size) = spec.element_type.size() else {
                return Ok(None);
            };
            specs.push(ZeroInputSpec {
                name: &spec.name,
                shape: &spec.shape,
                element_size,
            });
        }
        let shapes = match zero_shapes(specs, DynamicDims::BatchOnly, max_bytes) {
            Ok(shapes) => shapes,
            Err(ZerosRefused::NoKnownShape | ZerosRefused::BadDimension { .. }) => return Ok(None),
            Err(ZerosRefused::TooLarge { input, shape, .. }) => {
                return Err(format!(
                    "its warm-up inputs would need more than {max_bytes} bytes (input {input:?} has shape {})",
                    format_shape(shape.iter().map(usize::to_string))
                ))
            }
        };
        // alloc: one entry per graph input, which ONNX Runtime already holds.
        let mut zeros = Vec::with_capacity(self.inputs.len());
        for (spec, shape) in self.inputs.iter().zip(shapes) {
            // Within the cap, so the count fits.
            let elements = element_count(&shape).unwrap_or(0);
            let zeros_of = || format!("the warm-up zeros of input {:?}", spec.name);
            let Some(data) = TensorData::try_zeros(spec.element_type, elements, zeros_of)
                .map_err(|error| error.to_string())?
            else {
                return Ok(None);
            };
            zeros.push((spec.name.clone(), shape, data));
        }
        Ok(Some(zeros))
    }

    /// Runs the model once on zeros of the smallest valid shape, within `timeout`.
    pub(super) fn warm_up(&self, max_bytes: usize, timeout: Option<Duration>) -> Result<WarmUp> {
        let zeros = match self.zeros_inputs(max_bytes) {
            Ok(Some(zeros)) => zeros,
            Ok(None) => return Ok(WarmUp::DynamicShape),
            Err(reason) => return Ok(WarmUp::TooLarge(reason)),
        };
        let inputs: Vec<NamedInput<'_>> = zeros
            .iter()
            .map(|(name, shape, data)| NamedInput {
                name,
                shape: shape.clone(),
                data: data.view(),
            })
            .collect();
        self.run(&inputs, timeout)?;
        Ok(WarmUp::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_model::{runtime, DOUBLE_MODEL, HUGE_MODEL};
    use super::super::{ModelSource, SessionOptions};
    use super::*;

    #[test]
    fn warm_up_inputs_are_capped() {
        if runtime().is_none() {
            return;
        }
        let session = InferenceSession::open(
            ModelSource::Bytes(&DOUBLE_MODEL),
            &SessionOptions {
                warmup_max_bytes: 4,
                ..SessionOptions::default()
            },
        )
        .unwrap();
        assert!(
            session
                .warnings()
                .iter()
                .any(|w| w.contains("without warm-up")),
            "{:?}",
            session.warnings()
        );
        let zeros = session.zeros_inputs(12).unwrap().unwrap();
        assert_eq!(zeros[0].1, vec![1, 3]);
        assert!(session.zeros_inputs(11).is_err());
    }

    #[test]
    fn warm_up_zeros_memory_cannot_hold_skip_the_warm_up() {
        if runtime().is_none() {
            return;
        }
        // No cap: the zeros (8 PiB) pass the size check and fail to allocate, which skips the
        // warm-up with the reason instead of aborting the process.
        let session = InferenceSession::open(
            ModelSource::Bytes(&HUGE_MODEL),
            &SessionOptions {
                warmup_max_bytes: usize::MAX,
                ..SessionOptions::default()
            },
        )
        .unwrap();
        assert_eq!(
            session.warnings(),
            ["opened without warm-up: not enough memory for the warm-up zeros of input \"x\" (9007199250546688 bytes)"]
        );
    }
}
