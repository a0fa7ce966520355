//! The one helper for leaving the GIL: inputs are borrowed while it is held, the work runs
//! detached, and errors (a panic included) are mapped once on the way back.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;

use crate::core::{Error, Result};

/// Runs `work` without the GIL and maps its error to the matching Python exception.
///
/// A panic inside `work` is a bug; it is caught here and reported as an `InferenceError` rather
/// than aborting the interpreter or surfacing as `PanicException`.
pub fn detached<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T> + Send,
{
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(work)));
    match outcome {
        Ok(result) => result.map_err(PyErr::from),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(PyErr::from(Error::Inference {
                origin: "atb_prediction core".to_owned(),
                reason: format!("internal error (please report this bug): {detail}"),
            }))
        }
    }
}
