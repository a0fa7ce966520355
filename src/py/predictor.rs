//! `Predictor`: upstream's `OnnxRunner.predict` done in Rust.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ndarray::ArrayView2;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray2, PyUntypedArray};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PySlice, PyString};

use crate::core::alloc;
use crate::core::onnx::options::timeout_from_seconds;
use crate::core::onnx::session::KeepAlive;
use crate::core::onnx::tensor::TensorView;
use crate::core::predict::cache::{
    config_digest, tensor_digest, CacheKey, CachedPrediction, Digest, PredictionCache,
};
use crate::core::predict::{self, ColumnSource, Features, Prediction, Predictor};
use crate::core::registry::bundle::LoadedBundle;
use crate::core::Error;
use crate::py::arrays::hold_any;
use crate::py::bars::read_bars;
use crate::py::bundle::PyLoadedBundle;
use crate::py::cache::PyPredictionStore;
use crate::py::gil::detached;
use crate::py::log;
use crate::py::prediction::{new_prediction, PredictionFields};
use crate::py::repr::quoted;
use crate::py::stream::PyBarStream;

/// The built-in cache as one predictor uses it: its entries are keyed by this model name and
/// this configuration's digest.
struct NativeCache {
    store: Arc<PredictionCache>,
    model: Arc<str>,
    config: Digest,
}

/// Warnings that depend on the input or the output, each given once per predictor.
const WARNED_FEATURE_COUNT: u8 = 1;
const WARNED_NONFINITE_OUTPUT: u8 = 2;

/// What one prediction came from.
enum Outcome {
    Hit(CachedPrediction),
    Fresh(Prediction),
}

/// A prediction from the built-in cache when it holds one for the input `digest` names, else
/// `fresh()`'s, stored for next time; just `fresh()` without a cache.
fn through_cache(
    cache: Option<&NativeCache>,
    digest: impl FnOnce() -> crate::core::Result<Digest>,
    fresh: impl FnOnce() -> crate::core::Result<Prediction>,
) -> crate::core::Result<Outcome> {
    let Some(cache) = cache else {
        return Ok(Outcome::Fresh(fresh()?));
    };
    let key = CacheKey {
        model: Arc::clone(&cache.model),
        config: cache.config,
        features: digest()?,
    };
    if let Some(hit) = cache.store.get(&key) {
        return Ok(Outcome::Hit(hit));
    }
    let fresh = fresh()?;
    cache.store.set(
        key,
        CachedPrediction {
            price: fresh.price,
            confidence: fresh.confidence,
            direction: i64::from(fresh.direction),
        },
    );
    Ok(Outcome::Fresh(fresh))
}

/// Whether `features` is a pandas `DataFrame` (duck-typed, so pandas is never imported): not a
/// numpy array, with `columns` and `to_numpy`.
fn is_data_frame(features: &Bound<'_, PyAny>) -> PyResult<bool> {
    if features.is_instance_of::<PyUntypedArray>() {
        return Ok(false); // the hot path: one type check
    }
    let py = features.py();
    Ok(features.hasattr(intern!(py, "columns"))? && features.hasattr(intern!(py, "to_numpy"))?)
}

/// A DataFrame's values with its columns selected and ordered as the bundle's `feature_names`
/// (the one rule: [`predict::feature_positions`]); as given when the metadata names no features.
fn frame_in_feature_order<'py>(
    frame: &Bound<'py, PyAny>,
    feature_names: &[String],
) -> PyResult<Bound<'py, PyAny>> {
    let py = frame.py();
    if feature_names.is_empty() {
        return frame.call_method0(intern!(py, "to_numpy"));
    }
    let columns = column_labels(&frame.getattr(intern!(py, "columns"))?)?;
    let positions = predict::feature_positions("the DataFrame", &columns, feature_names)?;
    let selected = frame
        .getattr(intern!(py, "iloc"))?
        .get_item((PySlice::full(py), PyList::new(py, positions)?))?;
    selected.call_method0(intern!(py, "to_numpy"))
}

/// Column labels as strings (`None` for a label that is not one: no feature name matches it).
pub(crate) fn column_labels(columns: &Bound<'_, PyAny>) -> PyResult<Vec<Option<String>>> {
    columns
        .try_iter()?
        .map(|label| Ok(label?.extract::<String>().ok()))
        .collect()
}

/// Where each of `feature_names` is among `columns`, or `InvalidInputError` naming every one
/// `what` lacks: the rule `predict` reads a DataFrame by, for the sweep's series.
#[pyfunction]
pub fn feature_positions(
    what: &str,
    columns: &Bound<'_, PyAny>,
    feature_names: Vec<String>,
) -> PyResult<Vec<usize>> {
    Ok(predict::feature_positions(
        what,
        &column_labels(columns)?,
        &feature_names,
    )?)
}

