"""atb-prediction: find, check and run the ONNX models of a trading bot's model registry.

Importing the package is cheap: ONNX Runtime is loaded on first use, and neither the
``onnxruntime`` Python module nor pandas is imported.
"""

from __future__ import annotations

import logging

from atb_prediction._core import (
    BundleRecord,
    InvalidBundle,
    OnnxSession,
    RegistryIndex,
    TensorInfo,
    configure_thread_pools,
)
from atb_prediction.backtest import SweepResult, sweep, sweep_many
from atb_prediction.config import PredictionConfig
from atb_prediction.models.cache import InMemoryPredictionCache, PredictionCache
from atb_prediction.models.exceptions import (
    InferenceError,
    InferenceTimeoutError,
    InvalidArgumentError,
    InvalidInputError,
    ModelLoadError,
    ModelNotAvailableError,
    PredictionError,
    RuntimeLibraryError,
    SchemaValidationError,
)
from atb_prediction.models.onnx_runner import OnnxRunner
from atb_prediction.models.prediction import ModelPrediction
from atb_prediction.models.registry import PredictionModelRegistry, ReloadSummary, StrategyModel
from atb_prediction.models.scanning import scan_registry

__version__ = "0.1.0"

# A library logs, the application decides what is shown: without this, Python's last-resort
# handler would print the package's warnings to stderr.
logging.getLogger("atb_prediction").addHandler(logging.NullHandler())

__all__ = [
    "BundleRecord",
    "InMemoryPredictionCache",
    "InferenceError",
    "InferenceTimeoutError",
    "InvalidArgumentError",
    "InvalidBundle",
    "InvalidInputError",
    "ModelLoadError",
    "ModelNotAvailableError",
    "ModelPrediction",
    "OnnxRunner",
    "OnnxSession",
    "PredictionCache",
    "PredictionConfig",
    "PredictionError",
    "PredictionModelRegistry",
    "RegistryIndex",
    "ReloadSummary",
    "RuntimeLibraryError",
    "SchemaValidationError",
    "StrategyModel",
    "SweepResult",
    "TensorInfo",
    "__version__",
    "configure_thread_pools",
    "scan_registry",
    "sweep",
    "sweep_many",
]
