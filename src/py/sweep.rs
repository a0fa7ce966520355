//! `SweepModel`: one bundle opened for a backtest sweep, and the GIL-free run that reports
//! progress and honours Ctrl-C.

use std::ops::Range;

use numpy::{
    PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadwriteArray1, PyReadwriteArray2,
    PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::core::backtest::sweep::{
    self, SeriesInput, SeriesView, SweepModel, SweepOutputs, SweepStats,
};
use crate::core::onnx::options::{session_options, timeout_from_seconds};
use crate::core::onnx::session::SessionOptions;
use crate::core::onnx::tensor::OutputTensor;
use crate::core::registry::bundle::spec_from_texts;
use crate::core::Error;
use crate::py::arrays::{output_to_numpy, HeldArray};
use crate::py::bundle::PyLoadedBundle;
use crate::py::gil::detached;
use crate::py::repr::quoted;
use crate::py::runtime::ensure_runtime;

/// A bundle opened for sweeping: one single-threaded session per worker, and the bundle's
/// prediction spec (the same rules as `Predictor.predict`).
#[pyclass(frozen, module = "atb_prediction._core", name = "SweepModel")]
pub struct PySweepModel {
    inner: SweepModel,
}

/// A run's result arrays, borrowed for writing (so no other Rust borrow can write them) while
/// the run writes them without the GIL.
struct Writable<'py> {
    price: PyReadwriteArray1<'py, f64>,
    confidence: PyReadwriteArray1<'py, f64>,
    direction: PyReadwriteArray1<'py, i8>,
    probabilities: Option<PyReadwriteArray2<'py, f64>>,
}

impl<'py> Writable<'py> {
    fn borrow(
        price: &Bound<'py, PyArray1<f64>>,
        confidence: &Bound<'py, PyArray1<f64>>,
        direction: &Bound<'py, PyArray1<i8>>,
        probabilities: Option<&Bound<'py, PyArray2<f64>>>,
    ) -> PyResult<Self> {
        Ok(Self {
            price: price
                .try_readwrite()
                .map_err(|e| readwrite_error("price", e))?,
            confidence: confidence
                .try_readwrite()
                .map_err(|e| readwrite_error("confidence", e))?,
            direction: direction
                .try_readwrite()
                .map_err(|e| readwrite_error("direction", e))?,
            probabilities: probabilities
                .map(|p| p.try_readwrite())
                .transpose()
                .map_err(|e| readwrite_error("probabilities", e))?,
        })
    }

    /// The arrays as the core's outputs of the bars from `offset`; each must be contiguous.
    fn outputs(&mut self, offset: usize) -> PyResult<SweepOutputs<'_>> {
        let contiguous = |name: &str| readwrite_error(name, "it is not contiguous");
        Ok(SweepOutputs {
            offset,
            price: self.price.as_slice_mut().map_err(|_| contiguous("price"))?,
            confidence: self
                .confidence
                .as_slice_mut()
                .map_err(|_| contiguous("confidence"))?,
            direction: self
                .direction
                .as_slice_mut()
                .map_err(|_| contiguous("direction"))?,
            probabilities: self
                .probabilities
                .as_mut()
                .map(|p| p.as_slice_mut())
                .transpose()
                .map_err(|_| contiguous("probabilities"))?,
        })
    }
}

fn readwrite_error(name: &str, error: impl std::fmt::Display) -> PyErr {
    Error::InvalidArgument(format!("output array {name} cannot be written: {error}")).into()
}

/// One intra-op thread per session: the parallelism comes from running one session per worker,
/// which beats one session's threads on small recurrent models.
fn sweep_options(providers: Option<&[String]>) -> PyResult<SessionOptions> {
    Ok(session_options(Some(1), Some(1), "all", providers, false)?)
}

fn series_error(error: impl std::fmt::Display) -> PyErr {
    Error::InvalidArgument(format!("the series cannot be read: {error}")).into()
}

