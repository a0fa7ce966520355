//! Raw OHLCV bars from Python objects, as the core reads them: the last `rows` bars, row-major in
//! [`BAR_COLUMNS`] order, as float64, with their times when the input carries them.
//!
//! A pandas DataFrame is read straight from its column blocks (`frame._mgr`: each block a 2-D
//! numpy array, one row per column), so a live call pays for the bars it reads, not for pandas'
//! `to_numpy` or a Series per column. Where the bar columns (and a time column) are is worked
//! out once per column index (its labels are immutable, so the same object means the same
//! labels: no stale answer) and kept for the next frames with the same columns, as a live
//! loop's frames are. Anything else, a frame this path does not recognise included (extension
//! dtypes, objects), goes through `atb_prediction.models.bars`, which names what is wrong.
//!
//! Times come from where a sweep takes them (`atb_prediction.times.bar_times`): a
//! `DatetimeIndex` (read here from its array), else an index or column that holds times, which
//! the Python rule reads. Only those of the bars read are checked for order, by the one check
//! (`core::predict::times::check_order_from`), naming bars by their place in the input.

use std::sync::OnceLock;

use numpy::{
    PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArray,
    PyUntypedArrayMethods,
};
use parking_lot::Mutex;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyString, PyTuple, PyType};

use crate::core::alloc;
use crate::core::predict::times::{self, DatetimeUnit, Times};
use crate::core::predict::{bar_positions, bars::BAR_COLUMNS};
use crate::core::{Error, Result};

/// Where the Python reader for what the block path does not take lives.
const BARS_MODULE: &str = "atb_prediction.models.bars";

/// How many column layouts are remembered: a process trading a few symbols whose frames differ
/// in column order keeps each found.
const LAYOUTS: usize = 8;

/// The times of the bars read.
pub struct BarTimes {
    /// UTC nanoseconds, one per bar read.
    pub nanos: Vec<i64>,
    /// Where they came from, for messages ("the DataFrame's index").
    pub what: String,
}

/// The last bars of an input, row-major `[rows, 5]` in [`BAR_COLUMNS`] order, as the core's
/// block folds read them, with their times when the input has them.
pub struct BarColumns {
    /// Row-major `[rows, 5]`.
    pub values: Vec<f64>,
    /// Bars read.
    pub rows: usize,
    /// The place of the first bar read in the input: the input has `first + rows` bars.
    pub first: usize,
    /// The bars' times, when the input carries them.
    pub times: Option<BarTimes>,
}

impl BarColumns {
    /// The bars as `[rows, 5]`.
    pub fn view(&self) -> Result<ndarray::ArrayView2<'_, f64>> {
        ndarray::ArrayView2::from_shape((self.rows, BAR_COLUMNS.len()), &self.values)
            .map_err(|error| Error::invalid_input(format!("bars: {error}")))
    }

    /// `InvalidInputError` unless the times of the bars read strictly increase (the one check),
    /// naming the first offending bar by its place in the input, and both times.
    pub fn check_times(&self) -> Result<()> {
        match &self.times {
            Some(bar_times) => times::check_order_from(&bar_times.nanos, self.first)
                .map_err(|error| Error::invalid_input(format!("{}: {error}", bar_times.what))),
            None => Ok(()),
        }
    }

    /// The time of the last bar read, if the bars have times.
    pub fn last_time(&self) -> Option<i64> {
        self.times.as_ref().and_then(|t| t.nanos.last().copied())
    }
}

/// Where the bar columns are in one column index, and its time column if it has one.
#[derive(Clone, Copy)]
struct Layout {
    positions: [usize; 5],
    time_column: Option<usize>,
}

/// Column indexes seen lately (the latest first), each with its layout. Holding an index's
/// labels keeps them alive, so their identity cannot be reused by others.
type Layouts = Mutex<Vec<(Py<PyAny>, Layout)>>;

/// The process's [`Layouts`].
fn layouts() -> &'static Layouts {
    static LAYOUTS_SEEN: OnceLock<Layouts> = OnceLock::new();
    LAYOUTS_SEEN.get_or_init(|| Mutex::new(Vec::new()))
}

