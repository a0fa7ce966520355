"""``PredictionModelRegistry``: upstream's registry API on the Rust scanner and bundles.

A registry holds one *generation*: an immutable snapshot of a scan, with an open bundle (a Rust
``LoadedBundle``: session, prediction spec, problems) for the production (``latest``) version of
each model type. ``reload_models`` rescans, keeps every bundle whose files did not change, opens
only new and changed ones aside from the live generation, and swaps the next generation in with
one assignment, so a reader always sees a complete generation. ``watch`` does the same on a timer.
Sessions are reference-counted: a bundle a thread still holds from an older generation keeps
working until it lets go.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from atb_prediction._core import (
    InvalidBundle,
    LoadedBundle,
    Refresh,
    RegistryIndex,
    format_key,
    open_version,
    refresh_bundles,
)
from atb_prediction.config import PredictionConfig
from atb_prediction.models.cache import InMemoryPredictionCache, PredictionCache, count_removed
from atb_prediction.models.exceptions import (
    ModelLoadError,
    ModelNotAvailableError,
    PredictionError,
)
from atb_prediction.models.onnx_runner import OnnxRunner, bundle_options
from atb_prediction.models.scanning import registry_schemas, scan_registry

__all__ = ["PredictionModelRegistry", "ReloadSummary", "StrategyModel"]

logger = logging.getLogger("atb_prediction")

#: (symbol, timeframe, model_type): how upstream indexes production bundles, in the order of a
#: key's parts, which the package follows everywhere but in upstream's own signatures.
BundleIndexKey = tuple[str, str, str]


def _invalidate(cache: PredictionCache, key: str) -> int:
    """Drops one bundle's entries from ``cache``; how many (0 when it does not say)."""
    return count_removed(
        functools.partial(cache.invalidate_model, key),
        f"invalidating {key} in the prediction cache",
    )


class StrategyModel:
    """One model bundle with its runner: upstream's ``StrategyModel``, plus ``problems``.

    Built as upstream builds it, with every field by keyword and any runner (an
    :class:`OnnxRunner`, an upstream-style runner, or a stand-in with a ``predict`` method). The
    fields are plain attributes that read and write as upstream's do; ``metadata``,
    ``feature_schema`` and ``metrics`` are ``{}`` when given empty or ``None``.

    A bundle the registry opened (:meth:`from_runner`) takes its fields from the runner's
    :class:`LoadedBundle`, and converts each JSON view from the scan's one parse of its file on
    first read (then it is a plain attribute like the others).
    """

    def __init__(
        self,
        *,
        symbol: str,
        timeframe: str,
        model_type: str,
        version_id: str,
        directory: Path,
        metadata: dict[str, Any] | None,
        feature_schema: dict[str, Any] | None,
        metrics: dict[str, Any] | None,
        runner: OnnxRunner,
    ) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.model_type = model_type
        self.version_id = version_id
        self.directory = directory
        self.metadata = metadata or {}
        self.feature_schema = feature_schema or {}
        self.metrics = metrics or {}
        self.runner = runner
        self._opened: LoadedBundle | None = None

    @classmethod
    def from_runner(cls, runner: OnnxRunner) -> StrategyModel:
        """The bundle ``runner`` predicts with, described by the runner's own bundle."""
        bundle = runner.bundle
        model = cls.__new__(cls)
        model.symbol = bundle.symbol
        model.timeframe = bundle.timeframe
        model.model_type = bundle.model_type
        model.version_id = bundle.version_id
        model.directory = bundle.directory
        model.runner = runner
        model._opened = bundle
        return model

    # Reached only while the attribute is unset, which only ``from_runner`` leaves it.
    @functools.cached_property
    def metadata(self) -> dict[str, Any]:
        """``metadata.json``; from the registry, with ``symbol``, ``model_type`` and
        ``version_id`` from the path where the file does not say (upstream's merge)."""
        bundle = self._bundle()
        return {
            "symbol": bundle.symbol,
            "model_type": bundle.model_type,
            "version_id": bundle.version_id,
            **(bundle.metadata or {}),
        }

    @functools.cached_property
    def feature_schema(self) -> dict[str, Any]:
        """``feature_schema.json``, or ``{}`` when the bundle has none (upstream's default)."""
        return self._bundle().feature_schema or {}

    @functools.cached_property
    def metrics(self) -> dict[str, Any]:
        """``metrics.json``, or ``{}`` when the bundle has none (upstream's default)."""
        return self._bundle().metrics or {}

    def _bundle(self) -> LoadedBundle:
        if self._opened is None:
            raise AttributeError(f"{self!r} was built without its JSON documents")
        return self._opened

    @property
    def problems(self) -> tuple[str, ...]:
        """Disagreements between the model and the bundle's declarations (empty when fine, and
        for a runner other than :class:`OnnxRunner`)."""
        return self.runner.problems if isinstance(self.runner, OnnxRunner) else ()

    @property
    def key(self) -> str:
        """``SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION``, from the fields as they are now."""
        return format_key(self.symbol, self.timeframe, self.model_type, self.version_id)

    def __getstate__(self) -> dict[str, Any]:
        # The open bundle stays behind (the runner pickles by reference to its file); the JSON
        # views travel as values.
        return {
            **self.__dict__,
            "metadata": self.metadata,
            "feature_schema": self.feature_schema,
            "metrics": self.metrics,
            "_opened": None,
        }

    def __repr__(self) -> str:
        return f"StrategyModel({self.key!r})"


