"""The package's exception tree.

Every error atb-prediction raises derives from :class:`PredictionError`, and each also derives
from the built-in exception whose meaning matches, so ``except ValueError`` keeps working for bad
input and ``except LookupError`` for a missing model. The names of upstream's registry
exceptions (``ModelLoadError``, ``ModelNotAvailableError``) are kept so imports move by one prefix.

Promotion's own exceptions, under the same :class:`PredictionError`, live with promotion
(:mod:`atb_prediction.promotion.exceptions`).
"""

from __future__ import annotations


class PredictionError(Exception):
    """Base class of every error raised by atb-prediction."""


class RuntimeLibraryError(PredictionError, RuntimeError):
    """The ONNX Runtime shared library is missing, unloadable, or too old."""


class ModelLoadError(PredictionError):
    """A model or one of its bundle files is missing, empty, corrupt or unreadable."""


class IntegrityError(ModelLoadError):
    """A model file differs from its bundle's ``manifest.json`` (or, under
    ``verify_integrity="strict"``, the bundle has no manifest)."""


class ModelNotAvailableError(PredictionError, LookupError):
    """No model is available for the requested symbol, timeframe and model type."""


class InvalidInputError(PredictionError, ValueError):
    """Inputs do not match what the model expects (name, dtype, shape, NaN/Inf values)."""


class SchemaValidationError(PredictionError, ValueError):
    """A bundle's JSON file is malformed or fails its JSON Schema."""


class InferenceError(PredictionError, RuntimeError):
    """ONNX Runtime failed while running a model, or its output could not be interpreted."""


class InferenceTimeoutError(InferenceError, TimeoutError):
    """An inference ran past its deadline and was terminated."""


class AllocationError(PredictionError, MemoryError):
    """A buffer sized by a model's declared shapes, an input or a model's output could not be
    allocated (the message names it and its size). Nothing was run, and the process goes on."""


class InvalidArgumentError(PredictionError, ValueError):
    """A configuration value or argument is not valid (a provider name, a thread count, a
    timeout, a JSON Schema)."""


#: Upstream's engine-level names, kept as aliases for code that catches them.
ModelInferenceError = InferenceError
PredictionTimeoutError = InferenceTimeoutError
ModelNotFoundError = ModelNotAvailableError

__all__ = [
    "InferenceError",
    "InferenceTimeoutError",
    "IntegrityError",
    "InvalidArgumentError",
    "InvalidInputError",
    "ModelInferenceError",
    "ModelLoadError",
    "ModelNotAvailableError",
    "ModelNotFoundError",
    "PredictionError",
    "PredictionTimeoutError",
    "RuntimeLibraryError",
    "SchemaValidationError",
]