/// The layout of a DataFrame's `columns` (a pandas `Index`), or `None` when it lacks a bar
/// column, or names two (the Python reader then says which).
fn frame_layout(columns: &Bound<'_, PyAny>) -> PyResult<Option<Layout>> {
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
            let layout = entry.1;
            seen.insert(0, entry);
            return Ok(Some(layout));
        }
    }
    let labels: Vec<Option<String>> = columns
        .try_iter()?
        .map(|label| Ok(label?.extract::<String>().ok()))
        .collect::<PyResult<_>>()?;
    let Some(positions) = bar_positions("bars", &labels)
        .ok()
        .and_then(|positions| <[usize; 5]>::try_from(positions.as_slice()).ok())
    else {
        return Ok(None);
    };
    let layout = Layout {
        positions,
        time_column: times::time_column(&labels),
    };
    let mut seen = layouts().lock();
    seen.insert(0, (key.unbind(), layout));
    seen.truncate(LAYOUTS);
    Ok(Some(layout))
}

/// Writes the last `read` values of rows `wanted` (`(column, row)`: row `row` of the block goes
/// to bar column `column` of the row-major `out`) of a 2-D block of `T`, as float64; `false`
/// when `values` is not such a block (or not `rows` long).
macro_rules! read_block_rows {
    ($values:expr, $wanted:expr, $rows:expr, $read:expr, $out:expr; $($ty:ty),*) => {{
        let mut done = None;
        $(
            if done.is_none() {
                if let Ok(block) = $values.cast::<PyArray2<$ty>>() {
                    done = Some(match block.try_readonly() {
                        Ok(block) => {
                            let view = block.as_array();
                            let fits = view.ncols() == $rows
                                && $wanted.iter().all(|&(_, row)| row < view.nrows());
                            if fits {
                                let width = BAR_COLUMNS.len();
                                for &(column, row) in $wanted.iter() {
                                    let tail = view.slice(ndarray::s![row, $rows - $read..]);
                                    #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
                                    match tail.as_slice() {
                                        // A row of a C-ordered block: the usual frame.
                                        Some(values) => {
                                            let bars = $out.chunks_exact_mut(width);
                                            for (bar, &value) in bars.zip(values) {
                                                bar[column] = value as f64;
                                            }
                                        }
                                        None => {
                                            let bars = $out.chunks_exact_mut(width);
                                            for (bar, &value) in bars.zip(tail.iter()) {
                                                bar[column] = value as f64;
                                            }
                                        }
                                    }
                                }
                            }
                            fits
                        }
                        Err(_) => false,
                    });
                }
            }
        )*
        done.unwrap_or(false)
    }};
}

/// The last `read` of the times in a 1-D `datetime64[unit]` array as UTC nanoseconds (the first
/// of them bar `first` of the input), if `array` is one.
fn nanos_in<U: numpy::datetime::Unit>(
    array: &Bound<'_, PyUntypedArray>,
    unit: &str,
    read: usize,
    first: usize,
    what: &str,
) -> PyResult<Option<Vec<i64>>> {
    let Ok(typed) = array.cast::<PyArray1<numpy::datetime::Datetime<U>>>() else {
        return Ok(None);
    };
    let typed = typed.try_readonly()?;
    let ticks = typed.as_array();
    let tail = ticks.slice(ndarray::s![ticks.len().saturating_sub(read)..]);
    let copy;
    let ticks: &[i64] = match tail.as_slice() {
        // `Datetime<U>` is a transparent i64.
        Some(ticks) => bytemuck_ticks(ticks),
        None => {
            copy = alloc::try_collect(tail.iter().map(|&tick| i64::from(tick)), || {
                format!("{read} bar times")
            })?;
            &copy
        }
    };
    let unit = DatetimeUnit::parse(unit)?;
    Ok(Some(times::utc_nanos_from(
        Times::Datetimes(ticks, unit),
        what,
        first,
    )?))
}

