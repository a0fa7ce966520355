"""Configuration of the prediction layer, with upstream's field names and defaults.

``PredictionConfig`` keeps every field of the upstream bot's ``src/prediction/config.py`` so
existing configuration moves over unchanged, and adds what this package does beyond it: an
inference timeout enforced inside ONNX Runtime, session threading, execution providers and
JSON Schema overrides.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from atb_prediction._core import DEFAULT_WARMUP_MAX_BYTES

__all__ = [
    "DEFAULT_MODEL_REGISTRY_PATH",
    "REGISTRY_ENV",
    "PredictionConfig",
    "registry_path",
]

#: Where upstream keeps its registry, relative to the bot's working directory.
DEFAULT_MODEL_REGISTRY_PATH = "src/ml/models"
#: The environment variable that names the registry (upstream's config manager reads it).
REGISTRY_ENV = "MODEL_REGISTRY_PATH"

_TRUE_WORDS = frozenset({"true", "1", "yes", "on", "enabled"})
_ENSEMBLE_METHODS = frozenset({"mean", "median", "weighted"})
_INTEGRITY_MODES = frozenset({"off", "warn", "strict"})


def registry_path(given: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The registry root: ``given``, else ``$MODEL_REGISTRY_PATH``, else upstream's default.

    Empty counts as not given, as in upstream's config manager. ``environ`` defaults to
    ``os.environ``.
    """
    env = os.environ if environ is None else environ
    return given or env.get(REGISTRY_ENV) or DEFAULT_MODEL_REGISTRY_PATH


