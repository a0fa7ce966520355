"""``OnnxRunner``: upstream's runner API on the Rust core.

``predict`` keeps upstream's semantics (window shaping, normalisation, NaN/Inf rejection, price
denormalisation, confidence, direction, classification decoding); all of it runs in Rust inside
the same GIL-free call as the inference. Unlike upstream it never modifies the caller's array,
and raises typed errors instead of wrapping everything in ``RuntimeError``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from atb_prediction._core import (
    BarStream,
    BundleOptions,
    LoadedBundle,
    OnnxSession,
    Predictor,
    RegistryIndex,
    configure_thread_pools,
    open_version,
    registry_root,
)
from atb_prediction.config import PredictionConfig
from atb_prediction.models.bars import bar_window
from atb_prediction.models.cache import (
    CacheBinding,
    InMemoryPredictionCache,
    PredictionCache,
    cache_config,
    config_key,
)
from atb_prediction.models.exceptions import (
    ModelLoadError,
    ModelNotAvailableError,
)
from atb_prediction.models.prediction import ModelPrediction

__all__ = ["ModelPrediction", "OnnxRunner", "bundle_options"]

#: What upstream's runner assumes for a bundle without ``metadata.json``.
_DEFAULT_METADATA: dict[str, Any] = {
    "sequence_length": 120,
    "feature_count": 5,
    "normalization_params": {},
}


def bundle_options(config: PredictionConfig) -> BundleOptions:
    """How bundles open under ``config``: threading, providers and the regression settings.

    By default (``config.intra_op_threads`` unset) each session runs on the caller's thread
    alone: one window of a small recurrent model is fastest there (no pool thread to wake per
    operator), an idle session holds no thread, and ``predict_batch`` spreads a large batch over
    one such session per core, as a sweep does. With ``config.intra_op_threads`` set, sessions
    share the process's thread pools of that size instead (sized before the first session
    opens), and a batch runs whole on them. The warm-up is capped by ``config.warmup_max_bytes``
    and bounded by ``config.inference_timeout``.
    """
    configure_thread_pools(
        intra_op_threads=config.intra_op_threads, allow_spinning=config.allow_spinning
    )
    return BundleOptions(
        intra_op_threads=1 if config.intra_op_threads is None else None,
        providers=config.providers,
        confidence_scale_factor=config.confidence_scale_factor,
        direction_threshold=config.direction_threshold,
        warmup_max_bytes=config.warmup_max_bytes,
        warmup_timeout=config.inference_timeout,
        verify_integrity=config.verify_integrity,
        registry_root=config.model_registry_path,
    )


class OnnxRunner:
    """Runs one model bundle: ``predict`` for a window, ``predict_batch`` for many.

    Args:
        model_path: The ``.onnx`` file. Its bundle's ``metadata.json`` is read from the same folder.
        config: Scale factor, direction threshold, timeout, threading and providers.
        cache_manager: An optional cache manager with upstream's protocol
            (:class:`PredictionCache`), used for regression predictions when
            ``config.prediction_cache_enabled``.

    A runner pickles by reference to its model file (the bytes are not embedded): unpickled, in
    a ``ProcessPoolExecutor`` worker say, it opens the file again (a registry bundle through a
    scan of its registry, once per process and registry).
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        config: PredictionConfig | None = None,
        cache_manager: PredictionCache | None = None,
    ) -> None:
        config = config or PredictionConfig()
        path = Path(model_path)
        self._setup(
            bundle=LoadedBundle.open_model_file(path, bundle_options(config)),
            config=config,
            cache=cache_manager,
            model_key=str(path.resolve()),
            model_name=path.name,
        )

    @classmethod
    def from_bundle(
        cls,
        bundle: LoadedBundle,
        *,
        config: PredictionConfig,
        cache: PredictionCache | None,
    ) -> OnnxRunner:
        """A runner on a bundle the registry opened; predictions are named by the bundle key."""
        runner = cls.__new__(cls)
        runner._setup(
            bundle=bundle, config=config, cache=cache, model_key=bundle.key, model_name=bundle.key
        )
        return runner

    def _setup(
        self,
        *,
        bundle: LoadedBundle,
        config: PredictionConfig,
        cache: PredictionCache | None,
        model_key: str,
        model_name: str,
    ) -> None:
        self.bundle = bundle
        self.model_path = bundle.model_path
        self.config = config
        self.model_key = model_key
        self.problems: tuple[str, ...] = bundle.problems
        self._model_name = model_name
        use_cache = cache is not None and config.prediction_cache_enabled
        self.cache_manager = cache if use_cache else None
        #: The ``config`` dict upstream hands the cache manager.
        self.cache_config = cache_config(
            config.confidence_scale_factor,
            config.direction_threshold,
            (bundle.metadata or {}).get("normalization_params") if use_cache else None,
        )
        # The built-in cache itself (not a subclass, whose methods may be overridden) is used
        # from Rust; any other cache is called from Python in ``predict``.
        native_cache = (
            self.cache_manager if type(self.cache_manager) is InMemoryPredictionCache else None
        )
        self._predictor = Predictor(
            bundle,
            model_name=model_name,
            timeout=config.inference_timeout,
            cache=native_cache,
            cache_key=model_key,
            cache_config=config_key(self.cache_config) if native_cache is not None else "",
        )
        self._python_cache = (
            CacheBinding(self.cache_manager, model_key, self.cache_config, model_name)
            if self.cache_manager is not None and native_cache is None and bundle.cacheable
            else None
        )
        if not self.problems and self._python_cache is None:
            # The live hot path: with nothing to check or cache in Python, ``predict`` is the Rust
            # method itself, bound on the instance, so a call has no Python frame in between.
            # ``predict`` below stays the documented behaviour and the path with problems or a
            # Python cache.
            self.predict = self._predictor.predict  # type: ignore[method-assign]
            self.predict_bars = self._predictor.predict_bars  # type: ignore[method-assign]

    def __reduce__(self) -> tuple[Any, ...]:
        # By reference to the model file: the worker that unpickles this opens it again.
        bundle = self.bundle
        # A bundle opened from a model file outside a registry has no version (nor a key).
        root = registry_root(bundle.directory) if bundle.version_id else None
        return (
            _reopen_runner,
            (
                self.model_path,
                None if root is None else str(root),
                bundle.key if root is not None else None,
                self.config,
                self.cache_manager,
                self.model_key,
                self._model_name,
            ),
        )

    @property
    def session(self) -> OnnxSession:
        """The bundle's open session (made into a Python object on first access only)."""
        return self.bundle.session

    @property
    def model_metadata(self) -> dict[str, Any]:
        """The bundle's ``metadata.json`` (upstream's defaults when the bundle has none).

        The ONNX model's own ``metadata_props`` are ``self.session.metadata``.
        """
        metadata = self.bundle.metadata
        return metadata if isinstance(metadata, dict) else dict(_DEFAULT_METADATA)

    @model_metadata.setter
    def model_metadata(self, value: object) -> None:
        # Upstream's runner reads its attribute on every call, so its tests assign to it; here
        # the metadata became the core's prediction rules when the bundle opened, and a new
        # dict would change nothing a prediction uses: refuse rather than pretend.
        raise AttributeError(
            "OnnxRunner.model_metadata is read-only: a bundle's metadata.json is read once, when "
            "it opens, into the rules every prediction follows, so assigning a dict would change "
            "nothing; write metadata.json and reload the registry (or open a new OnnxRunner)"
        )

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
        return cache.predict(self._predictor.predict, features)

    def predict_bars(self, bars: object) -> ModelPrediction:
        """One prediction from raw OHLCV bars, as upstream's live engine makes it.

        ``bars`` is a pandas DataFrame, a mapping of 1-D arrays, or a numpy structured array
        with ``open``, ``high``, ``low``, ``close`` and ``volume`` columns, oldest bar first.
        The features of the last window are computed from the bars (upstream's rolling min-max
        of ``PriceOnlyFeatureExtractor``), the model runs, and for a ``rolling_minmax`` bundle
        the price is mapped back to price units with the min and max of the last ``window``
        closes; confidence and direction are the model output's, as upstream's engine leaves
        them. Only the last ``sequence_length + window - 1`` bars are read, so the cost does not
        grow with the history passed. The cache and timeout rules are ``predict``'s; a cache
        manager sees those bars (``[rows, 5]`` float64) as its ``features``.

        Raises:
            InvalidInputError: the bundle cannot take raw bars (the message names the
                ``feature_names`` it needs), ``bars`` lack a column, are fewer than
                ``sequence_length``, or give NaN or infinite features or prices.
            ModelLoadError: the bundle's declarations disagree with its model.
            InferenceTimeoutError: the run passed ``config.inference_timeout``.
            InferenceError: ONNX Runtime failed, or the output is NaN or infinite.
        """
        if self.problems:
            raise ModelLoadError(f"{self.model_path} cannot predict: " + "; ".join(self.problems))
        cache = self._python_cache
        if cache is None:
            return self._predictor.predict_bars(bars)
        window = bar_window(bars, self._predictor.bars_needed)
        return cache.predict(self._predictor.predict_bar_window, window)

    def stream(self, history: object = None) -> BarStream:
        """A live stream of bars, one at a time: ``push(bar)`` returns the prediction that
        :meth:`predict_bars` gives on every bar so far (``history``'s, then each pushed), or
        ``None`` while fewer than ``sequence_length`` bars were given.

        ``history`` is what :meth:`predict_bars` takes (only its last ``bars_needed`` bars are
        read), or ``None``. A bar is a mapping with ``open``, ``high``, ``low``, ``close`` and
        ``volume`` keys (in any case), or a sequence of those five values in that order (six
        with the bar's time first). Each push updates the rolling minima and maxima and the
        window in O(1), then runs the model: one model run per bar. Predictions are not cached
        (every bar is new). A stream is used from one thread at a time; pushes from two threads
        wait for each other.

        Raises:
            InvalidInputError: the bundle cannot take raw bars, or ``history`` cannot be read
                (as :meth:`predict_bars`).
            ModelLoadError: the bundle's declarations disagree with its model.
        """
        if self.problems:
            raise ModelLoadError(f"{self.model_path} cannot predict: " + "; ".join(self.problems))
        return self._predictor.stream(history)

    def predict_batch(self, features: npt.ArrayLike) -> dict[str, np.ndarray]:
        """Predictions for every window of ``[windows, seq, features]`` in one inference.

        Returns a dict of ``price``, ``confidence`` and ``direction`` arrays (one value per window),
        plus ``probabilities`` (``[windows, classes]``) for classifiers.
        """
        if self.problems:
            raise ModelLoadError(f"{self.model_path} cannot predict: " + "; ".join(self.problems))
        return self._predictor.predict_batch(features)

    def close(self) -> None:
        """Does nothing; kept for upstream's API.

        The session is shared and reference-counted (with the registry, other runners and any
        thread still predicting), so it closes when the last holder lets go of it, not here.
        """

    def __enter__(self) -> OnnxRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OnnxRunner({self.model_path!r})"


