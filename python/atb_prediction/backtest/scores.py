"""``SweepScores``: which version would have earned most, as numbers, beside what holding the
market would have earned.

The definitions (signal, scored bars, hit rate, exposure, errors, the strategy's per-bar
returns, Sharpe ratio, drawdown, turnover, buy-and-hold, the as-live composite) and the checks
of every setting live once, in the core (``src/core/backtest/score.rs``); the column names, which
direction of each is better, and the defaults are read from there by
:mod:`atb_prediction.metrics`. This module holds a sweep's scores and ranks them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from atb_prediction import _core
from atb_prediction._caller import warn_caller
from atb_prediction.metrics import (
    LONG_THRESHOLD,
    LOWER_IS_BETTER,
    METRICS,
    MIN_BARS,
    SHORT_THRESHOLD,
    better_direction,
)
from atb_prediction.times import utc_nanos

if TYPE_CHECKING:
    from atb_prediction.backtest.result import SweepResult

__all__ = [
    "AS_LIVE",
    "BUY_AND_HOLD",
    "SweepScores",
    "check_settings",
    "default_periods_per_year",
    "score_result",
]

#: The name of the as-live composite's row.
AS_LIVE: str = _core.AS_LIVE
#: The name of the buy-and-hold benchmark's row.
BUY_AND_HOLD: str = _core.BUY_AND_HOLD


def check_settings(
    *,
    horizon: int = 1,
    fee_bps: float = 0.0,
    long_threshold: float = LONG_THRESHOLD,
    short_threshold: float = SHORT_THRESHOLD,
    periods_per_year: float | None = None,
    min_bars: int = MIN_BARS,
    bars: int | None = None,
) -> None:
    """Refuses scoring settings no score can be computed with, naming the setting, before any
    work: the one check of ``score()``, ``atb backtest sweep --score`` and the gate.

    Raises:
        InvalidArgumentError: (a ``ValueError``) a horizon below 1 or, with ``bars`` given, not
            below it; a negative or non-finite fee; a non-finite threshold, or a short threshold
            above the long one; a periods per year that is not a positive number; a negative
            ``min_bars``.
    """
    from atb_prediction.models.exceptions import InvalidArgumentError

    _core.check_score_settings(
        horizon=horizon,
        fee_bps=fee_bps,
        long_threshold=long_threshold,
        short_threshold=short_threshold,
        periods_per_year=periods_per_year,
        bars=bars,
    )
    if isinstance(min_bars, bool) or not isinstance(min_bars, int) or min_bars < 0:
        raise InvalidArgumentError(f"min_bars must be a whole number, 0 or more, got {min_bars!r}")


def _sort_key(metric: str, value: float) -> float:
    """Best first."""
    return value if metric in LOWER_IS_BETTER else -value


@dataclass(frozen=True, eq=False)
class SweepScores:
    """One row of scores per version of a sweep, then ``"buy-and-hold"`` (the benchmark: long
    from the first bar at which any version predicts), then ``"as-live"`` for an as-live sweep.

    Every score column (:data:`atb_prediction.metrics.METRICS`: ``bars``, ``hit_rate``,
    ``mae``, ``rmse``, ``total_return``, ``sharpe``, ``max_drawdown``, ``turnover``,
    ``exposure``) is an attribute: a numpy array with one value per row of :attr:`versions`.
    """

    versions: tuple[str, ...]
    """Row names: version ids, then ``"buy-and-hold"``, then ``"as-live"`` for an as-live
    sweep."""
    columns: Mapping[str, npt.NDArray[Any]]
    """Every score column by name (also readable as attributes: ``scores.sharpe``)."""
    horizon: int
    fee_bps: float
    periods_per_year: float
    """The bars a year the Sharpe ratio was annualised with: the one given, else from the
    bars a year the series' times show (continuous 1h: 8,760; daily equities ~252), else from the
    timeframe."""
    long_threshold: float
    short_threshold: float
    min_bars: int = MIN_BARS
    """The fewest scored bars a row needs to be ranked by :meth:`rows`."""
    equity: npt.NDArray[np.float64] | None = None
    """``[rows, bars - 1]`` equity curves of the strategy, when asked for."""
    returns: npt.NDArray[np.float64] | None = None
    """``[rows, bars - 1]`` per-bar strategy returns (``returns[r, t]`` is row ``r``'s from
    close ``t`` to close ``t + 1``), when asked for: every metric but the hit rate, errors and
    exposure is a standard statistic of these."""
    scored: npt.NDArray[np.bool_] | None = None
    """``[rows, bars]``: whether each bar counts in the row's ``bars`` (with :attr:`returns`)."""
    start: int | None = None
    """The first bar at which any version predicts: where buy-and-hold goes long."""

    def __getattr__(self, name: str) -> npt.NDArray[Any]:
        columns = self.__dict__.get("columns")
        if columns is not None and name in columns:
            value: npt.NDArray[Any] = columns[name]
            return value
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def row(self, version: str) -> dict[str, Any]:
        """One row as a dict: ``version`` (the row's name) and every score column (NaN as
        ``float('nan')``)."""
        index = self.versions.index(version)
        values: dict[str, Any] = {"version": version}
        for metric in METRICS:
            value = self.columns[metric][index]
            values[metric] = int(value) if metric == "bars" else float(value)
        return values

    def rows(
        self, ranked_by: str | None = None, *, min_bars: int | None = None
    ) -> list[dict[str, Any]]:
        """Every row as a dict (:meth:`row`), in row order; or, with ``ranked_by``, ranked:
        rows with at least ``min_bars`` scored bars (:attr:`min_bars` by default) and a number
        best first, each with its ``rank`` (1, 2, ...); then, unranked (``rank`` None), the rows
        with fewer bars, then the rows whose value is NaN, each in row order."""
        rows = [self.row(version) for version in self.versions]
        if ranked_by is None:
            return rows
        better_direction(ranked_by)  # raises for an unknown metric, or one that only describes
        floor = self.min_bars if min_bars is None else min_bars
        check_settings(min_bars=floor)
        numbers = [row for row in rows if not math.isnan(row[ranked_by])]
        ranked = sorted(
            (row for row in numbers if row["bars"] >= floor),
            key=lambda row: _sort_key(ranked_by, row[ranked_by]),
        )
        for rank, row in enumerate(ranked, start=1):
            row["rank"] = rank
        unranked = [row for row in numbers if row["bars"] < floor]
        unranked += [row for row in rows if math.isnan(row[ranked_by])]
        for row in unranked:
            row["rank"] = None
        return ranked + unranked

    def to_pandas(self) -> Any:
        """A DataFrame indexed by row name (versions, ``"buy-and-hold"``, ``"as-live"``), with
        exactly the columns :data:`~atb_prediction.metrics.METRICS`."""
        import importlib

        pd: Any = importlib.import_module("pandas")
        return pd.DataFrame(
            {metric: self.columns[metric] for metric in METRICS},
            index=pd.Index(self.versions, name="version"),
        )


