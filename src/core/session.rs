//! An ONNX Runtime session with checked inputs, a lock around `Session::run`, optional warm-up
//! and deadlines.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::{Session, SessionInputValue};
use parking_lot::Mutex;

use crate::core::deadline;
use crate::core::error::{Error, Result};
use crate::core::providers::{self, Provider};
use crate::core::runtime;
use crate::core::tensor::{format_shape, NamedInput, OutputTensor, TensorData, TensorSpec};

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

/// Options for opening a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Threads for parallelism inside an operator; ONNX Runtime's default when `None`.
    pub intra_op_threads: Option<usize>,
    /// Threads for running independent operators in parallel; ONNX Runtime's default when `None`.
    pub inter_op_threads: Option<usize>,
    /// Graph optimisation level.
    pub optimization: OptimizationLevel,
    /// Providers in order of preference; the best available when `None`.
    pub providers: Option<Vec<Provider>>,
    /// Run one inference on zeros at load so the first real call is not slow.
    pub warmup: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            intra_op_threads: None,
            inter_op_threads: None,
            optimization: OptimizationLevel::All,
            providers: None,
            warmup: true,
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
}

impl ModelSource<'_> {
    fn describe(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Bytes(bytes) => format!("<{} bytes in memory>", bytes.len()),
        }
    }
}