#[pymethods]
impl PySweepModel {
    /// Opens a bundle sent as bytes (a remote worker's copy of the bundle the driver opened).
    #[new]
    #[pyo3(signature = (model, metadata_json=None, feature_schema_json=None, *, origin, workers=1, confidence_scale_factor=10.0, direction_threshold=0.01, timeout=None, providers=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: &Bound<'_, PyBytes>,
        metadata_json: Option<&str>,
        feature_schema_json: Option<&str>,
        origin: &str,
        workers: usize,
        confidence_scale_factor: f64,
        direction_threshold: f64,
        timeout: Option<f64>,
        providers: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let spec = spec_from_texts(
            metadata_json,
            feature_schema_json,
            confidence_scale_factor,
            direction_threshold,
        )?;
        let options = sweep_options(providers.as_deref())?;
        let timeout = timeout_from_seconds(timeout)?;
        ensure_runtime(py)?;
        let bytes = model.as_bytes();
        let inner = detached(py, || {
            SweepModel::open(bytes, origin, spec, &options, workers, timeout)
        })?;
        Ok(Self { inner })
    }

    /// Opens `workers` sessions of a bundle the registry opened: its very model bytes (those its
    /// integrity check read, never the file again) and its prediction spec.
    #[staticmethod]
    #[pyo3(signature = (bundle, *, workers=1, timeout=None, providers=None))]
    fn from_bundle(
        py: Python<'_>,
        bundle: &Bound<'_, PyLoadedBundle>,
        workers: usize,
        timeout: Option<f64>,
        providers: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let options = sweep_options(providers.as_deref())?;
        let timeout = timeout_from_seconds(timeout)?;
        let bundle = bundle.get().core();
        let inner = detached(py, || {
            SweepModel::from_bundle(bundle, &options, workers, timeout)
        })?;
        Ok(Self { inner })
    }

    /// The number of bars in one window.
    #[getter]
    fn sequence_length(&self) -> usize {
        self.inner.window().sequence_length
    }

    /// The number of feature columns the model takes.
    #[getter]
    fn feature_count(&self) -> usize {
        self.inner.window().feature_count
    }

    /// The number of sessions, and so of threads, a run uses.
    #[getter]
    fn workers(&self) -> usize {
        self.inner.workers()
    }

    /// The number of classes for classifiers, else `None`.
    #[getter]
    fn classes(&self) -> Option<usize> {
        self.inner.class_count()
    }

    /// What messages call the bundle: its key.
    #[getter]
    fn origin(&self) -> &str {
        self.inner.origin()
    }

    /// The model input of the whole series, normalised once, as a C-ordered array of the model's
    /// input dtype: `series` is `[bars, features]` feature columns (float32 or float64, any
    /// memory order), or with `bars=True` `[bars, 5]` float64 OHLCV bars whose features are
    /// computed as live prediction computes them.
    #[pyo3(signature = (series, *, bars=false))]
    fn normalise<'py>(
        &self,
        py: Python<'py>,
        series: &Bound<'py, PyUntypedArray>,
        bars: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        // alloc: the array's rank (2 for every series this takes).
        let shape = series.shape().to_vec();
        let data = if bars {
            let array = series.cast::<PyArray2<f64>>().map_err(|_| {
                Error::invalid_input(format!(
                    "raw bars must be a 2-D float64 array [bars, 5], got {}-D {}",
                    shape.len(),
                    series.dtype()
                ))
            })?;
            let held = array.try_readonly().map_err(series_error)?;
            let view = held.as_array();
            detached(py, || self.inner.normalise(SeriesInput::Bars(view)))?
        } else if let Ok(array) = series.cast::<PyArray2<f32>>() {
            let held = array.try_readonly().map_err(series_error)?;
            let view = held.as_array();
            detached(py, || {
                self.inner
                    .normalise(SeriesInput::Features(SeriesView::Float32(view)))
            })?
        } else if let Ok(array) = series.cast::<PyArray2<f64>>() {
            let held = array.try_readonly().map_err(series_error)?;
            let view = held.as_array();
            detached(py, || {
                self.inner
                    .normalise(SeriesInput::Features(SeriesView::Float64(view)))
            })?
        } else {
            return Err(Error::invalid_input(format!(
                "the series must be a 2-D float32 or float64 array [bars, features], got {}-D {}",
                shape.len(),
                series.dtype()
            ))
            .into());
        };
        let rows = shape.first().copied().unwrap_or(0);
        let columns = self.inner.window().feature_count;
        Ok(output_to_numpy(
            py,
            OutputTensor {
                shape: vec![rows, columns],
                data,
            },
        )?)
    }

    /// Maps the outputs of bars `offset..` back to prices with `target` (every bar's value of
    /// the bundle's `price_target` column) for a `rolling_minmax` bundle, in place; returns
    /// `(count, first_bar)` of the bars left undefined because their output or price window was
    /// not finite. Other bundles are left alone.
    #[pyo3(signature = (target, *, offset, price, confidence, direction))]
    fn to_prices(
        &self,
        py: Python<'_>,
        target: PyReadonlyArray1<'_, f64>,
        offset: usize,
        price: &Bound<'_, PyArray1<f64>>,
        confidence: &Bound<'_, PyArray1<f64>>,
        direction: &Bound<'_, PyArray1<i8>>,
    ) -> PyResult<(usize, Option<usize>)> {
        let target = target.as_array();
        let mut held = Writable::borrow(price, confidence, direction, None)?;
        let outputs = held.outputs(offset)?;
        let unpriced = detached(py, || self.inner.to_prices(target, outputs))?;
        Ok((unpriced.count, unpriced.first_bar))
    }

    /// `ranges` (`(start, stop)` pairs of bars, of a series of `bars` bars) split into pieces of
    /// about `piece_windows` windows, cut only on this model's batch grid, so that a remote
    /// worker running a piece feeds ONNX Runtime exactly the batches a local run would.
    fn pieces(
        &self,
        ranges: Vec<(usize, usize)>,
        bars: usize,
        batch_size: usize,
        piece_windows: usize,
    ) -> PyResult<Vec<Vec<(usize, usize)>>> {
        let ranges: Vec<Range<usize>> = ranges.into_iter().map(|(a, b)| a..b).collect();
        let first = self.inner.window().first_full_bar();
        let pieces = sweep::pieces(first, &ranges, bars, batch_size, piece_windows)?;
        Ok(pieces
            .into_iter()
            .map(|piece| piece.into_iter().map(|r| (r.start, r.end)).collect())
            .collect())
    }

    /// Runs the windows ending at the bars of `ranges` (`(start, stop)` pairs) and writes each
    /// result at index `bar - offset` of the output arrays. Returns `(windows, nonfinite_windows,
    /// first_nonfinite_bar)`.
    ///
    /// `progress(done, total)` is called about every 100 ms from this thread. Ctrl-C stops the
    /// run within about one batch and raises `KeyboardInterrupt`; no worker thread outlives it.
    #[pyo3(signature = (normalised, ranges, batch_size, *, offset, price, confidence, direction, probabilities=None, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        py: Python<'_>,
        normalised: &Bound<'_, PyUntypedArray>,
        ranges: Vec<(usize, usize)>,
        batch_size: usize,
        offset: usize,
        price: &Bound<'_, PyArray1<f64>>,
        confidence: &Bound<'_, PyArray1<f64>>,
        direction: &Bound<'_, PyArray1<i8>>,
        probabilities: Option<&Bound<'_, PyArray2<f64>>>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<(usize, usize, Option<usize>)> {
        let held = HeldArray::hold(normalised)?;
        let (_, series) = held.view();
        let ranges: Vec<Range<usize>> = ranges.into_iter().map(|(a, b)| a..b).collect();
        let total: usize = ranges.iter().map(|r| r.end.saturating_sub(r.start)).sum();
        let mut held = Writable::borrow(price, confidence, direction, probabilities)?;
        let outputs = held.outputs(offset)?;
        let (stats, interrupted) = detached(py, || {
            let mut interrupted: Option<PyErr> = None;
            // Signal handlers only run with the GIL held, so the driving thread takes it briefly
            // at each poll; the workers never touch Python.
            let mut poll = |done: usize| {
                Python::attach(|py| {
                    let outcome = py.check_signals().and_then(|()| match &progress {
                        Some(callback) => callback.call1(py, (done, total)).map(drop),
                        None => Ok(()),
                    });
                    match outcome {
                        Ok(()) => true,
                        Err(error) => {
                            interrupted.get_or_insert(error);
                            false
                        }
                    }
                })
            };
            let stats = self
                .inner
                .run(series, &ranges, batch_size, outputs, &mut poll)?;
            Ok((stats, interrupted))
        })?;
        if let Some(error) = interrupted {
            return Err(error);
        }
        let SweepStats {
            windows,
            nonfinite_windows,
            first_nonfinite_bar,
        } = stats.ok_or_else(|| {
            PyErr::from(Error::Inference {
                origin: self.inner.origin().to_owned(),
                reason: "the sweep was cancelled".to_owned(),
            })
        })?;
        Ok((windows, nonfinite_windows, first_nonfinite_bar))
    }

    fn __repr__(&self) -> String {
        format!(
            "SweepModel({}, workers={})",
            quoted(self.inner.origin()),
            self.inner.workers()
        )
    }
}
