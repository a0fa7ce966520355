"""The scores of a sweep row written out in vectorised numpy, straight from their definitions
(issue "Which version would have earned most"): the oracle of ``tests/backtest/test_scores.py``
and the competitor of ``benches/bench_score.py``."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


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
    )
    return {metric: float(values[0]) for metric, values in scores.items()}


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
) -> dict[str, npt.NDArray[np.float64]]:
    """Every row of ``[versions, bars]`` arrays at once, as a notebook would write it with whole
    arrays; ``price_units`` and ``classifier`` hold one flag per version, or per version and
    bar (an as-live composite's)."""
    bars_total = close.size
    units = np.asarray(price_units, dtype=bool)
    classes = np.asarray(classifier, dtype=bool)
    units = units if units.ndim == 2 else units[:, None]
    classes = classes if classes.ndim == 2 else classes[:, None]
    predicted = ~np.isnan(confidence) & (classes | np.isfinite(price))
    with np.errstate(invalid="ignore"):
        by_price = np.sign(np.nan_to_num(price - close, nan=0.0))
    signal = np.where(predicted, np.where(units, by_price, np.sign(direction)), 0.0)
    later = np.full(bars_total, np.nan)
    later[: bars_total - horizon] = close[horizon:]
    counted = predicted & (np.arange(bars_total) + horizon < bars_total)
    decided = counted & (signal != 0)
    hits = decided & (np.sign(signal) == np.sign(later - close))
    scored = counted & units
    errors = np.where(scored, price - later, 0.0)
    position = signal[:, :-1]
    previous = np.concatenate((np.zeros((position.shape[0], 1)), position[:, :-1]), axis=1)
    change = np.abs(position - previous)
    pnl = position * (close[1:] / close[:-1] - 1.0) - fee_bps / 1e4 * change
    equity = np.cumprod(1.0 + pnl, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        steps = pnl.shape[1]
        std = np.std(pnl, ddof=1, axis=1) if steps > 1 else np.full(pnl.shape[0], np.nan)
        sharpe = np.where(std > 0, np.mean(pnl, axis=1) / std * np.sqrt(periods_per_year), np.nan)
        drawdown = (
            np.max(1.0 - equity / np.maximum.accumulate(equity, axis=1), axis=1)
            if steps
            else np.full(pnl.shape[0], np.nan)
        )
        priced = np.count_nonzero(scored, axis=1)
        return {
            "bars": np.count_nonzero(counted, axis=1).astype(np.float64),
            "hit_rate": np.count_nonzero(hits, axis=1)
            / np.where(
                np.count_nonzero(decided, axis=1), np.count_nonzero(decided, axis=1), np.nan
            ),
            "mae": np.abs(errors).sum(axis=1) / np.where(priced, priced, np.nan),
            "rmse": np.sqrt((errors**2).sum(axis=1) / np.where(priced, priced, np.nan)),
            "total_return": equity[:, -1] - 1.0 if steps else np.full(pnl.shape[0], np.nan),
            "sharpe": sharpe,
            "max_drawdown": drawdown,
            "turnover": np.mean(change, axis=1) if steps else np.full(pnl.shape[0], np.nan),
        }
