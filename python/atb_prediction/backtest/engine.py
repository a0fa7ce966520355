"""Running a sweep plan: the unit of work, and the local engine (a Rust thread pool).

The unit of work is one bundle's windows over some bar ranges: given the bundle's sweep sessions
(:meth:`SweepTask.open`, or :meth:`BundlePayload.open` in a remote worker), the series as the
model's input (:func:`model_input`), the ranges and the batch size, it writes small result
arrays. The local engine runs every task of a plan on one machine; a distributed engine runs the
same unit in remote workers and stitches the arrays. Either way :func:`finish_prices` then maps a
``rolling_minmax`` bundle's outputs back to prices, as live prediction does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from atb_prediction._caller import warn_caller
from atb_prediction._core import SweepModel, usable_cores
from atb_prediction.backtest.planning import SweepPlan, SweepTask
from atb_prediction.backtest.result import SweepResult
from atb_prediction.progress import Reporter

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "LocalEngine",
    "SweepArrays",
    "finish_prices",
    "model_input",
    "new_result",
    "run_unit",
    "stitch",
    "warn_nonfinite",
]

#: Windows per inference call: large enough to amortise a call, small enough to stay in cache.
DEFAULT_BATCH_SIZE = 256


@dataclass
class SweepArrays:
    """Result arrays of some bars, indexed from bar ``offset``."""

    offset: int
    price: npt.NDArray[np.float64]
    confidence: npt.NDArray[np.float64]
    direction: npt.NDArray[np.int8]
    probabilities: npt.NDArray[np.float64] | None

    @classmethod
    def empty(cls, offset: int, bars: int, classes: int | None) -> SweepArrays:
        """Arrays of undefined results (NaN, direction 0)."""
        return cls(
            offset=offset,
            price=np.full(bars, np.nan),
            confidence=np.full(bars, np.nan),
            direction=np.zeros(bars, dtype=np.int8),
            probabilities=None if classes is None else np.full((bars, classes), np.nan),
        )


def run_unit(
    model: SweepModel,
    normalised: npt.NDArray[Any],
    ranges: tuple[tuple[int, int], ...],
    batch_size: int,
    out: SweepArrays,
    progress: Reporter | None = None,
) -> tuple[int, int | None]:
    """Runs the windows ending at the bars of ``ranges`` into ``out``.

    Returns how many windows held NaN or infinite values (left undefined) and the first bar of
    one, for the caller to report.
    """
    _, nonfinite, first_bad = model.run(
        normalised,
        list(ranges),
        batch_size,
        offset=out.offset,
        price=out.price,
        confidence=out.confidence,
        direction=out.direction,
        probabilities=out.probabilities,
        progress=progress,
    )
    return nonfinite, first_bad


def model_input(model: SweepModel, plan: SweepPlan, task: SweepTask) -> npt.NDArray[Any]:
    """The whole series as ``task``'s model input, normalised once: its feature columns, or the
    features computed from raw bars."""
    bars = task.source == "bars"
    return model.normalise(plan.series.values(task.columns, bars=bars), bars=bars)


def finish_prices(model: SweepModel, plan: SweepPlan, task: SweepTask, result: SweepResult) -> None:
    """Maps ``task``'s outputs in ``result`` back to prices with the series' target column, for
    a ``rolling_minmax`` bundle (as ``predict_bars`` does for one window); one warning names the
    bars left undefined because their output or price window was not finite."""
    if task.price_target is None or task.bundle.price_scaling != "rolling_minmax":
        return
    count, first_bar = model.to_prices(
        plan.series.column(task.price_target),
        offset=0,
        price=result.price[task.row],
        confidence=result.confidence[task.row],
        direction=result.direction[task.row],
    )
    if count:
        warn_caller(
            f"sweep of {task.key}: {count} bars have a NaN or infinite model output or price "
            f"window (the first is bar {first_bar}), where live prediction raises; their "
            "results are NaN",
            RuntimeWarning,
        )


def warn_nonfinite(key: str, count: int, first_bar: int | None) -> None:
    """One warning per version whose windows held NaN or infinite values."""
    if count:
        warn_caller(
            f"sweep of {key}: {count} windows hold NaN or infinite values after "
            f"normalisation (the first ends at bar {first_bar}); their results are NaN",
            RuntimeWarning,
        )


def new_result(plan: SweepPlan, models: dict[int, SweepModel]) -> SweepResult:
    """The result of ``plan`` with every value undefined, for an engine to fill in."""
    counts = [model.classes for model in models.values() if model.classes is not None]
    classes = max(counts) if counts else None
    bars, rows = plan.series.bars, len(plan.versions)
    return SweepResult(
        symbol=plan.symbol,
        model_type=plan.model_type,
        timeframe=plan.timeframe,
        versions=plan.versions,
        price=np.full((rows, bars), np.nan),
        confidence=np.full((rows, bars), np.nan),
        direction=np.zeros((rows, bars), dtype=np.int8),
        probabilities=None if classes is None else np.full((rows, bars, classes), np.nan),
        timestamps=plan.series.timestamps,
        live_version=plan.live_version,
        windows=tuple(task.windows for task in plan.tasks),
        elapsed=tuple(0.0 for _ in plan.tasks),
        price_units=tuple(task.price_units for task in plan.tasks),
        classifiers=tuple(models[task.row].classes is not None for task in plan.tasks),
        close=plan.series.close(),
    )


def stitch(result: SweepResult, row: int, out: SweepArrays) -> None:
    """Copies ``out`` into row ``row`` of ``result`` at its bars (probabilities padded with NaN
    where the version has fewer classes than another)."""
    end = out.offset + len(out.price)
    result.price[row, out.offset : end] = out.price
    result.confidence[row, out.offset : end] = out.confidence
    result.direction[row, out.offset : end] = out.direction
    if result.probabilities is not None and out.probabilities is not None:
        classes = out.probabilities.shape[1]
        result.probabilities[row, out.offset : end, :classes] = out.probabilities


class LocalEngine:
    """Runs a sweep on this machine: per version, one single-threaded session per worker.

    Args:
        workers: Sessions (and threads) per version; the number of usable cores by default.
        batch_size: Windows per inference call; 256 by default.
    """

    def __init__(self, workers: int | None = None, batch_size: int | None = None) -> None:
        self.workers = usable_cores() if workers is None else workers
        self.batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")

    def __repr__(self) -> str:
        return f"LocalEngine(workers={self.workers}, batch_size={self.batch_size})"

    def run_many(self, plans: Sequence[SweepPlan], progress: Reporter | None) -> list[SweepResult]:
        """Runs the plans one after another, with one progress count over all of them."""
        total = sum(plan.windows for plan in plans)
        results = []
        base = 0
        for plan in plans:
            offset = base
            shifted = None if progress is None else _shifted(progress, offset, total)
            results.append(self.run(plan, shifted, report_end=False))
            base += plan.windows
        if progress is not None:
            progress(total, total)
        return results

    def run(
        self, plan: SweepPlan, progress: Reporter | None, *, report_end: bool = True
    ) -> SweepResult:
        """Runs every task of ``plan``, one version after another, each on all workers."""
        models = {task.row: task.open(self.workers) for task in plan.tasks}
        result = new_result(plan, models)
        elapsed = list(result.elapsed)
        base = 0
        for task in plan.tasks:
            model = models.pop(task.row)
            started = time.perf_counter()
            normalised = model_input(model, plan, task)
            probabilities = result.probabilities
            padded = probabilities is not None and model.classes != probabilities.shape[2]
            # Rows of the result are written in place; only a classifier with fewer classes
            # than another version needs arrays of its own, stitched in after.
            out = (
                SweepArrays.empty(0, plan.series.bars, model.classes)
                if padded
                else SweepArrays(
                    offset=0,
                    price=result.price[task.row],
                    confidence=result.confidence[task.row],
                    direction=result.direction[task.row],
                    probabilities=None
                    if probabilities is None or model.classes is None
                    else probabilities[task.row],
                )
            )
            reporter = None if progress is None else _shifted(progress, base, plan.windows)
            nonfinite, first_bad = run_unit(
                model, normalised, task.ranges, self.batch_size, out, reporter
            )
            if padded:
                stitch(result, task.row, out)
            finish_prices(model, plan, task, result)
            del normalised, model
            warn_nonfinite(task.key, nonfinite, first_bad)
            elapsed[task.row] = time.perf_counter() - started
            base += task.windows
        if progress is not None and report_end:
            progress(plan.windows, plan.windows)
        return replace(result, elapsed=tuple(elapsed))


def _shifted(progress: Reporter, offset: int, total: int) -> Reporter:
    """A reporter that adds ``offset`` windows done before and reports out of ``total``."""
    return lambda done, _: progress(offset + done, total)