/// How a bundle reads a series with named `columns` (the one rule, [`predict::series_columns`]):
/// `("features", positions)` of its `feature_names`, or `("bars", positions)` of the raw OHLCV
/// columns when `takes_bars` and the features are missing; else `InvalidInputError` naming the
/// feature columns `what` lacks.
#[pyfunction]
pub fn series_columns(
    what: &str,
    columns: &Bound<'_, PyAny>,
    feature_names: Vec<String>,
    takes_bars: bool,
) -> PyResult<(&'static str, Vec<usize>)> {
    let columns = column_labels(columns)?;
    Ok(
        match predict::series_columns(what, &columns, &feature_names, takes_bars)? {
            ColumnSource::Features(positions) => ("features", positions),
            ColumnSource::Bars(positions) => ("bars", positions),
        },
    )
}

/// Where the raw bar columns (open, high, low, close, volume) are among the column labels
/// `columns`, matched in any case, exact names first (the one rule: [`predict::bar_positions`]);
/// `InvalidInputError` names those `what` lack and the columns they have.
#[pyfunction]
pub fn bar_positions(what: &str, columns: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    Ok(predict::bar_positions(what, &column_labels(columns)?)?)
}

/// The position of the column `name` among the labels `columns`: exactly that name, else the
/// first equal to it in any case (`Close` for `close`); `None` without one.
#[pyfunction]
pub fn column_position(columns: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<usize>> {
    Ok(predict::column_position(&column_labels(columns)?, name))
}

/// Runs upstream's `predict` semantics for one bundle, entirely in one GIL-free call.
#[pyclass(frozen, module = "atb_prediction._core", name = "Predictor")]
pub struct PyPredictor {
    bundle: Arc<LoadedBundle>,
    /// metadata.json's `feature_names`: the column order a DataFrame's columns are put in.
    feature_names: Vec<String>,
    model_name: Py<PyString>,
    timeout: Option<Duration>,
    /// The built-in cache; `None` for classifiers (never cached).
    cache: Option<NativeCache>,
    /// Legacy bundles (no `feature_names`): how many columns `normalization_params` covers.
    key_order_columns: Option<usize>,
    /// `WARNED_*` bits already logged.
    warned: AtomicU8,
}

impl PyPredictor {
    /// Holds `features`, then runs `work` on them without the GIL; also returns the number of
    /// feature columns given. `work` also gets what keeps the caller's buffer alive, for the
    /// session's input cache; whatever it leaves there is released here, with the GIL held.
    fn detached_with<T: Send>(
        &self,
        py: Python<'_>,
        features: &Bound<'_, PyAny>,
        work: impl FnOnce(
                &Predictor<'_>,
                &Features<'_>,
                &mut Option<KeepAlive>,
                Option<Duration>,
            ) -> crate::core::Result<T>
            + Send,
    ) -> PyResult<(T, usize)> {
        let frame;
        let features = if is_data_frame(features)? {
            frame = frame_in_feature_order(features, &self.feature_names)?;
            &frame
        } else {
            features
        };
        let held = hold_any(features)?;
        let (shape, data) = held.view();
        let columns = shape.last().copied().unwrap_or(0);
        let features = Features { shape, data };
        let predictor = self.bundle.predictor();
        let timeout = self.timeout;
        let mut owner = held.owner();
        let value = detached(py, || work(&predictor, &features, &mut owner, timeout));
        drop(owner);
        Ok((value?, columns))
    }

    /// Logs `message()` unless the warning `bit` was logged before by this predictor.
    fn warn_once(&self, py: Python<'_>, bit: u8, message: impl FnOnce() -> String) -> PyResult<()> {
        if self.warned.load(Ordering::Relaxed) & bit != 0
            || self.warned.fetch_or(bit, Ordering::Relaxed) & bit != 0
        {
            return Ok(());
        }
        log::warn(py, self.bundle.session.origin(), &message())
    }

    /// The `ModelPrediction` of `outcome`, timed from `started`; a fresh prediction from
    /// `columns` features is checked for upstream's per-call warnings first.
    fn answer<'py>(
        &self,
        py: Python<'py>,
        started: Instant,
        outcome: Outcome,
        columns: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let inference_time = started.elapsed().as_secs_f64();
        let model_name = self.model_name.bind(py);
        match outcome {
            Outcome::Hit(hit) => new_prediction(
                py,
                model_name,
                PredictionFields {
                    price: hit.price,
                    confidence: hit.confidence,
                    direction: hit.direction,
                    inference_time,
                    probabilities: None,
                },
            ),
            Outcome::Fresh(fresh) => {
                if let Some(columns) = columns {
                    self.check(py, columns, &[fresh.price])?;
                }
                new_prediction(
                    py,
                    model_name,
                    PredictionFields {
                        price: fresh.price,
                        confidence: fresh.confidence,
                        direction: i64::from(fresh.direction),
                        inference_time,
                        probabilities: fresh.probabilities.as_deref(),
                    },
                )
            }
        }
    }

    /// How many of the last bars `predict_bars` reads, or why the bundle cannot take raw bars
    /// (`InvalidInputError` naming the model and the feature columns it needs instead).
    pub(crate) fn needed_bars(&self) -> PyResult<usize> {
        self.bundle.predictor().bars_needed().map_err(|error| {
            PyErr::from(match error {
                Error::InvalidInput(reason) => Error::InvalidInput(format!(
                    "{} cannot predict from raw bars: {reason}",
                    self.bundle.record.model_path.display()
                )),
                other => other,
            })
        })
    }

    /// The prediction from the last bars of `view` (`[rows, 5]`), through the built-in cache.
    fn predict_bar_columns<'py>(
        &self,
        py: Python<'py>,
        started: Instant,
        view: ArrayView2<'_, f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let predictor = self.bundle.predictor();
        let (cache, timeout) = (self.cache.as_ref(), self.timeout);
        let outcome = detached(py, || {
            through_cache(
                cache,
                || {
                    // The key is the bars read, not the whole history given.
                    let read = view.nrows().min(predictor.bars_needed()?);
                    let tail = view.slice(ndarray::s![view.nrows() - read.., ..]);
                    let values: Cow<'_, [f64]> = match tail.as_slice() {
                        Some(values) => Cow::Borrowed(values),
                        None => Cow::Owned(alloc::try_collect(tail.iter().copied(), || {
                            format!("a copy of {read} bars")
                        })?),
                    };
                    Ok(tensor_digest(
                        &[read, tail.ncols()],
                        &TensorView::Float64(&values),
                    ))
                },
                || predictor.predict_bars(view, timeout),
            )
        })?;
        self.answer(py, started, outcome, None)
    }

    /// Upstream's per-call warnings about what was just predicted, given once.
    fn check(&self, py: Python<'_>, columns: usize, prices: &[f64]) -> PyResult<()> {
        if let Some(expected) = self.key_order_columns.filter(|&n| n != columns) {
            self.warn_once(py, WARNED_FEATURE_COUNT, || {
                // Upstream's own words, so that a log search written for upstream finds it.
                format!(
                    "Feature count mismatch in legacy normalization: normalization_params has \
                     {expected} features but input has {columns}. Extra features will be left \
                     unnormalized, which may produce incorrect predictions."
                )
            })?;
        }
        if self.bundle.spec.is_cacheable() && prices.iter().any(|p| !p.is_finite()) {
            self.warn_once(py, WARNED_NONFINITE_OUTPUT, || {
                "the model output is NaN or infinite; the prediction has confidence 0 and \
                 direction 0"
                    .to_owned()
            })?;
        }
        Ok(())
    }
}

