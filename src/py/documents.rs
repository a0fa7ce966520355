//! Python views of a bundle's JSON documents, converted from the values the scan already parsed:
//! Python never parses a bundle's JSON a second time, so both sides always read the same values.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};
use serde_json::Value;

use crate::core::registry::documents::{faithful_value, DocumentKind, DOCUMENTS};
use crate::core::registry::json::{read_object, tagged_non_finite};
use crate::core::registry::scan::BundleRecord;
use crate::core::Error;
use crate::py::gil::detached;

/// A JSON value as the Python object `json.loads` would give (`NaN`/`Infinity` as floats).
pub fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        Value::Number(number) => {
            if let Some(integer) = number.as_i64() {
                integer.into_pyobject(py)?.into_any()
            } else if let Some(integer) = number.as_u64() {
                integer.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, number.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(text) => match tagged_non_finite(value) {
            Some(number) => PyFloat::new(py, number).into_any(),
            None => PyString::new(py, text).into_any(),
        },
        Value::Array(items) => PyList::new(
            py,
            items
                .iter()
                .map(|item| to_python(py, item))
                .collect::<PyResult<Vec<_>>>()?,
        )?
        .into_any(),
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, to_python(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// Each document of one record as a Python object, converted on first access and kept.
pub struct DocumentViews {
    cells: [PyOnceLock<Py<PyAny>>; DOCUMENTS.len()],
}

impl Default for DocumentViews {
    fn default() -> Self {
        Self {
            cells: std::array::from_fn(|_| PyOnceLock::new()),
        }
    }
}

impl DocumentViews {
    /// The document of `kind` as a Python object, or `None` when the bundle has no such file.
    pub fn get(
        &self,
        py: Python<'_>,
        record: &BundleRecord,
        kind: DocumentKind,
    ) -> PyResult<Py<PyAny>> {
        let value =
            self.cells[kind as usize].get_or_try_init(py, || match record.document(kind) {
                Some(document) => to_python(py, &faithful_value(document)).map(Bound::unbind),
                None => Ok(py.None()),
            })?;
        Ok(value.clone_ref(py))
    }
}

/// A registry JSON file (`metadata.json`, ...) as `json.loads` would give it, read by the core's
/// guarded reader, as the scan reads it: a regular file only (a FIFO is refused, never waited
/// on), at most the JSON size cap, confined to `root` (the registry), a JSON object. Python
/// reads no registry JSON any other way. Raises `SchemaValidationError` for a file that is not
/// such an object, `ModelLoadError` for one that cannot be read.
#[pyfunction]
pub fn read_json_document(py: Python<'_>, path: PathBuf, root: PathBuf) -> PyResult<Py<PyAny>> {
    let document = detached(py, || {
        let root_real = std::fs::canonicalize(&root).map_err(|error| Error::io(&root, error))?;
        read_object(&path, &root_real)
    })?;
    Ok(to_python(py, &faithful_value(&document))?.unbind())
}
