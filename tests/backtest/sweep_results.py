"""Sweep results made by hand, for scoring tests that need exact control of every prediction:
``SweepResult`` is a plain dataclass, as a sweep fills it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from atb_prediction.backtest import SweepResult


def sweep_result(
    price: npt.ArrayLike,
    close: npt.ArrayLike,
    *,
    direction: npt.ArrayLike | None = None,
    confidence: npt.ArrayLike | None = None,
    units: Sequence[bool] | None = None,
    versions: Sequence[str] | None = None,
    live_version: npt.ArrayLike | None = None,
    start: str | None = "2026-01-01T00:00",
    timeframe: str = "1h",
) -> SweepResult:
    """A result of ``[versions, bars]`` predictions (one row when ``price`` is 1-d): confidence 1
    where the price is a number, direction +1, prices in price units, hourly times from
    ``start`` (none when ``start`` is None)."""
    prices = np.atleast_2d(np.asarray(price, dtype=np.float64))
    rows, bars = prices.shape
    directions = (
        np.ones(prices.shape, dtype=np.int8)
        if direction is None
        else np.atleast_2d(np.asarray(direction, dtype=np.int8))
    )
    confidences = (
        np.where(np.isnan(prices), np.nan, 1.0)
        if confidence is None
        else np.atleast_2d(np.asarray(confidence, dtype=np.float64))
    )
    times = (
        None
        if start is None
        else np.datetime64(start, "ns") + np.arange(bars) * np.timedelta64(1, "h")
    )
    return SweepResult(
        symbol="BTCUSDT",
        model_type="basic",
        versions=tuple(versions or (f"2026-01-{row + 1:02d}_1h_v1" for row in range(rows))),
        price=prices,
        confidence=confidences,
        direction=directions,
        probabilities=None,
        timestamps=times,
        live_version=None if live_version is None else np.asarray(live_version, dtype=np.int64),
        windows=tuple(bars for _ in range(rows)),
        elapsed=tuple(0.0 for _ in range(rows)),
        price_units=tuple(units if units is not None else (True,) * rows),
        close=np.asarray(close, dtype=np.float64),
        timeframe=timeframe,
        classifiers=tuple(False for _ in range(rows)),
    )


def random_walk(bars: int, seed: int = 5, step: float = 0.01) -> npt.NDArray[np.float64]:
    """A positive random-walk close of ``bars`` bars."""
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, step, bars)))
