//! An ONNX Runtime session with checked inputs, a lock around `Session::run`, optional warm-up
//! and deadlines.
//!
//! Runs go straight to ONNX Runtime's C API ([`crate::core::values`]): inputs are described in
//! place (and the description of a buffer that comes back is reused), and an output whose shape
//! is known before the run is written straight into a buffer the caller provides.

use std::any::Any;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::Session;
use ort::sys::OrtValue;
use ort::value::{DynValue, ValueType};
use parking_lot::Mutex;
use smallvec::SmallVec;

use crate::core::deadline;
use crate::core::error::{Error, Result};
use crate::core::files::{self, FileError};
use crate::core::providers::{self, Provider};
use crate::core::runtime;
use crate::core::tensor::{
    element_count, format_shape, ElementType, NamedInput, OutputTensor, TensorData, TensorSpec,
    TensorView, TensorViewMut,
};
use crate::core::values::{self, Names, RawValue};

/// How much graph optimisation ONNX Runtime applies when the session opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OptimizationLevel {
    /// No graph rewrites.
    Disable,
    /// Redundancy elimination and constant folding.
    Basic,
    /// Basic plus node fusions.
    Extended,
    /// Extended plus layout optimisations.
    Layout,
    /// Everything ONNX Runtime offers.
    #[default]
    All,
}

impl OptimizationLevel {
    /// Parses `"disable"`, `"basic"`, `"extended"`, `"layout"` or `"all"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "disable" | "disabled" | "none" => Ok(Self::Disable),
            "basic" => Ok(Self::Basic),
            "extended" => Ok(Self::Extended),
            "layout" => Ok(Self::Layout),
            "all" => Ok(Self::All),
            _ => Err(Error::InvalidArgument(format!(
                "unknown optimization level {name:?}; expected one of \"disable\", \"basic\", \"extended\", \"layout\", \"all\""
            ))),
        }
    }

    fn to_ort(self) -> GraphOptimizationLevel {
        match self {
            Self::Disable => GraphOptimizationLevel::Disable,
            Self::Basic => GraphOptimizationLevel::Level1,
            Self::Extended => GraphOptimizationLevel::Level2,
            Self::Layout => GraphOptimizationLevel::Level3,
            Self::All => GraphOptimizationLevel::All,
        }
    }
}

/// The default cap on the zeros tensor a warm-up allocates: 256 MiB.
pub const DEFAULT_WARMUP_MAX_BYTES: usize = 256 << 20;

/// Options for opening a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Threads for parallelism inside an operator. `None` shares the process's pool
    /// ([`runtime::ThreadPools`]); a number gives this session a pool of its own.
    pub intra_op_threads: Option<usize>,
    /// Threads for running independent operators in parallel. `None` runs the graph
    /// sequentially on the shared pools; a number gives this session pools of its own.
    pub inter_op_threads: Option<usize>,
    /// Graph optimisation level.
    pub optimization: OptimizationLevel,
    /// Providers in order of preference; the best available when `None`.
    pub providers: Option<Vec<Provider>>,
    /// Run one inference on zeros at load so the first real call is not slow.
    pub warmup: bool,
    /// The largest zeros input (all inputs together, in bytes) a warm-up may allocate; a model
    /// needing more opens without warm-up, with the reason in [`InferenceSession::warnings`].
    pub warmup_max_bytes: usize,
    /// Deadline of the warm-up run; a warm-up that passes it is stopped, and the session opens
    /// with the reason in [`InferenceSession::warnings`].
    pub warmup_timeout: Option<Duration>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            intra_op_threads: None,
            inter_op_threads: None,
            optimization: OptimizationLevel::All,
            providers: None,
            warmup: true,
            warmup_max_bytes: DEFAULT_WARMUP_MAX_BYTES,
            warmup_timeout: None,
        }
    }
}

/// Where a model comes from.
#[derive(Debug, Clone, Copy)]
pub enum ModelSource<'a> {
    /// A file on disk.
    File(&'a Path),
    /// A serialized model in memory.
    Bytes(&'a [u8]),
    /// A serialized model in memory, named in messages by where it came from (a bundle key or
    /// the file it was read from).
    Named {
        /// The serialized model.
        bytes: &'a [u8],
        /// What messages call it.
        origin: &'a str,
    },
}

impl ModelSource<'_> {
    fn describe(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Bytes(bytes) => format!("<{} bytes in memory>", bytes.len()),
            Self::Named { origin, .. } => (*origin).to_owned(),
        }
    }
}

/// Keeps an input buffer alive while the session caches a value describing it (the binding
/// layer passes the numpy array that owns the buffer).
pub type KeepAlive = Box<dyn Any + Send + Sync>;

/// One input of [`InferenceSession::run_with`]: a borrowed buffer plus its shape.
pub struct RunInput<'a> {
    /// The input's name in the graph.
    pub name: &'a str,
    /// The dimensions of the data.
    pub shape: &'a [usize],
    /// The data, C-contiguous.
    pub data: TensorView<'a>,
    /// What keeps `data` alive, when it can be kept. The session then caches the value it
    /// creates over `data` and reuses it while the same buffer (address, length, shape and dtype)
    /// comes back, taking `owner` and handing back the owner of the buffer it stops caching.
    /// Values are read at run time, so a refilled buffer is seen. `None`: described for this
    /// run only.
    pub owner: Option<KeepAlive>,
}

