"""``SweepScores``: which version would have earned most, as numbers.

The definitions (signal, bars, hit rate, errors, the strategy's return, Sharpe ratio, drawdown
and turnover) live once, in the core (``src/core/backtest/score.rs``); which direction of each
metric is better lives in :mod:`atb_prediction.metrics`; this module holds a sweep's scores and
ranks them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from atb_prediction._core import periods_per_year, score_sweep
from atb_prediction.metrics import LOWER_IS_BETTER, METRICS

if TYPE_CHECKING:
    from atb_prediction.backtest.result import SweepResult

__all__ = ["AS_LIVE", "SweepScores", "score_result"]

#: The name of the as-live composite's row.
AS_LIVE = "as-live"


def _sort_key(metric: str, value: float) -> tuple[bool, float]:
    """Best first, NaN last."""
    nan = math.isnan(value)
    return nan, (0.0 if nan else value if metric in LOWER_IS_BETTER else -value)


@dataclass(frozen=True, eq=False)
class SweepScores:
    """One row of scores per version of a sweep, plus ``"as-live"`` for an as-live sweep.

    Every column is a numpy array with one value per row of :attr:`versions`.
    """

    versions: tuple[str, ...]
    """Row names: version ids, then ``"as-live"`` when the sweep was as-live."""
    bars: npt.NDArray[np.int64]
    hit_rate: npt.NDArray[np.float64]
    mae: npt.NDArray[np.float64]
    rmse: npt.NDArray[np.float64]
    total_return: npt.NDArray[np.float64]
    sharpe: npt.NDArray[np.float64]
    max_drawdown: npt.NDArray[np.float64]
    turnover: npt.NDArray[np.float64]
    horizon: int
    fee_bps: float
    periods_per_year: float
    equity: npt.NDArray[np.float64] | None = None
    """``[rows, bars - 1]`` equity curves of the strategy, when asked for."""

    def row(self, version: str) -> dict[str, Any]:
        """One row as a dict: ``version`` and every metric (NaN as ``float('nan')``)."""
        index = self.versions.index(version)
        values: dict[str, Any] = {"version": version, "bars": int(self.bars[index])}
        for metric in METRICS[1:]:
            values[metric] = float(getattr(self, metric)[index])
        return values

    def rows(self, ranked_by: str | None = None) -> list[dict[str, Any]]:
        """Every row as a dict, in row order, or best first by ``ranked_by`` (NaN last)."""
        rows = [self.row(version) for version in self.versions]
        if ranked_by is not None:
            if ranked_by not in METRICS:
                raise ValueError(
                    f"unknown metric {ranked_by!r}; expected one of {', '.join(METRICS)}"
                )
            rows.sort(key=lambda row: _sort_key(ranked_by, float(row[ranked_by])))
        return rows

    def to_pandas(self) -> Any:
        """A DataFrame indexed by version (``"as-live"`` last), with exactly the columns
        :data:`METRICS`."""
        import importlib

        pd: Any = importlib.import_module("pandas")
        frame = pd.DataFrame(
            {metric: getattr(self, metric) for metric in METRICS},
            index=pd.Index(self.versions, name="version"),
        )
        return frame


def score_result(
    result: SweepResult,
    close: npt.ArrayLike | None = None,
    *,
    horizon: int = 1,
    fee_bps: float = 0.0,
    periods: float | None = None,
    equity: bool = False,
) -> SweepScores:
    """The scores of ``result`` against ``close`` (the sweep's own close column by default)."""
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
        if result.timeframe is None:
            raise ValueError("the sweep's timeframe is unknown: pass periods_per_year")
        periods = periods_per_year(result.timeframe)
    classifiers = list(result.classifiers) or [False] * len(result.versions)
    units = list(result.price_units) or [False] * len(result.versions)
    columns, curves = score_sweep(
        result.price,
        result.confidence,
        result.direction,
        units,
        classifiers,
        closes,
        live_version=result.live_version,
        horizon=horizon,
        fee_bps=fee_bps,
        periods_per_year=periods,
        equity=equity,
    )
    names: Sequence[str] = result.versions
    if result.live_version is not None:
        names = (*names, AS_LIVE)
    return SweepScores(
        versions=tuple(names),
        horizon=horizon,
        fee_bps=fee_bps,
        periods_per_year=periods,
        equity=curves,
        **{metric: columns[metric] for metric in METRICS},
    )
