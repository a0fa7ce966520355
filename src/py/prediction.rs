//! Building `ModelPrediction` (a frozen Python dataclass) from Rust without a Python frame: a new
//! instance is allocated as `object.__new__` allocates it, and each slot is written by its own
//! member descriptor's setter (looked up once), which bypasses the dataclass's frozen
//! `__setattr__` the same way `object.__setattr__` does in the dataclass's own `__init__`.

use std::ffi::c_int;

use pyo3::ffi;
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

/// The dataclass and the setter of each of its slots, in field order.
struct Slots {
    class: Py<PyType>,
    descriptors: Vec<Py<PyAny>>,
    set: unsafe extern "C" fn(*mut ffi::PyObject, *mut ffi::PyObject, *mut ffi::PyObject) -> c_int,
}

const FIELDS: [&str; 6] = [
    "price",
    "confidence",
    "direction",
    "model_name",
    "inference_time",
    "probabilities",
];

fn slots(py: Python<'_>) -> PyResult<&Slots> {
    static SLOTS: PyOnceLock<Slots> = PyOnceLock::new();
    SLOTS.get_or_try_init(py, || {
        let class = py
            .import(MODULE)?
            .getattr("ModelPrediction")?
            .cast_into::<PyType>()?;
        let descriptors = FIELDS
            .iter()
            .map(|name| class.getattr(*name).map(Bound::unbind))
            .collect::<PyResult<Vec<_>>>()?;
        // Every slot's descriptor is a `member_descriptor`; its type's `__set__` writes the slot.
        // SAFETY: `descriptors[0]` is a live object; `PyType_GetSlot` returns the type's
        // `tp_descr_set`, whose signature is `descrsetfunc`, or NULL.
        let set = unsafe {
            let kind = ffi::Py_TYPE(descriptors[0].as_ptr());
            let slot = ffi::PyType_GetSlot(kind, ffi::Py_tp_descr_set);
            if slot.is_null() {
                return Err(pyo3::exceptions::PyTypeError::new_err(
                    "ModelPrediction's fields are not slots",
                ));
            }
            std::mem::transmute::<
                *mut std::ffi::c_void,
                unsafe extern "C" fn(
                    *mut ffi::PyObject,
                    *mut ffi::PyObject,
                    *mut ffi::PyObject,
                ) -> c_int,
            >(slot)
        };
        Ok(Slots {
            class: class.unbind(),
            descriptors,
            set,
        })
    })
}

/// A new `atb_prediction.ModelPrediction` named `model_name`.
pub fn new_prediction<'py>(
    py: Python<'py>,
    model_name: &Bound<'py, PyString>,
    fields: PredictionFields<'_>,
) -> PyResult<Bound<'py, PyAny>> {
    let slots = slots(py)?;
    // What `object.__new__(class)` does, without the call: the class's slots start out empty.
    // SAFETY: `class` is a live type object; `PyType_GenericAlloc` returns a new reference or
    // NULL with an exception set.
    let object = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyType_GenericAlloc(slots.class.bind(py).as_type_ptr(), 0),
        )?
    };
    let probabilities = match fields.probabilities {
        Some(values) => PyTuple::new(py, values)?.into_any(),
        None => py.None().into_bound(py),
    };
    let values = [
        fields.price.into_pyobject(py)?.into_any(),
        fields.confidence.into_pyobject(py)?.into_any(),
        fields.direction.into_pyobject(py)?.into_any(),
        model_name.clone().into_any(),
        fields.inference_time.into_pyobject(py)?.into_any(),
        probabilities,
    ];
    for (descriptor, value) in slots.descriptors.iter().zip(values) {
        // SAFETY: the descriptor belongs to `object`'s class, and all pointers are live.
        let status = unsafe { (slots.set)(descriptor.as_ptr(), object.as_ptr(), value.as_ptr()) };
        if status != 0 {
            return Err(PyErr::fetch(py));
        }
    }
    Ok(object)
}
