//! `SweepModel`: one bundle opened for a backtest sweep, and the GIL-free run that reports
//! progress and honours Ctrl-C.

use std::ops::Range;

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::core::options::{session_options, timeout_from_seconds};
use crate::core::predict::PredictionSpec;
use crate::core::sweep::{SeriesView, SweepModel, SweepOutputs, SweepStats};
use crate::core::tensor::OutputTensor;
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

fn readwrite_error(name: &str, error: impl std::fmt::Display) -> PyErr {
    Error::InvalidArgument(format!("output array {name} cannot be written: {error}")).into()
}

fn series_error(error: impl std::fmt::Display) -> PyErr {
    Error::InvalidArgument(format!("the series cannot be read: {error}")).into()
}

#[pymethods]
impl PySweepModel {
    #[new]
    #[pyo3(signature = (model, metadata_json=None, *, workers=1, sequence_length=None, feature_count=None, confidence_scale_factor=10.0, direction_threshold=0.01, timeout=None, providers=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: &Bound<'_, PyBytes>,
        metadata_json: Option<&str>,
        workers: usize,
        sequence_length: Option<usize>,
        feature_count: Option<usize>,
        confidence_scale_factor: f64,
        direction_threshold: f64,
        timeout: Option<f64>,
        providers: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let spec =
            PredictionSpec::from_json(metadata_json, confidence_scale_factor, direction_threshold)?;
        // One intra-op thread per session: the parallelism comes from running one session per
        // worker, which beats one session's threads on small recurrent models.
        let options = session_options(Some(1), Some(1), "all", providers.as_deref(), false)?;
        let timeout = timeout_from_seconds(timeout)?;
        ensure_runtime(py)?;
        let bytes = model.as_bytes();
        let inner = detached(py, || {
            SweepModel::open(
                bytes,
                spec,
                sequence_length,
                feature_count,
                &options,
                workers,
                timeout,
            )
        })?;
        Ok(Self { inner })
    }

    /// The number of bars in one window.
    #[getter]
    fn sequence_length(&self) -> usize {
        self.inner.sequence_length()
    }

    /// The number of feature columns the model takes.
    #[getter]
    fn feature_count(&self) -> usize {
        self.inner.feature_count()
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

    /// The series `[bars, features]` (float32 or float64, any memory order) normalised once, as a
    /// C-ordered array of the model's input dtype.
    fn normalise<'py>(
        &self,
        py: Python<'py>,
        series: &Bound<'py, PyUntypedArray>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let shape = series.shape().to_vec();
        let data = if let Ok(array) = series.cast::<PyArray2<f32>>() {
            let held = array.try_readonly().map_err(series_error)?;
            let view = held.as_array();
            detached(py, || self.inner.normalise(SeriesView::Float32(view)))?
        } else if let Ok(array) = series.cast::<PyArray2<f64>>() {
            let held = array.try_readonly().map_err(series_error)?;
            let view = held.as_array();
            detached(py, || self.inner.normalise(SeriesView::Float64(view)))?
        } else {
            return Err(Error::invalid_input(format!(
                "the series must be a 2-D float32 or float64 array [bars, features], got {}-D {}",
                shape.len(),
                series.dtype()
            ))
            .into());
        };
        Ok(output_to_numpy(py, OutputTensor { shape, data })?)
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
        let mut price = price
            .try_readwrite()
            .map_err(|e| readwrite_error("price", e))?;
        let mut confidence = confidence
            .try_readwrite()
            .map_err(|e| readwrite_error("confidence", e))?;
        let mut direction = direction
            .try_readwrite()
            .map_err(|e| readwrite_error("direction", e))?;
        let mut probabilities = probabilities
            .map(|p| p.try_readwrite())
            .transpose()
            .map_err(|e| readwrite_error("probabilities", e))?;
        let contiguous = |name: &str| readwrite_error(name, "it is not contiguous");
        let outputs = SweepOutputs {
            offset,
            price: price.as_slice_mut().map_err(|_| contiguous("price"))?,
            confidence: confidence
                .as_slice_mut()
                .map_err(|_| contiguous("confidence"))?,
            direction: direction
                .as_slice_mut()
                .map_err(|_| contiguous("direction"))?,
            probabilities: probabilities
                .as_mut()
                .map(|p| p.as_slice_mut())
                .transpose()
                .map_err(|_| contiguous("probabilities"))?,
        };
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

/// The model bytes and `metadata.json` text of an opened bundle: all a sweep worker needs to open
/// it again, without the registry folder. The model file is read again (the session does not
/// keep it), the metadata text is the one the scan read.
#[pyfunction]
pub fn bundle_parts<'py>(
    py: Python<'py>,
    bundle: &Bound<'py, PyLoadedBundle>,
) -> PyResult<(Bound<'py, PyBytes>, Option<String>)> {
    let record = &bundle.get().core().record;
    let path = &record.model_path;
    let model = detached(py, || std::fs::read(path).map_err(|e| Error::io(path, e)))?;
    let metadata = record
        .metadata
        .as_ref()
        .map(|document| document.text.clone());
    Ok((PyBytes::new(py, &model), metadata))
}