#[pymethods]
impl PyPredictor {
    #[new]
    #[pyo3(signature = (bundle, *, model_name, timeout=None, cache=None, cache_key=None, cache_config=""))]
    fn new(
        py: Python<'_>,
        bundle: &Bound<'_, PyLoadedBundle>,
        model_name: Bound<'_, PyString>,
        timeout: Option<f64>,
        cache: Option<&Bound<'_, PyPredictionStore>>,
        cache_key: Option<String>,
        cache_config: &str,
    ) -> PyResult<Self> {
        let bundle = Arc::clone(bundle.get().core());
        for warning in &bundle.spec.warnings {
            log::warn(py, bundle.session.origin(), warning)?;
        }
        let feature_names = bundle.record.feature_names().unwrap_or_default();
        let cache = match cache {
            Some(cache) if bundle.spec.is_cacheable() => Some(NativeCache {
                store: Arc::clone(cache.get().core()),
                model: Arc::from(cache_key.unwrap_or_else(|| model_name.to_string())),
                config: config_digest(cache_config),
            }),
            _ => None,
        };
        let spec = &bundle.spec;
        let key_order_columns = (spec.declared_features.is_none()
            && !spec.normalization.is_empty())
        .then_some(spec.normalization.len());
        Ok(Self {
            bundle,
            feature_names,
            model_name: model_name.unbind(),
            timeout: timeout_from_seconds(timeout)?,
            cache,
            key_order_columns,
            warned: AtomicU8::new(0),
        })
    }