def default_periods_per_year(result: SweepResult) -> float:
    """The bars a year that annualise ``result``'s scores: the bars a year its own times show
    (``_core.bars_per_year``: daily equity bars about 252, daily crypto bars 365, whatever the
    model's timeframe), else the versions' timeframe's.

    Raises:
        ValueError: neither times nor a known timeframe.
    """
    if result.timestamps is not None and result.bars >= 2:
        observed = _core.bars_per_year(utc_nanos(result.timestamps, "the sweep's timestamps"))
        if observed is not None:
            return observed
    if result.timeframe is None:
        raise ValueError("the sweep has no times and no timeframe: pass periods_per_year")
    return _core.periods_per_year(result.timeframe)


def score_result(
    result: SweepResult,
    close: npt.ArrayLike | None = None,
    *,
    horizon: int = 1,
    fee_bps: float = 0.0,
    periods: float | None = None,
    long_threshold: float = LONG_THRESHOLD,
    short_threshold: float = SHORT_THRESHOLD,
    min_bars: int = MIN_BARS,
    equity: bool = False,
    returns: bool = False,
) -> SweepScores:
    """The scores of ``result`` against ``close`` (the sweep's own close column by default);
    with ``returns=True``, also every row's per-bar returns and scored bars (numpy only: no
    pandas needed). Warns once when some closes are not positive numbers (they are skipped)."""
    check_settings(
        horizon=horizon,
        fee_bps=fee_bps,
        long_threshold=long_threshold,
        short_threshold=short_threshold,
        periods_per_year=periods,
        min_bars=min_bars,
        bars=result.bars,
    )
    if close is None:
        if result.close is None:
            raise ValueError(
                "the sweep's series has no close column: pass close= (one price per bar)"
            )
        closes = result.close
    else:
        closes = np.ascontiguousarray(close, dtype=np.float64)
    if closes.shape != (result.bars,):
        raise ValueError(f"close must have one value per bar ({result.bars}), got {closes.shape}")
    if periods is None:
        periods = default_periods_per_year(result)
    classifiers = list(result.classifiers) or [False] * len(result.versions)
    units = list(result.price_units) or [False] * len(result.versions)
    scored = _core.score_sweep(
        result.price,
        result.confidence,
        result.direction,
        units,
        classifiers,
        closes,
        versions=list(result.versions),
        live_version=result.live_version,
        horizon=horizon,
        fee_bps=fee_bps,
        periods_per_year=periods,
        long_threshold=long_threshold,
        short_threshold=short_threshold,
        returns=returns,
        equity=equity,
    )
    if scored["unusable_closes"]:
        _warn_unusable(result, scored["unusable_closes"], scored["first_unusable_close"])
    return SweepScores(
        versions=tuple(scored["names"]),
        columns=scored["columns"],
        horizon=horizon,
        fee_bps=fee_bps,
        periods_per_year=periods,
        long_threshold=long_threshold,
        short_threshold=short_threshold,
        min_bars=min_bars,
        equity=scored["equity"],
        returns=scored["returns"],
        scored=scored["scored"],
        start=scored["start"],
    )


def _warn_unusable(result: SweepResult, count: int, first: int) -> None:
    when = ""
    if result.timestamps is not None:
        when = f", {np.datetime_as_string(result.timestamps[first], unit='s')}Z"
    closes = "close is" if count == 1 else "closes are"
    warn_caller(
        f"{count} {closes} not a positive number (the first at bar {first}{when}): the scores "
        "skip the bars at them and the bars judged against them, and book no return across "
        "them",
        RuntimeWarning,
    )
