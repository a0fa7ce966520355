"""``OnnxRunner``: upstream's runner API on the Rust core.

``predict`` keeps upstream's semantics (window shaping, normalisation, NaN/Inf rejection, price
denormalisation, confidence, direction, classification decoding); all of it runs in Rust inside
the same GIL-free call as the inference. Unlike upstream it never modifies the caller's array,
and raises typed errors instead of wrapping everything in ``RuntimeError``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from atb_prediction._core import ModelPrediction, OnnxSession, Predictor
from atb_prediction.config import PredictionConfig
from atb_prediction.models.cache import InMemoryPredictionCache, PredictionCache, features_digest
from atb_prediction.models.exceptions import ModelLoadError

__all__ = ["ModelPrediction", "OnnxRunner"]

#: What upstream's runner assumes for a bundle without ``metadata.json``.
_DEFAULT_METADATA: dict[str, Any] = {
    "sequence_length": 120,
    "feature_count": 5,
    "normalization_params": {},
}


def open_session(model: str | os.PathLike[str] | bytes, config: PredictionConfig) -> OnnxSession:
    """Open a warmed-up session with the config's threading and providers."""
    return OnnxSession(
        model,
        intra_op_threads=config.intra_op_threads,
        providers=config.providers,
        warmup=True,
    )


class OnnxRunner:
    """Runs one model bundle: ``predict`` for a window, ``predict_batch`` for many.

    Args:
        model_path: The ``.onnx`` file. Its bundle's ``metadata.json`` is read from the same folder.
        config: Scale factor, direction threshold, timeout, threading and providers.
        cache_manager: An optional :class:`PredictionCache` for regression predictions.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        config: PredictionConfig | None = None,
        cache_manager: PredictionCache | None = None,
    ) -> None:
        config = config or PredictionConfig()
        path = Path(model_path)
        metadata_path = path.with_name("metadata.json")
        try:
            metadata_text = (
                metadata_path.read_text(encoding="utf-8") if metadata_path.exists() else None
            )
        except (OSError, UnicodeDecodeError) as error:
            raise ModelLoadError(f"cannot read {metadata_path}: {error}") from error
        self._setup(
            session=open_session(path, config),
            model_path=str(path),
            metadata_text=metadata_text,
            config=config,
            cache=cache_manager,
            model_key=str(path.resolve()),
            model_name=path.name,
            problems=(),
        )

    @classmethod
    def from_session(
        cls,
        session: OnnxSession,
        *,
        model_path: str,
        metadata_text: str | None,
        config: PredictionConfig,
        cache: PredictionCache | None,
        model_key: str,
        model_name: str,
        problems: Sequence[str] = (),
    ) -> OnnxRunner:
        """A runner around an already opened session (what the registry uses)."""
        runner = cls.__new__(cls)
        runner._setup(
            session=session,
            model_path=model_path,
            metadata_text=metadata_text,
            config=config,
            cache=cache,
            model_key=model_key,
            model_name=model_name,
            problems=problems,
        )
        return runner

    def _setup(
        self,
        *,
        session: OnnxSession,
        model_path: str,
        metadata_text: str | None,
        config: PredictionConfig,
        cache: PredictionCache | None,
        model_key: str,
        model_name: str,
        problems: Sequence[str],
    ) -> None:
        self.model_path = model_path
        self.config = config
        self.session = session
        self.model_key = model_key
        self._metadata_text = metadata_text
        self.problems: tuple[str, ...] = tuple(problems)
        use_cache = cache is not None and config.prediction_cache_enabled
        self.cache_manager = cache if use_cache else None
        # The built-in cache itself (not a subclass, whose methods may be overridden) is used
        # from Rust; any other cache is called from Python in ``predict``.
        native_cache = (
            self.cache_manager if type(self.cache_manager) is InMemoryPredictionCache else None
        )
        try:
            self._predictor = Predictor(
                session,
                metadata_text,
                model_name=model_name,
                confidence_scale_factor=config.confidence_scale_factor,
                direction_threshold=config.direction_threshold,
                timeout=config.inference_timeout,
                cache=native_cache,
                cache_key=model_key,
            )
        except ValueError as error:
            raise ModelLoadError(f"{model_path}: {error}") from error
        self._python_cache = (
            self.cache_manager if native_cache is None and self._predictor.cacheable else None
        )
        if not self.problems and self._python_cache is None:
            # The live hot path: with nothing to check or cache in Python, ``predict`` is the Rust
            # method itself, with no Python frame in between.
            self.predict = self._predictor.predict  # type: ignore[method-assign]

    @property
    def model_metadata(self) -> dict[str, Any]:
        """The bundle's ``metadata.json`` (upstream's defaults when the bundle has none).

        The ONNX model's own ``metadata_props`` are ``self.session.metadata``.
        """
        if self._metadata_text is None:
            return dict(_DEFAULT_METADATA)
        metadata = json.loads(self._metadata_text)
        return metadata if isinstance(metadata, dict) else dict(_DEFAULT_METADATA)

    def predict(self, features: npt.ArrayLike) -> ModelPrediction:
        """One prediction from a ``[f]``, ``[seq, f]`` or ``[n, seq, f]`` window (the first one).

        Raises:
            InvalidInputError: wrong shape, NaN or infinite values after normalisation.
            ModelLoadError: the bundle's declarations disagree with its model (see ``problems``).
            InferenceTimeoutError: the run passed ``config.inference_timeout``.
            InferenceError: ONNX Runtime failed or the output cannot be interpreted.
        """
        if self.problems:
            raise ModelLoadError(f"{self.model_path} cannot predict: " + "; ".join(self.problems))
        cache = self._python_cache
        if cache is None:
            return self._predictor.predict(features)
        started = time.perf_counter()
        digest = features_digest(features)
        cached = cache.get(self.model_key, digest)
        if cached is not None:
            return cached.replace(inference_time=time.perf_counter() - started)
        prediction = self._predictor.predict(features)
        cache.set(self.model_key, digest, prediction)
        return prediction

    def predict_batch(self, features: npt.ArrayLike) -> dict[str, np.ndarray]:
        """Predictions for every window of ``[windows, seq, features]`` in one inference.

        Returns a dict of ``price``, ``confidence`` and ``direction`` arrays (one value per window),
        plus ``probabilities`` (``[windows, classes]``) for classifiers.
        """
        if self.problems:
            raise ModelLoadError(f"{self.model_path} cannot predict: " + "; ".join(self.problems))
        return self._predictor.predict_batch(features)

    def close(self) -> None:
        """Release this runner's reference to its session (upstream API; a no-op beyond that).

        Sessions are reference-counted: one still in use by another thread stays valid until it
        returns.
        """

    def __enter__(self) -> OnnxRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OnnxRunner({self.model_path!r})"
