//! `scan_registry` and the index, record and invalid-bundle classes it returns.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};

use crate::core::registry::documents::{DocumentKind, DOCUMENTS};
use crate::core::registry::scan::{self, BundleRecord, RegistryIndex};
use crate::core::registry::schema::BundleSchemas;
use crate::core::Error;
use crate::py::documents::DocumentViews;
use crate::py::gil::detached;
use crate::py::repr::quoted;

/// Compiling the schemas costs more than an unchanged rescan, so the last compiled set is kept.
static COMPILED_SCHEMAS: Mutex<Option<Arc<BundleSchemas>>> = Mutex::new(None);

/// The schema text of each document kind, in table order, from a name -> text mapping that
/// must name every kind and nothing else.
fn schema_texts(schemas: &HashMap<String, String>) -> crate::core::Result<[&str; DOCUMENTS.len()]> {
    if let Some(unknown) = schemas
        .keys()
        .find(|name| DocumentKind::from_name(name).is_none())
    {
        return Err(Error::InvalidArgument(format!(
            "unknown document kind {unknown:?} for a schema; expected one of {:?}",
            DOCUMENTS.map(|row| row.name)
        )));
    }
    let mut texts = [""; DOCUMENTS.len()];
    for (text, row) in texts.iter_mut().zip(DOCUMENTS) {
        *text = schemas
            .get(row.name)
            .ok_or_else(|| Error::InvalidArgument(format!("no schema given for {:?}", row.name)))?;
    }
    Ok(texts)
}

fn compiled_schemas(texts: [&str; DOCUMENTS.len()]) -> crate::core::Result<Arc<BundleSchemas>> {
    let [metadata, feature_schema, metrics] = texts;
    let key = BundleSchemas::fingerprint_of(metadata, feature_schema, metrics);
    let mut cached = COMPILED_SCHEMAS.lock();
    if let Some(schemas) = cached
        .as_ref()
        .filter(|schemas| schemas.fingerprint() == key)
    {
        return Ok(Arc::clone(schemas));
    }
    let schemas = Arc::new(BundleSchemas::compile(metadata, feature_schema, metrics)?);
    *cached = Some(Arc::clone(&schemas));
    Ok(schemas)
}

/// The document kinds a bundle may hold, as `(name, file name)`, in table order.
#[pyfunction]
pub fn document_kinds() -> Vec<(&'static str, &'static str)> {
    DOCUMENTS
        .iter()
        .map(|row| (row.name, row.file_name))
        .collect()
}

/// Scans a registry; see `atb_prediction.scan_registry` for the documented entry point.
/// `schemas` maps every document kind's name to its JSON Schema text.
/// With `only=(symbol, model_type)` the scan is limited to that model type.
#[pyfunction]
#[pyo3(signature = (root, schemas, previous=None, only=None))]
pub fn scan_registry_with(
    py: Python<'_>,
    root: PathBuf,
    schemas: HashMap<String, String>,
    previous: Option<&Bound<'_, PyRegistryIndex>>,
    only: Option<(String, String)>,
) -> PyResult<PyRegistryIndex> {
    let previous = previous.map(|p| Arc::clone(&p.get().inner));
    let texts = schema_texts(&schemas)?;
    let scope = only.map(|(symbol, model_type)| scan::Scope { symbol, model_type });
    let index = detached(py, || {
        let schemas = compiled_schemas(texts)?;
        scan::scan_scoped(&root, &schemas, previous.as_deref(), scope.as_ref())
    })?;
    Ok(PyRegistryIndex {
        inner: Arc::new(index),
        versions: PyOnceLock::new(),
    })
}

/// The result of `scan_registry`: every valid version, every skipped bundle, and the production
/// version of each model type.
#[pyclass(frozen, module = "atb_prediction._core", name = "RegistryIndex")]
pub struct PyRegistryIndex {
    inner: Arc<RegistryIndex>,
    versions: PyOnceLock<Py<PyTuple>>,
}

impl PyRegistryIndex {
    /// The core index.
    pub fn core(&self) -> &Arc<RegistryIndex> {
        &self.inner
    }
}

#[pymethods]
impl PyRegistryIndex {
    /// The registry root (absolute).
    #[getter]
    fn root(&self) -> PathBuf {
        self.inner.root.clone()
    }

    /// Every valid version, sorted by (symbol, model type, version id).
    #[getter]
    fn versions(&self, py: Python<'_>) -> PyResult<Py<PyTuple>> {
        // Records become Python objects only when asked for: a scan of thousands of bundles that
        // only needs the production ones never pays for the rest.
        let tuple = self.versions.get_or_try_init(py, || {
            let records = self
                .inner
                .versions
                .iter()
                .map(|record| Py::new(py, PyBundleRecord::new(&self.inner, record)))
                .collect::<PyResult<Vec<_>>>()?;
            Ok::<_, PyErr>(PyTuple::new(py, records)?.unbind())
        })?;
        Ok(tuple.clone_ref(py))
    }

    /// The version `SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION`, or `None`; builds only that record.
    fn version(&self, key: &str) -> Option<PyBundleRecord> {
        self.inner
            .version(key)
            .map(|record| PyBundleRecord::new(&self.inner, record))
    }