def _reopen_runner(
    model_path: str,
    registry_root: str | None,
    bundle_key: str | None,
    config: PredictionConfig,
    cache: PredictionCache | None,
    model_key: str,
    model_name: str,
) -> OnnxRunner:
    """An unpickled runner: the same bundle, its model file opened again."""
    options = bundle_options(config)
    if registry_root is None or bundle_key is None:
        bundle = LoadedBundle.open_model_file(model_path, options)
    else:
        opened = open_version(_registry_index(registry_root, config), bundle_key, options)
        if opened is None:
            raise ModelNotAvailableError(f"{bundle_key} is no longer in {registry_root}")
        bundle = opened
    runner = OnnxRunner.__new__(OnnxRunner)
    runner._setup(
        bundle=bundle, config=config, cache=cache, model_key=model_key, model_name=model_name
    )
    return runner


#: Registry scans made to unpickle runners, by root and config: a worker scans each registry once.
_INDEXES: dict[tuple[str, str], RegistryIndex] = {}


def _registry_index(root: str, config: PredictionConfig) -> RegistryIndex:
    from atb_prediction.models.scanning import registry_schemas, scan_registry

    cache_key = (root, repr(config))
    index = _INDEXES.get(cache_key)
    if index is None:
        index = _INDEXES[cache_key] = scan_registry(root, registry_schemas(config))
    return index
