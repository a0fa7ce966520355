//! The one error type of the core. Every fallible core function returns [`Result`]; the binding
//! layer maps each variant to exactly one Python exception class (`src/py/errors.rs`).

use std::path::PathBuf;

/// Everything that can go wrong in the core, with enough context to say what, where and why.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ONNX Runtime shared library could not be found, loaded, or is too old.
    #[error("cannot load the ONNX Runtime library: {0}")]
    RuntimeUnavailable(String),

    /// A model file is missing, empty, unreadable or not a valid ONNX model.
    #[error("cannot load model {origin}: {reason}")]
    ModelLoad { origin: String, reason: String },

    /// The caller passed inputs that do not match what the model expects.
    #[error("{0}")]
    InvalidInput(String),

    /// ONNX Runtime failed while running a model.
    #[error("inference failed for {origin}: {reason}")]
    Inference { origin: String, reason: String },

    /// A run was terminated because it passed its deadline.
    #[error("inference for {origin} exceeded its timeout of {timeout_ms} ms")]
    Timeout { origin: String, timeout_ms: u64 },

    /// A configuration value (a provider name, an optimisation level, a schema) is not valid.
    #[error("{0}")]
    InvalidArgument(String),

    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A JSON file could not be parsed or failed its JSON Schema.
    #[error("{path}: {reason}")]
    InvalidDocument { path: PathBuf, reason: String },

    /// A buffer whose size comes from a model or an input could not be allocated
    /// ([`crate::core::alloc`]); `bytes` is `None` when the size does not even fit in `usize`.
    #[error("not enough memory for {what} ({})", describe_bytes(*.bytes))]
    OutOfMemory { what: String, bytes: Option<usize> },
}

fn describe_bytes(bytes: Option<usize>) -> String {
    match bytes {
        Some(bytes) => format!("{bytes} bytes"),
        None => "more bytes than the address space holds".to_owned(),
    }
}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an [`Error::InvalidInput`] from anything printable.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// Builds an [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
