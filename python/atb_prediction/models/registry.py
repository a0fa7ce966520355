"""``PredictionModelRegistry``: upstream's registry API on the Rust scanner and sessions.

A registry holds one *generation*: an immutable snapshot of a scan, with a warmed-up session for
the production (``latest``) bundle of each model type. ``reload_models`` builds the next
generation aside and swaps it in with one assignment, so a reader always sees a complete
generation. Sessions are reference-counted: a bundle a thread still holds from an older
generation keeps working until it lets go.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atb_prediction._core import BundleRecord, InvalidBundle, RegistryIndex
from atb_prediction.config import PredictionConfig
from atb_prediction.models.cache import InMemoryPredictionCache, PredictionCache
from atb_prediction.models.consistency import shape_problems
from atb_prediction.models.exceptions import (
    ModelLoadError,
    ModelNotAvailableError,
    PredictionError,
)
from atb_prediction.models.onnx_runner import OnnxRunner, open_session
from atb_prediction.models.scanning import scan_registry

__all__ = ["PredictionModelRegistry", "StrategyModel"]

logger = logging.getLogger("atb_prediction")

#: (symbol, timeframe, model_type): how upstream indexes production bundles.
BundleIndexKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class StrategyModel:
    """One model bundle with its runner (upstream's ``StrategyModel``, plus ``problems``)."""

    symbol: str
    timeframe: str
    model_type: str
    version_id: str
    directory: Path
    metadata: dict[str, Any]
    feature_schema: dict[str, Any] | None
    metrics: dict[str, Any] | None
    runner: OnnxRunner
    problems: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        """``SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION``."""
        return f"{self.symbol}:{self.timeframe}:{self.model_type}:{self.version_id}"


@dataclass(frozen=True, slots=True)
class _LoadFailure:
    path: str
    reason: str


class _Generation:
    """One immutable scan with its production bundles; pinned versions are added under a lock."""

    def __init__(
        self,
        index: RegistryIndex | None,
        bundles: dict[BundleIndexKey, StrategyModel],
        unavailable: dict[tuple[str, str], str],
        failures: list[_LoadFailure],
    ) -> None:
        self.index = index
        self.bundles = bundles
        self.unavailable = unavailable
        self.failures = failures
        self.records: dict[str, BundleRecord] = (
            {record.key: record for record in index.versions} if index is not None else {}
        )
        self.pinned: dict[str, StrategyModel] = {b.key: b for b in bundles.values()}
        #: Keys whose bundle failed to open, so a retry neither reopens nor re-lists them.
        self.failed_keys: set[str] = set()
        self.pin_lock = threading.Lock()

    @property
    def is_empty(self) -> bool:
        return not self.bundles


class PredictionModelRegistry:
    """Finds model bundles on disk, opens the production ones, and serves them to strategies.

    Args:
        config: Where the registry is and how runners behave; ``PredictionConfig()`` by default.
        cache_manager: A prediction cache; when ``None`` and ``config.prediction_cache_enabled``,
            a built-in in-memory cache with the config's TTL and size is used.
    """

    def __init__(
        self,
        config: PredictionConfig | None = None,
        cache_manager: PredictionCache | None = None,
    ) -> None:
        self.config = config or PredictionConfig()
        if cache_manager is None and self.config.prediction_cache_enabled:
            cache_manager = InMemoryPredictionCache(
                ttl=self.config.prediction_cache_ttl,
                max_size=self.config.prediction_cache_max_size,
            )
        self.cache_manager = cache_manager
        self._reload_lock = threading.Lock()
        self._generation = self._build(previous=None)

    # -- building generations ------------------------------------------------------------------

    def _schemas(self) -> dict[str, str | None]:
        return {
            "metadata": self.config.metadata_schema_path,
            "feature_schema": self.config.feature_schema_schema_path,
            "metrics": self.config.metrics_schema_path,
        }

    def _build(self, previous: RegistryIndex | None) -> _Generation:
        root = Path(self.config.model_registry_path)
        if not root.is_dir():
            logger.warning("model registry %s does not exist; no models are available", root)
            return _Generation(None, {}, {}, [])
        index = scan_registry(root, self._schemas(), previous=previous)
        for bundle in index.invalid:
            logger.warning("skipping %s: %s", bundle.path, bundle.reason)
        production = [record for record in index.versions if record.is_production]
        opened = self._open_all(production)
        bundles: dict[BundleIndexKey, StrategyModel] = {}
        unavailable = dict(index.unavailable)
        failures: list[_LoadFailure] = []
        for record, outcome in zip(production, opened, strict=True):
            if isinstance(outcome, StrategyModel):
                bundles[(record.symbol, record.timeframe, record.model_type)] = outcome
            else:
                logger.error("cannot open %s: %s", record.model_path, outcome)
                failures.append(_LoadFailure(record.directory, outcome))
                unavailable[(record.symbol, record.model_type)] = (
                    f"production version {record.version_id!r} failed to load: {outcome}"
                )
        return _Generation(index, bundles, unavailable, failures)

    def _open_all(self, records: Sequence[BundleRecord]) -> list[StrategyModel | str]:
        """Open sessions in parallel: opening releases the GIL, so threads overlap the work."""
        if len(records) <= 1:
            return [self._open(record) for record in records]
        workers = min(len(records), os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="atb-open") as pool:
            return list(pool.map(self._open, records))

    def _open(self, record: BundleRecord) -> StrategyModel | str:
        """A bundle with an open session, or the reason it could not be opened."""
        try:
            session = open_session(record.model_path, self.config)
            problems = shape_problems(session.inputs, record.metadata, record.feature_schema)
            runner = OnnxRunner.from_session(
                session,
                model_path=record.model_path,
                metadata_text=record.metadata_text,
                config=self.config,
                cache=self.cache_manager,
                model_key=record.key,
                model_name=record.key,
                problems=problems,
            )
        except PredictionError as error:
            return str(error)
        for problem in problems:
            logger.warning("%s: %s", record.key, problem)
        metadata = {
            "symbol": record.symbol,
            "model_type": record.model_type,
            "version_id": record.version_id,
            **record.metadata,
        }
        return StrategyModel(
            symbol=record.symbol,
            timeframe=record.timeframe,
            model_type=record.model_type,
            version_id=record.version_id,
            directory=Path(record.directory),
            metadata=metadata,
            feature_schema=record.feature_schema,
            metrics=record.metrics,
            runner=runner,
            problems=tuple(problems),
        )

    # -- upstream's API ------------------------------------------------------------------------

    def list_bundles(self) -> list[StrategyModel]:
        """One bundle per (symbol, timeframe, model type): the production one, sorted."""
        generation = self._generation
        return [generation.bundles[key] for key in sorted(generation.bundles)]

    def select_bundle(
        self, *, symbol: str, model_type: str, timeframe: str, stage: str | None = None
    ) -> StrategyModel:
        """The production bundle of ``symbol``/``timeframe``/``model_type``.

        ``stage``, when given, must equal the bundle's ``metadata["stage"]`` (bundles without one
        count as ``"production"``).

        Raises:
            ModelNotAvailableError: no such bundle, or its production version is broken (the
                message says why).
        """
        generation = self._generation
        bundle = generation.bundles.get((symbol, timeframe, model_type))
        if bundle is None:
            reason = generation.unavailable.get((symbol, model_type))
            detail = f": {reason}" if reason else ""
            raise ModelNotAvailableError(
                f"No model bundle for {symbol} {timeframe} {model_type}{detail}."
            )
        if stage is not None:
            actual = bundle.metadata.get("stage", "production")
            if actual != stage:
                raise ModelNotAvailableError(
                    f"The {symbol} {timeframe} {model_type} bundle {bundle.version_id} is at "
                    f"stage {actual!r}, not {stage!r}."
                )
        return bundle

    def get_bundle_by_key(self, key: str) -> StrategyModel | None:
        """Any version by ``SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION``, opened on first use and kept.

        Returns ``None`` for an unknown key, or one whose bundle is invalid or fails to open
        (the reason is logged and listed by :meth:`invalid_bundles`).
        """
        generation = self._generation
        bundle = generation.pinned.get(key)
        if bundle is not None:
            return bundle
        record = generation.records.get(key)
        if record is None or key in generation.failed_keys:
            return None
        with generation.pin_lock:
            bundle = generation.pinned.get(key)
            if bundle is not None:
                return bundle
            outcome = self._open(record)
            if isinstance(outcome, str):
                logger.error("cannot open %s: %s", record.model_path, outcome)
                generation.failures.append(_LoadFailure(record.directory, outcome))
                generation.failed_keys.add(key)
                return None
            generation.pinned[key] = outcome
            return outcome

    def select_many(
        self, requirements: Iterable[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], StrategyModel]:
        """Select several ``(symbol, model_type, timeframe)`` bundles at once.

        Raises:
            ModelLoadError: naming every requirement that is not available.
        """
        selected: dict[tuple[str, str, str], StrategyModel] = {}
        errors: list[str] = []
        for symbol, model_type, timeframe in requirements:
            try:
                selected[(symbol, model_type, timeframe)] = self.select_bundle(
                    symbol=symbol, model_type=model_type, timeframe=timeframe
                )
            except ModelNotAvailableError as error:
                errors.append(f"{symbol}/{model_type}/{timeframe}: {error}")
        if errors:
            raise ModelLoadError("; ".join(errors))
        return selected

    def get_default_bundle(self) -> StrategyModel:
        """The first bundle of :meth:`list_bundles` (sorted, so the same on every machine)."""
        bundles = self.list_bundles()
        if not bundles:
            raise ModelNotAvailableError("No strategy models available")
        return bundles[0]

    def get_default_runner(self) -> OnnxRunner:
        """The runner of :meth:`get_default_bundle`."""
        return self.get_default_bundle().runner

    def iter_runners(self) -> list[OnnxRunner]:
        """The runners of every production bundle."""
        return [bundle.runner for bundle in self.list_bundles()]

    def reload_models(self) -> None:
        """Rescan and swap in a new generation atomically.

        Unchanged version folders are not read again. When the new scan finds no bundle but the
        current generation has some, the current one is kept (a registry being rewritten or an
        unmounted disk must not take every model away). After a swap the prediction cache is
        cleared and the old generation is released.
        """
        with self._reload_lock:
            current = self._generation
            candidate = self._build(previous=current.index)
            if candidate.is_empty and not current.is_empty:
                logger.warning(
                    "reload_models produced 0 bundles (had %d); keeping the current ones",
                    len(current.bundles),
                )
                return
            self._generation = candidate
        cleared = self.cache_manager.clear() if self.cache_manager is not None else 0
        logger.info(
            "reloaded %d bundles; cleared %d cached predictions", len(candidate.bundles), cleared
        )

    def invalidate_cache(self, model_name: str | None = None) -> int:
        """Drop cached predictions: all of them, or one model's (by bundle key or alias).

        ``model_name`` may be a bundle key, ``SYMBOL:TIMEFRAME:TYPE``, a version id, or a model
        path. Returns how many entries were dropped.
        """
        cache = self.cache_manager
        if cache is None:
            return 0
        if model_name is None:
            return cache.clear()
        dropped = 0
        for bundle in self._generation.pinned.values():
            aliases = {
                bundle.key,
                f"{bundle.symbol}:{bundle.timeframe}:{bundle.model_type}",
                bundle.version_id,
                bundle.runner.model_path,
            }
            if model_name in aliases:
                dropped += cache.invalidate_model(bundle.key)
        return dropped

    def invalid_bundles(self) -> list[InvalidBundle | _LoadFailure]:
        """Every bundle the scan skipped or that failed to open, with ``path`` and ``reason``."""
        generation = self._generation
        scanned: list[InvalidBundle | _LoadFailure] = (
            list(generation.index.invalid) if generation.index is not None else []
        )
        return scanned + list(generation.failures)

    @property
    def index(self) -> RegistryIndex | None:
        """The scan behind the current generation (``None`` when the root does not exist)."""
        return self._generation.index

    def unavailable(self) -> Mapping[tuple[str, str], str]:
        """``(symbol, model_type) -> reason`` for model types without a usable production bundle."""
        return dict(self._generation.unavailable)
