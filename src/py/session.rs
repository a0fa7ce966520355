//! `OnnxSession`: the Python face of [`InferenceSession`].

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use smallvec::SmallVec;

use crate::core::onnx::options::{session_options, timeout_from_seconds};
use crate::core::onnx::session::{
    InferenceSession, ModelSource, OutputTarget, RunInput, SessionOptions, DEFAULT_WARMUP_MAX_BYTES,
};
use crate::core::onnx::tensor::{ElementType, TensorSpec};
use crate::core::onnx::zeros::{zero_shapes, DynamicDims, ZeroInputSpec};
use crate::core::registry::files::open_session_file;
use crate::core::Error;
use crate::py::arrays::{
    as_ndarray, check_before_copy, numpy_dtype, output_to_numpy, HeldArray, OutputArray,
};
use crate::py::gil::detached;
use crate::py::repr::quoted;
use crate::py::runtime::ensure_runtime;

/// The name, dtype and shape of one model input or output.
#[pyclass(frozen, module = "atb_prediction._core", name = "TensorInfo")]
pub struct PyTensorInfo {
    /// The name in the ONNX graph.
    #[pyo3(get)]
    name: String,
    /// The numpy dtype.
    #[pyo3(get)]
    dtype: Py<PyAny>,
    /// The dimensions, `None` where dynamic.
    #[pyo3(get)]
    shape: Py<PyTuple>,
}

#[pymethods]
impl PyTensorInfo {
    #[new]
    fn new(
        py: Python<'_>,
        name: String,
        dtype: &Bound<'_, PyAny>,
        shape: Vec<Option<i64>>,
    ) -> PyResult<Self> {
        Ok(Self {
            name,
            dtype: py
                .import("numpy")?
                .getattr("dtype")?
                .call1((dtype,))?
                .unbind(),
            shape: PyTuple::new(py, shape)?.unbind(),
        })
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let this = slf.get();
        let args = (this.name.as_str(), this.dtype.bind(py), this.shape.bind(py));
        (slf.get_type(), args).into_pyobject(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "TensorInfo(name={}, dtype={}, shape={})",
            quoted(&self.name),
            self.dtype.bind(py).repr()?,
            self.shape.bind(py).repr()?
        ))
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(other) = other.cast::<PyTensorInfo>() else {
            return Ok(false);
        };
        let other = other.get();
        Ok(self.name == other.name
            && self.dtype.bind(py).eq(other.dtype.bind(py))?
            && self.shape.bind(py).eq(other.shape.bind(py))?)
    }
}

