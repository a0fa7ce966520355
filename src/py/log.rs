//! Warnings from Rust through the package's `logging` logger, `atb_prediction`.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// Logs `message` about `origin` at WARNING on the `atb_prediction` logger.
pub fn warn(py: Python<'_>, origin: &str, message: &str) -> PyResult<()> {
    static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let logger = LOGGER.get_or_try_init(py, || {
        py.import("logging")?
            .call_method1("getLogger", ("atb_prediction",))
            .map(Bound::unbind)
    })?;
    logger
        .bind(py)
        .call_method1(intern!(py, "warning"), ("%s: %s", origin, message))?;
    Ok(())
}
