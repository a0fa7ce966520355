"""The scores of a sweep row written out in vectorised numpy, straight from their definitions
(issues "Which version would have earned most" and "Evidence that means something": live's
signal rule with its thresholds, skipped closes, exposure): the oracle of
``tests/backtest/test_scores.py`` and the competitor of ``benches/bench_score.py``."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

#: Upstream's MLBasicSignalGenerator.LONG_ENTRY_THRESHOLD and SHORT_ENTRY_THRESHOLD, as written
#: in its source (src/strategies/components/ml_signal_generator.py), not read from ours.
UPSTREAM_LONG_THRESHOLD = 0.0
UPSTREAM_SHORT_THRESHOLD = -0.0005


def reference_scores(
    price: npt.NDArray[np.float64],
    confidence: npt.NDArray[np.float64],
    direction: npt.NDArray[np.int8],
    price_units: npt.ArrayLike,
    classifier: npt.ArrayLike,
    close: npt.NDArray[np.float64],
    *,
    horizon: int = 1,
    fee_bps: float = 0.0,
    periods_per_year: float = 8760.0,
    long_threshold: float = UPSTREAM_LONG_THRESHOLD,
    short_threshold: float = UPSTREAM_SHORT_THRESHOLD,
) -> dict[str, float]:
    """One row's scores; ``price_units`` and ``classifier`` are a flag or one per bar."""
    scores = reference_scores_2d(
        price[np.newaxis],
        confidence[np.newaxis],
        direction[np.newaxis],
        np.broadcast_to(np.asarray(price_units, dtype=bool), close.shape)[np.newaxis],
        np.broadcast_to(np.asarray(classifier, dtype=bool), close.shape)[np.newaxis],
        close,
        horizon=horizon,
        fee_bps=fee_bps,
        periods_per_year=periods_per_year,
        long_threshold=long_threshold,
        short_threshold=short_threshold,
    )
    return {metric: float(values[0]) for metric, values in scores.items()}


def reference_returns(
    price: npt.NDArray[np.float64],
    confidence: npt.NDArray[np.float64],
    direction: npt.NDArray[np.int8],
    price_units: npt.ArrayLike,
    classifier: npt.ArrayLike,
    close: npt.NDArray[np.float64],
    *,
    fee_bps: float = 0.0,
    long_threshold: float = UPSTREAM_LONG_THRESHOLD,
    short_threshold: float = UPSTREAM_SHORT_THRESHOLD,
) -> npt.NDArray[np.float64]:
    """``[versions, bars - 1]`` per-bar strategy returns of ``[versions, bars]`` rows."""
    return _pnl(
        price,
        confidence,
        direction,
        price_units,
        classifier,
        close,
        fee_bps=fee_bps,
        long_threshold=long_threshold,
        short_threshold=short_threshold,
    )[0]


def _pnl(
    price: npt.NDArray[np.float64],
    confidence: npt.NDArray[np.float64],
    direction: npt.NDArray[np.int8],
    price_units: npt.ArrayLike,
    classifier: npt.ArrayLike,
    close: npt.NDArray[np.float64],
    *,
    fee_bps: float,
    long_threshold: float,
    short_threshold: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_], Any]:
    """``(pnl, signal, predicted, units)``."""
    units = np.asarray(price_units, dtype=bool)
    classes = np.asarray(classifier, dtype=bool)
    units = units if units.ndim == 2 else units[:, None]
    classes = classes if classes.ndim == 2 else classes[:, None]
    usable = np.isfinite(close) & (close > 0)
    predicted = ~np.isnan(confidence) & (classes | np.isfinite(price))
    with np.errstate(invalid="ignore", divide="ignore"):
        # Live's rule (upstream's generate_signal): strictly above the long threshold buys,
        # strictly below the short one sells; an invalid close holds.
        predicted_return = (price - close) / close
        by_price = np.where(
            predicted_return > long_threshold,
            1.0,
            np.where(predicted_return < short_threshold, -1.0, 0.0),
        )
        by_price = np.where(usable, by_price, 0.0)
        signal = np.where(predicted, np.where(units, by_price, np.sign(direction)), 0.0)
        position = signal[:, :-1]
        previous = np.concatenate((np.zeros((position.shape[0], 1)), position[:, :-1]), axis=1)
        change = np.abs(position - previous)
        both = usable[1:] & usable[:-1]
        market = np.where(both, close[1:] / np.where(both, close[:-1], 1.0) - 1.0, 0.0)
    pnl = position * market - fee_bps / 1e4 * change
    return pnl, signal, predicted, units


