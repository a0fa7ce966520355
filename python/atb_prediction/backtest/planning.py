"""Planning a sweep: which versions run, over which bars, reading which columns of the series.

Everything that can fail because of the request (an unknown version, a bundle with problems, a
series a listed version cannot read, timestamps ``"as-live"`` needs) fails here, before any work
starts. A version the request did not name one by one (``"all"``, ``"as-live"``) that cannot run
on the series is left out with a warning naming its key instead of sinking the sweep.

Each task holds the bundle the registry opened (:class:`LoadedBundle`): the local engine opens
its sweep sessions from that bundle's own model bytes and spec, and a remote engine ships those
bytes as a :class:`BundlePayload`, so a sweep never reads a model file the registry did not
check.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn, Protocol

import numpy as np
import numpy.typing as npt

from atb_prediction._caller import warn_caller
from atb_prediction._core import (
    InvalidBundle,
    LoadedBundle,
    SweepModel,
    format_utc,
    path_parts,
    spacing_mismatch,
)
from atb_prediction.backtest.series import Series
from atb_prediction.models.exceptions import (
    InvalidInputError,
    ModelLoadError,
    ModelNotAvailableError,
    PredictionError,
)
from atb_prediction.promotion.version_resolver import list_version_records, live_positions

if TYPE_CHECKING:
    from atb_prediction.config import PredictionConfig
    from atb_prediction.models.registry import PredictionModelRegistry
    from atb_prediction.promotion.version_resolver import VersionRecord

__all__ = [
    "BundlePayload",
    "BundleSource",
    "SweepPlan",
    "SweepTask",
    "VersionSelection",
    "plan_opened",
    "plan_sweep",
]

#: ``"production"``, ``"all"``, ``"as-live"``, one version id, or a list of them.
VersionSelection = str | Sequence[str]

#: The selections ``versions`` accepts besides version ids.
SELECTIONS = ("production", "all", "as-live")


@dataclass(frozen=True)
class SweepOptions:
    """How the registry's configuration opens sweep sessions."""

    confidence_scale_factor: float
    direction_threshold: float
    timeout: float | None
    providers: tuple[str, ...] | None

    @classmethod
    def of(cls, config: PredictionConfig) -> SweepOptions:
        return cls(
            confidence_scale_factor=config.confidence_scale_factor,
            direction_threshold=config.direction_threshold,
            timeout=config.inference_timeout,
            providers=tuple(config.providers) if config.providers is not None else None,
        )

    @property
    def provider_list(self) -> list[str] | None:
        return list(self.providers) if self.providers is not None else None