/// `datetime64` ticks as the i64 counts they are.
fn bytemuck_ticks<U: numpy::datetime::Unit>(ticks: &[numpy::datetime::Datetime<U>]) -> &[i64] {
    // SAFETY: `Datetime<U>` is `#[repr(transparent)]` over an `i64` (with a zero-sized marker),
    // so a slice of them has the layout of a slice of i64 of the same length.
    unsafe { std::slice::from_raw_parts(ticks.as_ptr().cast::<i64>(), ticks.len()) }
}

/// The last `read` of the times in a 1-D `datetime64` array (any unit) as UTC nanoseconds, the
/// first of them bar `first` of the input.
fn datetime_tail(
    array: &Bound<'_, PyUntypedArray>,
    read: usize,
    first: usize,
    what: &str,
) -> PyResult<Vec<i64>> {
    use numpy::datetime::units::{Microseconds, Milliseconds, Nanoseconds, Seconds};
    // The units pandas stores, typed (numpy spells a dtype slowly), microseconds first (pandas
    // 3's default); any other through its text.
    if let Some(nanos) = nanos_in::<Microseconds>(array, "us", read, first, what)? {
        return Ok(nanos);
    }
    if let Some(nanos) = nanos_in::<Nanoseconds>(array, "ns", read, first, what)? {
        return Ok(nanos);
    }
    if let Some(nanos) = nanos_in::<Milliseconds>(array, "ms", read, first, what)? {
        return Ok(nanos);
    }
    if let Some(nanos) = nanos_in::<Seconds>(array, "s", read, first, what)? {
        return Ok(nanos);
    }
    let py = array.py();
    let unit: String = array
        .getattr(intern!(py, "dtype"))?
        .getattr(intern!(py, "str"))?
        .extract()?;
    let view = array.call_method1(intern!(py, "view"), ("int64",))?;
    let view: PyReadonlyArray1<'_, i64> = view.cast_into::<PyArray1<i64>>()?.try_readonly()?;
    let view = view.as_array();
    let tail = view.slice(ndarray::s![view.len().saturating_sub(read)..]);
    let ticks = alloc::try_collect(tail.iter().copied(), || format!("{read} bar times"))?;
    Ok(times::utc_nanos_from(
        Times::Datetimes(&ticks, DatetimeUnit::parse(&unit)?),
        what,
        first,
    )?)
}

