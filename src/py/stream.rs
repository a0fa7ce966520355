//! `BarStream`: a live loop's bars one at a time (`OnnxRunner.stream`), each push one model run.
//!
//! The rolling state lives in the core ([`BarStream`]); here a bar is read from Python (a
//! mapping with OHLCV keys in any case, or a sequence in OHLCV order, its time first when it
//! has one), and the state is updated and the model run in one GIL-free call. The state sits
//! behind a lock taken only without the GIL, so two threads pushing to one stream wait for each
//! other rather than corrupting it (or deadlocking on the GIL).

use std::time::Instant;

use parking_lot::Mutex;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple};

use crate::core::predict::bar_positions;
use crate::core::predict::bars::BAR_COLUMNS;
use crate::core::predict::stream::{Bar, BarStream};
use crate::core::Error;
use crate::py::bars::read_bars;
use crate::py::gil::detached;
use crate::py::predictor::PyPredictor;
use crate::py::repr::quoted;

/// What a push needs besides the bar.
struct State {
    stream: BarStream,
}

/// Bars one at a time, for one bundle: `push(bar)` returns the `ModelPrediction` that
/// `predict_bars` gives on every bar pushed so far (after the history the stream began with),
/// or `None` while fewer than `sequence_length` bars were given.
#[pyclass(frozen, module = "atb_prediction._core", name = "BarStream")]
pub struct PyBarStream {
    predictor: Py<PyPredictor>,
    state: Mutex<State>,
}

impl PyBarStream {
    /// A stream for `predictor`'s bundle after the bars of `history`, if any (only its last
    /// `bars_needed` bars matter to any later prediction, so only those are read).
    pub fn new(
        predictor: &Bound<'_, PyPredictor>,
        history: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let owner = predictor.get();
        let needed = owner.needed_bars()?;
        let mut stream = owner.bundle().predictor().bar_stream()?;
        if let Some(history) = history.filter(|history| !history.is_none()) {
            let columns = read_bars(history, Some(needed))?;
            let view = columns.view()?;
            for row in view.rows() {
                let mut bar: Bar = [0.0; BAR_COLUMNS.len()];
                for (slot, &value) in bar.iter_mut().zip(row.iter()) {
                    *slot = value;
                }
                stream.push(&bar)?;
            }
        }
        Ok(Self {
            predictor: predictor.clone().unbind(),
            state: Mutex::new(State { stream }),
        })
    }
}

/// A bar's value: a number (a bool, text or anything else is refused, naming the column).
fn number(value: &Bound<'_, PyAny>, column: &str) -> PyResult<f64> {
    if !value.is_instance_of::<PyBool>() {
        if let Ok(number) = value.extract::<f64>() {
            return Ok(number);
        }
    }
    Err(Error::invalid_input(format!(
        "bar value '{column}' must be a number, got {}",
        value.get_type().name()?
    ))
    .into())
}

/// The usage a bar that is neither form gets.
fn bar_form(got: &str) -> PyErr {
    Error::invalid_input(format!(
        "a bar is a mapping with the keys {} (in any case), or a sequence of those 5 values in \
         that order (6 with the bar's time first); got {got}",
        BAR_COLUMNS.join(", ")
    ))
    .into()
}

/// Reads a bar from a sequence: 5 values, or 6 with the time first.
fn sequence_bar(items: &[Bound<'_, PyAny>]) -> PyResult<Bar> {
    let values = match items.len() {
        5 => items,
        6 => &items[1..],
        n => return Err(bar_form(&format!("a sequence of {n} values"))),
    };
    let mut bar: Bar = [0.0; BAR_COLUMNS.len()];
    for ((slot, value), column) in bar.iter_mut().zip(values).zip(BAR_COLUMNS) {
        *slot = number(value, column)?;
    }
    Ok(bar)
}

/// Reads a bar from a mapping: its OHLCV keys, exactly or in another case.
fn mapping_bar(bar: &Bound<'_, PyAny>) -> PyResult<Bar> {
    let py = bar.py();
    let mut values: Bar = [0.0; BAR_COLUMNS.len()];
    if let Ok(dict) = bar.cast::<PyDict>() {
        // The usual bar: every key spelled as the core spells it.
        let names = [
            intern!(py, "open"),
            intern!(py, "high"),
            intern!(py, "low"),
            intern!(py, "close"),
            intern!(py, "volume"),
        ];
        let mut found = 0;
        for ((slot, name), column) in values.iter_mut().zip(names).zip(BAR_COLUMNS) {
            if let Some(value) = dict.get_item(name)? {
                *slot = number(&value, column)?;
                found += 1;
            }
        }
        if found == BAR_COLUMNS.len() {
            return Ok(values);
        }
    }
    let keys: Vec<Bound<'_, PyAny>> = bar
        .call_method0(intern!(py, "keys"))?
        .try_iter()?
        .collect::<PyResult<_>>()?;
    let labels: Vec<Option<String>> = keys.iter().map(|key| key.extract().ok()).collect();
    let positions = bar_positions("the bar", &labels)?;
    for ((slot, position), column) in values.iter_mut().zip(positions).zip(BAR_COLUMNS) {
        *slot = number(&bar.get_item(&keys[position])?, column)?;
    }
    Ok(values)
}

/// Reads one bar from Python.
fn read_bar(bar: &Bound<'_, PyAny>) -> PyResult<Bar> {
    if let Ok(tuple) = bar.cast::<PyTuple>() {
        return sequence_bar(&tuple.iter().collect::<Vec<_>>());
    }
    if let Ok(list) = bar.cast::<PyList>() {
        return sequence_bar(&list.iter().collect::<Vec<_>>());
    }
    if bar.is_instance_of::<PyDict>() || bar.hasattr(intern!(bar.py(), "keys"))? {
        return mapping_bar(bar);
    }
    if bar.is_instance_of::<PyString>() {
        return Err(bar_form("a str"));
    }
    match bar.try_iter() {
        Ok(items) => sequence_bar(&items.collect::<PyResult<Vec<_>>>()?),
        Err(error) if error.is_instance_of::<PyTypeError>(bar.py()) => {
            Err(bar_form(&format!("a {}", bar.get_type().name()?)))
        }
        Err(error) => Err(error),
    }
}

#[pymethods]
impl PyBarStream {
    /// Takes the next bar and returns the prediction from every bar so far, or `None` while
    /// the model's window is not full. A bar that cannot be read changes nothing; a bar read is
    /// kept even when its prediction fails (NaN features), as it stays in `predict_bars`' input.
    fn push<'py>(
        &self,
        py: Python<'py>,
        bar: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let started = Instant::now();
        let bar = read_bar(bar)?;
        let owner = self.predictor.get();
        let predictor = owner.bundle().predictor();
        let timeout = owner.run_timeout();
        let state = &self.state;
        let prediction = detached(py, || {
            let mut state = state.lock();
            state.stream.push(&bar)?;
            predictor.predict_stream(&state.stream, timeout)
        })?;
        prediction
            .map(|prediction| owner.fresh_answer(py, started, prediction))
            .transpose()
    }

    /// How many bars the stream holds (those of its history it read, and every bar pushed).
    #[getter]
    fn bars(&self, py: Python<'_>) -> usize {
        py.detach(|| self.state.lock().stream.bars())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let origin = self.predictor.get().bundle().session.origin().to_owned();
        format!("BarStream({}, bars={})", quoted(&origin), self.bars(py))
    }
}
