//! `BarStream`: a live loop's bars one at a time (`OnnxRunner.stream`), each push one model run.
//!
//! The rolling state lives in the core ([`BarStream`]); here a bar is read from Python (a
//! mapping with OHLCV keys in any case, or a sequence in OHLCV order, its time first when it
//! has one), and the state is updated and the model run in one GIL-free call. The state sits
//! behind a lock taken only without the GIL, so two threads pushing to one stream wait for each
//! other rather than corrupting it (or deadlocking on the GIL).

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::core::predict::bar_positions;
use crate::core::predict::bars::BAR_COLUMNS;
use crate::core::predict::stream::{Bar, BarStream};
use crate::core::predict::times::{self, DatetimeUnit, Times};
use crate::core::registry::bundle::LoadedBundle;
use crate::core::Error;
use crate::py::bars::read_bars;
use crate::py::gil::detached;
use crate::py::prediction::{new_prediction, PredictionFields};
use crate::py::repr::quoted;

/// What a push needs besides the bar.
struct State {
    stream: BarStream,
    /// Bars given so far (the whole history's, and every push): the place of the next bar.
    seen: usize,
    /// The time of the last bar, once bars carry times.
    last_time: Option<i64>,
}

impl State {
    /// Takes a bar after checking its time against the last one (the one order check), so that
    /// a bar refused changes nothing; once bars carried times, every bar must.
    fn take(&mut self, bar: &Bar, time: Option<&GivenTime>) -> crate::core::Result<()> {
        let time = time.map(|time| time.nanos(self.seen)).transpose()?;
        match (self.last_time, time) {
            (Some(last), Some(time)) => times::check_order_from(&[last, time], self.seen - 1)?,
            (Some(_), None) => {
                return Err(Error::invalid_input(format!(
                    "bar {} has no time, but the bars before it had times: give every bar its \
                     time, or none",
                    self.seen
                )))
            }
            (None, _) => {}
        }
        self.stream.push(bar)?;
        self.seen += 1;
        self.last_time = time.or(self.last_time);
        Ok(())
    }
}

/// Bars one at a time, for one bundle: `push(bar)` returns the `ModelPrediction` that
/// `predict_bars` gives on every bar pushed so far (after the history the stream began with),
/// or `None` while fewer than `sequence_length` bars were given.
#[pyclass(frozen, module = "atb_prediction._core", name = "BarStream")]
pub struct PyBarStream {
    bundle: Arc<LoadedBundle>,
    model_name: Py<PyString>,
    timeout: Option<Duration>,
    state: Mutex<State>,
}

impl PyBarStream {
    /// A stream for `bundle`'s predictions, named `model_name`, after the bars of `history`, if
    /// any: only its last `needed` bars (`Predictor::bars_needed`) matter to any later
    /// prediction, so only those are read.
    pub fn new(
        bundle: Arc<LoadedBundle>,
        model_name: Py<PyString>,
        timeout: Option<Duration>,
        needed: usize,
        history: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut state = State {
            stream: bundle.predictor().bar_stream()?,
            seen: 0,
            last_time: None,
        };
        if let Some(history) = history.filter(|history| !history.is_none()) {
            let columns = read_bars(history, Some(needed))?;
            columns.check_times()?;
            let view = columns.view()?;
            for row in view.rows() {
                let mut bar: Bar = [0.0; BAR_COLUMNS.len()];
                for (slot, &value) in bar.iter_mut().zip(row.iter()) {
                    *slot = value;
                }
                state.stream.push(&bar)?;
            }
            state.seen = columns.first + columns.rows;
            state.last_time = columns.last_time();
        }
        Ok(Self {
            bundle,
            model_name,
            timeout,
            state: Mutex::new(state),
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

/// A bar as read: its values, and its time as given, if it has one.
type ReadBar<'py> = (Bar, Option<Bound<'py, PyAny>>);

/// Reads a bar from a sequence: 5 values, or 6 with the time first.
fn sequence_bar<'py>(items: &[Bound<'py, PyAny>]) -> PyResult<ReadBar<'py>> {
    let (values, time) = match items.len() {
        5 => (items, None),
        6 => (&items[1..], Some(items[0].clone())),
        n => return Err(bar_form(&format!("a sequence of {n} values"))),
    };
    let mut bar: Bar = [0.0; BAR_COLUMNS.len()];
    for ((slot, value), column) in bar.iter_mut().zip(values).zip(BAR_COLUMNS) {
        *slot = number(value, column)?;
    }
    Ok((bar, time))
}

