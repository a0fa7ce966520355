"""The evidence a gated promotion asks for: the candidate must score strictly better than the
current production version over the gate's bars.

Both versions are swept over the same bars (raw OHLCV or named features) through the registry
and scored (:mod:`atb_prediction.backtest.scores`; which direction of a metric is better is
:mod:`atb_prediction.metrics`'). :func:`atb_prediction.promotion.promote` takes a :class:`Gate`
and journals its evidence (the metric, both rows of scores, how many bars, and the sha256 of
the series), passed or forced; promotion itself never imports the backtest machinery.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from typing import Any

from atb_prediction.backtest.scores import check_settings
from atb_prediction.backtest.series import Series, as_series
from atb_prediction.backtest.sweeping import sweep
from atb_prediction.config import PredictionConfig
from atb_prediction.metrics import better_direction, is_better
from atb_prediction.models.registry import PredictionModelRegistry

__all__ = ["Gate"]


@dataclass(frozen=True)
class Gate:
    """What a promotion must win over the current production version.

    Args:
        bars: The series both versions are swept over: anything ``sweep`` takes (a DataFrame of
            raw OHLCV bars or of named features, a mapping, a numpy array), with a ``close``
            column unless ``close`` is given.
        metric: The score column to compare (``sharpe`` by default); ``max_drawdown``, ``mae``
            and ``rmse`` are better when lower.
        horizon: Bars ahead the hit rate and price errors are judged against.
        fee_bps: Cost per unit of position changed, in basis points.
        close: One close per bar, when ``bars`` has no ``close`` column.
        series_sha256: The digest journaled for the series; by default the sha256 of the
            series' values (the command line passes its file's).
        periods_per_year: Bars a year for the Sharpe ratio; by default the bars a year the
            bars' times show (else the timeframe's), as :meth:`SweepResult.score` does.
    """

    bars: object
    metric: str = "sharpe"
    horizon: int = 1
    fee_bps: float = 0.0
    close: Any = None
    series_sha256: str | None = field(default=None)
    periods_per_year: float | None = None

    def evaluate(
        self,
        root: str | os.PathLike[str],
        symbol: str,
        model_type: str,
        candidate: str,
        production: str | None,
    ) -> dict[str, Any]:
        """Sweeps and scores ``candidate`` and ``production`` over the gate's bars; returns the
        evidence, with ``passed`` saying whether the candidate is strictly better.

        Raises:
            ValueError: an unknown metric, or a series without close.
            PredictionError: a version cannot be swept over these bars.
        """
        better = better_direction(self.metric)  # raises for an unknown metric, before any work
        series = self.bars if isinstance(self.bars, Series) else as_series(self.bars, None)
        # ...and for a setting no score can be computed with, before the sweep.
        check_settings(
            horizon=self.horizon,
            fee_bps=self.fee_bps,
            periods_per_year=self.periods_per_year,
            bars=series.bars,
        )
        registry = PredictionModelRegistry(
            PredictionConfig(model_registry_path=os.fspath(root), prediction_cache_enabled=False)
        )
        versions = [candidate] if production in (None, candidate) else [candidate, production]
        result = sweep(registry, series, symbol=symbol, model_type=model_type, versions=versions,
                       progress=False)  # fmt: skip
        scores = result.score(
            self.close,
            horizon=self.horizon,
            fee_bps=self.fee_bps,
            periods_per_year=self.periods_per_year,
        )
        candidate_row = scores.row(candidate)
        production_row = scores.row(production) if production in versions[1:] else None
        incumbent = None if production_row is None else float(production_row[self.metric])
        return {
            "metric": self.metric,
            "better": better,
            "passed": is_better(self.metric, float(candidate_row[self.metric]), incumbent),
            "candidate": _json_row(candidate_row),
            "production": None if production_row is None else _json_row(production_row),
            "bars": series.bars,
            "horizon": self.horizon,
            "fee_bps": float(self.fee_bps),
            "periods_per_year": scores.periods_per_year,
            "series_sha256": self.series_sha256 or _digest(series),
        }


def _digest(series: Any) -> str:
    """The sha256 of a series' timestamps, names and values, as the sweep reads them."""
    digest = hashlib.sha256()
    if series.timestamps is not None:
        digest.update(series.timestamps.tobytes())
    names = list(series.frame.columns) if series.frame is not None else series.names
    digest.update(repr(names).encode())
    digest.update(series.values(None).tobytes())
    return digest.hexdigest()


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    """A score row for the journal: NaN (not JSON) as ``None``."""
    return {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in row.items()
    }
