//! All-zero inputs for a model, in one place: the shapes its warm-up runs on when a session
//! opens, and those validation (`atb models validate`, `promote`) checks a bundle with. Both
//! fill a model's dynamic dimensions by the rules below and stop at one cap on the zeros' bytes
//! ([`DEFAULT_WARMUP_MAX_BYTES`](super::session::DEFAULT_WARMUP_MAX_BYTES) by default), checked
//! before anything is allocated: the shapes come from a model file and a bundle's JSON.

use std::fmt;

use super::tensor::format_shape;

/// One model input as the zeros need it.
#[derive(Debug, Clone, Copy)]
pub struct ZeroInputSpec<'a> {
    /// The input's name (for messages).
    pub name: &'a str,
    /// Its dimensions; `None` where the model leaves one dynamic.
    pub shape: &'a [Option<i64>],
    /// Bytes per element.
    pub element_size: usize,
}

/// How the zeros fill a dimension the model leaves dynamic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DynamicDims {
    /// Only a dynamic batch (the first dimension) is known to be valid: it is taken as 1, the
    /// smallest batch. Any other dynamic dimension leaves no shape known to be valid. A session
    /// opened outside a registry knows nothing more; its warm-up must not fail on a guess.
    BatchOnly,
    /// A check's shapes: batch 1; a `[batch, sequence, features]` input's sequence and features
    /// from the window the bundle declares (`predict::DeclaredWindow`); any other dynamic (or
    /// undeclared) dimension 1. A run that fails on them is a finding of the check.
    Declared {
        /// The declared sequence length.
        sequence_length: Option<usize>,
        /// The declared feature count.
        feature_count: Option<usize>,
    },
}

/// Why no zeros are built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZerosRefused {
    /// [`DynamicDims::BatchOnly`] and a dimension other than the batch is dynamic, or is one no
    /// array can have (negative).
    NoKnownShape,
    /// A dimension no array can have, under [`DynamicDims::Declared`].
    BadDimension {
        /// The input's name.
        input: String,
        /// The dimension.
        dimension: i64,
    },
    /// The zeros of the inputs up to `input` would need more than `max_bytes` together.
    TooLarge {
        /// The input whose zeros pass the cap.
        input: String,
        /// Its shape.
        shape: Vec<usize>,
        /// Its zeros' bytes (`None`: too many to count).
        needed: Option<u128>,
        /// The cap.
        max_bytes: usize,
    },
}

impl fmt::Display for ZerosRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoKnownShape => f.write_str("a dimension other than the batch is dynamic"),
            Self::BadDimension { input, dimension } => write!(
                f,
                "input '{input}' has a dimension of {dimension}, which no array can have"
            ),
            Self::TooLarge {
                input,
                shape,
                needed,
                max_bytes,
            } => {
                let shape = format_shape(shape.iter().map(usize::to_string));
                match needed {
                    Some(needed) => write!(f, "input '{input}' of shape {shape} would need {needed} bytes")?,
                    None => write!(f, "input '{input}' of shape {shape} would need more bytes than can be counted")?,
                }
                write!(f, " (the all-zero inputs may take at most {max_bytes})")
            }
        }
    }
}