@dataclass(frozen=True)
class BundlePayload:
    """A bundle as a remote sweep worker receives it: the model bytes the driver's registry
    opened (and checked against ``manifest.json`` when sealed), the ``metadata.json`` and
    ``feature_schema.json`` texts the scan read, and the options to open it with. A worker needs
    no access to the registry."""

    key: str
    model: bytes
    metadata_text: str | None
    feature_schema_text: str | None
    options: SweepOptions

    @classmethod
    def of(cls, bundle: LoadedBundle, options: SweepOptions) -> BundlePayload:
        return cls(
            bundle.key,
            bundle.model_bytes,
            bundle.metadata_text,
            bundle.feature_schema_text,
            options,
        )

    def fingerprint(self) -> str:
        """A digest of the whole payload: equal only for the same key, bytes and options, so a
        worker that keeps sessions between sweeps never serves a rewritten bundle's old one."""
        return hashlib.sha256(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()

    def open(self, workers: int) -> SweepModel:
        """One single-threaded session per worker, opened from the bytes."""
        options = self.options
        return SweepModel(
            self.model,
            self.metadata_text,
            self.feature_schema_text,
            origin=self.key,
            workers=workers,
            confidence_scale_factor=options.confidence_scale_factor,
            direction_threshold=options.direction_threshold,
            timeout=options.timeout,
            providers=options.provider_list,
        )


#: Where a task's input comes from: the bundle's feature columns, or raw OHLCV bars.
Source = Literal["features", "bars"]


@dataclass(frozen=True)
class SweepTask:
    """One version's share of a sweep: the bars (each with a full window) it predicts, and how
    it reads the series."""

    row: int
    """The version's row in the result arrays."""
    version_id: str
    bundle: LoadedBundle
    """The bundle the registry opened."""
    source: Source
    columns: tuple[int, ...] | None
    """Positions of the columns read (bundle order; ``None``: every column, in order)."""
    price_target: int | None
    """Position of the column a ``rolling_minmax`` price is mapped back with, when it is one."""
    ranges: tuple[tuple[int, int], ...]
    """``(start, stop)`` bar ranges, sorted, each bar with a full window."""
    options: SweepOptions

    @property
    def key(self) -> str:
        return self.bundle.key

    @property
    def windows(self) -> int:
        """How many windows the task runs."""
        return sum(stop - start for start, stop in self.ranges)

    @property
    def price_units(self) -> bool:
        """Whether the task's prices are in price units (mapped back by mean/std, or with the
        bars' target column), rather than the model's own output."""
        scaling = self.bundle.price_scaling
        return scaling == "mean_std" or (
            scaling == "rolling_minmax" and self.price_target is not None
        )

    def open(self, workers: int) -> SweepModel:
        """One single-threaded session per worker, from the registry's bundle itself."""
        return SweepModel.from_bundle(
            self.bundle,
            workers=workers,
            timeout=self.options.timeout,
            providers=self.options.provider_list,
        )

    def payload(self) -> BundlePayload:
        """The bundle as a remote worker receives it."""
        return BundlePayload.of(self.bundle, self.options)


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep request, ready for an engine."""

    symbol: str
    model_type: str
    timeframe: str | None
    """The timeframe of the versions swept (the requested one, else the first version's)."""
    series: Series
    versions: tuple[str, ...]
    tasks: tuple[SweepTask, ...]
    live_version: npt.NDArray[np.int64] | None

    @property
    def windows(self) -> int:
        """How many windows the whole sweep runs."""
        return sum(task.windows for task in self.tasks)


@dataclass(frozen=True)
class _Reading:
    """How a version reads the series."""

    bundle: LoadedBundle
    source: Source
    columns: tuple[int, ...] | None
    price_target: int | None


class _Record(Protocol):
    """What planning reads of a version the scan found: a ``BundleRecord``, or the
    ``LoadedBundle`` opened from one."""

    @property
    def symbol(self) -> str: ...
    @property
    def model_type(self) -> str: ...
    @property
    def version_id(self) -> str: ...
    @property
    def timeframe(self) -> str: ...
    @property
    def key(self) -> str: ...


@dataclass(frozen=True)
class BundleSource:
    """Where a plan's bundles come from: the versions a scan found, and how to open one.

    A registry's (:meth:`of_registry`) opens a version on first use and keeps the registry's
    checks; bundles already opened (:meth:`of_opened`, what a gate or a promotion read once
    through its own index) are used as they are, so a plan over them reads no file again.
    """

    records: Sequence[_Record]
    """Every version found, any symbol or model type."""
    open: Callable[[str], LoadedBundle | None]
    """The bundle of a version, by key; ``None`` when it cannot be opened."""
    options: SweepOptions
    """How the sweep's sessions are opened."""
    invalid: Sequence[InvalidBundle] = ()
    """Folders the scan skipped, with why."""
    production: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """``(symbol, model_type) -> version`` that ``latest`` names."""
    unavailable: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """Why a model type has no production version."""
    root: Path | None = None
    """The registry root (an as-live sweep reads its promotion journals)."""
    failure: Callable[[str], str | None] = field(default=lambda _: None)
    """Why the version folder at a path failed to open, when known."""

    @classmethod
    def of_registry(cls, registry: PredictionModelRegistry) -> BundleSource:
        """The registry's versions, each opened through it (unpinned: a sweep over every
        version must not push what a live strategy pinned out of the registry's pinned set)."""
        index = registry.index
        if index is None:
            raise ModelNotAvailableError(
                f"the model registry {registry.config.model_registry_path} does not exist"
            )

        def open_bundle(key: str) -> LoadedBundle | None:
            model = registry.get_bundle_by_key(key, pin=False)
            return None if model is None else model.runner.bundle

        def failure(directory: str) -> str | None:
            reasons = [f.reason for f in registry.invalid_bundles() if f.path == directory]
            return reasons[-1] if reasons else None

        return cls(
            records=index.versions,
            open=open_bundle,
            options=SweepOptions.of(registry.config),
            invalid=index.invalid,
            production=index.production,
            unavailable=index.unavailable,
            root=Path(index.root),
            failure=failure,
        )

    @classmethod
    def of_opened(cls, bundles: Iterable[LoadedBundle], config: PredictionConfig) -> BundleSource:
        """Bundles already opened (and checked) by the caller: the only versions it offers."""
        opened = {bundle.key: bundle for bundle in bundles}
        return cls(
            records=tuple(opened.values()),
            open=opened.get,
            options=SweepOptions.of(config),
        )


class _Bundles:
    """The versions of one model type, opened through the source (which checks them), and how
    each reads the series."""

    def __init__(
        self,
        source: BundleSource,
        series: Series,
        symbol: str,
        model_type: str,
        timeframe: str | None,
    ) -> None:
        self.source = source
        self.series = series
        self.symbol, self.model_type = symbol, model_type
        self.records: dict[str, _Record] = {
            record.version_id: record
            for record in source.records
            if record.symbol == symbol
            and record.model_type == model_type
            and (timeframe is None or record.timeframe == timeframe)
        }
        # Skipped folders of this model type, by name: the layout's own split of their paths (a
        # symlink leaving the registry is named by its link, with the scan's reason).
        self.invalid = {}
        if source.root is not None:
            for bundle in source.invalid:
                parts = path_parts(source.root, bundle.path)
                if len(parts) == 3 and parts[:2] == [symbol, model_type]:
                    self.invalid[parts[2]] = bundle.reason
        self.opened: dict[str, LoadedBundle | None] = {}

    def name(self, version_id: str) -> str:
        """The version's key, or ``SYMBOL/MODEL_TYPE/VERSION`` for a folder the scan skipped."""
        record = self.records.get(version_id)
        if record is not None:
            return str(record.key)
        return "/".join((self.symbol, self.model_type, version_id))

    def bundle(self, version_id: str) -> LoadedBundle | None:
        """The version opened once for this plan."""
        if version_id not in self.opened:
            self.opened[version_id] = self.source.open(self.records[version_id].key)
        return self.opened[version_id]

    def problem(self, version_id: str) -> str | None:
        """Why a known version cannot predict, or ``None`` when it can."""
        if version_id in self.invalid:
            return self.invalid[version_id]
        bundle = self.bundle(version_id)
        if bundle is None:
            record = self.records[version_id]
            directory = getattr(record, "directory", None)
            reason = None if directory is None else self.source.failure(str(directory))
            return reason or "its session failed to open"
        if bundle.problems:
            return "; ".join(bundle.problems)
        return None

    def reading(self, version_id: str) -> _Reading:
        """How a version that can predict reads the series; ``InvalidInputError`` or
        ``ModelLoadError`` say why it cannot."""
        loaded = self.bundle(version_id)
        assert loaded is not None  # `problem` returned None for it
        sequence_length, feature_count = loaded.window
        source, columns = self.series.columns_for_bundle(
            loaded.key,
            loaded.feature_names,
            feature_count,
            takes_bars=loaded.raw_bars_problem is None,
        )
        if source == "bars" and self.series.bars < sequence_length:
            raise InvalidInputError(
                f"the series has {self.series.bars} bars; {loaded.key} needs at least "
                f"{sequence_length} for one window"
            )
        target = loaded.price_target
        return _Reading(
            bundle=loaded,
            source="bars" if source == "bars" else "features",
            columns=columns,
            price_target=self.series.named_column(target) if target is not None else None,
        )

    def require(self, version_id: str) -> _Reading:
        """How a listed version reads the series; unknown or unusable versions raise."""
        where = f"{self.symbol}/{self.model_type}"
        if version_id in self.invalid or version_id in self.records:
            problem = self.problem(version_id)
            if problem is not None:
                raise ModelLoadError(
                    f"version {version_id!r} of {where} ({self.name(version_id)}) cannot "
                    f"predict: {problem}"
                )
            return self.reading(version_id)
        known = ", ".join(sorted(self.records)) or "none"
        raise ModelNotAvailableError(
            f"{where} has no version {version_id!r} (versions that can load: {known})"
        )

    def usable(self, version_ids: Sequence[str], left_out: str) -> dict[str, _Reading]:
        """How each version that can run on the series reads it; one warning per other version,
        naming its key, why, and ``left_out`` (what becomes of it)."""
        readings: dict[str, _Reading] = {}
        for version_id in version_ids:
            if version_id in self.records:
                problem = self.problem(version_id)
            else:  # a folder the scan skipped, or one of another timeframe
                problem = self.invalid.get(version_id, "not a version of the requested timeframe")
            if problem is None:
                try:
                    readings[version_id] = self.reading(version_id)
                except PredictionError as error:
                    problem = str(error)
            if problem is not None:
                warn_caller(
                    f"sweep of {self.symbol}/{self.model_type}: {self.name(version_id)} "
                    f"{left_out}: {problem}",
                )
        return readings


def _nothing_live(bundles: _Bundles, series: Series, records: Sequence[VersionRecord]) -> NoReturn:
    """No version was live at any bar of the series (times strictly increase, so its last bar
    is before the first version went live): say when the series runs and when that was."""
    assert series.timestamps is not None
    nanos = series.timestamps.view(np.int64)
    first, last = format_utc(int(nanos[0])), format_utc(int(nanos[-1]))
    where = f"{bundles.symbol}/{bundles.model_type}"
    if not records:
        raise ModelNotAvailableError(
            f"no version of {where} was ever live, so none was during the series ({first} to "
            f"{last})"
        )
    went_live = np.datetime64(records[0].effective_at.replace(tzinfo=None), "ns")
    raise ModelNotAvailableError(
        f"no version of {where} was live during the series ({first} to {last}): its first "
        f"version, {records[0].version_id}, went live at "
        f"{format_utc(int(went_live.view(np.int64)))}"
    )


def _live_rows(bundles: _Bundles, series: Series) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Per bar, the index (into the returned version ids) of the version live at its time."""
    if series.timestamps is None:
        raise InvalidInputError(
            'versions="as-live" needs timestamps: pass timestamps= or a DataFrame with a '
            "DatetimeIndex"
        )
    root = bundles.source.root
    if root is None:
        raise ValueError('versions="as-live" needs a registry: its journals say what was live')
    records = list_version_records(root, bundles.symbol, bundles.model_type)
    # The record live at each bar's time: the version resolver's one rule.
    position = live_positions(records, series.timestamps)
    if not records or (position.size and position[-1] < 0):
        _nothing_live(bundles, series, records)
    ids = list(dict.fromkeys(r.version_id for r in records))
    id_of_record = np.array([ids.index(r.version_id) for r in records] + [-1], dtype=np.int64)
    bar_ids = id_of_record[position]  # position -1 picks the trailing -1: nothing live
    present, first_bar = np.unique(bar_ids, return_index=True)
    live = [(bar, i) for i, bar in zip(present, first_bar, strict=True) if i >= 0]
    # Versions in the order they were first live.
    order = [ids[i] for _, i in sorted(live)]
    row_of_id = np.full(len(ids) + 1, -1, dtype=np.int64)
    for row, version_id in enumerate(order):
        row_of_id[ids.index(version_id)] = row
    return order, row_of_id[bar_ids]


def _runs(rows: npt.NDArray[np.int64], row: int) -> list[tuple[int, int]]:
    """The ``(start, stop)`` runs of bars where ``rows == row``."""
    mask = np.concatenate(([False], rows == row, [False]))
    edges = np.flatnonzero(mask[1:] != mask[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _check_spacing(series: Series, tasks: Sequence[SweepTask], where: str) -> None:
    """Warns once per timeframe when the series' median spacing is not the bars of a version's
    timeframe, naming both: scores then annualise with the bars a year the series shows."""
    spacing = series.spacing
    if spacing is None:
        return
    seen: set[str] = set()
    for task in tasks:
        timeframe = task.bundle.timeframe
        if not timeframe or timeframe in seen:
            continue
        seen.add(timeframe)
        try:
            mismatch = spacing_mismatch(spacing, timeframe)
        except PredictionError:
            continue  # a timeframe of no known duration: nothing to compare with
        if mismatch is not None:
            warn_caller(
                f"sweep of {where}: the series has {mismatch}, the timeframe of {task.key}; "
                "scores annualise with the bars a year the series shows "
                f"({series.bars_per_year:,.6g}) unless "
                "periods_per_year is given"
            )


def plan_sweep(
    registry: PredictionModelRegistry,
    series: Series,
    *,
    symbol: str,
    model_type: str,
    timeframe: str | None,
    versions: VersionSelection,
) -> SweepPlan:
    """Checks a sweep request and opens its bundles; raises before any work on a bad request."""
    source = BundleSource.of_registry(registry)
    return _plan(source, series, symbol, model_type, timeframe, versions)


def plan_opened(
    bundles: Sequence[LoadedBundle], series: Series, *, config: PredictionConfig
) -> SweepPlan:
    """Checks a sweep of bundles already opened, all of one model type, in their order (what a
    gate compares); their sweep sessions are opened from their own bytes, as ``config`` says."""
    if not bundles:
        raise ValueError("no bundles to sweep")
    first = bundles[0]
    return _plan(
        BundleSource.of_opened(bundles, config),
        series,
        first.symbol,
        first.model_type,
        None,
        [bundle.version_id for bundle in bundles],
    )


def _plan(
    source: BundleSource,
    series: Series,
    symbol: str,
    model_type: str,
    timeframe: str | None,
    versions: VersionSelection,
) -> SweepPlan:
    bundles = _Bundles(source, series, symbol, model_type, timeframe)
    everything = ((0, series.bars),)
    live_version: npt.NDArray[np.int64] | None = None
    if versions == "as-live":
        order, rows = _live_rows(bundles, series)
        readings = bundles.usable(order, "has no prediction while it was live (NaN)")
        kept = [v for v in order if v in readings]
        remap = np.array([kept.index(v) if v in readings else -1 for v in order] + [-1])
        live_version = remap[rows].astype(np.int64)
        selected = [(v, _runs(live_version, row)) for row, v in enumerate(kept)]
    elif versions == "all":
        readings = bundles.usable(
            sorted(set(bundles.records) | set(bundles.invalid)), "is left out"
        )
        selected = [(v, list(everything)) for v in readings]
    else:
        if versions == "production":
            production = source.production.get((symbol, model_type))
            if production is None or production not in bundles.records:
                reason = source.unavailable.get((symbol, model_type))
                raise ModelNotAvailableError(
                    f"{symbol}/{model_type} has no production version"
                    + (f" for timeframe {timeframe}" if timeframe and production else "")
                    + (f": {reason}" if reason else "")
                )
            wanted = [production]
        else:
            wanted = [versions] if isinstance(versions, str) else list(versions)
            if not wanted:
                raise ValueError("versions is an empty list")
            if len(set(wanted)) != len(wanted):
                raise ValueError(f"versions lists a version twice: {wanted}")
        readings = {v: bundles.require(v) for v in wanted}
        selected = [(v, list(everything)) for v in wanted]
    if not selected:
        raise ModelNotAvailableError(
            f"{symbol}/{model_type} has no version that can predict from this series"
        )
    options = source.options
    tasks = []
    for row, (version_id, ranges) in enumerate(selected):
        reading = readings[version_id]
        tasks.append(
            SweepTask(
                row=row,
                version_id=version_id,
                bundle=reading.bundle,
                source=reading.source,
                columns=reading.columns,
                price_target=reading.price_target,
                ranges=tuple(reading.bundle.full_windows(ranges)),
                options=options,
            )
        )
        # A series with named columns but no target: its prices cannot be mapped back (a plain
        # numpy array of features never has one, and its caller knows).
        named = series.frame is not None or series.names is not None
        if (
            named
            and reading.bundle.price_scaling == "rolling_minmax"
            and reading.price_target is None
        ):
            warn_caller(
                f"sweep of {reading.bundle.key}: its prices stay the model's scaled output: the "
                f"series has no {reading.bundle.price_target!r} column to map them back with",
            )
    _check_spacing(series, tasks, f"{symbol}/{model_type}")
    return SweepPlan(
        symbol=symbol,
        model_type=model_type,
        timeframe=timeframe or tasks[0].bundle.timeframe,
        series=series,
        versions=tuple(v for v, _ in selected),
        tasks=tuple(tasks),
        live_version=live_version,
    )
