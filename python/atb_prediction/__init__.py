"""atb-prediction: find, check and run the ONNX models of a trading bot's model registry.

Importing the package is cheap: ONNX Runtime is loaded on first use, and neither the
``onnxruntime`` Python module nor pandas is imported.
"""

from __future__ import annotations

from atb_prediction._core import OnnxSession, TensorInfo
from atb_prediction.models.exceptions import (
    InferenceError,
    InferenceTimeoutError,
    InvalidInputError,
    ModelLoadError,
    ModelNotAvailableError,
    PredictionError,
    RuntimeLibraryError,
    SchemaValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "InferenceError",
    "InferenceTimeoutError",
    "InvalidInputError",
    "ModelLoadError",
    "ModelNotAvailableError",
    "OnnxSession",
    "PredictionError",
    "RuntimeLibraryError",
    "SchemaValidationError",
    "TensorInfo",
    "__version__",
]