def _opened_bundles(models: Iterable[StrategyModel]) -> list[LoadedBundle]:
    """The open bundles behind ``models``, which this registry built (so each has one)."""
    return [model._opened for model in models if model._opened is not None]


@dataclass(frozen=True, slots=True)
class ReloadSummary:
    """What one reload changed, by bundle key.

    Attributes:
        added: Served by a model type that served nothing before.
        changed: Served in place of another version, or of the same version whose files changed.
        removed: Served before by a model type that left the registry.
        kept: Still served by the same open bundle (no session reopened).
        failed: ``(path, reason)`` of production versions that could not be opened; their model
            type keeps serving its previous bundle when it had one.
        opened: How many sessions this reload opened.
    """

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    opened: int = 0

    @property
    def has_changes(self) -> bool:
        """Whether anything served is different after the reload."""
        return bool(self.added or self.changed or self.removed)

    def __str__(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{len(self.kept)} kept, {len(self.failed)} failed"
        )


@dataclass(frozen=True, slots=True)
class _LoadFailure:
    path: str
    reason: str


class _PinnedBundles:
    """Non-production versions opened by key: least recently used first, at most ``limit``.

    Letting one go drops only this registry's reference: a holder still using its bundle keeps
    it alive (sessions are reference-counted), so eviction never breaks a caller.
    """

    def __init__(self, limit: int) -> None:
        self._limit = max(0, limit)
        self._models: OrderedDict[str, StrategyModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> StrategyModel | None:
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
            return model

    def add(self, model: StrategyModel) -> None:
        with self._lock:
            self._models[model.key] = model
            self._models.move_to_end(model.key)
            while len(self._models) > self._limit:
                self._models.popitem(last=False)

    def snapshot(self) -> dict[str, StrategyModel]:
        with self._lock:
            return dict(self._models)

    def discard(self, keys: Iterable[str]) -> None:
        """Let go of ``keys`` (versions whose files changed, or that are production now)."""
        with self._lock:
            for key in keys:
                self._models.pop(key, None)

    def __len__(self) -> int:
        return len(self._models)


class _Generation:
    """One immutable scan with the bundles it serves."""

    def __init__(
        self,
        index: RegistryIndex | None,
        bundles: dict[BundleIndexKey, StrategyModel],
        unavailable: dict[tuple[str, str], str],
        failures: list[_LoadFailure],
        refresh: Refresh | None,
    ) -> None:
        self.index = index
        self.bundles = bundles
        self.unavailable = unavailable
        self.failures = failures
        self.refresh = refresh
        self.by_key = {bundle.key: bundle for bundle in bundles.values()}
        #: Keys whose bundle failed to open by key, so a retry neither reopens nor re-lists them.
        self.failed_keys: set[str] = set()
        #: The pinned keys the reload that built this generation offered for reuse.
        self.reusable_keys: tuple[str, ...] = ()

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
        self._options = bundle_options(self.config)
        self._pinned = _PinnedBundles(self.config.max_pinned_sessions)
        self._reload_lock = threading.Lock()
        self._pin_lock = threading.Lock()
        self._watcher: _Watcher | None = None
        self._generation, _ = self._build(previous=None)

    # -- building generations ------------------------------------------------------------------

    def _model(self, bundle: LoadedBundle) -> StrategyModel:
        runner = OnnxRunner.from_bundle(bundle, config=self.config, cache=self.cache_manager)
        for problem in runner.problems:
            logger.warning("%s: %s", bundle.key, problem)
        if bundle.integrity_problem is not None:
            logger.warning(
                "%s: integrity check failed (served anyway): %s",
                bundle.key,
                bundle.integrity_problem,
            )
        return StrategyModel.from_runner(runner)

    def _build(self, previous: _Generation | None) -> tuple[_Generation, ReloadSummary]:
        """The next generation (opening only what no open bundle covers), and what changed."""
        root = Path(self.config.model_registry_path)
        if not root.is_dir():
            logger.warning("model registry %s does not exist; no models are available", root)
            return _Generation(None, {}, {}, [], None), ReloadSummary()
        previous_index = previous.index if previous is not None else None
        index = scan_registry(root, registry_schemas(self.config), previous=previous_index)
        seen = {(b.path, b.reason) for b in previous_index.invalid} if previous_index else set()
        for invalid in index.invalid:
            if (invalid.path, invalid.reason) not in seen:
                logger.warning("skipping %s: %s", invalid.path, invalid.reason)

        live = previous.by_key if previous is not None else {}
        pinned = self._pinned.snapshot()
        refresh = refresh_bundles(
            index,
            _opened_bundles(live.values()),
            _opened_bundles(pinned.values()),
            self._options,
            previous.refresh if previous is not None else None,
        )
        open_models = {**pinned, **live}
        bundles: dict[BundleIndexKey, StrategyModel] = {}
        for key in refresh.reused:
            model = open_models[key]
            bundles[(model.symbol, model.timeframe, model.model_type)] = model
        for opened in refresh.opened:
            bundles[(opened.symbol, opened.timeframe, opened.model_type)] = self._model(opened)

        known = previous.refresh.failures if previous is not None and previous.refresh else ()
        for path, reason in refresh.failures:
            if (path, reason) not in known:
                logger.error("cannot open %s: %s", path, reason)
        old_stale = previous.refresh.stale if previous is not None and previous.refresh else {}
        for (symbol, model_type), reason in refresh.stale.items():
            if old_stale.get((symbol, model_type)) != reason:
                logger.error(
                    "%s/%s keeps serving its previous bundle: %s", symbol, model_type, reason
                )
        failures = [_LoadFailure(path, reason) for path, reason in refresh.failures]
        generation = _Generation(index, bundles, dict(refresh.unavailable), failures, refresh)
        generation.reusable_keys = tuple(pinned)
        summary = ReloadSummary(
            added=refresh.added,
            changed=refresh.changed,
            removed=refresh.removed,
            kept=refresh.kept,
            failed=refresh.failures,
            opened=len(refresh.opened),
        )
        return generation, summary

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

    def get_bundle_by_key(self, key: str, *, pin: bool = True) -> StrategyModel | None:
        """Any version by ``SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION``, opened on first use.

        Production versions are the served bundles themselves. Other versions stay open in a
        least-recently-used set of at most ``config.max_pinned_sessions``; one let go from it
        keeps working for whoever still holds it. With ``pin=False`` a version not open yet is
        opened for the caller alone and not kept (a sweep over every version reads each once
        and must not push out what a live strategy pinned). Returns ``None`` for an unknown
        key, or one whose bundle is invalid or fails to open (the reason is logged and listed by
        :meth:`invalid_bundles`).
        """
        generation = self._generation
        bundle = generation.by_key.get(key) or self._pinned.get(key)
        if bundle is not None:
            return bundle
        if generation.index is None or key in generation.failed_keys:
            return None
        with self._pin_lock:
            bundle = self._pinned.get(key)
            if bundle is not None:
                return bundle
            try:
                opened = open_version(generation.index, key, self._options)
            except PredictionError as error:
                record = generation.index.version(key)
                path = record.directory if record is not None else key
                logger.error("cannot open %s: %s", path, error)
                generation.failures.append(_LoadFailure(path, str(error)))
                generation.failed_keys.add(key)
                return None
            if opened is None:
                return None
            bundle = self._model(opened)
            if pin:
                self._pinned.add(bundle)
            return bundle

    def select_many(
        self, requirements: Iterable[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], StrategyModel]:
        """Select several ``(symbol, model_type, timeframe)`` bundles at once (upstream's
        order for these tuples, as in ``select_bundle``'s keywords; keys and
        :data:`BundleIndexKey` put the timeframe second).

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

    def reload_models(self) -> ReloadSummary:
        """Rescan and swap in a new generation atomically; returns (and logs) what changed.

        Version folders whose files are unchanged are not read again, and their open bundles are
        kept: only new and changed production versions are opened and warmed up, aside from the
        live generation. A production version that fails to open or validate leaves its model
        type serving the previous bundle (see :meth:`invalid_bundles`). When the new scan finds
        no bundle but the current generation has some, the current one is kept (a registry being
        rewritten or an unmounted disk must not take every model away). Cached predictions are
        dropped only for bundles that changed or left.
        """
        with self._reload_lock:
            current = self._generation
            candidate, summary = self._build(previous=current)
            if candidate.is_empty and not current.is_empty:
                logger.warning(
                    "reload_models produced 0 bundles (had %d); keeping the current ones",
                    len(current.bundles),
                )
                return ReloadSummary(kept=tuple(current.by_key))
            self._generation = candidate
            if candidate.refresh is not None:
                # Only the pinned bundles this reload looked at: one pinned meanwhile stays.
                still_current = set(candidate.refresh.current)
                self._pinned.discard(
                    key
                    for key in candidate.reusable_keys
                    if key not in still_current or key in candidate.by_key
                )
        dropped = 0
        if self.cache_manager is not None:
            for key in {*summary.changed, *summary.removed, *self._replaced(candidate)}:
                dropped += _invalidate(self.cache_manager, key)
        log = logger.info if summary.has_changes or summary.failed else logger.debug
        log("reloaded models: %s; dropped %d cached predictions", summary, dropped)
        return summary

    @staticmethod
    def _replaced(generation: _Generation) -> tuple[str, ...]:
        return generation.refresh.replaced if generation.refresh is not None else ()

    # -- hot reload ----------------------------------------------------------------------------

    def watch(
        self,
        interval: float = 1.0,
        callback: Callable[[ReloadSummary], object] | None = None,
    ) -> PredictionModelRegistry:
        """Reload in a background thread every ``interval`` seconds, until :meth:`stop_watching`.

        Each poll is the cheap rescan: unchanged folders are not read and unchanged bundles keep
        their sessions, so a promotion made by another process (``atb models promote``) serves
        within two intervals. ``callback`` receives each reload's :class:`ReloadSummary`. Also a
        context manager: ``with registry.watch(): ...`` stops watching on exit.
        """
        if not interval > 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        self.stop_watching()
        self._watcher = _Watcher(self, interval, callback)
        return self

    def stop_watching(self) -> None:
        """Stop the background reloads of :meth:`watch` (waiting for a running one to finish)."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    @property
    def watching(self) -> bool:
        """Whether :meth:`watch` is reloading in the background."""
        return self._watcher is not None

    def __enter__(self) -> PredictionModelRegistry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_watching()

    def invalidate_cache(self, model_name: str | None = None) -> int:
        """Drop cached predictions: all of them, or one model's (by bundle key or alias).

        ``model_name`` may be a bundle key, ``SYMBOL:TIMEFRAME:TYPE``, a version id, or a model
        path. Returns how many entries were dropped.
        """
        cache = self.cache_manager
        if cache is None:
            return 0
        if model_name is None:
            return count_removed(cache.clear, "clearing the prediction cache")
        dropped = 0
        for bundle in [*self._generation.by_key.values(), *self._pinned.snapshot().values()]:
            aliases = {
                bundle.key,
                format_key(bundle.symbol, bundle.timeframe, bundle.model_type),
                bundle.version_id,
                bundle.runner.model_path,
            }
            if model_name in aliases:
                dropped += _invalidate(cache, bundle.key)
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

    def __repr__(self) -> str:
        generation = self._generation
        versions = len(generation.index.versions) if generation.index is not None else 0
        return (
            f"PredictionModelRegistry({self.config.model_registry_path!r}, "
            f"production={len(generation.bundles)}, versions={versions})"
        )

    def unavailable(self) -> Mapping[tuple[str, str], str]:
        """``(symbol, model_type) -> reason`` for model types without a usable production bundle."""
        return dict(self._generation.unavailable)


class _Watcher:
    """The background thread of :meth:`PredictionModelRegistry.watch`."""

    def __init__(
        self,
        registry: PredictionModelRegistry,
        interval: float,
        callback: Callable[[ReloadSummary], object] | None,
    ) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run,
            args=(registry, interval, callback),
            name="atb-registry-watch",
            daemon=True,
        )
        self._thread.start()

    def _run(
        self,
        registry: PredictionModelRegistry,
        interval: float,
        callback: Callable[[ReloadSummary], object] | None,
    ) -> None:
        while not self._stop.wait(interval):
            try:
                summary = registry.reload_models()
                if callback is not None:
                    callback(summary)
            except Exception:
                # A poll must never end the watch: the next one may well succeed.
                logger.exception("registry watch: reload failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
