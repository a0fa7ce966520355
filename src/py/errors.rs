//! The one mapping from the core's [`Error`] to Python exceptions.
//!
//! The exception classes are plain Python classes in `atb_prediction/models/exceptions.py`, so
//! they can inherit from both the package's base class and the built-in whose meaning matches
//! (`ValueError`, `LookupError`, `TimeoutError`, `MemoryError`); here they are looked up once and
//! cached.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::core::Error;

const EXCEPTIONS_MODULE: &str = "atb_prediction.models.exceptions";

macro_rules! exception_lookup {
    ($($fn_name:ident => $class:literal),* $(,)?) => {
        $(
            #[doc = concat!("The Python class `", $class, "`.")]
            pub fn $fn_name(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
                static CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
                CLASS.import(py, EXCEPTIONS_MODULE, $class)
            }
        )*
    };
}

exception_lookup! {
    prediction_error => "PredictionError",
    model_load_error => "ModelLoadError",
    invalid_input_error => "InvalidInputError",
    inference_error => "InferenceError",
    inference_timeout_error => "InferenceTimeoutError",
    runtime_library_error => "RuntimeLibraryError",
    schema_validation_error => "SchemaValidationError",
    invalid_argument_error => "InvalidArgumentError",
    allocation_error => "AllocationError",
}

/// Builds an exception of `class` with `message`, falling back to `RuntimeError` if the class
/// itself cannot be imported (a broken installation must not hide the original message).
pub fn new_error(
    py: Python<'_>,
    class: fn(Python<'_>) -> PyResult<&Bound<'_, PyType>>,
    message: String,
) -> PyErr {
    match class(py) {
        Ok(class) => PyErr::from_type(class.clone(), message),
        Err(_) => PyRuntimeError::new_err(message),
    }
}

impl From<Error> for PyErr {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        Python::attach(|py| {
            let class: fn(Python<'_>) -> PyResult<&Bound<'_, PyType>> = match &error {
                Error::RuntimeUnavailable(_) => runtime_library_error,
                Error::ModelLoad { .. } | Error::Io { .. } => model_load_error,
                Error::InvalidInput(_) => invalid_input_error,
                Error::Inference { .. } => inference_error,
                Error::Timeout { .. } => inference_timeout_error,
                Error::InvalidDocument { .. } => schema_validation_error,
                Error::InvalidArgument(_) => invalid_argument_error,
                Error::OutOfMemory { .. } => allocation_error,
            };
            new_error(py, class, message)
        })
    }
}