/// The shape of each input's zeros, in order, or why there are none. The bytes of every input's
/// zeros so far are added up and compared with `max_bytes` before the next shape is taken, so a
/// hostile shape is refused by arithmetic alone.
pub fn zero_shapes<'a>(
    inputs: impl IntoIterator<Item = ZeroInputSpec<'a>>,
    dynamic: DynamicDims,
    max_bytes: usize,
) -> Result<Vec<Vec<usize>>, ZerosRefused> {
    let mut total: u128 = 0;
    let mut shapes = Vec::new();
    for input in inputs {
        let rank = input.shape.len();
        // alloc: one entry per dimension of a graph input, which ONNX Runtime already holds.
        let mut shape = Vec::with_capacity(rank);
        for (axis, dimension) in input.shape.iter().enumerate() {
            let fixed = dimension.map(|d| usize::try_from(d).map_err(|_| d));
            let value = match (fixed, dynamic) {
                (Some(Ok(value)), _) => value,
                (Some(Err(_)), DynamicDims::BatchOnly) => return Err(ZerosRefused::NoKnownShape),
                (Some(Err(dimension)), DynamicDims::Declared { .. }) => {
                    return Err(ZerosRefused::BadDimension {
                        input: input.name.to_owned(),
                        dimension,
                    })
                }
                (None, _) if axis == 0 => 1,
                (None, DynamicDims::BatchOnly) => return Err(ZerosRefused::NoKnownShape),
                (
                    None,
                    DynamicDims::Declared {
                        sequence_length,
                        feature_count,
                    },
                ) => match (rank, axis) {
                    (3, 1) => sequence_length.unwrap_or(1),
                    (3, 2) => feature_count.unwrap_or(1),
                    _ => 1,
                },
            };
            shape.push(value);
        }
        let needed = shape
            .iter()
            .try_fold(input.element_size as u128, |bytes, &d| {
                bytes.checked_mul(d as u128)
            });
        total = needed
            .and_then(|n| total.checked_add(n))
            .unwrap_or(u128::MAX);
        if needed.is_none() || total > max_bytes as u128 {
            return Err(ZerosRefused::TooLarge {
                input: input.name.to_owned(),
                shape,
                needed,
                max_bytes,
            });
        }
        shapes.push(shape);
    }
    Ok(shapes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(name: &'a str, shape: &'a [Option<i64>]) -> ZeroInputSpec<'a> {
        ZeroInputSpec {
            name,
            shape,
            element_size: 4,
        }
    }

    const DECLARED: DynamicDims = DynamicDims::Declared {
        sequence_length: Some(30),
        feature_count: Some(2),
    };

    #[test]
    fn dynamic_dimensions_are_filled_by_the_rule_asked_for() {
        let window = [None, None, None];
        let counts = [None, Some(2)];
        let inputs = [spec("window", &window), spec("counts", &counts)];
        assert_eq!(
            zero_shapes(inputs, DECLARED, usize::MAX).unwrap(),
            [vec![1, 30, 2], vec![1, 2]]
        );
        let undeclared = DynamicDims::Declared {
            sequence_length: None,
            feature_count: None,
        };
        assert_eq!(
            zero_shapes(inputs, undeclared, usize::MAX).unwrap(),
            [vec![1, 1, 1], vec![1, 2]]
        );
        // A warm-up takes only the batch as known.
        assert_eq!(
            zero_shapes(
                [spec("counts", &counts)],
                DynamicDims::BatchOnly,
                usize::MAX
            )
            .unwrap(),
            [vec![1, 2]]
        );
        assert_eq!(
            zero_shapes(inputs, DynamicDims::BatchOnly, usize::MAX),
            Err(ZerosRefused::NoKnownShape)
        );
        assert_eq!(
            zero_shapes([spec("x", &[Some(-3)])], DECLARED, usize::MAX)
                .unwrap_err()
                .to_string(),
            "input 'x' has a dimension of -3, which no array can have"
        );
    }

    #[test]
    fn the_cap_counts_every_input_before_any_allocation() {
        let window = [None, None, Some(3)];
        let at = |max_bytes| zero_shapes([spec("x", &window)], DECLARED, max_bytes);
        assert!(at(360).is_ok());
        assert_eq!(
            at(359).unwrap_err().to_string(),
            "input 'x' of shape (1, 30, 3) would need 360 bytes (the all-zero inputs may take at \
             most 359)"
        );
        // Two inputs of 8 bytes each pass a cap of 8 alone, not together.
        let pair = [Some(2)];
        let two = [spec("a", &pair), spec("b", &pair)];
        assert!(zero_shapes(two, DECLARED, 16).is_ok());
        assert!(matches!(
            zero_shapes(two, DECLARED, 15),
            Err(ZerosRefused::TooLarge { ref input, .. }) if input == "b"
        ));
        let huge = [Some(i64::MAX), Some(i64::MAX), Some(i64::MAX)];
        assert_eq!(
            zero_shapes([spec("h", &huge)], DECLARED, usize::MAX)
                .unwrap_err()
                .to_string(),
            format!(
                "input 'h' of shape ({0}, {0}, {0}) would need more bytes than can be counted \
                 (the all-zero inputs may take at most {1})",
                i64::MAX,
                usize::MAX
            )
        );
    }
}