/// Reads a bar from a mapping: its OHLCV keys, exactly or in another case, and its time under
/// a key named as a time column (`time`, `timestamp`, `open_time`, `date`, `datetime`, any
/// case), else, for a pandas Series (a frame's row), its name when that is a time.
fn mapping_bar<'py>(bar: &Bound<'py, PyAny>) -> PyResult<ReadBar<'py>> {
    let py = bar.py();
    let mut values: Bar = [0.0; BAR_COLUMNS.len()];
    if let Ok(dict) = bar.cast::<PyDict>() {
        // The usual bar: every key spelled as the core spells it, and maybe its time.
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
            match dict.len() - found {
                0 => return Ok((values, None)),
                1 => {
                    for name in times::TIME_COLUMNS {
                        if let Some(time) = dict.get_item(name)? {
                            return Ok((values, Some(time)));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let keys: Vec<Bound<'py, PyAny>> = bar
        .call_method0(intern!(py, "keys"))?
        .try_iter()?
        .collect::<PyResult<_>>()?;
    let labels: Vec<Option<String>> = keys.iter().map(|key| key.extract().ok()).collect();
    let positions = bar_positions("the bar", &labels)?;
    for ((slot, position), column) in values.iter_mut().zip(positions).zip(BAR_COLUMNS) {
        *slot = number(&bar.get_item(&keys[position])?, column)?;
    }
    let time = match times::time_column(&labels) {
        Some(position) => Some(bar.get_item(&keys[position])?),
        // A frame's row (`frame.iloc[t]`, `iterrows`) is named by its index label: its time
        // when the frame has a DatetimeIndex.
        None if !bar.is_instance_of::<PyDict>() => match bar.getattr(intern!(py, "name")) {
            Ok(name) if is_calendar_time(&name)? => Some(name),
            _ => None,
        },
        None => None,
    };
    Ok((values, time))
}

/// Whether `value` is a calendar time (a `datetime`, `date`, pandas `Timestamp` or numpy
/// `datetime64`), rather than another label.
fn is_calendar_time(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = value.py();
    if value.hasattr(intern!(py, "isoformat"))? {
        return Ok(true);
    }
    Ok(match value.getattr(intern!(py, "dtype")) {
        Ok(dtype) => dtype
            .getattr(intern!(py, "kind"))?
            .extract::<&str>()
            .is_ok_and(|kind| kind == "M"),
        Err(_) => false,
    })
}

/// Reads one bar from Python.
fn read_bar<'py>(bar: &Bound<'py, PyAny>) -> PyResult<ReadBar<'py>> {
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

/// A bar's time as given, read with the GIL: converted to UTC nanoseconds (by the core's rule)
/// under the stream's lock, where the bar's place is known.
enum GivenTime {
    Epoch(i64),
    Unsigned(u64),
    Float(f64),
    Ticks(i64, DatetimeUnit),
}

impl GivenTime {
    /// What messages call a bar's time.
    const WHAT: &'static str = "the bar's time";

    /// Reads an integer or float epoch (its unit from its magnitude), else what
    /// `atb_prediction.times.bar_time` makes of it (a `datetime`, `Timestamp`, `datetime64` or
    /// text); `bar` is the bar's place, for that reader's messages.
    fn read(time: &Bound<'_, PyAny>, bar: impl FnOnce() -> usize) -> PyResult<Self> {
        let py = time.py();
        if time.is_instance_of::<PyBool>() {
            return Err(
                Error::invalid_input(format!("{}: a bool is not a time", Self::WHAT)).into(),
            );
        }
        if let Ok(epoch) = time.cast::<PyInt>() {
            if let Ok(epoch) = epoch.extract::<i64>() {
                return Ok(Self::Epoch(epoch));
            }
            return epoch.extract::<u64>().map(Self::Unsigned).map_err(|_| {
                Error::invalid_input(format!("{}: {epoch} is not a time", Self::WHAT)).into()
            });
        }
        if let Ok(epoch) = time.cast::<PyFloat>() {
            return Ok(Self::Float(epoch.value()));
        }
        static BAR_TIME: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let read = BAR_TIME
            .import(py, "atb_prediction.times", "bar_time")?
            .call1((time, Self::WHAT, bar()))?;
        if let Ok(epoch) = read.cast::<PyFloat>() {
            return Ok(Self::Float(epoch.value()));
        }
        // A datetime64 scalar: its ticks and its unit.
        let unit: String = read
            .getattr(intern!(py, "dtype"))?
            .getattr(intern!(py, "str"))?
            .extract()?;
        let ticks: i64 = read
            .call_method1(intern!(py, "astype"), ("int64",))?
            .extract()?;
        Ok(Self::Ticks(ticks, DatetimeUnit::parse(&unit)?))
    }

    /// UTC nanoseconds; an error names the bar as `bar`.
    fn nanos(&self, bar: usize) -> crate::core::Result<i64> {
        let times = match self {
            Self::Epoch(epoch) => Times::Epochs(std::slice::from_ref(epoch)),
            Self::Unsigned(epoch) => Times::UnsignedEpochs(std::slice::from_ref(epoch)),
            Self::Float(epoch) => Times::FloatEpochs(std::slice::from_ref(epoch)),
            Self::Ticks(ticks, unit) => Times::Datetimes(std::slice::from_ref(ticks), *unit),
        };
        Ok(times::utc_nanos_from(times, Self::WHAT, bar)?[0])
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
        let (bar, time) = read_bar(bar)?;
        let predictor = self.bundle.predictor();
        let timeout = self.timeout;
        let state = &self.state;
        let time = time
            .map(|time| GivenTime::read(&time, || py.detach(|| state.lock().seen)))
            .transpose()?;
        let prediction = detached(py, || {
            let mut state = state.lock();
            state.take(&bar, time.as_ref())?;
            predictor.predict_stream(&state.stream, timeout)
        })?;
        let Some(prediction) = prediction else {
            return Ok(None);
        };
        // As `predict_bars` answers: no per-call warning applies to features made from bars.
        new_prediction(
            py,
            self.model_name.bind(py),
            PredictionFields {
                price: prediction.price,
                confidence: prediction.confidence,
                direction: i64::from(prediction.direction),
                inference_time: started.elapsed().as_secs_f64(),
                probabilities: prediction.probabilities.as_deref(),
            },
        )
        .map(Some)
    }

    /// How many bars the stream was given: its history's, and every bar pushed and taken.
    #[getter]
    fn bars(&self, py: Python<'_>) -> usize {
        py.detach(|| self.state.lock().seen)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let origin = self.bundle.session.origin().to_owned();
        format!("BarStream({}, bars={})", quoted(&origin), self.bars(py))
    }
}
