//! Execution providers: parsing the names users pass, checking what the loaded library offers,
//! and registering them in order of preference with CPU as the fallback.

use ort::ep::{self, ExecutionProvider};
use ort::session::builder::SessionBuilder;

use crate::core::error::{Error, Result};

/// An execution provider a session may run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// NVIDIA CUDA.
    Cuda,
    /// AMD ROCm.
    Rocm,
    /// Apple Core ML.
    CoreMl,
    /// Windows DirectML.
    DirectMl,
    /// The default CPU provider, always present.
    Cpu,
}

/// The order tried when the caller names no providers: accelerators first, as the upstream bot's
/// provider negotiation does.
pub const DEFAULT_PREFERENCE: [Provider; 5] = [
    Provider::Cuda,
    Provider::Rocm,
    Provider::CoreMl,
    Provider::DirectMl,
    Provider::Cpu,
];

impl Provider {
    /// Parses a short name (`"cuda"`) or ONNX Runtime's own name (`"CUDAExecutionProvider"`).
    pub fn parse(name: &str) -> Result<Self> {
        let lowered = name.trim().to_ascii_lowercase();
        let short = lowered
            .strip_suffix("executionprovider")
            .unwrap_or(&lowered);
        match short {
            "cuda" => Ok(Self::Cuda),
            "rocm" => Ok(Self::Rocm),
            "coreml" => Ok(Self::CoreMl),
            "directml" | "dml" => Ok(Self::DirectMl),
            "cpu" => Ok(Self::Cpu),
            _ => Err(Error::InvalidArgument(format!(
                "unknown execution provider {name:?}; expected one of \"cuda\", \"rocm\", \"coreml\", \"directml\", \"cpu\""
            ))),
        }
    }

    /// The short name users pass and `.providers` reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cuda => "cuda",
            Self::Rocm => "rocm",
            Self::CoreMl => "coreml",
            Self::DirectMl => "directml",
            Self::Cpu => "cpu",
        }
    }

    fn is_available(self) -> bool {
        let available = match self {
            Self::Cuda => ep::CUDA::default().is_available(),
            Self::Rocm => ep::ROCm::default().is_available(),
            Self::CoreMl => ep::CoreML::default().is_available(),
            Self::DirectMl => ep::DirectML::default().is_available(),
            Self::Cpu => return true,
        };
        available.unwrap_or(false)
    }

    fn register(self, builder: &mut SessionBuilder) -> ort::Result<()> {
        match self {
            // TF32 (on by default in ONNX Runtime for Ampere and newer) rounds MatMul inputs to a
            // 10-bit mantissa: an LSTM's output then drifts ~1e-3 from the CPU's, more than a
            // prediction may differ between providers. Full float32 keeps CUDA and CPU in step.
            Self::Cuda => ep::CUDA::default().with_tf32(false).register(builder),
            Self::Rocm => ep::ROCm::default().register(builder),
            Self::CoreMl => ep::CoreML::default().register(builder),
            Self::DirectMl => ep::DirectML::default().register(builder),
            // CPU is ONNX Runtime's implicit fallback: nothing to register.
            Self::Cpu => Ok(()),
        }
    }
}

/// What provider negotiation settled on.
#[derive(Debug, Clone, Default)]
pub struct Negotiated {
    /// Providers registered, in order of preference; always ends with CPU.
    pub active: Vec<Provider>,
    /// One line per requested provider that was skipped, saying why.
    pub skipped: Vec<String>,
}

/// Registers `wanted` (or [`DEFAULT_PREFERENCE`]) on `builder`, skipping what the library lacks.
pub fn negotiate(builder: &mut SessionBuilder, wanted: Option<&[Provider]>) -> Negotiated {
    let explicit = wanted.is_some();
    let mut outcome = Negotiated::default();
    for &provider in wanted.unwrap_or(&DEFAULT_PREFERENCE) {
        if outcome.active.contains(&provider) {
            continue;
        }
        if !provider.is_available() {
            // Only providers the caller asked for deserve a warning; the default list probes.
            if explicit {
                outcome.skipped.push(format!(
                    "execution provider {:?} is not available in the loaded ONNX Runtime library; skipped",
                    provider.name()
                ));
            }
            continue;
        }
        match provider.register(builder) {
            Ok(()) => outcome.active.push(provider),
            Err(error) => outcome.skipped.push(format!(
                "execution provider {:?} failed to register ({error}); skipped",
                provider.name()
            )),
        }
    }
    if !outcome.active.contains(&Provider::Cpu) {
        outcome.active.push(Provider::Cpu);
    }
    outcome
}