    /// Every bundle skipped, with the path and the reason.
    #[getter]
    fn invalid(&self, py: Python<'_>) -> PyResult<Py<PyTuple>> {
        let items = self
            .inner
            .invalid
            .iter()
            .map(|bundle| {
                Py::new(
                    py,
                    PyInvalidBundle {
                        path: bundle.path.display().to_string(),
                        reason: bundle.reason.clone(),
                    },
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyTuple::new(py, items)?.unbind())
    }

    /// `(symbol, model_type) -> version_id` of each model type with a usable production version.
    #[getter]
    fn production<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for state in &self.inner.model_types {
            if let Ok(version) = &state.production {
                dict.set_item((&state.symbol, &state.model_type), version)?;
            }
        }
        Ok(dict)
    }

    /// `(symbol, model_type) -> reason` of each model type without a usable production version.
    #[getter]
    fn unavailable<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for state in &self.inner.model_types {
            if let Err(reason) = &state.production {
                dict.set_item((&state.symbol, &state.model_type), reason)?;
            }
        }
        Ok(dict)
    }

    /// `(symbol, model_type)` when the scan was limited to that model type, else `None`.
    #[getter]
    fn scope(&self) -> Option<(String, String)> {
        self.inner
            .scope
            .as_ref()
            .map(|scope| (scope.symbol.clone(), scope.model_type.clone()))
    }

    /// How many version folders were reused unchanged from the previous index.
    #[getter]
    fn reused(&self) -> usize {
        self.inner.reused()
    }

    fn __len__(&self) -> usize {
        self.inner.versions.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "RegistryIndex(root={}, versions={}, invalid={})",
            quoted(&self.inner.root.display().to_string()),
            self.inner.versions.len(),
            self.inner.invalid.len()
        )
    }
}

/// A bundle that was skipped, and why.
#[pyclass(
    frozen,
    module = "atb_prediction._core",
    name = "InvalidBundle",
    get_all
)]
pub struct PyInvalidBundle {
    /// The folder (or `latest` pointer) concerned.
    path: String,
    /// What was wrong.
    reason: String,
}

#[pymethods]
impl PyInvalidBundle {
    fn __repr__(&self) -> String {
        format!(
            "InvalidBundle(path={}, reason={})",
            quoted(&self.path),
            quoted(&self.reason)
        )
    }
}

/// One valid version folder; its JSON documents become Python objects on first access.
#[pyclass(frozen, module = "atb_prediction._core", name = "BundleRecord")]
pub struct PyBundleRecord {
    record: Arc<BundleRecord>,
    is_production: bool,
    from_latest: bool,
    documents: DocumentViews,
}

impl PyBundleRecord {
    fn new(index: &RegistryIndex, record: &Arc<BundleRecord>) -> Self {
        let production = index.model_types.iter().find(|state| {
            state.symbol == record.symbol
                && state.model_type == record.model_type
                && state.production.as_deref() == Ok(record.version_id.as_str())
        });
        Self {
            record: Arc::clone(record),
            is_production: production.is_some(),
            from_latest: production.is_some_and(|state| state.from_latest),
            documents: DocumentViews::default(),
        }
    }

    /// The core record.
    pub fn core(&self) -> &Arc<BundleRecord> {
        &self.record
    }
}

#[pymethods]
impl PyBundleRecord {
    #[getter]
    fn symbol(&self) -> &str {
        &self.record.symbol
    }
    #[getter]
    fn model_type(&self) -> &str {
        &self.record.model_type
    }
    #[getter]
    fn version_id(&self) -> &str {
        &self.record.version_id
    }
    #[getter]
    fn timeframe(&self) -> &str {
        &self.record.timeframe
    }
    #[getter]
    fn directory(&self) -> String {
        self.record.directory.display().to_string()
    }
    #[getter]
    fn model_path(&self) -> String {
        self.record.model_path.display().to_string()
    }
    /// `SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION`.
    #[getter]
    fn key(&self) -> String {
        self.record.key()
    }
    #[getter]
    fn created_at(&self) -> Option<&str> {
        self.record.metadata_str("created_at")
    }
    #[getter]
    fn stage(&self) -> Option<&str> {
        self.record.metadata_str("stage")
    }
    #[getter]
    fn is_production(&self) -> bool {
        self.is_production
    }
    /// Whether this is production because `latest` names it (not upstream's fallback to the
    /// highest-sorted version of a model type without `latest`).
    #[getter(from_latest)]
    fn is_from_latest(&self) -> bool {
        self.from_latest
    }
    /// How many features the bundle declares: `metadata.json`'s `feature_names`, else
    /// `feature_schema.json`'s `features` (`None` when neither does).
    #[getter]
    fn feature_count(&self) -> Option<usize> {
        self.record.declared_window().feature_count.map(|d| d.value)
    }
    /// The sequence length the bundle declares: `feature_schema.json`'s, else `metadata.json`'s
    /// (`None` when neither does).
    #[getter]
    fn sequence_length(&self) -> Option<usize> {
        self.record
            .declared_window()
            .sequence_length
            .map(|d| d.value)
    }
    /// `metadata.json`'s `feature_names`: the columns a DataFrame is read by, in order.
    #[getter]
    fn feature_names(&self) -> Option<Vec<String>> {
        self.record.feature_names()
    }
    /// `metadata.json` as a dict (empty when the bundle has none).
    #[getter]
    fn metadata(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let value = self
            .documents
            .get(py, &self.record, DocumentKind::Metadata)?;
        if value.is_none(py) {
            return Ok(PyDict::new(py).into_any().unbind());
        }
        Ok(value)
    }
    /// `feature_schema.json` as a dict, or `None`.
    #[getter]
    fn feature_schema(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.documents
            .get(py, &self.record, DocumentKind::FeatureSchema)
    }
    /// `metrics.json` as a dict, or `None`.
    #[getter]
    fn metrics(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.documents.get(py, &self.record, DocumentKind::Metrics)
    }

    fn __repr__(&self) -> String {
        format!("BundleRecord({})", quoted(&self.record.key()))
    }
}
