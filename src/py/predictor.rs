//! `Predictor` (upstream's `OnnxRunner.predict` done in Rust) and the `ModelPrediction` value.

use std::sync::Arc;
use std::time::{Duration, Instant};

use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::core::bundle::LoadedBundle;
use crate::core::cache::{digest, CachedPrediction, PredictionCache};
use crate::core::options::timeout_from_seconds;
use crate::core::predict::{Features, Predictor};
use crate::py::arrays::hold_any;
use crate::py::bundle::PyLoadedBundle;
use crate::py::cache::PyPredictionStore;
use crate::py::gil::detached;
use crate::py::repr::{float, quoted};

/// One prediction, with upstream's fields.
#[pyclass(
    frozen,
    module = "atb_prediction._core",
    name = "ModelPrediction",
    eq,
    skip_from_py_object
)]
#[derive(Debug, Clone, PartialEq)]
pub struct PyModelPrediction {
    /// The predicted price (NaN for classifiers).
    #[pyo3(get)]
    pub(crate) price: f64,
    /// In `[0, 1]`.
    #[pyo3(get)]
    pub(crate) confidence: f64,
    /// `1`, `0` or `-1`.
    #[pyo3(get)]
    pub(crate) direction: i64,
    /// The model that predicted it.
    #[pyo3(get)]
    pub(crate) model_name: String,
    /// Seconds spent in `predict`.
    #[pyo3(get)]
    pub(crate) inference_time: f64,
    /// Class probabilities for classifiers, else `None`.
    pub(crate) probabilities: Option<Vec<f64>>,
}

impl PyModelPrediction {
    /// A prediction taken from the cache, as it was stored.
    pub fn from_cached(cached: CachedPrediction) -> Self {
        let time = cached.inference_time;
        Self::with_time(cached, time)
    }

    fn with_time(cached: CachedPrediction, inference_time: f64) -> Self {
        Self {
            price: cached.price,
            confidence: cached.confidence,
            direction: cached.direction,
            model_name: cached.model_name,
            inference_time,
            probabilities: cached.probabilities,
        }
    }
}

#[pymethods]
impl PyModelPrediction {
    #[new]
    #[pyo3(signature = (price, confidence, direction, model_name, inference_time, probabilities=None))]
    fn new(
        price: f64,
        confidence: f64,
        direction: i64,
        model_name: String,
        inference_time: f64,
        probabilities: Option<Vec<f64>>,
    ) -> Self {
        Self {
            price,
            confidence,
            direction,
            model_name,
            inference_time,
            probabilities,
        }
    }

    /// The probabilities as a tuple (upstream's type), or `None`.
    #[getter(probabilities)]
    fn probabilities_tuple<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.probabilities
            .as_ref()
            .map(|p| PyTuple::new(py, p))
            .transpose()
    }

    /// The fields as a dict.
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("price", self.price)?;
        dict.set_item("confidence", self.confidence)?;
        dict.set_item("direction", self.direction)?;
        dict.set_item("model_name", &self.model_name)?;
        dict.set_item("inference_time", self.inference_time)?;
        dict.set_item("probabilities", self.probabilities_tuple(py)?)?;
        Ok(dict)
    }

    /// A copy with the given fields replaced (used by caches to restamp timing).
    #[pyo3(signature = (*, inference_time=None, model_name=None))]
    fn replace(&self, inference_time: Option<f64>, model_name: Option<String>) -> Self {
        let mut copy = self.clone();
        if let Some(time) = inference_time {
            copy.inference_time = time;
        }
        if let Some(name) = model_name {
            copy.model_name = name;
        }
        copy
    }

    fn __repr__(&self) -> String {
        let probabilities = match &self.probabilities {
            Some(p) => format!(
                "({})",
                p.iter().map(|v| float(*v)).collect::<Vec<_>>().join(", ")
                    + if p.len() == 1 { "," } else { "" }
            ),
            None => "None".to_owned(),
        };
        format!(
            "ModelPrediction(price={}, confidence={}, direction={}, model_name={}, inference_time={}, probabilities={probabilities})",
            float(self.price), float(self.confidence), self.direction, quoted(&self.model_name), float(self.inference_time)
        )
    }
}

