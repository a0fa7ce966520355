//! How a session is opened: the optimisation level, the options, and where the model comes from.

use std::time::Duration;

use ort::session::builder::GraphOptimizationLevel;

use crate::core::error::{Error, Result};
use crate::core::onnx::providers::Provider;

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

    pub(super) fn to_ort(self) -> GraphOptimizationLevel {
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
    /// ([`crate::core::onnx::runtime::ThreadPools`]); a number gives this session a pool of its own.
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
    /// needing more opens without warm-up, with the reason in
    /// [`InferenceSession::warnings`](super::InferenceSession::warnings).
    pub warmup_max_bytes: usize,
    /// Deadline of the warm-up run; a warm-up that passes it is stopped, and the session opens
    /// with the reason in [`InferenceSession::warnings`](super::InferenceSession::warnings).
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
    pub(super) fn describe(&self) -> String {
        match self {
            Self::Bytes(bytes) => format!("<{} bytes in memory>", bytes.len()),
            Self::Named { origin, .. } => (*origin).to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
