//! Building `ModelPrediction` (a frozen Python dataclass) from Rust without a Python frame: a new
//! instance is allocated as `object.__new__` allocates it, and each slot is filled through its own descriptor by
//! `PyObject_GenericSetAttr`, which bypasses the dataclass's frozen `__setattr__` the same way
//! `object.__setattr__` does in the dataclass's own `__init__`.

use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyTuple, PyType};

/// Where the dataclass is defined.
const MODULE: &str = "atb_prediction.models.prediction";

/// One prediction's fields, as Rust holds them.
pub struct PredictionFields<'a> {
    /// The predicted price.
    pub price: f64,
    /// The confidence.
    pub confidence: f64,
    /// The direction.
    pub direction: i64,
    /// Seconds spent.
    pub inference_time: f64,
    /// Class probabilities, for classifiers.
    pub probabilities: Option<&'a [f64]>,
}

fn set_slot(
    object: &Bound<'_, PyAny>,
    name: &Bound<'_, PyString>,
    value: Bound<'_, PyAny>,
) -> PyResult<()> {
    // SAFETY: all three pointers are live references held by the caller for the whole call.
    let status =
        unsafe { ffi::PyObject_GenericSetAttr(object.as_ptr(), name.as_ptr(), value.as_ptr()) };
    if status == 0 {
        Ok(())
    } else {
        Err(PyErr::fetch(object.py()))
    }
}

/// A new `atb_prediction.ModelPrediction` named `model_name`.
pub fn new_prediction<'py>(
    py: Python<'py>,
    model_name: &Bound<'py, PyString>,
    fields: PredictionFields<'_>,
) -> PyResult<Bound<'py, PyAny>> {
    static CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    let class = CLASS.import(py, MODULE, "ModelPrediction")?;
    // What `object.__new__(class)` does, without the call: the class's slots start out empty.
    // SAFETY: `class` is a live type object; `PyType_GenericAlloc` returns a new reference or
    // NULL with an exception set.
    let object = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyType_GenericAlloc(class.as_type_ptr(), 0))?
    };
    let probabilities = match fields.probabilities {
        Some(values) => PyTuple::new(py, values)?.into_any(),
        None => py.None().into_bound(py),
    };
    let slots = [
        (
            intern!(py, "price"),
            fields.price.into_pyobject(py)?.into_any(),
        ),
        (
            intern!(py, "confidence"),
            fields.confidence.into_pyobject(py)?.into_any(),
        ),
        (
            intern!(py, "direction"),
            fields.direction.into_pyobject(py)?.into_any(),
        ),
        (intern!(py, "model_name"), model_name.clone().into_any()),
        (
            intern!(py, "inference_time"),
            fields.inference_time.into_pyobject(py)?.into_any(),
        ),
        (intern!(py, "probabilities"), probabilities),
    ];
    for (name, value) in slots {
        set_slot(&object, name, value)?;
    }
    Ok(object)
}