/// A loaded model, safe to share between threads.
pub struct InferenceSession {
    // `Session::run` takes `&mut self`, and ONNX Runtime's own `Run` is not reliably thread-safe for
    // every provider, so calls on one session are serialised here. The lock is only ever taken
    // without the GIL held.
    session: Mutex<Session>,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
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
                file_bytes = std::fs::read(path).map_err(|error| {
                    load_error(match error.kind() {
                        std::io::ErrorKind::NotFound => "the file does not exist".to_owned(),
                        _ => format!("the file cannot be read: {error}"),
                    })
                })?;
                &file_bytes
            }
            ModelSource::Bytes(bytes) => bytes,
        };
        if bytes.is_empty() {
            return Err(load_error("the model is empty (0 bytes)".to_owned()));
        }

        let (mut builder, negotiated) =
            configure(options).map_err(|error| load_error(error.to_string()))?;
        let session = builder
            .commit_from_memory(bytes)
            .map_err(|error| load_error(format!("not a valid ONNX model: {}", error.message())))?;

        let metadata = read_metadata(&session);
        let loaded = Self {
            inputs: session
                .inputs()
                .iter()
                .map(TensorSpec::from_outlet)
                .collect(),
            outputs: session
                .outputs()
                .iter()
                .map(TensorSpec::from_outlet)
                .collect(),
            session: Mutex::new(session),
            metadata,
            providers: negotiated.active,
            warnings: negotiated.skipped,
            origin: origin.clone(),
            deadlines: deadline::DeadlineSlot::new()
                .map_err(|error| load_error(error.to_string()))?,
        };
        if options.warmup {
            loaded
                .warm_up()
                .map_err(|error| load_error(format!("warm-up inference failed: {error}")))?;
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

    /// Providers that were asked for but skipped, one line each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Where the model came from: its path, or a note that it came from memory.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Checks `inputs` against the model and returns them in graph order.
    fn order_inputs<'i, 'a>(
        &self,
        inputs: &'i [NamedInput<'a>],
    ) -> Result<Vec<&'i NamedInput<'a>>> {
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
                let mut matching = inputs.iter().filter(|input| input.name == spec.name);
                let input = matching.next().ok_or_else(|| {
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
                Ok(input)
            })
            .collect()
    }

    /// Runs the model; `timeout` terminates the run through ONNX Runtime when it passes.
    pub fn run(
        &self,
        inputs: &[NamedInput<'_>],
        timeout: Option<Duration>,
    ) -> Result<Vec<OutputTensor>> {
        let ordered = self.order_inputs(inputs)?;
        let inference_error = |reason: String| Error::Inference {
            origin: self.origin.clone(),
            reason,
        };
        let values = ordered
            .iter()
            .map(|input| input.data.to_session_value(&input.shape))
            .collect::<ort::Result<Vec<SessionInputValue<'_>>>>()
            .map_err(|error| inference_error(error.to_string()))?;

        let mut session = self.session.lock();
        let outcome = match timeout {
            Some(timeout) => {
                self.deadlines.arm(timeout);
                let outcome = session.run_with_options(values.as_slice(), self.deadlines.options());
                let fired = self.deadlines.disarm();
                if fired && outcome.is_err() {
                    return Err(Error::Timeout {
                        origin: self.origin.clone(),
                        timeout_ms: timeout.as_millis() as u64,
                    });
                }
                outcome
            }
            None => session.run(values.as_slice()),
        };
        let outputs = outcome.map_err(|error| inference_error(error.message().to_owned()))?;
        outputs
            .values()
            .map(|value| {
                TensorData::from_value(&value)
                    .map(|(shape, data)| OutputTensor { shape, data })
                    .map_err(|error| inference_error(error.to_string()))
            })
            .collect()
    }

    /// A zeros input per model input with every dimension known (dynamic batch taken as 1), or
    /// `None` when some other dimension is dynamic or a type is unsupported.
    pub fn zeros_inputs(&self) -> Option<Vec<(String, Vec<usize>, TensorData)>> {
        self.inputs
            .iter()
            .map(|spec| {
                let shape = spec
                    .shape
                    .iter()
                    .enumerate()
                    .map(|(axis, dim)| match dim {
                        Some(dim) => Some(*dim as usize),
                        None if axis == 0 => Some(1),
                        None => None,
                    })
                    .collect::<Option<Vec<usize>>>()?;
                let data = TensorData::zeros(spec.element_type, shape.iter().product())?;
                Some((spec.name.clone(), shape, data))
            })
            .collect()
    }

    /// Runs the model once on zeros, when [`Self::zeros_inputs`] can build them.
    pub fn warm_up(&self) -> Result<bool> {
        let Some(zeros) = self.zeros_inputs() else {
            return Ok(false);
        };
        let inputs: Vec<NamedInput<'_>> = zeros
            .iter()
            .map(|(name, shape, data)| NamedInput {
                name,
                shape: shape.clone(),
                data: data.view(),
            })
            .collect();
        self.run(&inputs, None)?;
        Ok(true)
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

fn check_input(spec: &TensorSpec, input: &NamedInput<'_>) -> Result<()> {
    let given = input.data.element_type();
    if given != spec.element_type {
        return Err(Error::invalid_input(format!(
            "input {:?} has dtype {}, expected {}",
            spec.name,
            given.name(),
            spec.element_type.name()
        )));
    }
    let given_shape = format_shape(input.shape.iter().map(usize::to_string));
    if input.shape.len() != spec.shape.len() {
        return Err(Error::invalid_input(format!(
            "input {:?} has shape {given_shape} (rank {}), expected rank {} {}",
            spec.name,
            input.shape.len(),
            spec.shape.len(),
            spec.shape_text()
        )));
    }
    for (axis, (&given_dim, expected)) in input.shape.iter().zip(&spec.shape).enumerate() {
        if let Some(expected) = *expected {
            if given_dim as i64 != expected {
                return Err(Error::invalid_input(format!(
                    "input {:?} has shape {given_shape}, expected {}: dimension {axis} is {given_dim}, expected {expected}",
                    spec.name,
                    spec.shape_text()
                )));
            }
        }
    }
    let elements: usize = input.shape.iter().product();
    if elements != input.data.len() {
        return Err(Error::invalid_input(format!(
            "input {:?} has shape {given_shape} ({elements} elements) but {} elements of data",
            spec.name,
            input.data.len()
        )));
    }
    Ok(())
}

fn configure(options: &SessionOptions) -> ort::Result<(SessionBuilder, providers::Negotiated)> {
    let mut builder = Session::builder()?.with_optimization_level(options.optimization.to_ort())?;
    if let Some(threads) = options.intra_op_threads {
        builder = builder.with_intra_threads(threads)?;
    }
    if let Some(threads) = options.inter_op_threads {
        builder = builder
            .with_inter_threads(threads)?
            .with_parallel_execution(threads > 1)?;
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
