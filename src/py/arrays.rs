//! numpy <-> core tensors: inputs are borrowed without a copy when C-contiguous, outputs move
//! their buffers into numpy without a second copy.

use ndarray::{ArrayD, IxDyn};
use numpy::{
    PyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::core::session::KeepAlive;
use crate::core::tensor::{ElementType, OutputTensor, TensorData, TensorView, TensorViewMut};
use crate::core::Error;
use crate::for_each_element;

/// An input array kept alive (and borrow-checked) while the GIL is released.
pub enum HeldData<'py, T: numpy::Element> {
    /// A C-contiguous array, read in place.
    Borrowed(PyReadonlyArrayDyn<'py, T>),
    /// Any other layout, copied once into C order.
    Copied(Vec<T>),
}

macro_rules! define_held_array {
    ($($variant:ident => $ty:ty, $name:literal;)*) => {
        /// A numpy array of one of the supported element types, held for the duration of a call.
        pub enum HeldArray<'py> {
            $($variant(HeldData<'py, $ty>, Vec<usize>),)*
        }

        impl<'py> HeldArray<'py> {
            /// Holds `array`, or fails with the dtype it has when that dtype is not supported.
            pub fn hold(array: &Bound<'py, PyUntypedArray>) -> Result<Self, Error> {
                let shape = array.shape().to_vec();
                $(
                    if let Ok(typed) = array.cast::<PyArrayDyn<$ty>>() {
                        // `try_readonly` rather than `readonly`, which panics while another Rust
                        // borrow writes to the array.
                        let readonly = typed.try_readonly().map_err(|error| {
                            Error::invalid_input(format!("the array cannot be read now: {error}"))
                        })?;
                        let held = if readonly.is_c_contiguous() {
                            HeldData::Borrowed(readonly)
                        } else {
                            HeldData::Copied(readonly.as_array().iter().cloned().collect())
                        };
                        return Ok(Self::$variant(held, shape));
                    }
                )*
                let dtype = array.dtype().to_string();
                Err(Error::invalid_input(format!("arrays of dtype {dtype} are not supported")))
            }

            /// What keeps the array's buffer alive for a session's input cache: the array itself,
            /// when it is read in place (a copy is never cached).
            pub fn owner(&self) -> Option<KeepAlive> {
                match self {
                    $(Self::$variant(HeldData::Borrowed(array), _) => {
                        Some(Box::new((**array).clone().unbind()))
                    })*
                    _ => None,
                }
            }

            /// The shape and a borrowed view of the data, valid while `self` lives.
            pub fn view(&self) -> (&[usize], TensorView<'_>) {
                match self {
                    $(Self::$variant(held, shape) => {
                        let data: &[$ty] = match held {
                            // A C-contiguous array always yields its slice; the fallback only
                            // keeps this total.
                            HeldData::Borrowed(array) => array.as_slice().unwrap_or(&[]),
                            HeldData::Copied(data) => data,
                        };
                        (shape, TensorView::$variant(data))
                    })*
                }
            }
        }

        /// A fresh numpy array that a run writes one output into.
        pub enum OutputArray<'py> {
            $($variant(Bound<'py, PyArrayDyn<$ty>>),)*
        }

        impl<'py> OutputArray<'py> {
            /// An uninitialised array of `shape`; `None` for an unsupported type.
            pub fn empty(py: Python<'py>, element_type: ElementType, shape: &[usize]) -> Option<Self> {
                match element_type {
                    // SAFETY: the array is only handed to Python after a successful run, which
                    // writes every element.
                    $(ElementType::$variant => Some(Self::$variant(unsafe {
                        PyArrayDyn::<$ty>::new(py, IxDyn(shape), false)
                    })),)*
                    ElementType::Unsupported(_) => None,
                }
            }

            /// The array's buffer, for the run to write into.
            pub fn buffer(&mut self) -> TensorViewMut<'_> {
                match self {
                    // SAFETY: the array was just created and not shared yet, so nothing else
                    // reads or writes it while the view lives; a fresh array is C-contiguous.
                    $(Self::$variant(array) => TensorViewMut::$variant(unsafe {
                        array.as_slice_mut().unwrap_or_default()
                    }),)*
                }
            }

            /// The array, for Python.
            pub fn into_any(self) -> Bound<'py, PyAny> {
                match self {
                    $(Self::$variant(array) => array.into_any(),)*
                }
            }
        }

        /// Moves an output's buffer into a numpy array (no copy).
        pub fn output_to_numpy<'py>(py: Python<'py>, output: OutputTensor) -> Result<Bound<'py, PyAny>, Error> {
            let OutputTensor { shape, data } = output;
            let shape_error = |error: ndarray::ShapeError| Error::Inference {
                origin: "output conversion".to_owned(),
                reason: error.to_string(),
            };
            Ok(match data {
                $(TensorData::$variant(values) => {
                    let array = ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(shape_error)?;
                    PyArray::from_owned_array(py, array).into_any()
                })*
            })
        }
    };
}

for_each_element!(define_held_array);

/// The numpy dtype object for an element type (`numpy.dtype('float32')`).
pub fn numpy_dtype<'py>(py: Python<'py>, element_type: ElementType) -> PyResult<Bound<'py, PyAny>> {
    let numpy = py.import("numpy")?;
    match element_type {
        ElementType::Unsupported(name) if name == "non-tensor" || name == "unknown" => numpy
            .getattr("object_")
            .and_then(|object| numpy.call_method1("dtype", (object,))),
        other => numpy.call_method1("dtype", (other.name(),)),
    }
}

/// Turns any array-like into an ndarray, converting to `element_type` only when `value` is not
/// already an ndarray (an ndarray of the wrong dtype is an error, not a silent cast).
pub fn as_ndarray<'py>(
    value: &Bound<'py, PyAny>,
    element_type: ElementType,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    if let Ok(array) = value.cast::<PyUntypedArray>() {
        return Ok(array.clone());
    }
    let py = value.py();
    let numpy = py.import("numpy")?;
    let converted = match element_type {
        ElementType::Unsupported(_) => numpy.call_method1("asarray", (value,))?,
        supported => numpy.call_method1("asarray", (value, supported.name()))?,
    };
    Ok(converted.cast_into::<PyUntypedArray>()?)
}

/// Holds any array-like as an ndarray: ndarrays as they are, anything else as float64.
pub fn hold_any<'py>(value: &Bound<'py, PyAny>) -> PyResult<HeldArray<'py>> {
    let array = as_ndarray(value, ElementType::Float64)?;
    Ok(HeldArray::hold(&array)?)
}
