"""Prediction caching: the protocol a cache implements and the built-in in-memory one.

Keys are a model key (the bundle key, so two bundles that both name their file ``model.onnx``
never share entries, unlike upstream) and a digest of the feature bytes, shape and dtype.
Classification results are never cached, as upstream.

The built-in :class:`InMemoryPredictionCache` lives in Rust: a registry's runners consult it
inside the same GIL-free call as the inference, so a cached prediction costs no Python frame.
Any other object with ``get``, ``set``, ``clear`` and ``invalidate_model`` (a subclass of the
built-in one included) is called from Python instead.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from atb_prediction._core import ModelPrediction, PredictionStore, features_digest

__all__ = ["InMemoryPredictionCache", "PredictionCache", "features_digest"]


@runtime_checkable
class PredictionCache(Protocol):
    """What a prediction cache provides; implementations must be thread-safe."""

    def get(self, model_key: str, digest: bytes) -> ModelPrediction | None:
        """The cached prediction, or ``None`` when absent or expired."""

    def set(self, model_key: str, digest: bytes, prediction: ModelPrediction) -> None:
        """Store a prediction."""

    def clear(self) -> int:
        """Drop everything; return how many entries were dropped."""

    def invalidate_model(self, model_key: str) -> int:
        """Drop one model's entries; return how many were dropped."""


class InMemoryPredictionCache(PredictionStore):
    """A thread-safe cache: entries expire after ``ttl`` seconds, and the least recently used
    goes first once ``max_size`` entries are held.

    Raises:
        ValueError: ``ttl`` is not a positive number, or ``max_size`` is not an integer >= 1.
    """

    def __init__(self, ttl: float = 60.0, max_size: int = 1000) -> None:
        # The Rust base class checked and stored both bounds in ``__new__``; this signature is
        # here so that subclasses can call ``super().__init__(ttl=..., max_size=...)``.
        super().__init__()

    def __repr__(self) -> str:
        return f"InMemoryPredictionCache(ttl={self.ttl}, max_size={self.max_size}, len={len(self)})"
