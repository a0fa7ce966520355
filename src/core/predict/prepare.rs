//! Preparing the model input from the caller's window: upstream's reshaping, the feature-count
//! check, normalisation, NaN/Inf rejection and the cast to the model's dtype.

use crate::core::alloc;
use crate::core::error::{Error, Result};
use crate::core::onnx::tensor::{
    element_count, format_shape, ElementType, TensorData, TensorSpec, TensorView,
};
use crate::core::predict::spec::{normalise, PredictionSpec};

/// Feature windows as given by the caller: any float or integer dtype, 1-D, 2-D or 3-D.
#[derive(Debug, Clone, Copy)]
pub struct Features<'a> {
    /// The caller's dimensions.
    pub shape: &'a [usize],
    /// The data, C-contiguous.
    pub data: TensorView<'a>,
}

/// Upstream's reshaping: 1-D `[f]` -> `[1, 1, f]`, 2-D `[seq, f]` -> `[1, seq, f]`, 3-D kept.
pub(super) fn window_shape(shape: &[usize], batch: bool) -> Result<[usize; 3]> {
    match (shape, batch) {
        ([features], false) => Ok([1, 1, *features]),
        ([seq, features], false) => Ok([1, *seq, *features]),
        ([windows, seq, features], _) => Ok([*windows, *seq, *features]),
        (other, false) => Err(Error::invalid_input(format!(
            "features must be a 1-D, 2-D or 3-D array, got shape {}",
            format_shape(other.iter().map(usize::to_string))
        ))),
        (other, true) => Err(Error::invalid_input(format!(
            "predict_batch needs a 3-D array [windows, sequence_length, features], got shape {}",
            format_shape(other.iter().map(usize::to_string))
        ))),
    }
}

/// Prepares the model input: normalised, checked for NaN/Inf, cast to the model's dtype.
///
/// The common live case (float32 features for a float32 model, no normalisation) borrows the
/// caller's buffer after the NaN/Inf check instead of copying it.
///
/// `first_window` is the index of the first window in the caller's whole batch (a chunk of a
/// parallel `predict_batch` starts past 0), so an error names the window the caller knows.
pub(super) fn prepare<'f>(
    spec: &PredictionSpec,
    inputs: &[TensorSpec],
    features: &Features<'f>,
    batch: bool,
    first_window: usize,
) -> Result<([usize; 3], Prepared<'f>)> {
    let shape = window_shape(features.shape, batch)?;
    let columns = shape[2];
    if let Some(declared) = spec.declared_features {
        if !spec.normalization.is_empty() && declared != columns {
            return Err(Error::invalid_input(format!(
                    "feature count mismatch: metadata declares {declared} features (feature_names) but the input has {columns}"
                )));
        }
    }
    let element_type = match inputs {
        [input] => input.element_type,
        inputs => {
            return Err(Error::invalid_input(format!(
                "predict needs a model with exactly one input; this one has {}",
                inputs.len()
            )))
        }
    };
    let total = element_count(&shape);
    if total != Some(features.data.len()) {
        return Err(Error::invalid_input(format!(
            "features hold {} values, but their shape needs {}",
            features.data.len(),
            total.map_or("more than memory holds".to_owned(), |n| n.to_string())
        )));
    }
    if let TensorView::Bool(_) = features.data {
        return Err(Error::invalid_input(
            "features must be numbers, got an array of dtype bool",
        ));
    }
    let nonfinite = |index: usize| nonfinite_error(shape, batch, first_window, index);
    let normalization = &spec.normalization;
    let prepared = match (features.data, element_type) {
        (TensorView::Float32(data), ElementType::Float32) if normalization.is_empty() => {
            if let Some(index) = first_nonfinite(data, f32::is_finite) {
                return Err(nonfinite(index));
            }
            Prepared::Borrowed(features.data)
        }
        (TensorView::Float64(data), ElementType::Float64) if normalization.is_empty() => {
            if let Some(index) = first_nonfinite(data, f64::is_finite) {
                return Err(nonfinite(index));
            }
            Prepared::Borrowed(features.data)
        }
        (data, ElementType::Float32) => Prepared::Owned(TensorData::Float32(convert(
            data,
            columns,
            normalization,
            |v| v as f32,
            |v| v.is_finite(),
            &nonfinite,
        )?)),
        (data, ElementType::Float64) => Prepared::Owned(TensorData::Float64(convert(
            data,
            columns,
            normalization,
            |v| v,
            f64::is_finite,
            &nonfinite,
        )?)),
        (_, other) => {
            return Err(Error::invalid_input(format!(
                "predict supports models with a float32 or float64 input; this one takes {}",
                other.name()
            )))
        }
    };
    Ok((shape, prepared))
}