    /// One prediction from a 1-D, 2-D or 3-D feature array (upstream's `predict`); served from
    /// the built-in cache when one was given and it holds these features.
    fn predict<'py>(
        &self,
        py: Python<'py>,
        features: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let started = Instant::now();
        let cache = self.cache.as_ref();
        let (outcome, columns) =
            self.detached_with(py, features, |predictor, features, owner, timeout| {
                through_cache(
                    cache,
                    || Ok(tensor_digest(features.shape, &features.data)),
                    || predictor.predict(features, owner, timeout),
                )
            })?;
        self.answer(py, started, outcome, Some(columns))
    }

    /// Upstream's live path from raw bars (`OnnxRunner.predict_bars`): the last `bars_needed`
    /// bars of a DataFrame, a mapping of 1-D arrays or a structured array are read (a frame
    /// straight from its column blocks; their times, when they carry them, must strictly
    /// increase), then the features of the last window, the prediction,
    /// and for a `rolling_minmax` bundle the price mapped back to price units, in one GIL-free
    /// call; the built-in cache is keyed by the bars read.
    fn predict_bars<'py>(
        &self,
        py: Python<'py>,
        bars: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let started = Instant::now();
        let needed = self.needed_bars()?;
        let columns = read_bars(bars, Some(needed))?;
        columns.check_times()?;
        self.predict_bar_columns(py, started, columns.view()?)
    }

    /// [`Self::predict_bars`] of bars already read: `[rows, 5]` float64, oldest first, in
    /// `BAR_COLUMNS` order (what a Python cache manager is shown and hands back).
    fn predict_bar_window<'py>(
        &self,
        py: Python<'py>,
        bars: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let started = Instant::now();
        self.predict_bar_columns(py, started, bars.as_array())
    }

    /// A stream of bars one at a time (`OnnxRunner.stream`), after the bars of `history`, if
    /// any: each `push` gives what `predict_bars` gives on every bar so far.
    #[pyo3(signature = (history=None))]
    fn stream(slf: &Bound<'_, Self>, history: Option<&Bound<'_, PyAny>>) -> PyResult<PyBarStream> {
        let predictor = slf.get();
        PyBarStream::new(
            Arc::clone(&predictor.bundle),
            predictor.model_name.clone_ref(slf.py()),
            predictor.timeout,
            predictor.needed_bars()?,
            history,
        )
    }

    /// Predictions for every window of a `[windows, seq, features]` array, in one run: a dict of
    /// `price`, `confidence`, `direction` arrays, plus `probabilities` `[windows, classes]` for
    /// classifiers.
    fn predict_batch<'py>(
        &self,
        py: Python<'py>,
        features: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let bundle = &self.bundle;
        let (batch, columns) =
            self.detached_with(py, features, |_, f, _, t| bundle.predict_batch(f, t))?;
        self.check(py, columns, &batch.price)?;
        let dict = PyDict::new(py);
        dict.set_item("price", PyArray1::from_vec(py, batch.price))?;
        dict.set_item("confidence", PyArray1::from_vec(py, batch.confidence))?;
        dict.set_item("direction", PyArray1::from_vec(py, batch.direction))?;
        if let Some((probabilities, classes)) = batch.probabilities {
            let rows = probabilities.len().checked_div(classes).unwrap_or(0);
            dict.set_item(
                "probabilities",
                PyArray1::from_vec(py, probabilities).reshape([rows, classes])?,
            )?;
        }
        Ok(dict)
    }

    /// How many of the last bars `predict_bars` reads (`sequence_length + window - 1`); raises
    /// `InvalidInputError` when the bundle cannot take raw bars, naming what it needs.
    #[getter]
    fn bars_needed(&self) -> PyResult<usize> {
        self.needed_bars()
    }

    /// Whether results may be cached (regression only, as upstream).
    #[getter]
    fn cacheable(&self) -> bool {
        self.bundle.spec.is_cacheable()
    }

    /// The run timeout in seconds, or `None`.
    #[getter]
    fn timeout(&self) -> Option<f64> {
        self.timeout.map(|t| t.as_secs_f64())
    }

    /// The model name reported in predictions.
    #[getter]
    fn model_name(&self, py: Python<'_>) -> Py<PyString> {
        self.model_name.clone_ref(py)
    }

    fn __repr__(&self) -> String {
        format!("Predictor({})", quoted(self.bundle.session.origin()))
    }
}
