//! Bar times for Python: numpy arrays of epochs or `datetime64` to UTC nanoseconds, the order
//! check, the median spacing and the spacing/timeframe rule, all in `core::predict::times`.

use std::borrow::Cow;

use numpy::{
    PyArray1, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray1, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::intern;
use pyo3::prelude::*;

use crate::core::alloc;
use crate::core::predict::times::{self, DatetimeUnit, Times};
use crate::core::Error;
use crate::py::gil::detached;
use crate::py::predictor::column_labels;

/// `values` as a 1-D numpy array of `dtype` (a copy only where it differs).
fn as_dtype<'py, T: numpy::Element>(
    values: &Bound<'py, PyUntypedArray>,
    dtype: &str,
) -> PyResult<PyReadonlyArray1<'py, T>> {
    let py = values.py();
    let converted = values.call_method1(intern!(py, "astype"), (dtype,))?;
    Ok(converted.cast_into::<PyArray1<T>>()?.readonly())
}

/// The values of a 1-D array, borrowed when contiguous.
fn values_of<'a, T: Copy + numpy::Element>(
    array: &'a PyReadonlyArray1<'_, T>,
) -> crate::core::Result<Cow<'a, [T]>> {
    let view = array.as_array();
    match view.to_slice() {
        Some(slice) => Ok(Cow::Borrowed(slice)),
        None => {
            let values = alloc::try_collect(view.iter().copied(), || {
                format!("a copy of {} bar times", view.len())
            })?;
            Ok(Cow::Owned(values))
        }
    }
}

/// `times` as UTC nanoseconds, converted without the GIL, as an int64 array.
fn converted<'py>(
    py: Python<'py>,
    times: Times<'_>,
    what: &str,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let nanos = detached(py, || times::utc_nanos(times, what))?;
    Ok(PyArray1::from_vec(py, nanos))
}

/// Every time of a 1-D numpy array as UTC nanoseconds since the epoch (int64): integer and
/// float epochs with their unit from their magnitude, `datetime64` of any unit as it says.
/// `InvalidInputError` names the first bar that is no time (its position and value), or says
/// that the array holds no times at all.
#[pyfunction]
#[pyo3(signature = (values, what = "timestamps"))]
pub fn utc_times<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let array = values.cast::<PyUntypedArray>().map_err(|_| {
        Error::invalid_input(format!(
            "{what} must be a numpy array, got {}",
            values
                .get_type()
                .name()
                .map_or_else(|_| "?".into(), |n| n.to_string())
        ))
    })?;
    if array.ndim() != 1 {
        return Err(Error::invalid_input(format!(
            "{what} must be 1-D (one time per bar), got shape {:?}",
            array.shape()
        ))
        .into());
    }
    let dtype = array.dtype();
    match dtype.kind() {
        b'i' => {
            let held = as_dtype::<i64>(array, "int64")?;
            converted(py, Times::Epochs(&values_of(&held)?), what)
        }
        b'u' => {
            let held = as_dtype::<u64>(array, "uint64")?;
            converted(py, Times::UnsignedEpochs(&values_of(&held)?), what)
        }
        b'f' => {
            let held = as_dtype::<f64>(array, "float64")?;
            converted(py, Times::FloatEpochs(&values_of(&held)?), what)
        }
        b'M' => {
            let text: String = dtype.getattr(intern!(py, "str"))?.extract()?;
            let unit = DatetimeUnit::parse(&text)?;
            let native = array.call_method1(
                intern!(py, "astype"),
                (dtype.call_method1(intern!(py, "newbyteorder"), ("=",))?,),
            )?;
            let ticks = native
                .call_method1(intern!(py, "view"), ("int64",))?
                .cast_into::<PyArray1<i64>>()?
                .readonly();
            converted(py, Times::Datetimes(&values_of(&ticks)?, unit), what)
        }
        _ => Err(Error::invalid_input(format!(
            "{what} hold no times: expected datetime64 values or numeric epochs, got dtype {}",
            dtype.str().map_or_else(|_| "?".into(), |s| s.to_string())
        ))
        .into()),
    }
}

/// `InvalidInputError` unless the times (any form [`utc_times`] takes; int64 nanoseconds and
/// `datetime64[ns]` as they are) strictly increase, naming the first offending bar: its position
/// and both times, as ISO UTC. Nothing is sorted.
#[pyfunction]
pub fn check_time_order(py: Python<'_>, times: &Bound<'_, PyAny>) -> PyResult<()> {
    let nanos = utc_times(py, times, "timestamps")?.readonly();
    let values = values_of(&nanos)?;
    Ok(times::check_order(&values)?)
}

/// The median spacing of UTC nanosecond times (int64, as [`utc_times`] returns them), or
/// `None` for fewer than two.
#[pyfunction]
pub fn median_spacing(py: Python<'_>, times: PyReadonlyArray1<'_, i64>) -> PyResult<Option<i64>> {
    let values = values_of(&times)?;
    detached(py, || times::median_spacing(&values))
}

/// The bars a year that strictly increasing UTC nanosecond times show (their bars over their
/// span, in 365-day years), or `None` for fewer than two.
#[pyfunction]
pub fn bars_per_year(py: Python<'_>, times: PyReadonlyArray1<'_, i64>) -> PyResult<Option<f64>> {
    let values = values_of(&times)?;
    detached(py, || times::bars_per_year(&values))
}

/// Why bars `spacing` nanoseconds apart are not the bars of `timeframe`, or `None` when they are
/// (equal within 1%).
#[pyfunction]
pub fn spacing_mismatch(spacing: i64, timeframe: &str) -> PyResult<Option<String>> {
    Ok(times::spacing_mismatch(spacing, timeframe)?)
}

/// UTC nanoseconds since the epoch as ISO 8601 text (`2024-03-01T13:00:00Z`).
#[pyfunction]
pub fn format_utc(nanos: i64) -> String {
    times::format_utc(nanos)
}

/// The position of a series' time column among the column labels `columns`: the first named
/// `open_time`, `timestamp`, `time`, `date` or `datetime`, in any case; `None` without one.
#[pyfunction]
pub fn time_column(columns: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
    Ok(times::time_column(&column_labels(columns)?))
}
