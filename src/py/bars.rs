//! Raw OHLCV bars from Python objects, as the core reads them: the last `rows` bars, column by
//! column in [`BAR_COLUMNS`] order, as float64.
//!
//! A pandas DataFrame is read straight from its column blocks (`frame._mgr`: each block a 2-D
//! numpy array, one row per column), so a live call pays for the bars it reads, not for pandas'
//! `to_numpy` or a Series per column. Where the bar columns are is worked out once per column
//! index (its data is immutable, so the same object means the same labels: no stale answer) and
//! kept for the next frames with the same columns, as a live loop's frames are. Anything else, a
//! frame this path does not recognise included (extension dtypes, objects), goes through
//! `atb_prediction.models.bars`, which names what is wrong with it.

use std::sync::OnceLock;

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArray};
use parking_lot::Mutex;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyTuple};

use crate::core::alloc;
use crate::core::predict::{bar_positions, bars::BAR_COLUMNS};

/// Where the Python reader for inputs the block path does not take lives.
const BARS_MODULE: &str = "atb_prediction.models.bars";

/// How many column layouts are remembered: a process trading a few symbols whose frames differ
/// in column order keeps each found.
const LAYOUTS: usize = 8;

/// The last bars of an input, row-major `[rows, 5]` in [`BAR_COLUMNS`] order, as the core's
/// block folds read them.
pub struct BarColumns {
    /// Row-major `[rows, 5]`.
    pub values: Vec<f64>,
    /// Bars read.
    pub rows: usize,
}

impl BarColumns {
    /// The bars as `[rows, 5]`.
    pub fn view(&self) -> crate::core::Result<ndarray::ArrayView2<'_, f64>> {
        ndarray::ArrayView2::from_shape((self.rows, BAR_COLUMNS.len()), &self.values)
            .map_err(|error| crate::core::Error::invalid_input(format!("bars: {error}")))
    }
}

/// Column indexes seen lately, each with where the bar columns are in it. Holding the index
/// keeps it alive, so its identity cannot be reused by another.
fn layouts() -> &'static Mutex<Vec<(Py<PyAny>, [usize; 5])>> {
    static LAYOUTS_SEEN: OnceLock<Mutex<Vec<(Py<PyAny>, [usize; 5])>>> = OnceLock::new();
    LAYOUTS_SEEN.get_or_init(|| Mutex::new(Vec::new()))
}

/// Where the bar columns are among a DataFrame's `columns` (a pandas `Index`), or `None` when it
/// lacks one (the Python reader then says which).
fn frame_positions(columns: &Bound<'_, PyAny>) -> PyResult<Option<[usize; 5]>> {
    let py = columns.py();
    // An `Index` is immutable; frames cut from one frame share its labels' array even where
    // pandas makes a new `Index` object for each.
    let key = match columns.getattr(intern!(py, "_data")) {
        Ok(data) if !data.is_none() => data,
        _ => columns.clone(),
    };
    {
        let mut seen = layouts().lock();
        if let Some(at) = seen.iter().position(|(known, _)| known.bind(py).is(&key)) {
            let entry = seen.remove(at);
            let positions = entry.1;
            seen.insert(0, entry);
            return Ok(Some(positions));
        }
    }
    let labels: Vec<Option<String>> = columns
        .try_iter()?
        .map(|label| Ok(label?.extract::<String>().ok()))
        .collect::<PyResult<_>>()?;
    let Ok(positions) = bar_positions("bars", &labels) else {
        return Ok(None);
    };
    let mut seen = layouts().lock();
    seen.insert(0, (key.unbind(), positions));
    seen.truncate(LAYOUTS);
    Ok(Some(positions))
}

/// Writes the last `read` values of row `row` of a 2-D block of `T` into column `column` of the
/// row-major `out`, as float64; `false` when `values` is not such a block.
macro_rules! read_block_row {
    ($values:expr, $row:expr, $rows:expr, $read:expr, $out:expr, $column:expr; $($ty:ty),*) => {{
        let mut done = None;
        $(
            if done.is_none() {
                if let Ok(block) = $values.cast::<PyArray2<$ty>>() {
                    done = Some(match block.try_readonly() {
                        Ok(block) => {
                            let view = block.as_array();
                            if view.nrows() > $row && view.ncols() == $rows {
                                let tail = view.slice(ndarray::s![$row, $rows - $read..]);
                                let width = BAR_COLUMNS.len();
                                #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
                                match tail.as_slice() {
                                    // A row of a C-ordered block: the usual frame.
                                    Some(values) => {
                                        let rows = $out.chunks_exact_mut(width);
                                        for (bar, &value) in rows.zip(values) {
                                            bar[$column] = value as f64;
                                        }
                                    }
                                    None => {
                                        let rows = $out.chunks_exact_mut(width);
                                        for (bar, &value) in rows.zip(tail.iter()) {
                                            bar[$column] = value as f64;
                                        }
                                    }
                                }
                                true
                            } else {
                                false
                            }
                        }
                        Err(_) => false,
                    });
                }
            }
        )*
        done.unwrap_or(false)
    }};
}