/// Runs upstream's `predict` semantics for one bundle, entirely in one GIL-free call.
#[pyclass(frozen, module = "atb_prediction._core", name = "Predictor")]
pub struct PyPredictor {
    bundle: Arc<LoadedBundle>,
    model_name: String,
    timeout: Option<Duration>,
    /// The built-in cache and this bundle's key in it; `None` for classifiers (never cached).
    cache: Option<(Arc<PredictionCache>, Arc<str>)>,
}

impl PyPredictor {
    /// Holds `features`, then runs `work` on them without the GIL.
    fn detached_with<T: Send>(
        &self,
        py: Python<'_>,
        features: &Bound<'_, PyAny>,
        work: impl FnOnce(&Predictor<'_>, &Features<'_>, Option<Duration>) -> crate::core::Result<T>
            + Send,
    ) -> PyResult<T> {
        let held = hold_any(features)?;
        let (shape, data) = held.view();
        let features = Features { shape, data };
        let predictor = self.bundle.predictor();
        let timeout = self.timeout;
        detached(py, || work(&predictor, &features, timeout))
    }
}

#[pymethods]
impl PyPredictor {
    #[new]
    #[pyo3(signature = (bundle, *, model_name, timeout=None, cache=None, cache_key=None))]
    fn new(
        bundle: &Bound<'_, PyLoadedBundle>,
        model_name: String,
        timeout: Option<f64>,
        cache: Option<&Bound<'_, PyPredictionStore>>,
        cache_key: Option<String>,
    ) -> PyResult<Self> {
        let bundle = Arc::clone(bundle.get().core());
        let cache = match cache {
            Some(cache) if bundle.spec.is_cacheable() => {
                let key = cache_key.unwrap_or_else(|| model_name.clone());
                Some((Arc::clone(cache.get().core()), Arc::from(key)))
            }
            _ => None,
        };
        Ok(Self {
            bundle,
            model_name,
            timeout: timeout_from_seconds(timeout)?,
            cache,
        })
    }

    /// One prediction from a 1-D, 2-D or 3-D feature array (upstream's `predict`); served from
    /// the built-in cache when one was given and it holds these features.
    fn predict(&self, py: Python<'_>, features: &Bound<'_, PyAny>) -> PyResult<PyModelPrediction> {
        let started = Instant::now();
        let cache = self.cache.as_ref();
        let model_name = &self.model_name;
        let cached = self.detached_with(py, features, |predictor, features, timeout| {
            let Some((cache, key)) = cache else {
                let prediction = predictor.predict(features, timeout)?;
                return Ok(CachedPrediction::new(prediction, model_name.clone()));
            };
            let digest = digest(
                features.data.element_type().name(),
                features.shape,
                features.data.as_bytes(),
            );
            if let Some(hit) = cache.get(key, &digest) {
                return Ok(hit);
            }
            let fresh =
                CachedPrediction::new(predictor.predict(features, timeout)?, model_name.clone());
            cache.set(key, &digest, fresh.clone());
            Ok(fresh)
        })?;
        Ok(PyModelPrediction::with_time(
            cached,
            started.elapsed().as_secs_f64(),
        ))
    }

    /// Predictions for every window of a `[windows, seq, features]` array, in one run: a dict of
    /// `price`, `confidence`, `direction` arrays, plus `probabilities` `[windows, classes]` for
    /// classifiers.
    fn predict_batch<'py>(
        &self,
        py: Python<'py>,
        features: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let batch = self.detached_with(py, features, |p, f, t| p.predict_batch(f, t))?;
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
    fn model_name(&self) -> &str {
        &self.model_name
    }

    fn __repr__(&self) -> String {
        format!("Predictor({})", quoted(self.bundle.session.origin()))
    }
}