@dataclass
class PredictionConfig:
    """Settings of the registry, the runners and their prediction cache.

    Attributes:
        model_registry_path: Root of the ``{SYMBOL}/{MODEL_TYPE}/{VERSION}/`` registry.
        confidence_scale_factor: Regression confidence is ``min(1, |price| * factor)``.
        direction_threshold: Regression direction is ``+1`` above it, ``-1`` below its negative.
        prediction_cache_enabled: Cache regression predictions by model and feature bytes.
        prediction_cache_ttl: Seconds a cached prediction stays valid.
        prediction_cache_max_size: Most predictions the built-in cache holds.
        inference_timeout: Seconds an inference may run before ONNX Runtime terminates it
            (``InferenceTimeoutError``, also raised for a run that ends past the deadline before
            it could be stopped); ``None`` disables the deadline.
        intra_op_threads: ``None`` (the default, and the fastest on the models measured): each
            session runs on the caller's thread alone and ``predict_batch`` spreads a large
            batch over one such session per core. A number: every session shares ONNX
            Runtime's intra-op pool of that many threads instead (applies before the first
            session), and a batch runs whole on it.
        allow_spinning: Let idle pool threads busy-wait for work (off: they sleep); only with
            ``intra_op_threads`` set.
        warmup_max_bytes: Largest warm-up input a model may need; larger ones open unwarmed.
        providers: Execution providers in order of preference (``None``: best available).
        max_pinned_sessions: Most non-production versions ``get_bundle_by_key`` keeps open (the
            least recently used is let go; a holder still using it is not affected).
        metadata_schema_path, feature_schema_schema_path, metrics_schema_path: JSON Schema
            files replacing the ones shipped in ``atb_prediction/schemas``.
        verify_integrity: Check each model file against its bundle's ``manifest.json`` when its
            session opens: ``"off"``, ``"warn"`` (log a mismatch, serve anyway) or ``"strict"``
            (a mismatch or a missing manifest makes the bundle invalid).
    """

    prediction_horizons: list[int] = field(default_factory=lambda: [1])
    min_confidence_threshold: float = 0.6
    max_prediction_latency: float = 0.1
    live_inference_timeout: float = 5.0
    inference_timeout_escalation_threshold: int = 10
    model_registry_path: str = DEFAULT_MODEL_REGISTRY_PATH
    enable_sentiment: bool = False
    enable_market_microstructure: bool = False
    feature_cache_ttl: int = 3600
    model_cache_ttl: int = 600
    confidence_scale_factor: float = 10.0
    direction_threshold: float = 0.01
    enable_ensemble: bool = False
    ensemble_method: str = "mean"
    enable_regime_aware_confidence: bool = False
    prediction_cache_enabled: bool = True
    prediction_cache_ttl: int = 60
    prediction_cache_max_size: int = 1000
    inference_timeout: float | None = 30.0
    intra_op_threads: int | None = None
    providers: list[str] | None = None
    max_pinned_sessions: int = 32
    metadata_schema_path: str | None = None
    feature_schema_schema_path: str | None = None
    metrics_schema_path: str | None = None
    allow_spinning: bool = False
    warmup_max_bytes: int = DEFAULT_WARMUP_MAX_BYTES
    verify_integrity: str = "warn"

    @classmethod
    def from_config_manager(cls, environ: Mapping[str, str] | None = None) -> PredictionConfig:
        """Build a config from environment variables named like the fields, upper-cased.

        ``MODEL_REGISTRY_PATH``, ``CONFIDENCE_SCALE_FACTOR``, ``PREDICTION_CACHE_TTL``, ... as
        upstream reads them; numbers that do not parse fall back to the default, as upstream's
        config manager does. ``environ`` defaults to ``os.environ``.
        """
        env = os.environ if environ is None else environ
        defaults = cls()

        def text(name: str, default: str) -> str:
            return env.get(name) or default

        def optional_text(name: str, default: str | None) -> str | None:
            return env.get(name) or default

        def number(name: str, default: float) -> float:
            try:
                return float(env[name])
            except (KeyError, ValueError):
                return default

        def optional_number(name: str, default: float | None) -> float | None:
            value = env.get(name)
            if value is None:
                return default
            if value.strip().lower() in {"", "none", "off", "0"}:
                return None
            try:
                return float(value)
            except ValueError:
                return default

        def integer(name: str, default: int) -> int:
            try:
                return int(env[name])
            except (KeyError, ValueError):
                return default

        def optional_integer(name: str, default: int | None) -> int | None:
            try:
                return int(env[name])
            except (KeyError, ValueError):
                return default

        def flag(name: str, default: bool) -> bool:
            value = env.get(name)
            return default if value is None else value.strip().lower() in _TRUE_WORDS

        def words(name: str) -> list[str] | None:
            value = env.get(name)
            if value is None:
                return None
            return [item.strip() for item in value.split(",") if item.strip()]

        horizons = words("PREDICTION_HORIZONS")
        return cls(
            prediction_horizons=[int(h) for h in horizons]
            if horizons
            else list(defaults.prediction_horizons),
            min_confidence_threshold=number(
                "MIN_CONFIDENCE_THRESHOLD", defaults.min_confidence_threshold
            ),
            max_prediction_latency=number(
                "MAX_PREDICTION_LATENCY", defaults.max_prediction_latency
            ),
            live_inference_timeout=number(
                "LIVE_INFERENCE_TIMEOUT", defaults.live_inference_timeout
            ),
            inference_timeout_escalation_threshold=integer(
                "INFERENCE_TIMEOUT_ESCALATION_THRESHOLD",
                defaults.inference_timeout_escalation_threshold,
            ),
            model_registry_path=registry_path(None, env),
            enable_sentiment=flag("ENABLE_SENTIMENT", defaults.enable_sentiment),
            enable_market_microstructure=flag(
                "ENABLE_MARKET_MICROSTRUCTURE", defaults.enable_market_microstructure
            ),
            feature_cache_ttl=integer("FEATURE_CACHE_TTL", defaults.feature_cache_ttl),
            model_cache_ttl=integer("MODEL_CACHE_TTL", defaults.model_cache_ttl),
            confidence_scale_factor=number(
                "CONFIDENCE_SCALE_FACTOR", defaults.confidence_scale_factor
            ),
            direction_threshold=number("DIRECTION_THRESHOLD", defaults.direction_threshold),
            enable_ensemble=flag("ENABLE_ENSEMBLE", defaults.enable_ensemble),
            ensemble_method=text("ENSEMBLE_METHOD", defaults.ensemble_method),
            enable_regime_aware_confidence=flag(
                "ENABLE_REGIME_AWARE_CONFIDENCE", defaults.enable_regime_aware_confidence
            ),
            prediction_cache_enabled=flag(
                "PREDICTION_CACHE_ENABLED", defaults.prediction_cache_enabled
            ),
            prediction_cache_ttl=integer("PREDICTION_CACHE_TTL", defaults.prediction_cache_ttl),
            prediction_cache_max_size=integer(
                "PREDICTION_CACHE_MAX_SIZE", defaults.prediction_cache_max_size
            ),
            inference_timeout=optional_number(
                "INFERENCE_TIMEOUT_SECONDS", defaults.inference_timeout
            ),
            intra_op_threads=optional_integer("ONNX_INTRA_OP_THREADS", defaults.intra_op_threads),
            providers=words("ONNX_PROVIDERS"),
            max_pinned_sessions=integer("MAX_PINNED_SESSIONS", defaults.max_pinned_sessions),
            metadata_schema_path=optional_text("METADATA_SCHEMA_PATH", None),
            feature_schema_schema_path=optional_text("FEATURE_SCHEMA_SCHEMA_PATH", None),
            metrics_schema_path=optional_text("METRICS_SCHEMA_PATH", None),
            verify_integrity=text("VERIFY_INTEGRITY", defaults.verify_integrity),
        )

    def __str__(self) -> str:
        """The summary upstream logs."""
        return (
            f"PredictionConfig(horizons={self.prediction_horizons}, "
            f"confidence_threshold={self.min_confidence_threshold}, "
            f"max_latency={self.max_prediction_latency}s, "
            f"live_timeout={self.live_inference_timeout}s, "
            f"sentiment={self.enable_sentiment}, "
            f"microstructure={self.enable_market_microstructure}, "
            f"ensemble={self.enable_ensemble}/{self.ensemble_method}, "
            f"regime_conf={self.enable_regime_aware_confidence}, "
            f"cache_enabled={self.prediction_cache_enabled}, "
            f"cache_ttl={self.prediction_cache_ttl}, "
            f"cache_max_size={self.prediction_cache_max_size})"
        )

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field that is out of range, as upstream does."""

        def positive(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")

        if not 0.0 <= self.min_confidence_threshold <= 1.0:
            raise ValueError(
                "min_confidence_threshold must be between 0.0 and 1.0, "
                f"got {self.min_confidence_threshold!r}"
            )
        positive("max_prediction_latency")
        positive("live_inference_timeout")
        escalation = self.inference_timeout_escalation_threshold
        if isinstance(escalation, bool) or not isinstance(escalation, int) or escalation < 0:
            raise ValueError(
                "inference_timeout_escalation_threshold must be a non-negative integer "
                f"(0 disables escalation), got {escalation!r}"
            )
        positive("feature_cache_ttl")
        positive("model_cache_ttl")
        positive("confidence_scale_factor")
        if not self.direction_threshold >= 0.0:
            raise ValueError(
                f"direction_threshold must be non-negative, got {self.direction_threshold!r}"
            )
        positive("prediction_cache_ttl")
        positive("prediction_cache_max_size")
        if self.ensemble_method not in _ENSEMBLE_METHODS:
            raise ValueError(
                f"ensemble_method must be one of {sorted(_ENSEMBLE_METHODS)}, "
                f"got {self.ensemble_method!r}"
            )
        horizons = self.prediction_horizons
        if not isinstance(horizons, list) or not horizons:
            raise ValueError("prediction_horizons must be a non-empty list")
        if any(isinstance(h, bool) or not isinstance(h, int) or h <= 0 for h in horizons):
            raise ValueError("All prediction_horizons must be positive integers")
        timeout = self.inference_timeout
        if timeout is not None and (
            isinstance(timeout, bool) or not math.isfinite(timeout) or timeout <= 0
        ):
            raise ValueError(f"inference_timeout must be positive or None, got {timeout!r}")
        threads = self.intra_op_threads
        if threads is not None and (isinstance(threads, bool) or threads < 1):
            raise ValueError(f"intra_op_threads must be at least 1 or None, got {threads!r}")
        cap = self.warmup_max_bytes
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 0:
            raise ValueError(f"warmup_max_bytes must be a non-negative integer, got {cap!r}")
        if not self.model_registry_path:
            raise ValueError("model_registry_path must not be empty")
        if self.verify_integrity not in _INTEGRITY_MODES:
            raise ValueError(
                f"verify_integrity must be one of {sorted(_INTEGRITY_MODES)}, "
                f"got {self.verify_integrity!r}"
            )
