"""The evidence a gated promotion asks for: the candidate must score better than the current
production version over the gate's bars.

Both versions are the bundles the promotion opened once through its index
(:meth:`Gate.evaluate_bundles`): each runs the very bytes it was read (and checked) from, and
the evidence names those bytes by their sha256. They are swept over the same bars (raw OHLCV or
named features) and scored (:mod:`atb_prediction.backtest.scores`; which direction of a metric
is better is :mod:`atb_prediction.metrics`'). :func:`atb_prediction.promotion.promote` takes a
:class:`Gate` and journals its evidence (the metric, both rows of scores, how many bars, the
sha256 of the series and of both models), passed or forced; promotion itself never imports the
backtest machinery.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from atb_prediction.backtest.series import Series, as_series
from atb_prediction.backtest.sweeping import sweep_opened
from atb_prediction.metrics import better_direction, is_better

if TYPE_CHECKING:
    from atb_prediction._core import LoadedBundle

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
            series' times, column names and numeric values (the command line passes its
            file's).
    """

    bars: object
    metric: str = "sharpe"
    horizon: int = 1
    fee_bps: float = 0.0
    close: Any = None
    series_sha256: str | None = field(default=None)

    def evaluate(
        self,
        root: str | os.PathLike[str],
        symbol: str,
        model_type: str,
        candidate: str,
        production: str | None,
    ) -> dict[str, Any]:
        """:meth:`evaluate_bundles` of two versions of the registry at ``root``, each opened
        once through one scan (no other bundle is opened).

        Raises:
            ModelNotAvailableError: no such version.
            ModelLoadError: a version's folder is unreadable or its model does not open.
        """
        from atb_prediction.models.opening import open_versions
        from atb_prediction.models.scanning import scan_registry

        better_direction(self.metric)  # raises for an unknown metric, before any work
        index = scan_registry(os.fspath(root), only=(symbol, model_type))
        wanted = [candidate] if production in (None, candidate) else [candidate, production]
        bundles = open_versions(index, symbol, model_type, wanted)
        return self.evaluate_bundles(bundles[0], bundles[1] if len(bundles) > 1 else None)

    def evaluate_bundles(
        self, candidate: LoadedBundle, production: LoadedBundle | None
    ) -> dict[str, Any]:
        """Sweeps and scores ``candidate`` and ``production`` (bundles of one model type,
        already opened) over the gate's bars; returns the evidence, with ``passed`` saying
        whether the candidate is strictly better, and the sha256 of each model's bytes as
        swept.

        Raises:
            ValueError: an unknown metric, or a series without close.
            PredictionError: a version cannot be swept over these bars.
        """
        better = better_direction(self.metric)  # raises for an unknown metric, before any work
        series = self.bars if isinstance(self.bars, Series) else as_series(self.bars, None)
        if production is not None and production.key == candidate.key:
            production = None
        bundles = [candidate] if production is None else [candidate, production]
        result = sweep_opened(bundles, series)
        scores = result.score(self.close, horizon=self.horizon, fee_bps=self.fee_bps)
        candidate_row = scores.row(candidate.version_id)
        production_row = None if production is None else scores.row(production.version_id)
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
            "series_sha256": self.series_sha256 or _digest(series),
            "candidate_sha256": candidate.model_sha256,
            "production_sha256": None if production is None else production.model_sha256,
        }


def _digest(series: Series) -> str:
    """The sha256 of a series' timestamps, and of the names and values of its numeric columns
    (the columns a sweep can read; a text column such as ``symbol`` is left out)."""
    digest = hashlib.sha256()
    if series.timestamps is not None:
        digest.update(series.timestamps.tobytes())
    if series.frame is not None:
        frame: Any = series.frame
        numeric = [
            position
            for position, dtype in enumerate(frame.dtypes)
            if getattr(dtype, "kind", "O") in "iuf"
        ]
        names = [frame.columns[position] for position in numeric]
        values = series.values(numeric)
    else:
        names, values = list(series.names or ()), series.values(None)
    digest.update(repr(names).encode())
    digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    """A score row for the journal: NaN (not JSON) as ``None``."""
    return {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in row.items()
    }