/// An output shape known before a run (on the stack for up to 4 dimensions).
pub type PlannedShape = SmallVec<[usize; 4]>;

/// Where one output of [`InferenceSession::run_with`] goes, in graph order.
#[derive(Debug)]
pub enum OutputTarget<'a> {
    /// Written in place into a caller's buffer, which must hold exactly the elements of
    /// [`InferenceSession::planned_output_shape`] in the output's dtype: no copy is made.
    Buffer(TensorViewMut<'a>),
    /// Copied out of ONNX Runtime after the run (any output, including dynamic shapes).
    Copy,
    /// Not requested: ONNX Runtime skips what only this output needs.
    Skip,
}

/// How an output's shape is known before a run.
#[derive(Debug, Clone)]
enum OutputPlan {
    /// Every dimension is fixed.
    Fixed(Vec<usize>),
    /// The first dimension is the batch of graph input `input`, the rest are fixed. `proven`:
    /// the two dimensions have the same symbol, which ONNX defines as the same size; otherwise
    /// it is a guess (the only input with a dynamic first dimension, as exporters that name
    /// every dimension differently leave it), checked by the first run that relies on it.
    Batched {
        input: usize,
        rest: Vec<usize>,
        proven: bool,
    },
    /// Known only after the run.
    Dynamic,
}

/// A value describing a caller's input buffer, kept between runs.
struct BoundInput {
    address: usize,
    len: usize,
    element_type: ElementType,
    shape: SmallVec<[usize; 4]>,
    value: RawValue,
    owner: KeepAlive,
}

impl BoundInput {
    fn describes(&self, input: &RunInput<'_>) -> bool {
        self.address == input.data.as_bytes().as_ptr() as usize
            && self.len == input.data.len()
            && self.element_type == input.data.element_type()
            && self.shape.as_slice() == input.shape
    }
}

/// What a run needs exclusive access to.
struct RunState {
    session: Session,
    /// Per graph input, the value over the last cacheable buffer it was given.
    bound: Vec<Option<BoundInput>>,
}

/// A loaded model, safe to share between threads.
pub struct InferenceSession {
    // `Session::run` takes `&mut self`, and ONNX Runtime's own `Run` is not reliably thread-safe for
    // every provider, so calls on one session are serialised here. The lock is only ever taken
    // without the GIL held.
    state: Mutex<RunState>,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    input_names: Names,
    output_names: Names,
    plans: Vec<OutputPlan>,
    /// Set when a run showed a guessed batch plan wrong: such outputs are copied from then on.
    guess_refuted: std::sync::atomic::AtomicBool,
    metadata: BTreeMap<String, String>,
    providers: Vec<Provider>,
    warnings: Vec<String>,
    origin: String,
    deadlines: std::sync::Arc<deadline::DeadlineSlot>,
}

impl std::fmt::Debug for InferenceSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferenceSession")
            .field("origin", &self.origin)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

/// Reads a model file: a regular file only (a FIFO or a device would block or never end), and
/// no more bytes than its size said, so nothing is allocated that the file system did not report.
pub(crate) fn read_model_file(path: &Path) -> std::result::Result<Vec<u8>, String> {
    let file = files::open_regular(path).map_err(|error| match error {
        FileError::Open(error) if error.kind() == std::io::ErrorKind::NotFound => {
            "the file does not exist".to_owned()
        }
        FileError::NotRegular(_) => "not a regular file".to_owned(),
        FileError::Open(error) | FileError::Read(error) => {
            format!("the file cannot be read: {error}")
        }
        other => other.to_string(),
    })?;
    let metadata = file
        .metadata()
        .map_err(|error| format!("the file cannot be read: {error}"))?;
    let len = usize::try_from(metadata.len()).map_err(|_| "the file is too large".to_owned())?;
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(len)
        .map_err(|_| format!("the file is too large to load ({len} bytes)"))?;
    file.take(metadata.len())
        .read_to_end(&mut bytes)
        .map_err(|error| format!("the file cannot be read: {error}"))?;
    Ok(bytes)
}

/// The element type, shape and dimension symbols of a graph input or output.
fn outlet_symbols(outlet: &ort::value::Outlet) -> Vec<String> {
    match outlet.dtype() {
        ValueType::Tensor {
            dimension_symbols, ..
        } => dimension_symbols.iter().cloned().collect(),
        _ => Vec::new(),
    }
}