fn tensor_infos(py: Python<'_>, specs: &[TensorSpec]) -> PyResult<Py<PyTuple>> {
    let infos = specs
        .iter()
        .map(|spec| {
            Py::new(
                py,
                PyTensorInfo {
                    name: spec.name.clone(),
                    dtype: numpy_dtype(py, spec.element_type)?.unbind(),
                    shape: PyTuple::new(py, &spec.shape)?.unbind(),
                },
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyTuple::new(py, infos)?.unbind())
}

/// An ONNX model loaded into ONNX Runtime, callable from many threads at once.
#[pyclass(frozen, module = "atb_prediction._core", name = "OnnxSession")]
pub struct PyOnnxSession {
    inner: Arc<InferenceSession>,
    inputs: Py<PyTuple>,
    outputs: Py<PyTuple>,
    output_names: Py<PyTuple>,
    /// The model file (absolute) and the keyword arguments it was opened with, which is what a
    /// pickle holds; `None` for a session opened from bytes.
    reopen: Option<(PathBuf, Py<PyDict>)>,
}

impl PyOnnxSession {
    /// Positions of the outputs `run(output_names, input_feed)` asks for; `None` means all.
    fn wanted_outputs(&self, names: &Bound<'_, PyAny>) -> PyResult<Option<Vec<usize>>> {
        if names.is_none() {
            return Ok(None);
        }
        let names: Vec<String> = names.extract().map_err(|_| {
            Error::InvalidArgument("output_names must be None or a list of output names".to_owned())
        })?;
        let outputs = self.inner.outputs();
        let positions = names
            .iter()
            .map(|name| {
                outputs
                    .iter()
                    .position(|spec| spec.name == *name)
                    .ok_or_else(|| {
                        let known: Vec<&str> =
                            outputs.iter().map(|spec| spec.name.as_str()).collect();
                        Error::InvalidArgument(format!(
                            "output_names: the model has no output {name:?} (its outputs: {})",
                            known.join(", ")
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(positions))
    }

    /// The core session, for other bindings (the registry's runners) to share.
    pub fn core(&self) -> &Arc<InferenceSession> {
        &self.inner
    }

    /// Wraps an already opened core session.
    pub fn wrap(py: Python<'_>, inner: Arc<InferenceSession>) -> PyResult<Self> {
        let output_names: Vec<&str> = inner
            .outputs()
            .iter()
            .map(|spec| spec.name.as_str())
            .collect();
        Ok(Self {
            inputs: tensor_infos(py, inner.inputs())?,
            outputs: tensor_infos(py, inner.outputs())?,
            output_names: PyTuple::new(py, output_names)?.unbind(),
            inner,
            reopen: None,
        })
    }
}

/// Logs what opening `session` noted (skipped providers, a skipped or stopped warm-up) on the
/// `atb_prediction` logger; called once where a session is opened.
pub fn log_session_warnings(py: Python<'_>, session: &InferenceSession) -> PyResult<()> {
    for warning in session.warnings() {
        crate::py::log::warn(py, session.origin(), warning)?;
    }
    Ok(())
}

/// Opens a session from a path or bytes, without the GIL.
pub fn open_session(
    py: Python<'_>,
    model: &Bound<'_, PyAny>,
    options: &SessionOptions,
) -> PyResult<Arc<InferenceSession>> {
    ensure_runtime(py)?;
    if let Ok(bytes) = model.cast::<PyBytes>() {
        let bytes = bytes.as_bytes();
        return detached(py, || {
            InferenceSession::open(ModelSource::Bytes(bytes), options).map(Arc::new)
        });
    }
    let path: PathBuf = model.extract().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "model must be a path (str or os.PathLike) or bytes, not {}",
            model
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    detached(py, || open_session_file(&path, options).map(Arc::new))
}

/// The input arrays of one call, each with its input's name.
pub type HeldInputs<'s, 'py> = SmallVec<[(Cow<'s, str>, HeldArray<'py>); 2]>;

/// Holds every input array of a call: a single array, or a mapping of name to array.
///
/// Names are borrowed from the session where they match one of its inputs; an unknown name is
/// kept as given, for the core to report with the list of the model's inputs.
pub fn hold_inputs<'s, 'py>(
    session: &'s InferenceSession,
    inputs: &Bound<'py, PyAny>,
) -> PyResult<HeldInputs<'s, 'py>> {
    let specs = session.inputs();
    if let Ok(mapping) = inputs.cast::<PyDict>() {
        // alloc: one entry per item of a dict the caller already holds.
        let mut held = SmallVec::with_capacity(mapping.len());
        for (name, value) in mapping.iter() {
            let name: String = name.extract().map_err(|_| {
                PyErr::from(Error::invalid_input(format!(
                    "input names must be str, got {}",
                    name.repr().map(|r| r.to_string()).unwrap_or_default()
                )))
            })?;
            let spec = specs.iter().find(|spec| spec.name == name);
            let element_type = spec.map_or(ElementType::Unsupported("unknown"), |spec| {
                spec.element_type
            });
            let array = as_ndarray(&value, element_type)?;
            check_before_copy(&array, |element_type, shape| {
                session.check_declared_input(&name, element_type, shape)
            })?;
            let array = HeldArray::hold(&array).map_err(|e| with_input_name(e, &name))?;
            let name = spec.map_or(Cow::Owned(name), |spec| Cow::Borrowed(spec.name.as_str()));
            held.push((name, array));
        }
        return Ok(held);
    }
    match specs {
        [spec] => {
            let array = as_ndarray(inputs, spec.element_type)?;
            check_before_copy(&array, |element_type, shape| {
                session.check_declared_input(&spec.name, element_type, shape)
            })?;
            let held = HeldArray::hold(&array).map_err(|e| with_input_name(e, &spec.name))?;
            Ok(smallvec::smallvec![(
                Cow::Borrowed(spec.name.as_str()),
                held
            )])
        }
        _ => {
            let names: Vec<String> = specs
                .iter()
                .map(|spec| format!("{:?}", spec.name))
                .collect();
            Err(Error::invalid_input(format!(
                "the model takes {} inputs ({}); pass a dict of name to array",
                specs.len(),
                names.join(", ")
            ))
            .into())
        }
    }
}

fn with_input_name(error: Error, name: &str) -> PyErr {
    match error {
        Error::InvalidInput(message) => {
            Error::invalid_input(format!("input {name:?}: {message}")).into()
        }
        other => other.into(),
    }
}

// The signature below spells the default out so Python's help and the stubs show it.
const _: () = assert!(DEFAULT_WARMUP_MAX_BYTES == 268_435_456);

/// A thread count from Python as the core takes it: a negative one is a `ValueError` naming the
/// option, not an `OverflowError` from the conversion to an unsigned integer (0 is refused by
/// `session_options`, with the other option checks).
fn thread_count(name: &str, value: Option<i64>) -> Result<Option<usize>, Error> {
    match value {
        Some(count) if count < 0 => Err(Error::InvalidArgument(format!(
            "{name} must be at least 1, or None to share the process's thread pools, got {count}"
        ))),
        other => Ok(other.map(|count| usize::try_from(count).unwrap_or(usize::MAX))),
    }
}

#[pymethods]
impl PyOnnxSession {
    #[new]
    #[pyo3(signature = (model, *, intra_op_threads=None, inter_op_threads=None, optimization_level="all", providers=None, warmup=true, warmup_max_bytes=268_435_456, warmup_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        intra_op_threads: Option<i64>,
        inter_op_threads: Option<i64>,
        optimization_level: &str,
        providers: Option<Vec<String>>,
        warmup: bool,
        warmup_max_bytes: usize,
        warmup_timeout: Option<f64>,
    ) -> PyResult<Self> {
        let kwargs = PyDict::new(py);
        kwargs.set_item("intra_op_threads", intra_op_threads)?;
        kwargs.set_item("inter_op_threads", inter_op_threads)?;
        kwargs.set_item("optimization_level", optimization_level)?;
        kwargs.set_item("providers", &providers)?;
        kwargs.set_item("warmup", warmup)?;
        kwargs.set_item("warmup_max_bytes", warmup_max_bytes)?;
        kwargs.set_item("warmup_timeout", warmup_timeout)?;
        let options = SessionOptions {
            warmup_max_bytes,
            warmup_timeout: timeout_from_seconds(warmup_timeout)?,
            ..session_options(
                thread_count("intra_op_threads", intra_op_threads)?,
                thread_count("inter_op_threads", inter_op_threads)?,
                optimization_level,
                providers.as_deref(),
                warmup,
            )?
        };
        let inner = open_session(py, model, &options)?;
        log_session_warnings(py, &inner)?;
        let mut session = Self::wrap(py, inner)?;
        if !model.is_instance_of::<PyBytes>() {
            let path: PathBuf = model.extract()?;
            let path = std::path::absolute(&path).map_err(|error| Error::io(&path, error))?;
            session.reopen = Some((path, kwargs.unbind()));
        }
        Ok(session)
    }

    /// Pickles by reference to the model file: unpickling opens the file again with the same
    /// options. A session opened from bytes cannot be pickled (embedding the model would make
    /// every pickle as large as the model, silently).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let Some((path, kwargs)) = &slf.get().reopen else {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "cannot pickle OnnxSession({}): it was opened from bytes, and a session pickles \
                 by reference to its model file; open it from a file instead",
                quoted(slf.get().inner.origin())
            )));
        };
        let newobj_ex = py.import("copyreg")?.getattr("__newobj_ex__")?;
        let args = (slf.get_type(), (path,), kwargs.bind(py));
        (newobj_ex, args).into_pyobject(py)
    }

    /// Runs the model on one array (single-input models) or a dict of name to array; or, as
    /// `onnxruntime` is called, `run(output_names, input_feed)` with `None` for every output.
    #[pyo3(signature = (inputs, input_feed=None, *, as_dict=false, timeout=None))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        inputs: &Bound<'py, PyAny>,
        input_feed: Option<&Bound<'py, PyAny>>,
        as_dict: bool,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = timeout_from_seconds(timeout)?;
        // onnxruntime's argument order: the first argument names the outputs wanted.
        let (inputs, wanted) = match input_feed {
            Some(feed) => (feed, self.wanted_outputs(inputs)?),
            None => (inputs, None),
        };
        let session = &self.inner;
        // Outputs not asked for are skipped by ONNX Runtime (an empty list keeps every output).
        let skipped = |index: usize| match &wanted {
            Some(indices) if !indices.is_empty() => !indices.contains(&index),
            _ => false,
        };
        let held = hold_inputs(session, inputs)?;
        let mut run_inputs: SmallVec<[RunInput<'_>; 2]> = held
            .iter()
            .map(|(name, array)| {
                let (shape, data) = array.view();
                RunInput {
                    name,
                    shape,
                    data,
                    owner: array.owner(),
                }
            })
            .collect();
        // The inputs are checked first: an output's planned shape may come from an input's batch.
        let mut checked = session.check_inputs(&mut run_inputs)?;
        // Outputs whose shape is known now are allocated here and written by the run in place.
        let mut planned: SmallVec<[Option<OutputArray<'py>>; 2]> = session
            .outputs()
            .iter()
            .enumerate()
            .map(|(index, spec)| match checked.planned_output_shape(index) {
                Some(shape) if !skipped(index) => {
                    OutputArray::empty(py, spec.element_type, &shape, &spec.name)
                }
                _ => Ok(None),
            })
            .collect::<PyResult<_>>()?;
        let mut targets: SmallVec<[OutputTarget<'_>; 2]> = planned
            .iter_mut()
            .enumerate()
            .map(|(index, array)| match array {
                Some(array) => OutputTarget::Buffer(array.buffer()),
                None if skipped(index) => OutputTarget::Skip,
                None => OutputTarget::Copy,
            })
            .collect();
        let copies = detached(py, || checked.run(&mut targets, timeout))?;
        drop(targets);
        drop(checked);
        // Owners the input cache handed back are released here, with the GIL held.
        drop(run_inputs);
        let arrays = planned
            .into_iter()
            .zip(copies)
            .enumerate()
            .map(|(index, (array, copy))| match (array, copy) {
                // A copy wins: the run refuted the planned shape and left the array unwritten.
                (_, Some(copy)) => output_to_numpy(py, copy).map(Some),
                (Some(array), None) => Ok(Some(array.into_any())),
                (None, None) if skipped(index) => Ok(None),
                (None, None) => Err(Error::Inference {
                    origin: session.origin().to_owned(),
                    reason: "an output was neither written nor copied".to_owned(),
                }),
            })
            .collect::<Result<SmallVec<[_; 2]>, Error>>()?;
        let names = self.output_names.bind(py);
        let mut named: SmallVec<[_; 2]> = names
            .iter()
            .zip(arrays)
            .map(|(name, array)| array.map(|array| (name, array)))
            .collect();
        let chosen: Vec<_> = match wanted {
            Some(indices) => indices.iter().filter_map(|&i| named[i].take()).collect(),
            None => named.into_iter().flatten().collect(),
        };
        if as_dict {
            let dict = PyDict::new(py);
            for (name, array) in chosen {
                dict.set_item(name, array)?;
            }
            Ok(dict.into_any())
        } else {
            Ok(PyList::new(py, chosen.into_iter().map(|(_, array)| array))?.into_any())
        }
    }

    /// The model's inputs: name, numpy dtype, shape (`None` for dynamic dimensions).
    #[getter]
    fn inputs(&self, py: Python<'_>) -> Py<PyTuple> {
        self.inputs.clone_ref(py)
    }

    /// The model's outputs: name, numpy dtype, shape (`None` for dynamic dimensions).
    #[getter]
    fn outputs(&self, py: Python<'_>) -> Py<PyTuple> {
        self.outputs.clone_ref(py)
    }

    /// The model's `metadata_props`.
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (key, value) in self.inner.metadata() {
            dict.set_item(key, value)?;
        }
        Ok(dict)
    }

    /// The execution providers in use, in order of preference.
    #[getter]
    fn providers(&self) -> Vec<&'static str> {
        self.inner.providers().iter().map(|p| p.name()).collect()
    }

    /// Where the model came from.
    #[getter]
    fn origin(&self) -> &str {
        self.inner.origin()
    }

    fn __repr__(&self) -> String {
        format!("OnnxSession({})", quoted(self.inner.origin()))
    }
}

/// The shapes of the all-zero inputs validation checks a bundle with: dynamic dimensions filled
/// from the window the bundle declares (the core's `zero_shapes`, the warm-up's rule and cap).
/// `inputs` are `(name, shape, bytes per element)`. Raises `InvalidArgumentError` (a
/// `ValueError`) naming the input when the zeros would pass `max_bytes` together.
#[pyfunction]
#[pyo3(signature = (inputs, *, sequence_length, feature_count, max_bytes=268_435_456))]
pub fn zero_input_shapes(
    inputs: Vec<(String, Vec<Option<i64>>, usize)>,
    sequence_length: Option<usize>,
    feature_count: Option<usize>,
    max_bytes: usize,
) -> PyResult<Vec<Vec<usize>>> {
    let specs = inputs
        .iter()
        .map(|(name, shape, element_size)| ZeroInputSpec {
            name,
            shape,
            element_size: *element_size,
        });
    let dynamic = DynamicDims::Declared {
        sequence_length,
        feature_count,
    };
    zero_shapes(specs, dynamic, max_bytes)
        .map_err(|refused| Error::InvalidArgument(refused.to_string()).into())
}
