//! Loads ONNX Runtime on first use, from the path `atb_prediction._runtime` finds.

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::core::runtime;
use crate::py::gil::detached;

/// Makes sure the ONNX Runtime library is loaded; the first call asks the Python side where it is.
pub fn ensure_runtime(py: Python<'_>) -> PyResult<()> {
    if runtime::loaded_path().is_some() {
        return Ok(());
    }
    let path: PathBuf = py
        .import("atb_prediction._runtime")?
        .call_method0("find_library")?
        .extract()?;
    detached(py, || runtime::ensure_loaded(&path))?;
    Ok(())
}

/// Loads the library at `path` (absolute) unless one is loaded; returns the path in use.
#[pyfunction]
pub fn load_runtime(py: Python<'_>, path: PathBuf) -> PyResult<PathBuf> {
    detached(py, || runtime::ensure_loaded(&path))
}

/// The path of the loaded ONNX Runtime library, or `None` before the first session.
#[pyfunction]
pub fn runtime_library_path() -> Option<PathBuf> {
    runtime::loaded_path()
}