/// The last `wanted` bars of a DataFrame read from its blocks, or `None` when the frame is not
/// one this path reads (a bar column missing, or held in anything but a numpy block of numbers).
fn frame_columns(frame: &Bound<'_, PyAny>, wanted: usize) -> PyResult<Option<BarColumns>> {
    let py = frame.py();
    let manager = frame.getattr(intern!(py, "_mgr"))?;
    let axes = manager.getattr(intern!(py, "axes"))?;
    let axes = axes.cast::<PyList>()?;
    if axes.len() != 2 {
        return Ok(None);
    }
    let Some(positions) = frame_positions(&axes.get_item(0)?)? else {
        return Ok(None);
    };
    let rows = axes.get_item(1)?.len()?;
    let read = rows.min(wanted);
    let blocks = manager.getattr(intern!(py, "blocks"))?;
    let blocks = blocks.cast::<PyTuple>()?;
    let numbers = manager.getattr(intern!(py, "blknos"))?;
    let places = manager.getattr(intern!(py, "blklocs"))?;
    let (numbers, places) = (
        numbers.cast::<PyArray1<isize>>()?.try_readonly()?,
        places.cast::<PyArray1<isize>>()?.try_readonly()?,
    );
    let (numbers, places) = (numbers.as_array(), places.as_array());
    let mut values = alloc::try_filled(read.saturating_mul(BAR_COLUMNS.len()), 0.0, || {
        format!("the last {read} bars")
    })?;
    for (column, position) in positions.into_iter().enumerate() {
        let (Some(&number), Some(&place)) = (numbers.get(position), places.get(position)) else {
            return Ok(None);
        };
        let (Ok(number), Ok(place)) = (usize::try_from(number), usize::try_from(place)) else {
            return Ok(None);
        };
        let block = blocks.get_item(number)?.getattr(intern!(py, "values"))?;
        if !block.is_instance_of::<PyUntypedArray>() {
            return Ok(None); // an extension array: pandas' own conversion decides
        }
        let read_row = read_block_row!(block, place, rows, read, values, column;
            f64, f32, i64, i32, i16, i8, u64, u32, u16, u8);
        if !read_row {
            return Ok(None);
        }
    }
    Ok(Some(BarColumns { values, rows: read }))
}

/// Whether `bars` is a pandas DataFrame (duck-typed, so pandas is never imported).
fn is_frame(bars: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = bars.py();
    Ok(!bars.is_instance_of::<PyUntypedArray>()
        && bars.hasattr(intern!(py, "_mgr"))?
        && bars.hasattr(intern!(py, "columns"))?)
}

/// The last `wanted` bars of `bars` (a DataFrame, a mapping of 1-D arrays or a structured
/// array), all of them when `None`.
pub fn read_bars(bars: &Bound<'_, PyAny>, wanted: Option<usize>) -> PyResult<BarColumns> {
    let wanted = wanted.unwrap_or(usize::MAX);
    if is_frame(bars)? {
        // Frames this path does not recognise, and pandas versions whose internals differ,
        // take the general path below.
        if let Ok(Some(columns)) = frame_columns(bars, wanted) {
            return Ok(columns);
        }
    }
    let py = bars.py();
    static GENERAL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let window = GENERAL
        .import(py, BARS_MODULE, "_general_window")?
        .call1((bars, wanted))?;
    let window: PyReadonlyArray2<'_, f64> = window.extract()?;
    let view = window.as_array();
    let rows = view.nrows();
    let values = alloc::try_collect(view.iter().copied(), || format!("the last {rows} bars"))?;
    Ok(BarColumns { values, rows })
}

/// The last `rows` bars of `bars` (all of them when `None`) as a C-ordered `[rows, 5]` float64
/// array in `BAR_COLUMNS` order: what `predict_bars` reads, as a cache manager sees it.
#[pyfunction]
#[pyo3(signature = (bars, rows=None))]
pub fn bar_window<'py>(
    bars: &Bound<'py, PyAny>,
    rows: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let BarColumns { values, rows } = read_bars(bars, rows)?;
    let array = ndarray::Array2::from_shape_vec((rows, BAR_COLUMNS.len()), values)
        .map_err(|error| crate::core::Error::invalid_input(format!("bars: {error}")))?;
    Ok(PyArray2::from_owned_array(bars.py(), array))
}

/// Where each of `BAR_COLUMNS` is among `labels` (the one rule: exact names, else the one name
/// in another case); `InvalidInputError` naming what `what` lacks.
#[pyfunction]
pub fn bar_positions_of(what: &str, labels: Vec<Option<String>>) -> PyResult<Vec<usize>> {
    Ok(bar_positions(what, &labels)?.to_vec())
}
