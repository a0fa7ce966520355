//! The built-in prediction cache (`InMemoryPredictionCache`'s storage) and `features_digest`.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::core::predict::cache::{
    config_digest, tensor_digest, ttl_from_secs, CacheKey, CachedPrediction, Digest,
    PredictionCache,
};
use crate::core::Error;

/// A thread-safe, TTL- and size-bounded (least recently used first out) prediction cache.
///
/// `atb_prediction.InMemoryPredictionCache` subclasses this class and adds upstream's
/// `get`/`set`/`invalidate_config`, which take a configuration dict; the runners of a registry
/// use the storage directly from Rust, so a cached prediction costs no Python frame.
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

/// The [`digest`] of a feature array as the caller gave it.
fn features_key(features: &Bound<'_, PyAny>) -> PyResult<Digest> {
    let held = crate::py::arrays::hold_any(features)?;
    let (shape, data) = held.view();
    Ok(tensor_digest(shape, &data))
}

fn key(features: &Bound<'_, PyAny>, model_name: &str, config_key: &str) -> PyResult<CacheKey> {
    Ok(CacheKey {
        model: Arc::from(model_name),
        config: config_digest(config_key),
        features: features_key(features)?,
    })
}

#[pymethods]
impl PyPredictionStore {
    #[new]
    #[pyo3(signature = (ttl=60.0, max_size=None))]
    fn new(ttl: f64, max_size: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let ttl = ttl_from_secs(ttl)?;
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
            inner: Arc::new(PredictionCache::new(ttl, max_size as usize)),
        })
    }

    /// The cached `{price, confidence, direction}` for `features` under `model_name` and the
    /// configuration whose canonical text is `config_key`, or `None` when absent or expired.
    fn lookup<'py>(
        &self,
        py: Python<'py>,
        features: &Bound<'py, PyAny>,
        model_name: &str,
        config_key: &str,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(hit) = self.inner.get(&key(features, model_name, config_key)?) else {
            return Ok(None);
        };
        let dict = PyDict::new(py);
        dict.set_item("price", hit.price)?;
        dict.set_item("confidence", hit.confidence)?;
        dict.set_item("direction", hit.direction)?;
        Ok(Some(dict))
    }

    /// Stores a prediction for `features` under `model_name` and `config_key`.
    fn store(
        &self,
        features: &Bound<'_, PyAny>,
        model_name: &str,
        config_key: &str,
        price: f64,
        confidence: f64,
        direction: i64,
    ) -> PyResult<()> {
        self.inner.set(
            key(features, model_name, config_key)?,
            CachedPrediction {
                price,
                confidence,
                direction,
            },
        );
        Ok(())
    }

    /// Drops everything; returns how many entries were dropped.
    fn clear(&self) -> usize {
        self.inner.clear()
    }

    /// Drops one model's entries; returns how many were dropped.
    fn invalidate_model(&self, model_name: &str) -> usize {
        self.inner.invalidate_model(model_name)
    }

    /// Drops one model's entries made under the configuration whose text is `config_key`.
    fn invalidate_config_key(&self, model_name: &str, config_key: &str) -> usize {
        self.inner
            .invalidate_config(model_name, &config_digest(config_key))
    }

    /// Upstream's statistics: hits, misses, sets, evictions, expirations, size, max_size, ttl and
    /// hit_rate.
    fn get_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.inner.stats();
        let lookups = stats.hits + stats.misses;
        let dict = PyDict::new(py);
        dict.set_item("hits", stats.hits)?;
        dict.set_item("misses", stats.misses)?;
        dict.set_item("sets", stats.sets)?;
        dict.set_item("evictions", stats.evictions)?;
        dict.set_item("expirations", stats.expirations)?;
        dict.set_item("size", self.inner.len())?;
        dict.set_item("max_size", self.inner.max_size())?;
        dict.set_item("ttl", self.inner.ttl().as_secs_f64())?;
        let rate = if lookups == 0 {
            0.0
        } else {
            stats.hits as f64 / lookups as f64
        };
        dict.set_item("hit_rate", rate)?;
        Ok(dict)
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

    /// Moves this cache's clock forward by ``seconds``, as if that much time had passed: tests
    /// check expiry with it instead of sleeping.
    fn advance_clock(&self, seconds: f64) -> PyResult<()> {
        let by = std::time::Duration::try_from_secs_f64(seconds).map_err(|_| {
            Error::InvalidArgument(format!(
                "seconds must be a finite, non-negative number, got {seconds}"
            ))
        })?;
        self.inner.advance_clock(by);
        Ok(())
    }
}

/// A 16-byte digest of an array's dtype, shape and bytes (the built-in cache's features key).
#[pyfunction]
pub fn features_digest<'py>(
    py: Python<'py>,
    features: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &features_key(features)?))
}