/// Whether a DataFrame that has no `DatetimeIndex` may still carry times (an index named as a
/// time column, a `datetime64` column, or a column named as one), which the Python rule reads.
fn may_carry_times(
    index: &Bound<'_, PyAny>,
    blocks: &Bound<'_, PyTuple>,
    layout: &Layout,
) -> PyResult<bool> {
    let py = index.py();
    if layout.time_column.is_some() {
        return Ok(true);
    }
    let name = index.getattr(intern!(py, "name"))?;
    if let Ok(name) = name.cast::<PyString>() {
        if times::time_column(&[Some(name.to_str()?.to_owned())]).is_some() {
            return Ok(true);
        }
    }
    for block in blocks.iter() {
        let kind = block
            .getattr(intern!(py, "dtype"))?
            .getattr(intern!(py, "kind"))?;
        if kind.extract::<&str>().is_ok_and(|kind| kind == "M") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The usual frame's bars: all five columns in one C-ordered float64 block, each row of it a
/// contiguous column; interleaved in one pass. `None` for any other layout.
fn single_float64_block(
    arrays: &[(usize, Bound<'_, PyAny>)],
    located: &[(usize, usize); 5],
    rows: usize,
    read: usize,
) -> PyResult<Option<Vec<f64>>> {
    let [(_, block)] = arrays else {
        return Ok(None);
    };
    let Ok(block) = block.cast::<PyArray2<f64>>() else {
        return Ok(None);
    };
    let Ok(block) = block.try_readonly() else {
        return Ok(None);
    };
    let view = block.as_array();
    if view.ncols() != rows || located.iter().any(|&(_, row)| row >= view.nrows()) {
        return Ok(None);
    }
    let mut columns: [&[f64]; 5] = [&[]; 5];
    for (column, &(_, row)) in columns.iter_mut().zip(located) {
        match view.slice(ndarray::s![row, rows - read..]).to_slice() {
            Some(values) => *column = values,
            None => return Ok(None),
        }
    }
    let mut values = alloc::try_with_capacity(read.saturating_mul(BAR_COLUMNS.len()), || {
        format!("the last {read} bars")
    })?;
    let [open, high, low, close, volume] = columns;
    let bars = open.iter().zip(high).zip(low).zip(close).zip(volume);
    for ((((&open, &high), &low), &close), &volume) in bars {
        // alloc: within the capacity reserved for every bar read.
        values.extend_from_slice(&[open, high, low, close, volume]);
    }
    Ok(Some(values))
}

/// The bars of any frame of numpy blocks of numbers, column by column into place; `None` when a
/// column's block is not one.
fn mixed_blocks(
    arrays: &[(usize, Bound<'_, PyAny>)],
    located: &[(usize, usize); 5],
    rows: usize,
    read: usize,
) -> PyResult<Option<Vec<f64>>> {
    let mut values = alloc::try_filled(read.saturating_mul(BAR_COLUMNS.len()), 0.0, || {
        format!("the last {read} bars")
    })?;
    for (at, (_, block)) in arrays.iter().enumerate() {
        let wanted: smallvec::SmallVec<[(usize, usize); 5]> = located
            .iter()
            .enumerate()
            .filter(|(_, (array, _))| *array == at)
            .map(|(column, &(_, row))| (column, row))
            .collect();
        let read_rows = read_block_rows!(block, wanted, rows, read, values;
            f64, f32, i64, i32, i16, i8, u64, u32, u16, u8);
        if !read_rows {
            return Ok(None);
        }
    }
    Ok(Some(values))
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
    let Some(layout) = frame_layout(&axes.get_item(0)?)? else {
        return Ok(None);
    };
    let index = axes.get_item(1)?;
    let blocks = manager.getattr(intern!(py, "blocks"))?;
    let blocks = blocks.cast::<PyTuple>()?;
    let numbers = manager.getattr(intern!(py, "blknos"))?;
    let places = manager.getattr(intern!(py, "blklocs"))?;
    let (numbers, places) = (
        numbers.cast::<PyArray1<isize>>()?.try_readonly()?,
        places.cast::<PyArray1<isize>>()?.try_readonly()?,
    );
    let (numbers, places) = (numbers.as_array(), places.as_array());
    // Where each bar column is: its block (each block's values fetched once) and row there.
    let mut located: [(usize, usize); 5] = [(0, 0); 5];
    let mut arrays: smallvec::SmallVec<[(usize, Bound<'_, PyAny>); 2]> = smallvec::SmallVec::new();
    for (slot, position) in located.iter_mut().zip(layout.positions) {
        let (Some(&number), Some(&place)) = (numbers.get(position), places.get(position)) else {
            return Ok(None);
        };
        let (Ok(number), Ok(place)) = (usize::try_from(number), usize::try_from(place)) else {
            return Ok(None);
        };
        let at = match arrays.iter().position(|(known, _)| *known == number) {
            Some(at) => at,
            None => {
                let block = blocks.get_item(number)?.getattr(intern!(py, "values"))?;
                if !block.is_instance_of::<PyUntypedArray>() {
                    return Ok(None); // an extension array: pandas' own conversion decides
                }
                arrays.push((number, block));
                arrays.len() - 1
            }
        };
        *slot = (at, place);
    }
    let rows = match arrays[0].1.cast::<PyUntypedArray>()?.shape() {
        [_, rows] => *rows,
        _ => return Ok(None),
    };
    let read = rows.min(wanted);
    let values = match single_float64_block(&arrays, &located, rows, read)? {
        Some(values) => values,
        None => match mixed_blocks(&arrays, &located, rows, read)? {
            Some(values) => values,
            None => return Ok(None),
        },
    };
    let first = rows - read;
    let times = if is_datetime_index(&index)? {
        // A DatetimeIndex: its array holds naive UTC ticks (a zone only changes how they print).
        let what = "the DataFrame's index";
        let array = index
            .getattr(intern!(py, "_data"))?
            .getattr(intern!(py, "_ndarray"))?;
        let array = array.cast::<PyUntypedArray>()?;
        Some(BarTimes {
            nanos: datetime_tail(array, read, first, what)?,
            what: what.to_owned(),
        })
    } else if may_carry_times(&index, blocks, &layout)? {
        python_times(frame, read, rows)?
    } else {
        None
    };
    Ok(Some(BarColumns {
        values,
        rows: read,
        first,
        times,
    }))
}

/// The times the Python rule finds in `bars` (`atb_prediction.times.bar_times`), the last
/// `read` of `rows`.
fn python_times(bars: &Bound<'_, PyAny>, read: usize, rows: usize) -> PyResult<Option<BarTimes>> {
    let py = bars.py();
    static BAR_TIMES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let found = BAR_TIMES
        .import(py, "atb_prediction.times", "bar_times")?
        .call1((bars,))?;
    if found.is_none() {
        return Ok(None);
    }
    let (nanos, what): (PyReadonlyArray1<'_, i64>, String) = found.extract()?;
    let nanos = nanos.as_array();
    if nanos.len() != rows {
        return Err(Error::invalid_input(format!(
            "{what} hold {} times for {rows} bars",
            nanos.len()
        ))
        .into());
    }
    let first = rows.saturating_sub(read);
    let tail = alloc::try_collect(nanos.iter().skip(first).copied(), || {
        format!("{read} bar times")
    })?;
    Ok(Some(BarTimes { nanos: tail, what }))
}

/// Whether `bars` is a pandas DataFrame (duck-typed, so pandas is never imported).
fn is_frame(bars: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = bars.py();
    // The class of the last frame seen: a live loop passes frames of one class.
    static FRAME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    if FRAME
        .get(py)
        .is_some_and(|frame| bars.get_type().is(frame.bind(py)))
    {
        return Ok(true);
    }
    let frame = !bars.is_instance_of::<PyUntypedArray>()
        && bars.hasattr(intern!(py, "_mgr"))?
        && bars.hasattr(intern!(py, "columns"))?;
    if frame {
        let _ = FRAME.set(py, bars.get_type().unbind());
    }
    Ok(frame)
}

/// Whether a DataFrame's `index` holds `datetime64` values (a `DatetimeIndex`).
fn is_datetime_index(index: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = index.py();
    // `DatetimeIndex` itself, once seen, by its class: its dtype is always datetime64.
    static DATETIME_INDEX: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    if DATETIME_INDEX
        .get(py)
        .is_some_and(|class| index.get_type().is(class.bind(py)))
    {
        return Ok(true);
    }
    let kind = index
        .getattr(intern!(py, "dtype"))?
        .getattr(intern!(py, "kind"))?;
    let datetime = kind.extract::<&str>().is_ok_and(|kind| kind == "M");
    if datetime && index.get_type().name()?.to_str()? == "DatetimeIndex" {
        let _ = DATETIME_INDEX.set(py, index.get_type().unbind());
    }
    Ok(datetime)
}

/// The last `wanted` bars of `bars` (a DataFrame, a mapping of 1-D arrays or a structured
/// array), all of them when `None`, with their times when it carries them.
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
    let (window, all): (PyReadonlyArray2<'_, f64>, usize) = window.extract()?;
    let view = window.as_array();
    let rows = view.nrows();
    let values = alloc::try_collect(view.iter().copied(), || format!("the last {rows} bars"))?;
    let times = python_times(bars, rows, all)?;
    Ok(BarColumns {
        values,
        rows,
        first: all - rows,
        times,
    })
}

/// The last `rows` bars of `bars` (all of them when `None`) as a C-ordered `[rows, 5]` float64
/// array in `BAR_COLUMNS` order: what `predict_bars` reads, as a cache manager sees it. Their
/// times, when `bars` carries them, must strictly increase.
#[pyfunction]
#[pyo3(signature = (bars, rows=None))]
pub fn bar_window<'py>(
    bars: &Bound<'py, PyAny>,
    rows: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let columns = read_bars(bars, rows)?;
    columns.check_times()?;
    let BarColumns { values, rows, .. } = columns;
    let array = ndarray::Array2::from_shape_vec((rows, BAR_COLUMNS.len()), values)
        .map_err(|error| Error::invalid_input(format!("bars: {error}")))?;
    Ok(PyArray2::from_owned_array(bars.py(), array))
}
