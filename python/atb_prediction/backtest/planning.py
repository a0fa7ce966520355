"""Planning a sweep: which versions run, over which bars, with which bundle bytes.

Everything that can fail because of the request (an unknown version, a bundle with problems, a
missing column, timestamps ``"as-live"`` needs) fails here, before any work starts. The plan
holds each bundle's model bytes and metadata text, read once, so running it needs no access to
the registry folder (a remote worker opens its sessions from the bytes).
"""

from __future__ import annotations

import hashlib
import pickle
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from atb_prediction._core import SweepModel, bundle_parts
from atb_prediction.backtest.series import Series
from atb_prediction.models.exceptions import (
    InvalidInputError,
    ModelLoadError,
    ModelNotAvailableError,
)
from atb_prediction.models.version_resolver import list_version_records

if TYPE_CHECKING:
    from atb_prediction.models.registry import PredictionModelRegistry, StrategyModel

__all__ = ["BundleSpec", "SweepPlan", "SweepTask", "VersionSelection", "plan_sweep"]

#: ``"production"``, ``"all"``, ``"as-live"``, one version id, or a list of them.
VersionSelection = str | Sequence[str]

#: The selections ``versions`` accepts besides version ids.
SELECTIONS = ("production", "all", "as-live")


@dataclass(frozen=True)
class BundleSpec:
    """Everything needed to open one bundle for sweeping, with no access to its folder."""

    key: str
    version_id: str
    model: bytes
    metadata_text: str | None
    feature_names: tuple[str, ...] | None
    sequence_length: int | None
    feature_count: int | None
    confidence_scale_factor: float
    direction_threshold: float
    timeout: float | None
    providers: tuple[str, ...] | None

    def fingerprint(self) -> str:
        """A digest of the whole spec: equal only for the same key, bytes and options, so a
        worker that keeps sessions between sweeps never serves a rewritten bundle's old one."""
        return hashlib.sha256(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()

    def open(self, workers: int) -> SweepModel:
        """One single-threaded session per worker, opened from the bytes."""
        return SweepModel(
            self.model,
            self.metadata_text,
            workers=workers,
            sequence_length=self.sequence_length,
            feature_count=self.feature_count,
            confidence_scale_factor=self.confidence_scale_factor,
            direction_threshold=self.direction_threshold,
            timeout=self.timeout,
            providers=list(self.providers) if self.providers is not None else None,
        )


@dataclass(frozen=True)
class SweepTask:
    """One version's share of a sweep: the bars (each with a full window) it predicts."""

    row: int
    """The version's row in the result arrays."""
    bundle: BundleSpec
    ranges: tuple[tuple[int, int], ...]
    """``(start, stop)`` bar ranges, sorted, each bar with a full window."""

    @property
    def windows(self) -> int:
        """How many windows the task runs."""
        return sum(stop - start for start, stop in self.ranges)


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep request, ready for an engine."""

    symbol: str
    model_type: str
    series: Series
    versions: tuple[str, ...]
    tasks: tuple[SweepTask, ...]
    live_version: npt.NDArray[np.int64] | None

    @property
    def windows(self) -> int:
        """How many windows the whole sweep runs."""
        return sum(task.windows for task in self.tasks)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class _Bundles:
    """The versions of one model type, opened through the registry (which checks them)."""

    def __init__(
        self,
        registry: PredictionModelRegistry,
        symbol: str,
        model_type: str,
        timeframe: str | None,
    ) -> None:
        index = registry.index
        if index is None:
            raise ModelNotAvailableError(
                f"the model registry {registry.config.model_registry_path} does not exist"
            )
        self.registry = registry
        self.index = index
        self.symbol, self.model_type = symbol, model_type
        self.records = {
            record.version_id: record
            for record in index.versions
            if record.symbol == symbol
            and record.model_type == model_type
            and (timeframe is None or record.timeframe == timeframe)
        }
        folder = (Path(index.root) / symbol / model_type).resolve()
        self.invalid = {
            Path(bundle.path).name: bundle.reason
            for bundle in index.invalid
            if Path(bundle.path).resolve().parent == folder
        }
        self.opened: dict[str, StrategyModel | None] = {}

    def bundle(self, version_id: str) -> StrategyModel | None:
        """The version opened once for this plan, unpinned: a sweep over every version must not
        push what a live strategy pinned out of the registry's pinned set."""
        if version_id not in self.opened:
            key = self.records[version_id].key
            self.opened[version_id] = self.registry.get_bundle_by_key(key, pin=False)
        return self.opened[version_id]

    def problem(self, version_id: str) -> str | None:
        """Why a known version cannot predict, or ``None`` when it can."""
        if version_id in self.invalid:
            return self.invalid[version_id]
        bundle = self.bundle(version_id)
        if bundle is None:
            directory = self.records[version_id].directory
            reasons = [
                failure.reason
                for failure in self.registry.invalid_bundles()
                if failure.path == directory
            ]
            return reasons[-1] if reasons else "its session failed to open"
        if bundle.problems:
            return "; ".join(bundle.problems)
        return None

    def spec(self, version_id: str) -> BundleSpec:
        """The bundle read once: model bytes and metadata text."""
        record = self.records[version_id]
        bundle = self.bundle(version_id)
        assert bundle is not None  # `problem` returned None for it
        model, metadata_text = bundle_parts(bundle.runner.bundle)
        shape = bundle.runner.bundle.session.inputs[0].shape
        config = self.registry.config
        names = tuple(record.feature_names) if record.feature_names else None
        return BundleSpec(
            key=record.key,
            version_id=version_id,
            model=model,
            metadata_text=metadata_text,
            feature_names=names,
            sequence_length=(shape[1] if len(shape) == 3 and shape[1] else None)
            or _int(record.metadata.get("sequence_length")),
            feature_count=(shape[2] if len(shape) == 3 and shape[2] else None)
            or (len(names) if names else None),
            confidence_scale_factor=config.confidence_scale_factor,
            direction_threshold=config.direction_threshold,
            timeout=config.inference_timeout,
            providers=tuple(config.providers) if config.providers is not None else None,
        )

    def require(self, version_id: str) -> BundleSpec:
        """A listed version's spec; unknown or broken versions raise."""
        where = f"{self.symbol}/{self.model_type}"
        if version_id in self.invalid or version_id in self.records:
            problem = self.problem(version_id)
            if problem is not None:
                raise ModelLoadError(f"version {version_id!r} of {where} cannot predict: {problem}")
            return self.spec(version_id)
        known = ", ".join(sorted(self.records)) or "none"
        raise ModelNotAvailableError(
            f"{where} has no version {version_id!r} (versions that can load: {known})"
        )

    def usable(self, version_ids: Sequence[str]) -> dict[str, BundleSpec]:
        """The specs of the versions that can predict; one warning names the others."""
        specs: dict[str, BundleSpec] = {}
        skipped: list[str] = []
        for version_id in version_ids:
            if version_id in self.records:
                problem = self.problem(version_id)
            else:  # a folder the scan skipped, or one of another timeframe
                problem = self.invalid.get(version_id, "not a version of the requested timeframe")
            if problem is None:
                specs[version_id] = self.spec(version_id)
            else:
                skipped.append(f"{version_id} ({problem})")
        if skipped:
            warnings.warn(
                f"sweep of {self.symbol}/{self.model_type} leaves out versions that cannot "
                f"predict: {'; '.join(skipped)}",
                stacklevel=4,
            )
        return specs


def _full_windows(
    ranges: Sequence[tuple[int, int]], spec: BundleSpec
) -> tuple[tuple[int, int], ...]:
    """Ranges clipped to the bars that have a full window."""
    first = (spec.sequence_length or 1) - 1
    clipped = ((max(start, first), stop) for start, stop in ranges)
    return tuple((start, stop) for start, stop in clipped if start < stop)


def _live_rows(bundles: _Bundles, series: Series) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Per bar, the index (into the returned version ids) of the version live at its time."""
    if series.timestamps is None:
        raise InvalidInputError(
            'versions="as-live" needs timestamps: pass timestamps= or a DataFrame with a '
            "DatetimeIndex"
        )
    records = list_version_records(Path(bundles.index.root), bundles.symbol, bundles.model_type)
    effective = np.array(
        [np.datetime64(r.effective_at.replace(tzinfo=None), "ns") for r in records],
        dtype="datetime64[ns]",
    )
    # The last record effective at or before each bar's time (resolve_version_as_of's rule);
    # records are in time order, so a binary search finds it.
    position = np.searchsorted(effective, series.timestamps, side="right") - 1
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


def plan_sweep(
    registry: PredictionModelRegistry,
    series: Series,
    *,
    symbol: str,
    model_type: str,
    timeframe: str | None,
    versions: VersionSelection,
) -> SweepPlan:
    """Checks a sweep request and reads its bundles; raises before any work on a bad request."""
    bundles = _Bundles(registry, symbol, model_type, timeframe)
    everything = ((0, series.bars),)
    live_version: npt.NDArray[np.int64] | None = None
    if versions == "as-live":
        order, rows = _live_rows(bundles, series)
        specs = bundles.usable(order)
        kept = [v for v in order if v in specs]
        remap = np.array([kept.index(v) if v in specs else -1 for v in order] + [-1])
        live_version = remap[rows].astype(np.int64)
        selected = [(v, _runs(live_version, row)) for row, v in enumerate(kept)]
    elif versions == "all":
        specs = bundles.usable(sorted(set(bundles.records) | set(bundles.invalid)))
        selected = [(v, list(everything)) for v in specs]
    else:
        if versions == "production":
            production = bundles.index.production.get((symbol, model_type))
            if production is None or production not in bundles.records:
                reason = bundles.index.unavailable.get((symbol, model_type))
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
        specs = {v: bundles.require(v) for v in wanted}
        selected = [(v, list(everything)) for v in wanted]
    if not selected:
        raise ModelNotAvailableError(f"{symbol}/{model_type} has no version that can predict")
    tasks = []
    for row, (version_id, ranges) in enumerate(selected):
        spec = specs[version_id]
        series.check_columns(spec.feature_names)
        tasks.append(SweepTask(row=row, bundle=spec, ranges=_full_windows(ranges, spec)))
    return SweepPlan(
        symbol=symbol,
        model_type=model_type,
        series=series,
        versions=tuple(v for v, _ in selected),
        tasks=tuple(tasks),
        live_version=live_version,
    )
