//! numpy <-> core tensors: inputs are borrowed without a copy when C-contiguous, outputs move
//! their buffers into numpy without a second copy.
//!
//! Every buffer made here is sized by a caller's array or a model's output, so it is allocated
//! fallibly ([`crate::core::alloc`], [`checked_empty`]): a size memory cannot hold is a
//! `MemoryError` (`AllocationError`), never an abort or a panic.

use std::os::raw::c_int;

use ndarray::{ArrayD, IxDyn};
use numpy::npyffi::{self, npy_intp, NpyTypes, PY_ARRAY_API};
use numpy::{
    Element, PyArray, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn,
    PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyMemoryError;
use pyo3::prelude::*;
use smallvec::SmallVec;

use crate::core::alloc;
use crate::core::onnx::session::KeepAlive;
use crate::core::onnx::tensor::{
    element_count, format_shape, ElementType, OutputTensor, TensorData, TensorView, TensorViewMut,
};
use crate::core::Error;
use crate::for_each_element;

/// An uninitialised C-ordered numpy array of `shape`, or [`Error::OutOfMemory`] naming `what`
/// when it cannot be allocated: a size past what numpy indexes is refused before numpy is
/// asked, and numpy's own `MemoryError` is turned into ours (rust-numpy's `PyArray::new` would
/// panic on it instead).
fn checked_empty<'py, T: Element>(
    py: Python<'py>,
    shape: &[usize],
    what: impl Fn() -> String,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let out_of_memory = |bytes: Option<usize>| -> PyErr {
        Error::OutOfMemory {
            what: what(),
            bytes,
        }
        .into()
    };
    let bytes = element_count(shape)
        .and_then(|elements| alloc::byte_size(elements, std::mem::size_of::<T>()))
        .ok_or_else(|| out_of_memory(None))?;
    let mut dims = shape
        .iter()
        .map(|&dim| npy_intp::try_from(dim))
        .collect::<Result<SmallVec<[npy_intp; 4]>, _>>()
        .map_err(|_| out_of_memory(None))?;
    let rank = c_int::try_from(dims.len()).map_err(|_| out_of_memory(None))?;
    // SAFETY: the type object and the descriptor are numpy's own (the descriptor reference is
    // stolen by the call, as `into_dtype_ptr` provides); `dims` holds `rank` dimensions; null
    // strides and data ask numpy for a fresh C-ordered buffer.
    let array = unsafe {
        let ptr = PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            npyffi::get_type_object(py, NpyTypes::PyArray_Type),
            T::get_dtype(py).into_dtype_ptr(),
            rank,
            dims.as_mut_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
        );
        Bound::from_owned_ptr_or_err(py, ptr)
    };
    match array {
        // SAFETY: `PyArray_NewFromDescr` made an ndarray of `T`'s dtype with `rank` dimensions.
        Ok(array) => Ok(unsafe { array.cast_into_unchecked() }),
        Err(error) if error.is_instance_of::<PyMemoryError>(py) => Err(out_of_memory(Some(bytes))),
        Err(error) => Err(error),
    }
}

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
            /// An array that is not C-contiguous is copied into C order, fallibly: check its
            /// shape first where it can be ([`check_before_copy`]).
            pub fn hold(array: &Bound<'py, PyUntypedArray>) -> Result<Self, Error> {
                // alloc: one entry per dimension of an array numpy already holds.
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
                            let view = readonly.as_array();
                            HeldData::Copied(alloc::try_collect(view.iter().cloned(), || {
                                format!(
                                    "a C-ordered copy of an array of shape {}",
                                    format_shape(shape.iter().map(usize::to_string))
                                )
                            })?)
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
            /// An uninitialised array of `shape` for output `name`; `None` for an unsupported
            /// type, `MemoryError` when it cannot be allocated. It is handed to Python only
            /// after a successful run, which writes every element.
            pub fn empty(
                py: Python<'py>,
                element_type: ElementType,
                shape: &[usize],
                name: &str,
            ) -> PyResult<Option<Self>> {
                let what = || {
                    format!(
                        "output {name:?} of shape {}",
                        format_shape(shape.iter().map(usize::to_string))
                    )
                };
                Ok(match element_type {
                    $(ElementType::$variant => {
                        Some(Self::$variant(checked_empty::<$ty>(py, shape, what)?))
                    })*
                    ElementType::Unsupported(_) => None,
                })
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

/// Checks an array that [`HeldArray::hold`] would copy (one not C-contiguous: a strided view, a
/// broadcast, which may describe far more elements than it stores) against what `check` says
/// of its dtype and shape, so that a shape the model refuses is never copied. A C-contiguous
/// array, or one of a dtype the core does not exchange, is left to the usual checks.
pub fn check_before_copy(
    array: &Bound<'_, PyUntypedArray>,
    check: impl FnOnce(ElementType, &[usize]) -> Result<(), Error>,
) -> Result<(), Error> {
    if array.is_c_contiguous() {
        return Ok(());
    }
    match ElementType::from_name(&array.dtype().to_string()) {
        Some(element_type) => check(element_type, array.shape()),
        None => Ok(()),
    }
}

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