fn plan_outputs(
    session: &Session,
    inputs: &[TensorSpec],
    outputs: &[TensorSpec],
) -> Vec<OutputPlan> {
    let input_symbols: Vec<Vec<String>> = session.inputs().iter().map(outlet_symbols).collect();
    outputs
        .iter()
        .zip(session.outputs())
        .map(|(spec, outlet)| {
            let fixed = |dims: &[Option<i64>]| {
                dims.iter()
                    .map(|dim| dim.and_then(|d| usize::try_from(d).ok()))
                    .collect::<Option<Vec<usize>>>()
            };
            if spec.element_type.size().is_none() {
                return OutputPlan::Dynamic;
            }
            if let Some(shape) = fixed(&spec.shape) {
                return OutputPlan::Fixed(shape);
            }
            let (Some(None), Some(rest)) =
                (spec.shape.first(), spec.shape.get(1..).and_then(fixed))
            else {
                return OutputPlan::Dynamic;
            };
            let symbols = outlet_symbols(outlet);
            let symbol = symbols.first().filter(|symbol| !symbol.is_empty());
            // ONNX gives dimensions with the same symbol the same value: an output whose first
            // dimension is named like an input's dynamic first dimension has that batch size.
            let named = inputs
                .iter()
                .zip(&input_symbols)
                .position(|(input, names)| {
                    input.shape.first() == Some(&None)
                        && symbol.is_some()
                        && names.first() == symbol
                });
            let batched: Vec<usize> = inputs
                .iter()
                .enumerate()
                .filter(|(_, input)| input.shape.first() == Some(&None))
                .map(|(index, _)| index)
                .collect();
            match (named, batched.as_slice()) {
                (Some(input), _) => OutputPlan::Batched {
                    input,
                    rest,
                    proven: true,
                },
                (None, [input]) => OutputPlan::Batched {
                    input: *input,
                    rest,
                    proven: false,
                },
                _ => OutputPlan::Dynamic,
            }
        })
        .collect()
}

/// Inputs and outputs whose type the core cannot exchange, one line each.
fn unsupported_types(inputs: &[TensorSpec], outputs: &[TensorSpec]) -> Vec<String> {
    let supported: Vec<&str> = ElementType::SUPPORTED.iter().map(|ty| ty.name()).collect();
    inputs
        .iter()
        .map(|spec| ("input", spec))
        .chain(outputs.iter().map(|spec| ("output", spec)))
        .filter_map(|(kind, spec)| match spec.element_type {
            ElementType::Unsupported(name) => Some(format!(
                "{kind} {:?} has element type {name}, which cannot be exchanged with numpy arrays (supported: {})",
                spec.name,
                supported.join(", ")
            )),
            _ => None,
        })
        .collect()
}

impl InferenceSession {
    /// Opens a model; the ONNX Runtime library must already be loaded ([`runtime::ensure_loaded`]).
    pub fn open(source: ModelSource<'_>, options: &SessionOptions) -> Result<Self> {
        runtime::require_loaded()?;
        let origin = source.describe();
        let load_error = |reason: String| Error::ModelLoad {
            origin: origin.clone(),
            reason,
        };
        // Read the file ourselves: a missing or empty file then gets a plain message instead of a
        // protobuf parse error, and the session never depends on the file staying in place.
        let file_bytes;
        let bytes: &[u8] = match source {
            ModelSource::File(path) => {
                file_bytes = read_model_file(path).map_err(load_error)?;
                &file_bytes
            }
            ModelSource::Bytes(bytes) | ModelSource::Named { bytes, .. } => bytes,
        };
        if bytes.is_empty() {
            return Err(load_error("the model is empty (0 bytes)".to_owned()));
        }

        let (mut builder, negotiated) =
            configure(options).map_err(|error| load_error(error.to_string()))?;
        let session = builder
            .commit_from_memory(bytes)
            .map_err(|error| load_error(format!("not a valid ONNX model: {}", error.message())))?;

        let inputs: Vec<TensorSpec> = session
            .inputs()
            .iter()
            .map(TensorSpec::from_outlet)
            .collect();
        let outputs: Vec<TensorSpec> = session
            .outputs()
            .iter()
            .map(TensorSpec::from_outlet)
            .collect();
        // A model the core cannot feed or read would fail every run: refuse it here, by name.
        let unsupported = unsupported_types(&inputs, &outputs);
        if !unsupported.is_empty() {
            return Err(load_error(unsupported.join("; ")));
        }
        let names = |specs: &[TensorSpec]| {
            Names::new(specs.iter().map(|spec| spec.name.as_str()))
                .map_err(|error| load_error(error.to_string()))
        };
        let plans = plan_outputs(&session, &inputs, &outputs);
        let mut loaded = Self {
            input_names: names(&inputs)?,
            output_names: names(&outputs)?,
            plans,
            guess_refuted: std::sync::atomic::AtomicBool::new(false),
            state: Mutex::new(RunState {
                bound: (0..inputs.len()).map(|_| None).collect(),
                session,
            }),
            inputs,
            outputs,
            metadata: BTreeMap::new(),
            providers: negotiated.active,
            warnings: negotiated.skipped,
            origin: origin.clone(),
            deadlines: deadline::DeadlineSlot::new()
                .map_err(|error| load_error(error.to_string()))?,
        };
        loaded.metadata = read_metadata(&loaded.state.get_mut().session);
        if options.warmup {
            match loaded.warm_up(options.warmup_max_bytes, options.warmup_timeout) {
                Ok(WarmUp::Done | WarmUp::DynamicShape) => {}
                Ok(WarmUp::TooLarge(reason)) => loaded
                    .warnings
                    .push(format!("opened without warm-up: {reason}")),
                // A model slower than the timeout still opens (its runs will time out the same
                // way); the warm-up just stops there rather than holding up the open.
                Err(Error::Timeout { timeout_ms, .. }) => loaded.warnings.push(format!(
                    "warm-up stopped at its timeout of {timeout_ms} ms; the first run may be slow"
                )),
                Err(error) => return Err(load_error(format!("warm-up inference failed: {error}"))),
            }
        }
        Ok(loaded)
    }