/// A prepared model input: the caller's buffer itself, or a converted copy.
pub(super) enum Prepared<'a> {
    Borrowed(TensorView<'a>),
    Owned(TensorData),
}

impl Prepared<'_> {
    pub(super) fn view(&self) -> TensorView<'_> {
        match self {
            Self::Borrowed(view) => *view,
            Self::Owned(data) => data.view(),
        }
    }
}

/// The index of the first value that is not finite, if any. Every live call checks its whole
/// window, so blocks are checked without a branch per value (which the compiler vectorises), and
/// only a failing block is searched value by value.
fn first_nonfinite<T: Copy>(data: &[T], is_finite: impl Fn(T) -> bool) -> Option<usize> {
    const BLOCK: usize = 64;
    data.chunks(BLOCK)
        .position(|block| !block.iter().fold(true, |all, &v| all & is_finite(v)))
        .and_then(|at| {
            let block = &data[at * BLOCK..];
            block
                .iter()
                .position(|&v| !is_finite(v))
                .map(|index| at * BLOCK + index)
        })
}

fn nonfinite_error(shape: [usize; 3], batch: bool, first_window: usize, index: usize) -> Error {
    let [windows, seq, columns] = shape;
    let per_window = (seq * columns).max(1);
    let (window, rest) = (first_window + index / per_window, index % per_window);
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

/// Converts `data` row by row, normalising each column, into a buffer as long as `data` (in the
/// model's dtype, up to 8 times the caller's bytes, so allocated fallibly); `nonfinite(index)`
/// is the error at the first value that is not finite once written.
fn convert<D: Copy>(
    data: TensorView<'_>,
    columns: usize,
    normalization: &[Option<(f64, f64)>],
    write: impl Fn(f64) -> D,
    is_finite: impl Fn(D) -> bool,
    nonfinite: &dyn Fn(usize) -> Error,
) -> Result<Vec<D>> {
    fn rows<S: Copy, D: Copy>(
        source: &[S],
        mut out: Vec<D>,
        columns: usize,
        normalization: &[Option<(f64, f64)>],
        read: impl Fn(S) -> f64,
        write: &impl Fn(f64) -> D,
        is_finite: &impl Fn(D) -> bool,
    ) -> std::result::Result<Vec<D>, usize> {
        for row in source.chunks(columns.max(1)) {
            for (column, &raw) in row.iter().enumerate() {
                let value = write(normalise(normalization, column, read(raw)));
                if !is_finite(value) {
                    return Err(out.len());
                }
                out.push(value);
            }
        }
        Ok(out)
    }
    let out = alloc::try_with_capacity(data.len(), || {
        format!("the model input ({} values)", data.len())
    })?;
    let (w, f, n) = (&write, &is_finite, normalization);
    match data {
        TensorView::Float32(d) => rows(d, out, columns, n, f64::from, w, f),
        TensorView::Float64(d) => rows(d, out, columns, n, |v| v, w, f),
        TensorView::Int64(d) => rows(d, out, columns, n, |v| v as f64, w, f),
        TensorView::Int32(d) => rows(d, out, columns, n, f64::from, w, f),
        TensorView::Int16(d) => rows(d, out, columns, n, f64::from, w, f),
        TensorView::Int8(d) => rows(d, out, columns, n, f64::from, w, f),
        TensorView::Uint64(d) => rows(d, out, columns, n, |v| v as f64, w, f),
        TensorView::Uint32(d) => rows(d, out, columns, n, f64::from, w, f),
        TensorView::Uint16(d) => rows(d, out, columns, n, f64::from, w, f),
        TensorView::Uint8(d) => rows(d, out, columns, n, f64::from, w, f),
        // Refused by `prepare` before conversion; kept total for the match.
        TensorView::Bool(d) => rows(d, out, columns, n, |v| f64::from(u8::from(v)), w, f),
    }
    .map_err(nonfinite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_shaped_like_upstream() {
        assert_eq!(window_shape(&[5], false).unwrap(), [1, 1, 5]);
        assert_eq!(window_shape(&[120, 5], false).unwrap(), [1, 120, 5]);
        assert_eq!(window_shape(&[2, 120, 5], false).unwrap(), [2, 120, 5]);
        assert!(window_shape(&[1, 1, 1, 1], false).is_err());
        assert!(window_shape(&[120, 5], true).is_err());
    }

    #[test]
    fn the_first_nonfinite_value_is_found_in_any_block() {
        let mut data = vec![1.0f32; 300];
        assert_eq!(first_nonfinite(&data, f32::is_finite), None);
        data[250] = f32::INFINITY;
        data[130] = f32::NAN;
        assert_eq!(first_nonfinite(&data, f32::is_finite), Some(130));
        assert_eq!(
            first_nonfinite(&[f64::NEG_INFINITY], f64::is_finite),
            Some(0)
        );
    }
}
