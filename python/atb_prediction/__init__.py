"""atb-prediction: find, check and run the ONNX models of a trading bot's model registry.

Importing the package is cheap: ONNX Runtime is loaded on first use, numpy is imported with the
first name that needs it, and neither the ``onnxruntime`` Python module nor pandas is imported.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import logging
import sys
from typing import TYPE_CHECKING, Any, cast

from atb_prediction._core import (
    BarStream,
    BundleRecord,
    InvalidBundle,
    OnnxSession,
    RegistryIndex,
    TensorInfo,
    configure_thread_pools,
)
from atb_prediction.config import PredictionConfig
from atb_prediction.models.cache import InMemoryPredictionCache, PredictionCache
from atb_prediction.models.exceptions import (
    AllocationError,
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
from atb_prediction.models.prediction import ModelPrediction
from atb_prediction.models.scanning import scan_registry

if TYPE_CHECKING:
    from importlib.abc import Loader

    from atb_prediction.backtest import SweepResult, sweep, sweep_many
    from atb_prediction.models.onnx_runner import OnnxRunner
    from atb_prediction.models.registry import (
        PredictionModelRegistry,
        ReloadSummary,
        StrategyModel,
    )

    __version__: str

#: Names imported on first use: they pull in numpy, which `atb --help`, `atb models list` and
#: the other commands that handle no arrays should not pay for.
_LAZY = {
    "SweepResult": "atb_prediction.backtest",
    "sweep": "atb_prediction.backtest",
    "sweep_many": "atb_prediction.backtest",
    "OnnxRunner": "atb_prediction.models.onnx_runner",
    "PredictionModelRegistry": "atb_prediction.models.registry",
    "ReloadSummary": "atb_prediction.models.registry",
    "StrategyModel": "atb_prediction.models.registry",
}


def __getattr__(name: str) -> Any:
    """Import a name of :data:`_LAZY` on first access (PEP 562); ``__version__`` is the
    installed distribution's (one home: ``pyproject.toml``), looked up on first access because
    ``importlib.metadata`` costs more to import than the rest of the package."""
    if name == "__version__":
        from importlib.metadata import version

        value: Any = version("atb-prediction")
    else:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


#: Upstream's paths of modules that live elsewhere here. ``version_resolver`` reads the promotion
#: journal, so it lives in ``promotion``, which imports ``models``; a module in ``models`` that
#: imported it back would make the packages import each other.
_UPSTREAM_PATHS = {
    "atb_prediction.models.version_resolver": "atb_prediction.promotion.version_resolver",
}


class _UpstreamPaths:
    """Serves each path of :data:`_UPSTREAM_PATHS` with the module that lives elsewhere (the
    same module object, so a name patched through either path is patched for both)."""

    @classmethod
    def find_spec(cls, name: str, path: object = None, target: object = None) -> Any:
        if name not in _UPSTREAM_PATHS:
            return None
        # A loader by its methods: subclassing importlib.abc.Loader would import importlib.abc,
        # which costs more than the rest of the package.
        return importlib.machinery.ModuleSpec(name, cast("Loader", cls()))

    def create_module(self, spec: Any) -> Any:
        module = importlib.import_module(_UPSTREAM_PATHS[spec.name])
        self._spec = module.__spec__
        return module

    def exec_module(self, module: Any) -> None:
        # The import system stamped the upstream path's spec on the module: give it back its own.
        module.__spec__ = self._spec


sys.meta_path.append(_UpstreamPaths)

# A library logs, the application decides what is shown: without this, Python's last-resort
# handler would print the package's warnings to stderr.
logging.getLogger("atb_prediction").addHandler(logging.NullHandler())

__all__ = [
    "AllocationError",
    "BarStream",
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
