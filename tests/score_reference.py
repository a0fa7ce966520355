"""The scores of a sweep row written out in vectorised numpy, straight from their definitions
(issue "Which version would have earned most"): the oracle of ``tests/test_scores.py`` and the
competitor of ``benches/bench_score.py``."""

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
    bars_total = close.size
    units = np.broadcast_to(np.asarray(price_units, dtype=bool), close.shape)
    classes = np.broadcast_to(np.asarray(classifier, dtype=bool), close.shape)
    predicted = ~np.isnan(confidence) & (classes | np.isfinite(price))
    with np.errstate(invalid="ignore"):
        by_price = np.sign(np.nan_to_num(price - close, nan=0.0))
    signal = np.where(predicted, np.where(units, by_price, np.sign(direction)), 0.0)
    later = np.full(bars_total, np.nan)
    later[: bars_total - horizon] = close[horizon:]
    counted = predicted & (np.arange(bars_total) + horizon < bars_total)
    decided = counted & (signal != 0)
    hits = np.sign(signal[decided]) == np.sign(later[decided] - close[decided])
    errors = (price - later)[counted & units]
    position = signal[:-1]
    previous = np.concatenate(([0.0], position[:-1]))
    change = np.abs(position - previous)
    pnl = position * (close[1:] / close[:-1] - 1.0) - fee_bps / 1e4 * change
    equity = np.cumprod(1.0 + pnl)
    with np.errstate(invalid="ignore", divide="ignore"):
        std = np.std(pnl, ddof=1) if pnl.size > 1 else np.nan
        sharpe = np.mean(pnl) / std * np.sqrt(periods_per_year) if std > 0 else np.nan
        drawdown = np.max(1.0 - equity / np.maximum.accumulate(equity)) if equity.size else np.nan
    return {
        "bars": float(np.count_nonzero(counted)),
        "hit_rate": float(np.mean(hits)) if hits.size else np.nan,
        "mae": float(np.mean(np.abs(errors))) if errors.size else np.nan,
        "rmse": float(np.sqrt(np.mean(errors**2))) if errors.size else np.nan,
        "total_return": float(equity[-1] - 1.0) if equity.size else np.nan,
        "sharpe": float(sharpe),
        "max_drawdown": float(drawdown),
        "turnover": float(np.mean(change)) if change.size else np.nan,
    }


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
    arrays; ``price_units`` and ``classifier`` hold one flag per version."""
    bars_total = close.size
    units = np.asarray(price_units, dtype=bool)[:, None]
    classes = np.asarray(classifier, dtype=bool)[:, None]
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
        std = np.std(pnl, ddof=1, axis=1)
        sharpe = np.where(std > 0, np.mean(pnl, axis=1) / std * np.sqrt(periods_per_year), np.nan)
        drawdown = np.max(1.0 - equity / np.maximum.accumulate(equity, axis=1), axis=1)
        priced = np.count_nonzero(scored, axis=1)
        return {
            "bars": np.count_nonzero(counted, axis=1).astype(np.float64),
            "hit_rate": np.count_nonzero(hits, axis=1) / np.count_nonzero(decided, axis=1),
            "mae": np.abs(errors).sum(axis=1) / np.where(priced, priced, np.nan),
            "rmse": np.sqrt((errors**2).sum(axis=1) / np.where(priced, priced, np.nan)),
            "total_return": equity[:, -1] - 1.0,
            "sharpe": sharpe,
            "max_drawdown": drawdown,
            "turnover": np.mean(change, axis=1),
        }