def reference_scores_2d(
    price: npt.NDArray[np.float64],
    confidence: npt.NDArray[np.float64],
    direction: npt.NDArray[np.int8],
    price_units: npt.ArrayLike,
    classifier: npt.ArrayLike,
    close: npt.NDArray[np.float64],
    *,
    horizon: int = 1,
    fee_bps: float = 0.0,
    periods_per_year: float = 8760.0,
    long_threshold: float = UPSTREAM_LONG_THRESHOLD,
    short_threshold: float = UPSTREAM_SHORT_THRESHOLD,
) -> dict[str, npt.NDArray[np.float64]]:
    """Every row of ``[versions, bars]`` arrays at once, as a notebook would write it with whole
    arrays; ``price_units`` and ``classifier`` hold one flag per version, or per version and
    bar (an as-live composite's)."""
    bars_total = close.size
    pnl, signal, predicted, units = _pnl(
        price,
        confidence,
        direction,
        price_units,
        classifier,
        close,
        fee_bps=fee_bps,
        long_threshold=long_threshold,
        short_threshold=short_threshold,
    )
    usable = np.isfinite(close) & (close > 0)
    later = np.full(bars_total, np.nan)
    later[: bars_total - horizon] = close[horizon:]
    judged = usable & np.isfinite(later) & (later > 0)
    counted = predicted & judged
    decided = counted & (signal != 0)
    hits = decided & (np.sign(signal) == np.sign(later - close))
    scored = counted & units
    errors = np.where(scored, price - later, 0.0)
    position = signal[:, :-1]
    previous = np.concatenate((np.zeros((position.shape[0], 1)), position[:, :-1]), axis=1)
    change = np.abs(position - previous)
    equity = np.cumprod(1.0 + pnl, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        steps = pnl.shape[1]
        std = np.std(pnl, ddof=1, axis=1) if steps > 1 else np.full(pnl.shape[0], np.nan)
        sharpe = np.where(std > 0, np.mean(pnl, axis=1) / std * np.sqrt(periods_per_year), np.nan)
        # The running peak starts from the initial capital, 1.
        peak = np.maximum(1.0, np.maximum.accumulate(equity, axis=1))
        drawdown = np.max(1.0 - equity / peak, axis=1) if steps else np.full(pnl.shape[0], np.nan)
        priced = np.count_nonzero(scored, axis=1)
        bars = np.count_nonzero(counted, axis=1)
        decided_count = np.count_nonzero(decided, axis=1)
        return {
            "bars": bars.astype(np.float64),
            "hit_rate": np.count_nonzero(hits, axis=1)
            / np.where(decided_count, decided_count, np.nan),
            "mae": np.abs(errors).sum(axis=1) / np.where(priced, priced, np.nan),
            "rmse": np.sqrt((errors**2).sum(axis=1) / np.where(priced, priced, np.nan)),
            "total_return": equity[:, -1] - 1.0 if steps else np.full(pnl.shape[0], np.nan),
            "sharpe": sharpe,
            "max_drawdown": drawdown,
            "turnover": np.mean(change, axis=1) if steps else np.full(pnl.shape[0], np.nan),
            "exposure": decided_count / np.where(bars, bars, np.nan),
        }