    /// The model's inputs, in graph order.
    pub fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    /// The model's outputs, in graph order.
    pub fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    /// The model's `metadata_props`.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The execution providers in use, in order of preference.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// Things worth logging from the open, one line each: skipped providers, a skipped warm-up.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Where the model came from: its path, or a note that it came from memory.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The shape output `output` will have when the model runs on `inputs`, where that is known
    /// before the run (a fixed shape, or a batch taken from an input); `None` otherwise.
    ///
    /// `inputs` are not checked here; a run with inputs that do not match the model fails.
    pub fn planned_output_shape(
        &self,
        output: usize,
        inputs: &[RunInput<'_>],
    ) -> Option<PlannedShape> {
        self.plan_shape(output, inputs, self.trusts_guesses())
    }

    /// Whether no guessed batch plan has been refuted yet.
    fn trusts_guesses(&self) -> bool {
        !self
            .guess_refuted
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether output `output`'s plan is a guess (see [`OutputPlan::Batched`]).
    fn is_guess(&self, output: usize) -> bool {
        matches!(
            self.plans.get(output),
            Some(OutputPlan::Batched { proven: false, .. })
        )
    }

    fn plan_shape(
        &self,
        output: usize,
        inputs: &[RunInput<'_>],
        guesses: bool,
    ) -> Option<PlannedShape> {
        match self.plans.get(output)? {
            OutputPlan::Fixed(shape) => Some(SmallVec::from_slice(shape)),
            OutputPlan::Batched { proven: false, .. } if !guesses => None,
            OutputPlan::Batched { input, rest, .. } => {
                let name = &self.inputs[*input].name;
                let given = inputs.iter().find(|given| given.name == name)?;
                let batch = *given.shape.first()?;
                Some(std::iter::once(batch).chain(rest.iter().copied()).collect())
            }
            OutputPlan::Dynamic => None,
        }
    }

    /// Checks `inputs` against the model; returns, per graph input, its index in `inputs`.
    fn order_inputs(&self, inputs: &[RunInput<'_>]) -> Result<SmallVec<[usize; 4]>> {
        for input in inputs {
            if !self.inputs.iter().any(|spec| spec.name == input.name) {
                return Err(Error::invalid_input(format!(
                    "unknown input {:?}; the model takes {}",
                    input.name,
                    self.describe_inputs()
                )));
            }
        }
        self.inputs
            .iter()
            .map(|spec| {
                let mut matching = inputs
                    .iter()
                    .enumerate()
                    .filter(|(_, input)| input.name == spec.name);
                let (index, input) = matching.next().ok_or_else(|| {
                    Error::invalid_input(format!(
                        "missing input {:?} ({} {}); the model takes {}",
                        spec.name,
                        spec.element_type.name(),
                        spec.shape_text(),
                        self.describe_inputs()
                    ))
                })?;
                if matching.next().is_some() {
                    return Err(Error::invalid_input(format!(
                        "input {:?} was given twice",
                        spec.name
                    )));
                }
                check_input(spec, input)?;
                Ok(index)
            })
            .collect()
    }

    /// Checks the output targets against the model and the planned shapes.
    fn check_targets(
        &self,
        inputs: &[RunInput<'_>],
        targets: &mut [OutputTarget<'_>],
    ) -> Result<()> {
        if targets.len() != self.outputs.len() {
            return Err(Error::invalid_input(format!(
                "{} output targets given; the model has {} outputs",
                targets.len(),
                self.outputs.len()
            )));
        }
        if targets
            .iter()
            .all(|target| matches!(target, OutputTarget::Skip))
        {
            return Err(Error::invalid_input(
                "a run must request at least one output",
            ));
        }
        for (index, (target, spec)) in targets.iter_mut().zip(&self.outputs).enumerate() {
            let OutputTarget::Buffer(buffer) = target else {
                continue;
            };
            let (element_type, len, _) = buffer.parts();
            if element_type != spec.element_type {
                return Err(Error::invalid_input(format!(
                    "the buffer for output {:?} has dtype {}, expected {}",
                    spec.name,
                    element_type.name(),
                    spec.element_type.name()
                )));
            }
            let Some(shape) = self.planned_output_shape(index, inputs) else {
                return Err(Error::invalid_input(format!(
                    "output {:?} has shape {}, known only after the run; copy it instead",
                    spec.name,
                    spec.shape_text()
                )));
            };
            let elements = element_count(&shape);
            if elements != Some(len) {
                return Err(Error::invalid_input(format!(
                    "the buffer for output {:?} holds {} elements; its shape {} needs {}",
                    spec.name,
                    len,
                    format_shape(shape.iter().map(usize::to_string)),
                    elements.map_or("more than memory holds".to_owned(), |n| n.to_string())
                )));
            }
        }
        Ok(())
    }

    /// Runs the model; `timeout` terminates the run through ONNX Runtime when it passes.
    ///
    /// Every output is copied out; [`Self::run_with`] writes outputs in place instead.
    pub fn run(
        &self,
        inputs: &[NamedInput<'_>],
        timeout: Option<Duration>,
    ) -> Result<Vec<OutputTensor>> {
        let mut inputs: SmallVec<[RunInput<'_>; 4]> = inputs
            .iter()
            .map(|input| RunInput {
                name: input.name,
                shape: &input.shape,
                data: input.data,
                owner: None,
            })
            .collect();
        let mut targets: SmallVec<[OutputTarget<'_>; 4]> =
            self.outputs.iter().map(|_| OutputTarget::Copy).collect();
        let outputs = self.run_with(&mut inputs, &mut targets, timeout)?;
        Ok(outputs.into_iter().flatten().collect())
    }

    /// Runs the model on `inputs`, sending each output where `targets` says (one target per
    /// output, in graph order); returns the copied outputs, `Some` for each [`OutputTarget::Copy`]
    /// and, rarely, for a [`OutputTarget::Buffer`] whose planned shape the run refuted (the
    /// buffer is then not written, and the output is copied from then on).
    ///
    /// This is the path without copies: outputs written into caller buffers, and input values
    /// reused for buffers that come back (see [`RunInput::owner`]). A caller reading a scalar
    /// regression output passes a one-element stack buffer and allocates nothing.
    pub fn run_with(
        &self,
        inputs: &mut [RunInput<'_>],
        targets: &mut [OutputTarget<'_>],
        timeout: Option<Duration>,
    ) -> Result<Vec<Option<OutputTensor>>> {
        let order = self.order_inputs(inputs)?;
        self.check_targets(inputs, targets)?;
        let guesses = self.trusts_guesses();
        let relies_on_guess = guesses
            && targets.iter().enumerate().any(|(index, target)| {
                matches!(target, OutputTarget::Buffer(_)) && self.is_guess(index)
            });
        match self.execute(inputs, &order, targets, timeout, guesses) {
            // A guessed batch plan may be wrong (ONNX Runtime then refuses the buffer's shape):
            // run again copying those outputs. If that succeeds the guess was the problem, and
            // this session copies them from now on; if not, the first error stands.
            Err(error) if relies_on_guess && !matches!(error, Error::Timeout { .. }) => {
                let copies = self
                    .execute(inputs, &order, targets, timeout, false)
                    .map_err(|_| error)?;
                self.guess_refuted
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(copies)
            }
            outcome => outcome,
        }
    }

    /// One run of checked inputs and targets; with `guesses` off, buffers of guessed outputs
    /// are left alone and those outputs returned as copies instead.
    fn execute(
        &self,
        inputs: &mut [RunInput<'_>],
        order: &[usize],
        targets: &mut [OutputTarget<'_>],
        timeout: Option<Duration>,
        guesses: bool,
    ) -> Result<Vec<Option<OutputTensor>>> {
        let inference_error = |reason: String| Error::Inference {
            origin: self.origin.clone(),
            reason,
        };
        let copied = |index: usize, target: &OutputTarget<'_>| match target {
            OutputTarget::Copy => true,
            OutputTarget::Buffer(_) => !guesses && self.is_guess(index),
            OutputTarget::Skip => false,
        };

        // Output values over the caller's buffers, and the names of the requested outputs.
        let mut output_buffers: SmallVec<[Option<RawValue>; 4]> = SmallVec::new();
        let mut output_names: SmallVec<[*const std::ffi::c_char; 4]> = SmallVec::new();
        for ((index, target), name) in targets
            .iter_mut()
            .enumerate()
            .zip(self.output_names.pointers())
        {
            if matches!(target, OutputTarget::Skip) {
                continue;
            }
            let value = match target {
                _ if copied(index, target) => None,
                OutputTarget::Skip | OutputTarget::Copy => None,
                OutputTarget::Buffer(buffer) => {
                    let shape = self.plan_shape(index, inputs, guesses).unwrap_or_default();
                    let (element_type, len, data) = buffer.parts();
                    // SAFETY: the buffer is borrowed mutably for this call, holds `len` elements
                    // (checked against the shape above), and the value is dropped before we return.
                    Some(
                        unsafe { RawValue::over(data, len, element_type, &shape) }
                            .map_err(|error| inference_error(error.to_string()))?,
                    )
                }
            };
            output_buffers.push(value);
            output_names.push(*name);
        }
        let mut output_values: SmallVec<[*mut OrtValue; 4]> = output_buffers
            .iter()
            .map(|value| {
                value
                    .as_ref()
                    .map_or(std::ptr::null_mut(), RawValue::as_ptr)
            })
            .collect();

        let mut state = self.state.lock();
        let state = &mut *state;
        // Input values: the cached one where the same buffer came back, else a new one, cached
        // when the caller can keep the buffer alive.
        let mut fresh: SmallVec<[RawValue; 4]> = SmallVec::new();
        let mut input_values: SmallVec<[*const OrtValue; 4]> = SmallVec::new();
        for (slot, &position) in state.bound.iter_mut().zip(order) {
            let input = &mut inputs[position];
            if let Some(bound) = slot.as_ref().filter(|bound| bound.describes(input)) {
                input_values.push(bound.value.as_ptr());
                continue;
            }
            let data = input.data.as_bytes().as_ptr().cast_mut().cast();
            // SAFETY: the buffer is borrowed for this call; a cached value outlives the call only
            // together with `owner`, which keeps the buffer alive. ONNX Runtime only reads inputs.
            let value = unsafe {
                RawValue::over(
                    data,
                    input.data.len(),
                    input.data.element_type(),
                    input.shape,
                )
            }
            .map_err(|error| inference_error(error.to_string()))?;
            input_values.push(value.as_ptr());
            match input.owner.take() {
                Some(owner) => {
                    let bound = BoundInput {
                        address: data as usize,
                        len: input.data.len(),
                        element_type: input.data.element_type(),
                        shape: SmallVec::from_slice(input.shape),
                        value,
                        owner,
                    };
                    // The owner of the buffer no longer cached goes back to the caller, which
                    // drops it where that is cheap (with the GIL held).
                    if let Some(previous) = slot.replace(bound) {
                        input.owner = Some(previous.owner);
                    }
                }
                None => fresh.push(value),
            }
        }

        let session = &mut state.session;
        // SAFETY: every input value describes a buffer alive for this call (or held by its
        // owner), and every output value a caller buffer borrowed mutably for this call.
        let mut run = |options| unsafe {
            values::run(
                session,
                options,
                self.input_names.pointers(),
                &input_values,
                &output_names,
                &mut output_values,
            )
        };
        let (outcome, missed) = match timeout {
            Some(timeout) => {
                self.deadlines.arm(timeout);
                let outcome = run(Some(self.deadlines.options()));
                (outcome, self.deadlines.disarm().then_some(timeout))
            }
            None => (run(None), None),
        };
        // Take ownership of what ONNX Runtime allocated first, so it is released on every path.
        let allocated: SmallVec<[Option<DynValue>; 4]> = output_values
            .iter()
            .zip(&output_buffers)
            .map(
                |(&value, buffer)| match (buffer, std::ptr::NonNull::new(value)) {
                    // SAFETY: a non-null output that we did not provide was created by `Run` for us.
                    (None, Some(value)) => Some(unsafe { DynValue::from_ptr(value, None) }),
                    _ => None,
                },
            )
            .collect();
        if let Some(timeout) = missed {
            return Err(Error::Timeout {
                origin: self.origin.clone(),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            });
        }
        outcome.map_err(|error| inference_error(error.message().to_owned()))?;
        drop(fresh);

        let mut allocated = allocated.into_iter();
        let mut copies = Vec::with_capacity(targets.len());
        for (index, target) in targets.iter().enumerate() {
            copies.push(match target {
                _ if copied(index, target) => {
                    let value = allocated.next().flatten().ok_or_else(|| {
                        inference_error("ONNX Runtime returned no value for an output".to_owned())
                    })?;
                    let (shape, data) = TensorData::from_value(&value)
                        .map_err(|error| inference_error(error.to_string()))?;
                    Some(OutputTensor { shape, data })
                }
                OutputTarget::Skip => None,
                // Written in place.
                OutputTarget::Buffer(_) | OutputTarget::Copy => {
                    allocated.next();
                    None
                }
            });
        }
        Ok(copies)
    }

    /// A zeros input per model input with every dimension known (dynamic batch taken as 1, the
    /// smallest valid batch), or `None` when some other dimension is dynamic. `Err` carries the
    /// reason when the inputs together would need more than `max_bytes`.
    pub fn zeros_inputs(
        &self,
        max_bytes: usize,
    ) -> std::result::Result<Option<Vec<ZeroInput>>, String> {
        let mut total_bytes = 0usize;
        let mut zeros = Vec::with_capacity(self.inputs.len());
        for spec in &self.inputs {
            let Some(shape) = spec
                .shape
                .iter()
                .enumerate()
                .map(|(axis, dim)| match dim {
                    Some(dim) => usize::try_from(*dim).ok(),
                    None if axis == 0 => Some(1),
                    None => None,
                })
                .collect::<Option<Vec<usize>>>()
            else {
                return Ok(None);
            };
            let too_large = || {
                format!(
                    "its warm-up inputs would need more than {max_bytes} bytes (input {:?} has shape {})",
                    spec.name,
                    format_shape(shape.iter().map(usize::to_string))
                )
            };
            let elements = element_count(&shape).ok_or_else(too_large)?;
            let bytes = spec
                .element_type
                .size()
                .and_then(|size| elements.checked_mul(size))
                .and_then(|bytes| total_bytes.checked_add(bytes))
                .ok_or_else(too_large)?;
            if bytes > max_bytes {
                return Err(too_large());
            }
            total_bytes = bytes;
            let Some(data) = TensorData::zeros(spec.element_type, elements) else {
                return Ok(None);
            };
            zeros.push((spec.name.clone(), shape, data));
        }
        Ok(Some(zeros))
    }

    /// Runs the model once on zeros of the smallest valid shape, within `timeout`.
    fn warm_up(&self, max_bytes: usize, timeout: Option<Duration>) -> Result<WarmUp> {
        let zeros = match self.zeros_inputs(max_bytes) {
            Ok(Some(zeros)) => zeros,
            Ok(None) => return Ok(WarmUp::DynamicShape),
            Err(reason) => return Ok(WarmUp::TooLarge(reason)),
        };
        let inputs: Vec<NamedInput<'_>> = zeros
            .iter()
            .map(|(name, shape, data)| NamedInput {
                name,
                shape: shape.clone(),
                data: data.view(),
            })
            .collect();
        self.run(&inputs, timeout)?;
        Ok(WarmUp::Done)
    }

    fn describe_inputs(&self) -> String {
        let described: Vec<String> = self
            .inputs
            .iter()
            .map(|spec| {
                format!(
                    "{:?} ({} {})",
                    spec.name,
                    spec.element_type.name(),
                    spec.shape_text()
                )
            })
            .collect();
        match described.len() {
            0 => "no inputs".to_owned(),
            1 => format!("one input: {}", described[0]),
            n => format!("{n} inputs: {}", described.join(", ")),
        }
    }
}

/// One all-zeros input: its name, shape and data.
pub type ZeroInput = (String, Vec<usize>, TensorData);

/// What a warm-up did.
enum WarmUp {
    Done,
    /// Some dimension other than the batch is dynamic: no shape is known to be valid.
    DynamicShape,
    /// The zeros would exceed the cap; the reason says by how much.
    TooLarge(String),
}

fn check_input(spec: &TensorSpec, input: &RunInput<'_>) -> Result<()> {
    let given = input.data.element_type();
    if given != spec.element_type {
        return Err(Error::invalid_input(format!(
            "input {:?} has dtype {}, expected {}",
            spec.name,
            given.name(),
            spec.element_type.name()
        )));
    }
    let given_shape = || format_shape(input.shape.iter().map(usize::to_string));
    if input.shape.len() != spec.shape.len() {
        return Err(Error::invalid_input(format!(
            "input {:?} has shape {} (rank {}), expected rank {} {}",
            spec.name,
            given_shape(),
            input.shape.len(),
            spec.shape.len(),
            spec.shape_text()
        )));
    }
    for (axis, (&given_dim, expected)) in input.shape.iter().zip(&spec.shape).enumerate() {
        if let Some(expected) = *expected {
            if i64::try_from(given_dim).ok() != Some(expected) {
                return Err(Error::invalid_input(format!(
                    "input {:?} has shape {}, expected {}: dimension {axis} is {given_dim}, expected {expected}",
                    spec.name,
                    given_shape(),
                    spec.shape_text()
                )));
            }
        }
    }
    let elements = element_count(input.shape);
    if elements != Some(input.data.len()) {
        return Err(Error::invalid_input(format!(
            "input {:?} has shape {} ({} elements) but {} elements of data",
            spec.name,
            given_shape(),
            elements.map_or("too many".to_owned(), |n| n.to_string()),
            input.data.len()
        )));
    }
    Ok(())
}

fn configure(options: &SessionOptions) -> ort::Result<(SessionBuilder, providers::Negotiated)> {
    let mut builder = Session::builder()?.with_optimization_level(options.optimization.to_ort())?;
    // Sessions share the process's pools unless they ask for thread counts of their own.
    if options.intra_op_threads.is_some() || options.inter_op_threads.is_some() {
        let spinning = runtime::thread_pools().allow_spinning;
        builder = builder
            .with_independent_thread_pool()?
            .with_intra_op_spinning(spinning)?
            .with_inter_op_spinning(spinning)?;
        if let Some(threads) = options.intra_op_threads {
            builder = builder.with_intra_threads(threads)?;
        }
        if let Some(threads) = options.inter_op_threads {
            builder = builder
                .with_inter_threads(threads)?
                .with_parallel_execution(threads > 1)?;
        }
    }
    let negotiated = providers::negotiate(&mut builder, options.providers.as_deref());
    Ok((builder, negotiated))
}

fn read_metadata(session: &Session) -> BTreeMap<String, String> {
    let Ok(metadata) = session.metadata() else {
        return BTreeMap::new();
    };
    let keys = metadata.custom_keys().unwrap_or_default();
    keys.into_iter()
        .filter_map(|key| metadata.custom(&key).map(|value| (key, value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tensor::TensorView;

    /// `y = x + x` over `[batch, 3]` float32, serialized by the `onnx` package (opset 17).
    const DOUBLE_MODEL: [u8; 86] = [
        8, 8, 58, 76, 10, 14, 10, 1, 120, 10, 1, 120, 18, 1, 121, 34, 3, 65, 100, 100, 18, 6, 100,
        111, 117, 98, 108, 101, 90, 24, 10, 1, 120, 18, 19, 10, 17, 8, 1, 18, 13, 10, 7, 18, 5, 98,
        97, 116, 99, 104, 10, 2, 8, 3, 98, 24, 10, 1, 121, 18, 19, 10, 17, 8, 1, 18, 13, 10, 7, 18,
        5, 98, 97, 116, 99, 104, 10, 2, 8, 3, 66, 4, 10, 0, 16, 17,
    ];

    /// Loads ONNX Runtime from `ORT_DYLIB_PATH` (`make test` sets it to the wheel's library);
    /// `None` where it is not set, so `cargo test` alone still passes without a library.
    fn runtime() -> Option<()> {
        let path = std::env::var_os("ORT_DYLIB_PATH")?;
        runtime::ensure_loaded(Path::new(&path)).expect("ORT_DYLIB_PATH names a usable library");
        Some(())
    }

    #[test]
    fn options_parse_and_reject_unknown_names() {
        assert_eq!(
            OptimizationLevel::parse("ALL").unwrap(),
            OptimizationLevel::All
        );
        assert!(OptimizationLevel::parse("max").is_err());
        assert_eq!(
            Provider::parse("CUDAExecutionProvider").unwrap(),
            Provider::Cuda
        );
        assert!(Provider::parse("tpu").is_err());
    }

    #[test]
    fn a_model_runs_and_inputs_are_checked() {
        if runtime().is_none() {
            eprintln!("ORT_DYLIB_PATH not set: skipping the session test");
            return;
        }
        let session = InferenceSession::open(
            ModelSource::Bytes(&DOUBLE_MODEL),
            &SessionOptions::default(),
        )
        .unwrap();
        assert_eq!(session.inputs()[0].shape, vec![None, Some(3)]);
        assert_eq!(session.providers().last(), Some(&Provider::Cpu));
        let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let input = NamedInput {
            name: "x",
            shape: vec![2, 3],
            data: TensorView::Float32(&data),
        };
        let outputs = session
            .run(std::slice::from_ref(&input), Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(outputs[0].shape, vec![2, 3]);
        assert_eq!(
            outputs[0].data,
            TensorData::Float32(vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0])
        );

        let wrong_dim = NamedInput {
            name: "x",
            shape: vec![3, 2],
            data: TensorView::Float32(&data),
        };
        let error = session.run(&[wrong_dim], None).unwrap_err().to_string();
        assert!(error.contains("dimension 1 is 2, expected 3"), "{error}");
        let unknown = NamedInput {
            name: "z",
            shape: vec![2, 3],
            data: TensorView::Float32(&data),
        };
        assert!(session
            .run(&[unknown], None)
            .unwrap_err()
            .to_string()
            .contains("unknown input"));
    }

    #[test]
    fn outputs_go_into_caller_buffers_and_bound_inputs_are_reused() {
        if runtime().is_none() {
            return;
        }
        let session = InferenceSession::open(
            ModelSource::Bytes(&DOUBLE_MODEL),
            &SessionOptions::default(),
        )
        .unwrap();
        let mut data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let owner: KeepAlive = Box::new(7u32);
        let shape = [2usize, 3];
        let mut inputs = [RunInput {
            name: "x",
            shape: &shape,
            data: TensorView::Float32(&data),
            owner: Some(owner),
        }];
        // The output's batch is the input's ("batch" names both), so it is known before the run.
        assert_eq!(
            session.planned_output_shape(0, &inputs).as_deref(),
            Some(&[2usize, 3][..])
        );
        let mut out = [0.0f32; 6];
        let copies = session
            .run_with(
                &mut inputs,
                &mut [OutputTarget::Buffer(TensorViewMut::Float32(&mut out))],
                None,
            )
            .unwrap();
        assert_eq!(copies.len(), 1);
        assert!(copies[0].is_none());
        assert_eq!(out, [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
        // The session kept the owner with the value it cached over `data`.
        assert!(inputs[0].owner.is_none());

        // The same buffer again, refilled: the cached value is reused, and the new data seen.
        data[0] = 10.0;
        let mut again = [RunInput {
            name: "x",
            shape: &shape,
            data: TensorView::Float32(&data),
            owner: Some(Box::new(8u32)),
        }];
        let copied = session
            .run_with(&mut again, &mut [OutputTarget::Copy], None)
            .unwrap();
        let copy = copied.into_iter().next().flatten().unwrap();
        assert_eq!(
            copy.data,
            TensorData::Float32(vec![20.0, 4.0, 6.0, 8.0, 10.0, 12.0])
        );
        // A cache hit hands the caller's owner back untouched.
        let returned = again[0].owner.take().unwrap();
        assert_eq!(returned.downcast_ref::<u32>(), Some(&8));

        // Another buffer replaces the cached one; the old owner comes back to the caller.
        let other = [0.5f32; 3];
        let one = [1usize, 3];
        let mut replaced = [RunInput {
            name: "x",
            shape: &one,
            data: TensorView::Float32(&other),
            owner: Some(Box::new(9u32)),
        }];
        let mut small = [0.0f32; 3];
        session
            .run_with(
                &mut replaced,
                &mut [OutputTarget::Buffer(TensorViewMut::Float32(&mut small))],
                None,
            )
            .unwrap();
        assert_eq!(small, [1.0; 3]);
        let evicted = replaced[0].owner.take().unwrap();
        assert_eq!(evicted.downcast_ref::<u32>(), Some(&7));

        // A buffer of the wrong size is refused before anything runs.
        let mut wrong = [0.0f32; 2];
        let error = session
            .run_with(
                &mut replaced,
                &mut [OutputTarget::Buffer(TensorViewMut::Float32(&mut wrong))],
                None,
            )
            .unwrap_err();
        assert!(error.to_string().contains("holds 2 elements"), "{error}");
    }

    #[test]
    fn warm_up_inputs_are_capped() {
        if runtime().is_none() {
            return;
        }
        let session = InferenceSession::open(
            ModelSource::Bytes(&DOUBLE_MODEL),
            &SessionOptions {
                warmup_max_bytes: 4,
                ..SessionOptions::default()
            },
        )
        .unwrap();
        assert!(
            session
                .warnings()
                .iter()
                .any(|w| w.contains("without warm-up")),
            "{:?}",
            session.warnings()
        );
        let zeros = session.zeros_inputs(12).unwrap().unwrap();
        assert_eq!(zeros[0].1, vec![1, 3]);
        assert!(session.zeros_inputs(11).is_err());
    }

    #[test]
    fn corrupt_and_empty_models_are_load_errors() {
        if runtime().is_none() {
            return;
        }
        let empty = InferenceSession::open(ModelSource::Bytes(&[]), &SessionOptions::default())
            .unwrap_err();
        assert!(matches!(empty, Error::ModelLoad { .. }), "{empty}");
        let corrupt = InferenceSession::open(
            ModelSource::Bytes(&DOUBLE_MODEL[..40]),
            &SessionOptions::default(),
        )
        .unwrap_err();
        assert!(
            corrupt.to_string().contains("not a valid ONNX model"),
            "{corrupt}"
        );
    }
}
