"""Prediction caching: the protocol a cache implements and a built-in in-memory one.

Keys are a model key (the bundle key, so two bundles that both name their file ``model.onnx``
never share entries, unlike upstream) and a digest of the feature bytes, shape and dtype.
Classification results are never cached, as upstream.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import Protocol, runtime_checkable

import numpy as np

from atb_prediction._core import ModelPrediction

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


def features_digest(features: object) -> bytes:
    """A digest of the features' bytes, shape and dtype (so a reshaped array is another key)."""
    array = np.ascontiguousarray(features)
    hasher = hashlib.blake2b(digest_size=16)
    hasher.update(str(array.dtype).encode())
    hasher.update(repr(array.shape).encode())
    hasher.update(array.data.cast("B"))
    return hasher.digest()


class InMemoryPredictionCache:
    """A thread-safe, TTL-bounded, size-bounded (least recently used first out) cache."""

    def __init__(self, ttl: float = 60.0, max_size: int = 1000) -> None:
        if not ttl > 0:
            raise ValueError(f"ttl must be positive, got {ttl!r}")
        if isinstance(max_size, bool) or max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size!r}")
        self.ttl = float(ttl)
        self.max_size = int(max_size)
        self._entries: OrderedDict[tuple[str, bytes], tuple[float, ModelPrediction]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model_key: str, digest: bytes) -> ModelPrediction | None:
        key = (model_key, digest)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, prediction = entry
            if expires <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return prediction

    def set(self, model_key: str, digest: bytes, prediction: ModelPrediction) -> None:
        key = (model_key, digest)
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl, prediction)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count

    def invalidate_model(self, model_key: str) -> int:
        with self._lock:
            doomed = [key for key in self._entries if key[0] == model_key]
            for key in doomed:
                del self._entries[key]
            return len(doomed)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
