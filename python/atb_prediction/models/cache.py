"""Prediction caching with upstream's ``PredictionCacheManager`` protocol.

A cache manager is any object with upstream's methods (:class:`PredictionCache`):
``get(features, model_name, config)`` returning ``{"price", "confidence", "direction"}`` or
``None``, ``set(features, model_name, config, price, confidence, direction)``, ``clear()`` and
``invalidate_model(model_name)``, and optionally ``invalidate_config(model_name, config)``.

- ``features`` is the caller's array exactly as given to ``predict``.
- ``model_name`` is the bundle key (upstream passes ``"model.onnx"``, which every bundle shares).
- ``config`` is upstream's dict of ``confidence_scale_factor``, ``direction_threshold`` and the
  bundle's ``normalization_params``.

Classification results are never cached, as upstream. The built-in
:class:`InMemoryPredictionCache` lives in Rust: a registry's runners consult it inside the same
GIL-free call as the inference, so a cached prediction costs no Python frame. Any other manager
(a subclass of the built-in one included) is called from Python through :class:`CacheBinding`,
and a manager that raises never fails a prediction: the failure is logged (at most one warning a
minute per runner) and inference goes on.
"""

from __future__ import annotations

import json
import logging
import numbers
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from atb_prediction._core import PredictionStore, features_digest
from atb_prediction.models.prediction import ModelPrediction

if TYPE_CHECKING:  # numpy only for annotations: `atb --help` and `list` import no numpy
    import numpy.typing as npt

__all__ = [
    "CacheBinding",
    "InMemoryPredictionCache",
    "PredictionCache",
    "cache_config",
    "config_key",
    "count_removed",
    "features_digest",
]

logger = logging.getLogger("atb_prediction")

#: Seconds between two warnings about the same runner's failing cache.
WARNING_INTERVAL = 60.0


@runtime_checkable
class PredictionCache(Protocol):
    """Upstream's ``PredictionCacheManager`` protocol; implementations must be thread-safe."""

    def get(
        self, features: npt.ArrayLike, model_name: str, config: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """The cached ``{"price", "confidence", "direction"}``, or ``None``."""

    def set(
        self,
        features: npt.ArrayLike,
        model_name: str,
        config: Mapping[str, Any],
        price: float,
        confidence: float,
        direction: int,
    ) -> None:
        """Store a prediction."""

    def clear(self) -> int | None:
        """Drop everything; return how many entries were dropped."""

    def invalidate_model(self, model_name: str) -> int | None:
        """Drop one model's entries; return how many were dropped."""


def cache_config(
    confidence_scale_factor: float,
    direction_threshold: float,
    normalization_params: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The ``config`` dict upstream hands its cache manager."""
    return {
        "confidence_scale_factor": confidence_scale_factor,
        "direction_threshold": direction_threshold,
        "normalization_params": (
            dict(normalization_params) if isinstance(normalization_params, Mapping) else {}
        ),
    }


def config_key(config: Mapping[str, Any]) -> str:
    """A configuration's canonical text, as upstream's manager hashes it."""
    return json.dumps(config, sort_keys=True, default=repr)


class InMemoryPredictionCache(PredictionStore):
    """A thread-safe cache with upstream's protocol: entries expire after ``ttl`` seconds, and the
    least recently used goes first once ``max_size`` entries are held.

    Pickles as an empty cache with the same bounds (entries are not shared between processes).

    Raises:
        ValueError: ``ttl`` is not a positive number of seconds (or too large to represent), or
            ``max_size`` is not an integer >= 1.
    """

    def __init__(self, ttl: float = 60.0, max_size: int = 1000) -> None:
        # The Rust base class checked and stored both bounds in ``__new__``; this signature is
        # here so that subclasses can call ``super().__init__(ttl=..., max_size=...)``.
        super().__init__()

    def get(
        self, features: npt.ArrayLike, model_name: str, config: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The cached ``{"price", "confidence", "direction"}``, or ``None``."""
        return self.lookup(features, model_name, config_key(config))

    def set(
        self,
        features: npt.ArrayLike,
        model_name: str,
        config: Mapping[str, Any],
        price: float,
        confidence: float,
        direction: int,
    ) -> None:
        """Store a prediction."""
        self.store(features, model_name, config_key(config), price, confidence, direction)

    def invalidate_config(self, model_name: str, config: Mapping[str, Any]) -> int:
        """Drop one model's entries made under ``config``; return how many were dropped."""
        return self.invalidate_config_key(model_name, config_key(config))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.ttl, self.max_size))

    def __repr__(self) -> str:
        return f"InMemoryPredictionCache(ttl={self.ttl}, max_size={self.max_size}, len={len(self)})"


class _Throttle:
    """Lets one warning through per interval and counts the ones it held back."""

    __slots__ = ("_next", "_suppressed")

    def __init__(self) -> None:
        self._next = 0.0
        self._suppressed = 0

    def warn(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._suppressed += 1
            return
        self._next = now + WARNING_INTERVAL
        suppressed, self._suppressed = self._suppressed, 0
        if suppressed:
            message += " (%d similar failures since the last warning)"
            args = (*args, suppressed)
        logger.warning(message, *args)


class CacheBinding:
    """One runner's use of a cache manager called from Python.

    Upstream's calls with upstream's arguments; an exception or a malformed answer from the
    manager is logged (throttled) and the prediction goes on without the cache.
    """

    __slots__ = ("_config", "_manager", "_model_name", "_prediction_name", "_throttle")

    def __init__(
        self,
        manager: PredictionCache,
        model_name: str,
        config: dict[str, Any],
        prediction_name: str,
    ) -> None:
        """``model_name`` is what the manager sees; ``prediction_name`` is the ``model_name`` of
        the predictions served from it (the runner's own)."""
        self._manager = manager
        self._model_name = model_name
        self._config = config
        self._prediction_name = prediction_name
        self._throttle = _Throttle()

    def predict(
        self, predict: Callable[[Any], ModelPrediction], features: npt.ArrayLike
    ) -> ModelPrediction:
        """A cached prediction when the manager has one, else ``predict(features)``, stored."""
        started = time.perf_counter()
        try:
            hit = self._manager.get(features, self._model_name, self._config)
            if hit is not None:
                price = float(hit["price"])
                confidence = float(hit["confidence"])
                direction = int(hit["direction"])
                return ModelPrediction(
                    price,
                    confidence,
                    direction,
                    self._prediction_name,
                    time.perf_counter() - started,
                )
        except Exception as error:  # a failing cache never fails a prediction
            self._throttle.warn(
                "cache lookup failed for %s: %s: %s; running the model",
                self._model_name,
                type(error).__name__,
                error,
            )
        prediction = predict(features)
        try:
            self._manager.set(
                features,
                self._model_name,
                self._config,
                prediction.price,
                prediction.confidence,
                prediction.direction,
            )
        except Exception as error:  # a failing cache never fails a prediction
            self._throttle.warn(
                "caching the prediction failed for %s: %s: %s",
                self._model_name,
                type(error).__name__,
                error,
            )
        return prediction


def count_removed(action: Callable[[], object], what: str) -> int:
    """``action()``'s count of removed entries: 0, with a warning, when it raises, and 0 when it
    returns something that is not a count (a manager may return ``None``)."""
    try:
        count = action()
    except Exception as error:  # a failing cache never fails a reload or an invalidation
        logger.warning("%s failed: %s: %s", what, type(error).__name__, error)
        return 0
    if isinstance(count, bool) or not isinstance(count, numbers.Integral):
        return 0
    return int(count)
