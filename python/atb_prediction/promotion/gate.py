"""Promotion gated on evidence: the candidate must score strictly better than the current
production version over the gate's bars.

Both versions are swept over the same bars (raw OHLCV or named features) through the registry
and scored (:mod:`atb_prediction.backtest.scores`, one rule for which direction of a metric is
better). The evidence (the metric, both rows of scores, how many bars, and the sha256 of the
series) goes into the promotion's journal line whether the gate passed or was forced.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from typing import Any

from atb_prediction.models.exceptions import GateRefusedError

__all__ = ["Gate", "evaluate", "refusal"]


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
    """

    bars: object
    metric: str = "sharpe"
    horizon: int = 1
    fee_bps: float = 0.0
    close: Any = None
    series_sha256: str | None = field(default=None)


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


def evaluate(
    gate: Gate,
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
    # Imported here: promotion must not import the backtest machinery (and numpy) to journal.
    from atb_prediction.backtest import sweep
    from atb_prediction.backtest.scores import METRICS, is_better
    from atb_prediction.backtest.series import Series, as_series
    from atb_prediction.config import PredictionConfig
    from atb_prediction.models.registry import PredictionModelRegistry

    if gate.metric not in METRICS:
        raise ValueError(f"unknown metric {gate.metric!r}; expected one of {', '.join(METRICS)}")
    series = gate.bars if isinstance(gate.bars, Series) else as_series(gate.bars, None)
    registry = PredictionModelRegistry(
        PredictionConfig(model_registry_path=os.fspath(root), prediction_cache_enabled=False)
    )
    versions = [candidate] if production in (None, candidate) else [candidate, production]
    result = sweep(registry, series, symbol=symbol, model_type=model_type, versions=versions,
                   progress=False)  # fmt: skip
    scores = result.score(gate.close, horizon=gate.horizon, fee_bps=gate.fee_bps)
    candidate_row = scores.row(candidate)
    production_row = scores.row(production) if production in versions[1:] else None
    incumbent = None if production_row is None else float(production_row[gate.metric])
    return {
        "metric": gate.metric,
        "passed": is_better(gate.metric, float(candidate_row[gate.metric]), incumbent),
        "candidate": _json_row(candidate_row),
        "production": None if production_row is None else _json_row(production_row),
        "bars": series.bars,
        "horizon": gate.horizon,
        "fee_bps": float(gate.fee_bps),
        "series_sha256": gate.series_sha256 or _digest(series),
    }


def refusal(evidence: dict[str, Any]) -> GateRefusedError:
    """The error of a gate the candidate did not pass."""
    from atb_prediction.backtest.scores import LOWER_IS_BETTER

    metric = evidence["metric"]
    candidate, production = evidence["candidate"], evidence["production"]
    lower = metric in LOWER_IS_BETTER
    return GateRefusedError(
        f"{candidate['version']} is not better than production {production['version']} on "
        f"{metric} ({'lower' if lower else 'higher'} is better): {candidate[metric]} against "
        f"{production[metric]} over {evidence['bars']} bars; promote with --force to override",
        evidence,
    )
