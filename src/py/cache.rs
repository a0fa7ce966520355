//! The built-in prediction cache (`InMemoryPredictionCache`'s storage) and `features_digest`.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::core::cache::{digest, normalize_digest, CachedPrediction, PredictionCache};
use crate::core::Error;
use crate::py::predictor::PyModelPrediction;

/// A thread-safe, TTL- and size-bounded (least recently used first out) prediction cache.
///
/// `atb_prediction.InMemoryPredictionCache` is this class; the runners of a registry use it
/// directly from Rust, so a cached prediction costs no Python frame.
#[pyclass(
    frozen,
    subclass,
    module = "atb_prediction._core",
    name = "PredictionStore"
)]
pub struct PyPredictionStore {
    inner: Arc<PredictionCache>,
}

impl PyPredictionStore {
    /// The core cache.
    pub fn core(&self) -> &Arc<PredictionCache> {
        &self.inner
    }
}

fn model_key(key: &str) -> Arc<str> {
    Arc::from(key)
}

#[pymethods]
impl PyPredictionStore {
    #[new]
    #[pyo3(signature = (ttl=60.0, max_size=None))]
    fn new(ttl: f64, max_size: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        if !(ttl.is_finite() && ttl > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "ttl must be a positive number of seconds, got {ttl}"
            ))
            .into());
        }
        // `True` is an int in Python; a size given as a bool is a mistake, not 1.
        let max_size: i64 = match max_size {
            None => 1000,
            Some(value) if value.is_instance_of::<pyo3::types::PyBool>() => {
                return Err(Error::InvalidArgument(
                    "max_size must be an integer, got a bool".to_owned(),
                )
                .into());
            }
            Some(value) => value.extract()?,
        };
        if max_size < 1 {
            return Err(Error::InvalidArgument(format!(
                "max_size must be at least 1, got {max_size}"
            ))
            .into());
        }
        Ok(Self {
            inner: Arc::new(PredictionCache::new(
                Duration::from_secs_f64(ttl),
                max_size as usize,
            )),
        })
    }

    /// The cached prediction, or `None` when absent or expired.
    fn get(&self, model_key: &str, digest: &[u8]) -> Option<PyModelPrediction> {
        self.inner
            .get(&self::model_key(model_key), &normalize_digest(digest))
            .map(PyModelPrediction::from_cached)
    }

    /// Stores a prediction.
    fn set(&self, model_key: &str, digest: &[u8], prediction: &Bound<'_, PyModelPrediction>) {
        let prediction = prediction.get();
        let value = CachedPrediction {
            price: prediction.price,
            confidence: prediction.confidence,
            direction: prediction.direction,
            model_name: prediction.model_name.clone(),
            probabilities: prediction.probabilities.clone(),
            inference_time: prediction.inference_time,
        };
        self.inner.set(
            &self::model_key(model_key),
            &normalize_digest(digest),
            value,
        );
    }

    /// Drops everything; returns how many entries were dropped.
    fn clear(&self) -> usize {
        self.inner.clear()
    }

    /// Drops one model's entries; returns how many were dropped.
    fn invalidate_model(&self, model_key: &str) -> usize {
        self.inner.invalidate_model(model_key)
    }

    /// Seconds an entry stays valid.
    #[getter]
    fn ttl(&self) -> f64 {
        self.inner.ttl().as_secs_f64()
    }

    /// The most entries held.
    #[getter]
    fn max_size(&self) -> usize {
        self.inner.max_size()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// A 16-byte digest of an array's dtype, shape and bytes (the built-in cache's key).
#[pyfunction]
pub fn features_digest<'py>(
    py: Python<'py>,
    features: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let held = crate::py::arrays::hold_any(features)?;
    let (shape, data) = held.view();
    let value = digest(data.element_type().name(), shape, data.as_bytes());
    Ok(PyBytes::new(py, &value))
}
